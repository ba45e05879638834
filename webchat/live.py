"""Pushes to the web chat visitor's socket: what a bot would get as webhooks.

They listen to handoffs.signals (connected in webchat/apps.py) for every message, handoff
change and rating; they ignore anything that is not the web chat's, render the visitor's
fragment once, and send it to the visitor's group only (`visitor.<visitor id>`). While a
visitor waits, the status shows their place in the queue, moved by
routing.signals.queue_moved (queue_moved); once the handoff is resolved, the status asks for
a rating until there is one.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from conversations.models import Message
from handoffs.models import Handoff
from handoffs.queue_place import QueuePlace, place_of, wait_words
from handoffs.ratings import rating_of
from hitlnext_project.shared.push import best_effort, send_to_group
from routing.position import QueueSnapshot
from webchat import services, visitors

TEMPLATE = "webchat/chat.html"
# The rating form's choices: (score, what it means).
RATING_CHOICES = ((1, "Very bad"), (2, "Bad"), (3, "OK"), (4, "Good"), (5, "Very good"))


def status_context(handoff: Handoff | None) -> dict[str, Any]:
    """The status's context: the handoff and, while it is pending, its place in the queue;
    once it is resolved, its rating (the form asks for one until there is one)."""
    place = place_of(handoff) if handoff is not None else None
    return {"handoff": handoff} | queue_context(place) | rating_context(handoff)


def rating_context(handoff: Handoff | None) -> dict[str, Any]:
    resolved = handoff is not None and handoff.status == Handoff.Status.RESOLVED
    return {
        "rating": rating_of(handoff) if handoff is not None and resolved else None,
        "rating_choices": RATING_CHOICES,
        "comment_max": services.COMMENT_MAX_LENGTH,
    }


def queue_context(place: QueuePlace | None) -> dict[str, Any]:
    # The chat page is in English (webchat/templates/webchat/chat.html).
    return {"place": place, "wait": wait_words(place.estimated_wait_seconds) if place else ""}


def render_status(handoff: Handoff | None) -> str:
    """The status and the rating form (or its thanks), pushed whenever the handoff changes
    or is rated."""
    return render_to_string(f"{TEMPLATE}#handoff-state", status_context(handoff))


def render_notice(notice: str) -> str:
    return render_to_string(f"{TEMPLATE}#notice", {"notice": notice})


def render_catch_up(visitor_id: str) -> str:
    """The visitor's whole current state, sent on every (re)connect: nothing lost in a gap."""
    conversation = services.find_conversation(visitor_id)
    return render_to_string(
        f"{TEMPLATE}#catch-up",
        status_context(services.latest_handoff(conversation))
        | {"messages": services.recent_messages(conversation), "notice": ""},
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


@best_effort
def queue_moved(snapshot: QueueSnapshot, **_: Any) -> None:
    """Listener of routing.signals.queue_moved: every visitor still waiting sees their new place
    (one query for who they are; then a small render and one group send each)."""
    waiting = Handoff.objects.filter(
        status=Handoff.Status.PENDING, bot__is_webchat=True
    ).values_list("pk", "conversation__end_user__external_id")
    for handoff_id, visitor_id in waiting:
        place = snapshot.place_of(handoff_id)
        if place is None:
            continue  # queued after the snapshot: its own push (visitor_handoff_changed) has it
        html = render_to_string(f"{TEMPLATE}#queue", queue_context(place) | {"oob": True})
        send_to_group(visitors.visitor_group(visitor_id), html)
