"""Real-time pushes to agents' pages. Services call these from transaction.on_commit, or
they listen to what the services announce (handoffs.signals, conversations.signals).

Each function renders its fragment once and sends it to the relevant group; consumers only
forward the HTML. A push is a nudge: pages re-sync from the database on (re)connect.

Groups (joined by handoffs.consumers.AgentConsumer): the inbox groups of
handoffs.inbox_groups (an item goes only to the pages whose filter can show it),
"conversation.<conversation id>" (pages showing that conversation), plus the presence groups
of agents.live. Fragments are rendered without a viewer; what differs per agent ("You", which
filter an item belongs to, who may write) is settled in the page (static/hitlnext/js).
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from django.template.loader import render_to_string
from django.utils.html import format_html

from agents.live import agent_group
from conversations.models import Conversation, Message, Note
from handoffs import queue_place
from handoffs.contact import handoff_parts, user_details
from handoffs.inbox_groups import item_groups
from handoffs.models import Handoff
from handoffs.naming import name_context
from handoffs.ratings import conversation_ratings
from hitlnext_project.shared.push import best_effort, send_event, send_to_group

# Ids of inbox pushes: a socket in several of an item's groups forwards the push once.
_push_ids = itertools.count()
_PROCESS = f"{os.getpid():x}"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def handoff_changed(handoff_id: int, previous_agent_id: int | None = None, **_: Any) -> None:
    """An inbox item appeared or changed (status, assignee, labels, last message)."""
    _push_handoff(handoff_id, changed_state=True, previous_agent_id=previous_agent_id)
    _push_contact_handoff(handoff_id)


def inbox_item_changed(handoff_id: int) -> None:
    """Only the handoff's inbox item changed (a user message: preview, time, unread): its
    status, assignee, labels and head did not, so neither the panel's head, the contact column
    nor what the web chat visitor sees of the handoff (handoff_changed is for all of those).
    Nor its place in the queue: the item goes without it, and the page keeps the one shown."""
    _push_inbox_item(handoff_id)


def message_added(message_id: int, *, message: Message | None = None, **_: Any) -> None:
    """A message joined a conversation: agents watching it see it appear.

    `message`: the row just committed, with its conversation and user loaded, when the sender
    has it (saves reading it back).
    """
    _push_message(message_id, message=message)


def note_added(note_id: int) -> None:
    """A note was added to a conversation."""
    _push_note(note_id)


def handoff_rated(handoff_id: int, **_: Any) -> None:
    """The user rated a handoff: pages showing its conversation show the rating."""
    _push_ratings(handoff_id)


def contact_changed(conversation_id: int, *, name_changed: bool = True, **_: Any) -> None:
    """The user's variables changed: pages showing any of the user's conversations see the new
    details and, when the name changed, the active handoffs' inbox items and heads too."""
    _push_contact(conversation_id, name_changed=name_changed)


@best_effort
def handoff_transferred(handoff_id: int, *, to_agent_id: int, by_name: str) -> None:
    """Tell the agent a handoff was transferred to, on all their pages, wherever they are."""
    handoff = _load_for_item(handoff_id)
    if handoff is None or handoff.agent_id != to_agent_id:
        return  # moved on again before this ran
    notice = render_to_string("handoffs/transferred.html", {"handoff": handoff, "by_name": by_name})
    send_to_group(agent_group(to_agent_id), notice)


@best_effort
def user_typing(conversation_id: int) -> None:
    """The user is typing (the web chat visitor, or a bot's POST /api/v1/typing): the pages
    showing the conversation show "typing…" for a few seconds (static/hitlnext/js/typing.js).
    Callers throttle; nothing is stored."""
    html = render_to_string(
        "handoffs/conversation.html#typing",
        {"conversation_id": conversation_id, "typing": True, "oob": True},
    )
    send_to_group(conversation_group(conversation_id), html)


def conversation_deleted(conversation_id: int) -> None:
    """A conversation's messages were deleted: its watchers reload the panel."""
    send_to_group(
        conversation_group(conversation_id),
        '<template id="conversation-reload" data-reload="#conversation"></template>',
    )


def _load_for_item(handoff_id: int, *, with_position: bool = False) -> Handoff | None:
    """The handoff as its inbox item shows it; with_position: its queue position (a query
    when pending) for a push that may have moved it in the queue."""
    handoff = (
        Handoff.objects.select_related("conversation__end_user", "agent")
        .prefetch_related("labels")
        .filter(pk=handoff_id)
        .first()
    )
    if handoff is not None:
        # Per-agent read marks are not known here: the page keeps its own (js/inbox.js).
        handoff.read_at, handoff.unread = None, False
        positions = queue_place.positions([handoff]) if with_position else {}
        handoff.queue_position = positions.get(handoff.pk)
    return handoff


def send_inbox_item(handoff: Handoff, groups: list[str]) -> None:
    """The item, rendered once, to each group; sockets in several forward it once, and
    forward a burst of pushes of one item as its first and its latest (consumers)."""
    html = render_to_string("handoffs/inbox_list.html#item", {"handoff": handoff})
    event = {
        "type": "push.html",
        "html": html,
        "item": handoff.pk,
        "push": f"{_PROCESS}.{next(_push_ids)}",
    }
    for group in groups:
        send_event(group, event)


@best_effort
def _push_inbox_item(handoff_id: int) -> None:
    handoff = _load_for_item(handoff_id)
    if handoff is not None:
        send_inbox_item(handoff, item_groups(handoff, changed_state=False))


@best_effort
def _push_handoff(
    handoff_id: int, *, changed_state: bool, previous_agent_id: int | None = None
) -> None:
    handoff = _load_for_item(handoff_id, with_position=True)
    if handoff is None:
        return
    context = {"handoff": handoff}
    send_inbox_item(
        handoff,
        item_groups(handoff, changed_state=changed_state, previous_agent_ids=[previous_agent_id]),
    )
    send_to_group(
        conversation_group(handoff.conversation_id),
        render_to_string("handoffs/conversation.html#head", context),
    )


def render_messages_push(messages: list[Message], *, conversation: Conversation) -> str:
    """Messages appended to their conversation's log (a push, a catch-up, a send's answer)."""
    return render_to_string(
        "handoffs/conversation.html#append",
        {
            "messages": messages,
            "conversation_id": conversation.pk,
            **name_context(conversation.end_user),
        },
    )


@best_effort
def _push_message(message_id: int, *, message: Message | None = None) -> None:
    if message is None:
        message = (
            Message.objects.select_related("conversation__end_user", "author")
            .filter(pk=message_id)
            .first()
        )
    if message is None:
        return
    send_to_group(
        conversation_group(message.conversation_id),
        render_messages_push([message], conversation=message.conversation),
    )


@best_effort
def _push_note(note_id: int) -> None:
    note = Note.objects.select_related("author", "handoff").filter(pk=note_id).first()
    if note is None:
        return
    html = format_html(
        '<div id="conversation-{}-notes" hx-swap-oob="beforeend">{}</div>',
        note.conversation_id,
        render_to_string("handoffs/notes.html#note", {"note": note}),
    )
    send_to_group(conversation_group(note.conversation_id), html)


@best_effort
def _push_contact_handoff(handoff_id: int) -> None:
    """The handoff's labels and deletion button, for the contact column of its watchers."""
    handoff = Handoff.objects.select_related("conversation", "bot").filter(pk=handoff_id).first()
    if handoff is None:
        return
    html = render_to_string(
        "handoffs/contact.html#handoff_parts", handoff_parts(handoff) | {"oob": True}
    )
    send_to_group(conversation_group(handoff.conversation_id), html)


@best_effort
def _push_ratings(handoff_id: int) -> None:
    conversation_id = (
        Handoff.objects.filter(pk=handoff_id).values_list("conversation_id", flat=True).first()
    )
    if conversation_id is None:
        return
    html = render_to_string(
        "handoffs/contact.html#ratings",
        {
            "conversation": {"pk": conversation_id},
            "ratings": conversation_ratings(conversation_id),
            "oob": True,
        },
    )
    send_to_group(conversation_group(conversation_id), html)


@best_effort
def _push_contact(conversation_id: int, *, name_changed: bool) -> None:
    conversation = (
        Conversation.objects.select_related("end_user").filter(pk=conversation_id).first()
    )
    if conversation is None:
        return
    end_user = conversation.end_user
    html = render_to_string("handoffs/contact.html#user", user_details(end_user) | {"oob": True})
    # Variables belong to the user, who may have several conversations (threads) open.
    conversation_ids = list(end_user.conversations.values_list("pk", flat=True))
    for pk in conversation_ids:
        send_to_group(conversation_group(pk), html)
    if not name_changed:
        return
    active = Handoff.objects.filter(
        conversation_id__in=conversation_ids, status__in=Handoff.ACTIVE
    ).values_list("pk", flat=True)
    for handoff_id in active:
        # The name shown in the inbox item and the panel's head; the state did not change.
        _push_handoff(handoff_id, changed_state=False)
