"""Live presence on every agent page: the header's "Online" switch and who is online.

Groups (joined by the agent pages' socket): "presence" (every agent page) and
"agent.<user id>" (that agent's own pages).
"""

from __future__ import annotations

from django.template.loader import render_to_string

from agents.models import AgentProfile
from hitlnext_project.shared.push import best_effort, send_event, send_to_group

PRESENCE_GROUP = "presence"


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


def render_switch(profile: AgentProfile) -> str:
    return render_to_string("agents/presence.html#switch", {"my_profile": profile})


def render_online_agents() -> str:
    return render_to_string(
        "agents/presence.html#online_agents", {"online_agents": AgentProfile.objects.online()}
    )


@best_effort
def presence_changed(user_id: int) -> None:
    """An agent went online or offline (or changed name or avatar)."""
    profile = AgentProfile.objects.filter(user_id=user_id).first()
    if profile is not None:
        send_to_group(agent_group(user_id), render_switch(profile))
    send_to_group(PRESENCE_GROUP, render_online_agents())


def session_ended(user_id: int, session_key: str) -> None:
    """The agent logged out: that session's open pages close their sockets (4403) and go to
    the login, instead of receiving pushes until their next reload."""
    if session_key:
        send_event(agent_group(user_id), {"type": "session.ended", "session_key": session_key})


def access_revoked(user_id: int) -> None:
    """The agent was deactivated or deleted, or their password changed: each of their open
    pages re-checks its own session (agents/revocation.py) and closes its socket if that no
    longer signs them in."""
    send_event(agent_group(user_id), {"type": "user.revoked"})
