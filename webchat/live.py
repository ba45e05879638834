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

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy

from conversations.models import Message
from handoffs.models import Handoff
from handoffs.queue_place import QueuePlace, place_of, wait_words
from handoffs.ratings import rating_of
from hitlnext_project.shared.push import best_effort, send_to_group
from routing.position import QueueSnapshot
from webchat import services, visitors

TEMPLATE = "webchat/chat.html"
# The rating form's choices: (score, what it means).
RATING_CHOICES = (
    (1, gettext_lazy("Very bad")),
    (2, gettext_lazy("Bad")),
    (3, gettext_lazy("OK")),
    (4, gettext_lazy("Good")),
    (5, gettext_lazy("Very good")),
)


def visitor_language(language: str | None) -> str:
    """A push to the visitor is in their language, whoever caused it (an agent's action runs in
    the agent's): the one their browser asked for when they talked to a person (the handoff's
    language, from Accept-Language), if the chat speaks it."""
    try:
        return translation.get_supported_language_variant(language or "")
    except LookupError:
        return settings.LANGUAGE_CODE


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
    language = translation.get_language() or settings.LANGUAGE_CODE  # the page's, or the push's
    wait = wait_words(place.estimated_wait_seconds, language) if place else ""
    return {"place": place, "wait": wait}


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
    newest = Handoff.objects.filter(conversation=OuterRef("conversation")).order_by("-pk")
    message = (
        Message.objects.select_related("conversation__end_user", "author__agent_profile")
        .filter(pk=message_id, conversation__bot__is_webchat=True)
        .annotate(visitor_language=Subquery(newest.values("language")[:1]))
        .first()
    )
    if message is None:
        return
    with translation.override(visitor_language(message.visitor_language)):
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
    with translation.override(visitor_language(current.language if current else None)):
        html = render_status(current)
    send_to_group(visitors.visitor_group(handoff.conversation.end_user.external_id), html)


@best_effort
def agent_typing(*, user_id: str, webchat: bool, **_: Any) -> None:
    """Listener of handoffs.signals.agent_typing: the visitor sees "typing…" for a few seconds
    (chat.js) while their agent types. Nothing to look up: the signal names the visitor."""
    if not webchat or not visitors.is_visitor_id(user_id):
        return
    html = render_to_string(f"{TEMPLATE}#typing", {"typing": True, "oob": True})
    send_to_group(visitors.visitor_group(user_id), html)


@best_effort
def queue_moved(snapshot: QueueSnapshot, **_: Any) -> None:
    """Listener of routing.signals.queue_moved: every visitor still waiting sees their new place
    (one query for who they are; then a small render and one group send each)."""
    waiting = Handoff.objects.filter(
        status=Handoff.Status.PENDING, bot__is_webchat=True
    ).values_list("pk", "conversation__end_user__external_id", "language")
    for handoff_id, visitor_id, language in waiting:
        place = snapshot.place_of(handoff_id)
        if place is None:
            continue  # queued after the snapshot: its own push (visitor_handoff_changed) has it
        with translation.override(visitor_language(language)):
            html = render_to_string(f"{TEMPLATE}#queue", queue_context(place) | {"oob": True})
        send_to_group(visitors.visitor_group(visitor_id), html)
