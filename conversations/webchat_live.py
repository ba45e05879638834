"""Pushes to the web chat visitor's socket: what a bot would get as webhooks.

handoffs.live calls these after commit for every message and handoff change; they ignore
anything that is not the web chat's, render the visitor's fragment once, and send it to the
visitor's group only (`visitor.<visitor id>`).
"""

from __future__ import annotations

from django.template.loader import render_to_string

from conversations import webchat
from conversations.models import Message
from handoffs.live import best_effort, send_to_group
from handoffs.models import Handoff

TEMPLATE = "webchat/chat.html"


def render_status(handoff: Handoff | None) -> str:
    return render_to_string(f"{TEMPLATE}#status", {"handoff": handoff})


def render_notice(notice: str) -> str:
    return render_to_string(f"{TEMPLATE}#notice", {"notice": notice})


def render_catch_up(visitor_id: str) -> str:
    """The visitor's whole current state, sent on every (re)connect: nothing lost in a gap."""
    conversation = webchat.find_conversation(visitor_id)
    return render_to_string(
        f"{TEMPLATE}#catch-up",
        {
            "handoff": webchat.latest_handoff(conversation),
            "messages": webchat.recent_messages(conversation),
            "notice": "",
        },
    )


@best_effort
def visitor_message_added(message_id: int) -> None:
    message = (
        Message.objects.select_related("conversation__end_user", "author__agent_profile")
        .filter(pk=message_id, conversation__bot__is_webchat=True)
        .first()
    )
    if message is None:
        return
    html = render_to_string(f"{TEMPLATE}#message-push", {"message": message})
    send_to_group(webchat.visitor_group(message.conversation.end_user.external_id), html)


@best_effort
def visitor_handoff_changed(handoff_id: int) -> None:
    handoff = (
        Handoff.objects.select_related("conversation__end_user")
        .filter(pk=handoff_id, bot__is_webchat=True)
        .first()
    )
    if handoff is None:
        return
    # The visitor sees the conversation's newest handoff; a change to an older one is moot.
    current = webchat.latest_handoff(handoff.conversation)
    html = render_status(current)
    send_to_group(webchat.visitor_group(handoff.conversation.end_user.external_id), html)
