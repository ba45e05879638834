"""The agent's load in the header ("Open handoffs": "2 / 3"), pushed live to their own pages
(group agent.<user id>, joined by every agent page's socket) when it may have changed.

Listeners of handoffs.signals.handoff_changed and agents.signals.availability_changed, which
are announced after commit.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q
from django.template.loader import render_to_string

from agents.live import agent_group
from handoffs.models import Handoff
from hitlnext_project.shared.push import best_effort, send_to_group
from routing.load import AgentLoad, load_of, loads_of


def render_load(load: AgentLoad | None) -> str:
    return render_to_string("routing/load.html", {"my_load": load})


def render_load_of(user: User) -> str:
    """For the header's state sent on every (re)connect (handoffs.consumers): one query."""
    return render_load(load_of(user.pk))


@best_effort
def handoff_changed(handoff_id: int, previous_agent_id: int | None = None, **_: Any) -> None:
    """Its assignee's load, and that of the agent it was requeued or transferred from (either
    lowers their load, and a later assignment may already have happened when this runs): one
    query."""
    handoff = Handoff.objects.filter(pk=handoff_id)
    _push(
        loads_of(
            Q(pk__in=handoff.values("agent_id"))
            | Q(pk__in=handoff.values("requeued_from_id"))
            | Q(pk=previous_agent_id)
        )
    )


@best_effort
def availability_changed(user_id: int, **_: Any) -> None:
    """The agent went online, or an admin changed their capacity."""
    _push(loads_of(Q(pk=user_id)))


def _push(loads: list[AgentLoad]) -> None:
    for load in loads:
        send_to_group(agent_group(load.id), render_load(load))
