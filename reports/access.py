"""Who sees the reports: supervisors (agents.roles: staff or the "Supervisors" group),
superusers, and anyone granted the permission "reports.view_reports" (to the user or to one
of their groups, in the admin). Everyone else gets a 403 page saying how to get access."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User

from agents.roles import is_supervisor

PERMISSION = "reports.view_reports"


def can_view_reports(user: User | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    # Asked by the top bar and by the view in one request: answered once per request (the
    # user object lives as long as the request, so a removal counts on the next one).
    cached: bool | None = getattr(user, "_can_view_reports", None)
    if cached is None:
        cached = is_supervisor(user) or user.has_perm(PERMISSION)
        setattr(user, "_can_view_reports", cached)  # noqa: B010 (not a field of User)
    return cached
