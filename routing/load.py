"""How loaded each agent is: their open (assigned) handoffs, beside whether they are online."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from agents.models import display_name
from handoffs.models import Handoff


@dataclass(frozen=True)
class AgentLoad:
    id: int
    username: str
    name: str
    online: bool
    open_handoffs: int


def agent_loads() -> list[AgentLoad]:
    """Every account that can act as an agent, by username, with its open handoffs: one query.

    Superusers are administrators: they may open the inbox, but a bot never learns their
    usernames (which would name the accounts worth attacking).
    """
    users = (
        get_user_model()
        .objects.filter(is_active=True, is_superuser=False)
        .select_related("agent_profile")
        .annotate(open_count=Count("handoffs", filter=Q(handoffs__status=Handoff.Status.ASSIGNED)))
        .order_by("username")
    )
    loads = []
    for user in users:
        profile = getattr(user, "agent_profile", None)  # users made outside create_agent
        loads.append(
            AgentLoad(
                id=user.pk,
                username=user.username,
                name=display_name(user),
                online=bool(profile and profile.online),
                open_handoffs=user.open_count,
            )
        )
    return loads
