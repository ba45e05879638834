"""Pushes to the web chat visitor's socket: what a bot would get as webhooks.

They listen to handoffs.signals (connected in webchat/apps.py) for every message and handoff
change; they ignore anything that is not the web chat's, render the visitor's fragment once,
and send it to the visitor's group only (`visitor.<visitor id>`).
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from conversations.models import Message
from handoffs.models import Handoff
from hitlnext_project.shared.push import best_effort, send_to_group
from webchat import services, visitors

TEMPLATE = "webchat/chat.html"


def render_status(handoff: Handoff | None) -> str:
    return render_to_string(f"{TEMPLATE}#status", {"handoff": handoff})


def render_notice(notice: str) -> str:
    return render_to_string(f"{TEMPLATE}#notice", {"notice": notice})


def render_catch_up(visitor_id: str) -> str:
    """The visitor's whole current state, sent on every (re)connect: nothing lost in a gap."""
    conversation = services.find_conversation(visitor_id)
    return render_to_string(
        f"{TEMPLATE}#catch-up",
        {
            "handoff": services.latest_handoff(conversation),
            "messages": services.recent_messages(conversation),
            "notice": "",
        },
    )


@best_effort
def visitor_message_added(message_id: int, *, webchat: bool | None = None, **_: Any) -> None:
    if webchat is False:  # the sender knows it is another bot's: nothing to look up
        return
    message = (
        Message.objects.select_related("conversation__end_user", "author__agent_profile")
        .filter(pk=message_id, conversation__bot__is_webchat=True)
        .first()
    )
    if message is None:
        return
    html = render_to_string(f"{TEMPLATE}#message-push", {"message": message})
    send_to_group(visitors.visitor_group(message.conversation.end_user.external_id), html)


@best_effort
def visitor_handoff_changed(handoff_id: int, **_: Any) -> None:
    handoff = (
        Handoff.objects.select_related("conversation__end_user")
        .filter(pk=handoff_id, bot__is_webchat=True)
        .first()
    )
    if handoff is None:
        return
    # The visitor sees the conversation's newest handoff; a change to an older one is moot.
    current = services.latest_handoff(handoff.conversation)
    html = render_status(current)
    send_to_group(visitors.visitor_group(handoff.conversation.end_user.external_id), html)
