"""Real-time pushes to agents' pages. Services call these from transaction.on_commit.

Each function renders its fragment once and sends it to the relevant group; consumers only
forward the HTML. A push is a nudge: pages re-sync from the database on (re)connect.

Groups (joined by handoffs.consumers.AgentConsumer): "inbox" and "presence" (every agent
page), "agent.<user id>" (that agent's pages), "conversation.<conversation id>" (pages showing
that conversation). Fragments are rendered without a viewer; what differs per agent ("You",
which filter an item belongs to, who may write) is settled in the page (live.js, base.html).
"""

from __future__ import annotations

import functools
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.utils.html import format_html

logger = logging.getLogger(__name__)

INBOX_GROUP = "inbox"
PRESENCE_GROUP = "presence"
# Where a pushed note goes: the contact-details helper's template, once it exists.
NOTE_TEMPLATE = "handoffs/notes.html#note"


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def send_to_group(group: str, html: str) -> None:
    layer = get_channel_layer()
    if layer is None or not html:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "push.html", "html": html})
    except Exception:  # a push is best effort; the database already holds the truth
        logger.exception("live push to %s failed", group)


def best_effort(push):
    """For pushes, which run as on-commit hooks among others: a rendering failure must not
    turn a committed change into an error for the caller, nor stop the next hook. Pages and
    visitors re-sync from the database on reconnect."""

    @functools.wraps(push)
    def wrapper(*args, **kwargs) -> None:
        try:
            push(*args, **kwargs)
        except Exception:
            logger.exception("live push %s.%s failed", push.__module__, push.__name__)

    return wrapper


def handoff_changed(handoff_id: int) -> None:
    """An inbox item appeared or changed (status, assignee, labels, last message)."""
    from conversations.webchat_live import visitor_handoff_changed  # lazy: avoids a cycle

    visitor_handoff_changed(handoff_id)
    _push_handoff(handoff_id)
    _push_contact_handoff(handoff_id)


def inbox_item_changed(handoff_id: int) -> None:
    """Only the handoff's inbox item changed (a user message: preview, time, unread): its
    status, assignee, labels and head did not, so neither the panel's head, the contact column
    nor the web chat visitor's status is re-rendered (handoff_changed does all of those)."""
    _push_inbox_item(handoff_id)


def message_added(message_id: int, *, webchat: bool | None = None, message=None) -> None:
    """A message joined a conversation: agents watching it see it appear.

    `webchat`: whether the conversation's bot is the web chat's, when the caller knows it
    (False skips the visitor's lookup); None looks it up. `message`: the row just committed,
    with its conversation and user loaded, when the caller has it (saves reading it back).
    """
    from conversations.webchat_live import visitor_message_added  # lazy: avoids a cycle

    if webchat is not False:
        visitor_message_added(message_id)
    _push_message(message_id, message=message)


def note_added(note_id: int) -> None:
    """A note was added to a conversation."""
    _push_note(note_id)


def contact_changed(conversation_id: int, *, name_changed: bool = True) -> None:
    """The user's variables changed: pages showing any of the user's conversations see the new
    details and, when the name changed, the active handoffs' inbox items and heads too."""
    _push_contact(conversation_id, name_changed=name_changed)


def conversation_deleted(conversation_id: int) -> None:
    """A conversation's messages were deleted: its watchers reload the panel."""
    send_to_group(
        conversation_group(conversation_id),
        '<template id="conversation-reload" data-reload="#conversation"></template>',
    )


def presence_changed(user_id: int) -> None:
    """An agent went online or offline (or changed name or avatar)."""
    _push_presence(user_id)


def session_ended(user_id: int, session_key: str) -> None:
    """The agent logged out: that session's open pages close their sockets (4403) and go to
    the login, instead of receiving pushes until their next reload."""
    layer = get_channel_layer()
    if layer is None or not session_key:
        return
    try:
        async_to_sync(layer.group_send)(
            agent_group(user_id), {"type": "session.ended", "session_key": session_key}
        )
    except Exception:
        logger.exception("session end push to %s failed", user_id)


def _load_for_item(handoff_id: int):
    from handoffs.models import Handoff

    handoff = (
        Handoff.objects.select_related("conversation__end_user", "agent")
        .prefetch_related("labels")
        .filter(pk=handoff_id)
        .first()
    )
    if handoff is not None:
        # Per-agent read marks are not known here: the page keeps its own (live.js).
        handoff.read_at, handoff.unread = None, False
    return handoff


@best_effort
def _push_inbox_item(handoff_id: int) -> None:
    handoff = _load_for_item(handoff_id)
    if handoff is not None:
        send_to_group(
            INBOX_GROUP, render_to_string("handoffs/inbox_list.html#item", {"handoff": handoff})
        )


@best_effort
def _push_handoff(handoff_id: int) -> None:
    handoff = _load_for_item(handoff_id)
    if handoff is None:
        return
    context = {"handoff": handoff}
    send_to_group(INBOX_GROUP, render_to_string("handoffs/inbox_list.html#item", context))
    send_to_group(
        conversation_group(handoff.conversation_id),
        render_to_string("handoffs/conversation.html#head", context),
    )


def render_messages_push(messages, *, conversation) -> str:
    """Messages appended to their conversation's log (a push, a catch-up, a send's answer)."""
    from handoffs.naming import display_user_name

    return render_to_string(
        "handoffs/conversation.html#append",
        {
            "messages": messages,
            "conversation_id": conversation.pk,
            "user_display_name": display_user_name(conversation.end_user),
        },
    )


@best_effort
def _push_message(message_id: int, *, message=None) -> None:
    from conversations.models import Message

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
    from conversations.models import Note

    try:
        template = get_template(NOTE_TEMPLATE)
    except TemplateDoesNotExist:
        return
    note = Note.objects.select_related("author", "handoff").filter(pk=note_id).first()
    if note is None:
        return
    html = format_html(
        '<div id="conversation-{}-notes" hx-swap-oob="beforeend">{}</div>',
        note.conversation_id,
        template.render({"note": note}),
    )
    send_to_group(conversation_group(note.conversation_id), html)


@best_effort
def _push_contact_handoff(handoff_id: int) -> None:
    """The handoff's labels and deletion button, for the contact column of its watchers."""
    from handoffs.contact import handoff_parts
    from handoffs.models import Handoff

    handoff = Handoff.objects.select_related("conversation", "bot").filter(pk=handoff_id).first()
    if handoff is None:
        return
    html = render_to_string(
        "handoffs/contact.html#handoff_parts", handoff_parts(handoff) | {"oob": True}
    )
    send_to_group(conversation_group(handoff.conversation_id), html)


@best_effort
def _push_contact(conversation_id: int, *, name_changed: bool) -> None:
    from conversations.models import Conversation
    from handoffs.contact import user_details
    from handoffs.models import Handoff

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
        _push_handoff(handoff_id)  # the name shown in the inbox item and the panel's head


def render_switch(profile) -> str:
    return render_to_string("agents/presence.html#switch", {"my_profile": profile})


def render_online_agents() -> str:
    from agents.models import AgentProfile

    online = (
        AgentProfile.objects.filter(online=True)
        .select_related("user")
        .order_by("user__first_name", "user__last_name", "user__username")
    )
    return render_to_string("agents/presence.html#online_agents", {"online_agents": online})


@best_effort
def _push_presence(user_id: int) -> None:
    from agents.models import AgentProfile

    profile = AgentProfile.objects.filter(user_id=user_id).first()
    if profile is not None:
        send_to_group(agent_group(user_id), render_switch(profile))
    send_to_group(PRESENCE_GROUP, render_online_agents())
