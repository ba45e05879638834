"""Messages and notes: what the bot relays, what agents write, and what agents have read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from agents.services import require_online
from conversations.attachments import (
    StoredFile,
    attach_files,
    clean_external_payload,
    discard_files,
)
from conversations.models import Bot, Conversation, Message, Note
from conversations.services import ensure_conversation, preview
from conversations.text import (
    AGENT_MESSAGE_MAX,
    NOTE_MAX,
    RELAYED_MESSAGE_MAX,
    check_length,
    check_storable,
    clean_typed_text,
)
from handoffs import live
from handoffs.errors import (
    IllegalTransition,
    NotYourHandoff,
)
from handoffs.models import Handoff, HandoffRead
from handoffs.relay_read import locked_for_relay
from handoffs.steps import (
    add_outbound_message,
    announce_message_added,
    load_handoff,
    lock_conversation,
)

Status = Handoff.Status


@dataclass(frozen=True)
class RelayResult:
    message: Message
    created: bool
    handoff: Handoff | None


def relay_message(
    *,
    bot: Bot,
    conversation_id: str,
    user_id: str,
    channel: str,
    external_id: str,
    direction: str,
    text: str,
    payload: dict | None = None,
    created_at: datetime | None = None,
    files: Sequence[StoredFile] = (),
) -> RelayResult:
    """Store one message the bot saw (the user's or its own) and show it to agents.

    Idempotent on the bot's message id: sending it again stores nothing twice. `files`: what
    the user attached (the web chat), already in storage; removed again if not kept.
    """
    try:
        result = _relay_message(
            bot=bot,
            conversation_id=conversation_id,
            user_id=user_id,
            channel=channel,
            external_id=external_id,
            direction=direction,
            text=text,
            payload=clean_external_payload(payload),
            created_at=created_at,
            files=files,
        )
    except BaseException:
        discard_files(files)
        raise
    if not result.created:
        discard_files(files)
    return result


def _relay_message(
    *,
    bot: Bot,
    conversation_id: str,
    user_id: str,
    channel: str,
    external_id: str,
    direction: str,
    text: str,
    payload: dict,
    created_at: datetime | None,
    files: Sequence[StoredFile],
) -> RelayResult:
    check_length(check_storable(text), limit=RELAYED_MESSAGE_MAX, what="A relayed message")
    with transaction.atomic():
        # The common case, a known conversation of this user: one locked read, which also
        # says whether a handoff is active and whether this message id is already stored.
        read = locked_for_relay(bot=bot, conversation_id=conversation_id, external_id=external_id)
        if read is not None and read.conversation.end_user.external_id == user_id:
            conversation = read.conversation
            conversation.bot = bot  # the same row, already loaded: no join, no secret to decrypt
            active_pk, same_pk = read.active_handoff_pk, read.same_message_pk
            active = conversation.handoffs.get(pk=active_pk) if active_pk is not None else None
            existing = conversation.messages.get(pk=same_pk) if same_pk is not None else None
        else:
            # A new conversation, or one the bot now names with another user: the general way.
            conversation = ensure_conversation(
                bot=bot, conversation_id=conversation_id, user_id=user_id, channel=channel
            )
            active = conversation.handoffs.filter(status__in=Handoff.ACTIVE).first()
            existing = conversation.messages.filter(external_id=external_id).first()
        if existing is not None:
            return RelayResult(message=existing, created=False, handoff=active)
        message = Message.objects.create(
            conversation=conversation,
            handoff=active,
            external_id=external_id,
            direction=direction,
            text=text,
            payload=payload,
            created_at=created_at or timezone.now(),
        )
        attach_files(message, files)
        now = timezone.now()
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now)
        if active is not None and direction == Message.Direction.INCOMING:
            Handoff.objects.filter(pk=active.pk).update(
                last_user_message=preview(message),
                last_activity_at=now,
                # The user waits for an answer from now, unless already waiting since earlier.
                awaiting_reply_since=Coalesce(
                    F("awaiting_reply_since"), Value(now, output_field=DateTimeField())
                ),
            )
            # Only the inbox item (preview, time, unread) changed: not the status, the head,
            # the labels, nor what the web chat visitor sees of the handoff.
            transaction.on_commit(partial(live.inbox_item_changed, active.pk))
        # The message as inserted, with the conversation and user loaded above: the push
        # renders it without reading it back (a relayed message has no author to load).
        announce_message_added(message, with_row=True, webchat=bot.is_webchat)
    return RelayResult(message=message, created=True, handoff=active)


def check_can_write(*, handoff: Handoff, agent: User) -> None:
    """The refusals send_agent_message would give, checked before files are stored for it
    (it checks again, under its locks)."""
    require_online(agent)
    if handoff.status != Status.ASSIGNED:
        raise IllegalTransition(handoff.pk, handoff.status, "written to")
    if handoff.agent_id != agent.pk:
        raise NotYourHandoff(handoff.pk)


def send_agent_message(
    *, handoff: Handoff, agent: User, text: str, files: Sequence[StoredFile] = ()
) -> Message:
    """The assignee writes to the user: text, files already in storage (removed again when
    the message is refused), or both."""
    try:
        return _send_agent_message(handoff=handoff, agent=agent, text=text, files=files)
    except BaseException:
        discard_files(files)
        raise


def _send_agent_message(
    *, handoff: Handoff, agent: User, text: str, files: Sequence[StoredFile]
) -> Message:
    if files and not text.strip():
        text = ""
    else:
        text = clean_typed_text(
            text,
            limit=AGENT_MESSAGE_MAX,
            what=gettext("A message"),
            empty=gettext("Write a message first."),
        )
    require_online(agent)
    with transaction.atomic():
        lock_conversation(handoff.conversation_id)
        # Lock the handoff so a message cannot slip in after a concurrent resolve.
        current = Handoff.objects.select_for_update().get(pk=handoff.pk)
        if current.status != Status.ASSIGNED:
            raise IllegalTransition(current.pk, current.status, "written to")
        if current.agent_id != agent.pk:
            raise NotYourHandoff(current.pk)
        handoff = load_handoff(current.pk)
        message = add_outbound_message(
            handoff, direction=Message.Direction.AGENT, text=text, author=agent, files=files
        )
        Handoff.objects.filter(pk=handoff.pk).update(
            last_activity_at=message.created_at, awaiting_reply_since=None
        )
    return message


def add_note(*, handoff: Handoff, author: User, text: str) -> Note:
    """A note on the handoff's conversation; later handoffs of it show it too."""
    text = clean_typed_text(
        text, limit=NOTE_MAX, what=gettext("A note"), empty=gettext("Write a note first.")
    )
    require_online(author)
    with transaction.atomic():
        note = Note.objects.create(
            conversation_id=handoff.conversation_id, handoff=handoff, author=author, text=text
        )
        transaction.on_commit(partial(live.note_added, note.pk))
    return note


def mark_conversation_read(
    *, agent: User, conversation_id: int, at: datetime | None = None
) -> None:
    """Record that the agent has seen the conversation up to now (clears the unread dot).

    One upsert statement: two tabs of the same agent marking at once cannot collide.
    """
    HandoffRead.objects.bulk_create(
        [
            HandoffRead(
                agent=agent, conversation_id=conversation_id, last_read_at=at or timezone.now()
            )
        ],
        update_conflicts=True,
        unique_fields=["agent", "conversation"],
        update_fields=["last_read_at"],
    )
