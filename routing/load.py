"""How loaded each agent is: their open (assigned) handoffs, beside their capacity and whether
they are online."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet

from agents.models import AgentProfile, display_name
from handoffs.models import Handoff


@dataclass(frozen=True)
class AgentLoad:
    id: int
    username: str
    name: str
    online: bool
    open_handoffs: int
    capacity: int | None  # None: unlimited


def _with_open_count() -> QuerySet:
    return (
        get_user_model()
        .objects.select_related("agent_profile")
        .annotate(open_count=Count("handoffs", filter=Q(handoffs__status=Handoff.Status.ASSIGNED)))
    )


def _capacity(profile: AgentProfile | None) -> int | None:
    # Users made outside create_agent have no profile: the setting applies to them too.
    capacity = profile.effective_capacity if profile else settings.HITLNEXT_AGENT_CAPACITY
    return capacity or None


def _load(user) -> AgentLoad:
    profile = getattr(user, "agent_profile", None)
    return AgentLoad(
        id=user.pk,
        username=user.username,
        name=display_name(user),
        online=bool(profile and profile.online),
        open_handoffs=user.open_count,
        capacity=_capacity(profile),
    )


def agent_loads() -> list[AgentLoad]:
    """Every account that can act as an agent, by username, with its open handoffs: one query.

    Superusers are administrators: they may open the inbox, but a bot never learns their
    usernames (which would name the accounts worth attacking).
    """
    users = _with_open_count().filter(is_active=True, is_superuser=False).order_by("username")
    return [_load(user) for user in users]


def loads_of(users: Q) -> list[AgentLoad]:
    """The loads of the accounts `users` selects (the header's "Open handoffs"): one query."""
    return [_load(user) for user in _with_open_count().filter(users)]


def load_of(user_id: int) -> AgentLoad | None:
    return next(iter(loads_of(Q(pk=user_id))), None)
