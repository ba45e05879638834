"""Who may do more than an agent: supervisors.

A supervisor is a staff account or a member of the "Supervisors" group (created by the agents
app's migrations; an admin adds people to it). Supervisors transfer or requeue any assigned
handoff, not only their own.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

SUPERVISORS = "Supervisors"


def is_supervisor(user: User | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff:
        return True
    # One query, kept on this user object: a request asks several times (the page's style, its
    # menu), and the next request reads it afresh, so a removal from the group counts at once.
    cached = getattr(user, "_hitlnext_is_supervisor", None)
    if cached is None:
        cached = user.groups.filter(name=SUPERVISORS).exists()
        user._hitlnext_is_supervisor = cached  # type: ignore[attr-defined]
    return cached
