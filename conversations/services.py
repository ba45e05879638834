"""Work across the conversation models: users, threads, relayed messages and notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from conversations.models import Bot, Conversation, EndUser, Message, Note
from conversations.text import check_storable
from handoffs import live
from handoffs.models import Handoff

PREVIEW_LENGTH = 200


def ensure_conversation(
    *,
    bot: Bot,
    conversation_id: str,
    user_id: str,
    channel: str,
    user_variables: dict | None = None,
    annotations: dict | None = None,
) -> Conversation:
    """Get or create the user and the conversation, merging any new user variables.

    Returns the conversation row locked for the rest of the transaction, so concurrent
    requests about one conversation (a handoff and a message at once) take turns.
    `annotations` are read by the same locked query when the conversation exists (a new one
    has none of them set: callers fall back to their own queries).
    """
    assert transaction.get_connection().in_atomic_block
    # The common case, a known conversation: one locked read, joined to its user. Only the
    # conversation row is locked (requests about it take turns), not its user's or bot's.
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("end_user")
        .annotate(**(annotations or {}))
        .filter(bot=bot, external_id=conversation_id)
        .first()
    )
    if conversation is not None and conversation.end_user.external_id == user_id:
        end_user, user_created = conversation.end_user, False
    else:
        end_user, user_created = _get_or_create(EndUser, bot=bot, external_id=user_id)
    variables_changed = False
    old_name = end_user.full_name
    if user_variables:
        merged = {**end_user.variables, **user_variables}
        if merged != end_user.variables:
            now = timezone.now()
            EndUser.objects.filter(pk=end_user.pk).update(variables=merged, updated_at=now)
            end_user.variables, end_user.updated_at = merged, now
            variables_changed = True
    if conversation is None:
        conversation, created = _get_or_create(
            Conversation,
            bot=bot,
            external_id=conversation_id,
            defaults={"end_user": end_user, "channel": channel},
        )
        if not created:
            # A concurrent request inserted it first: wait for its lock like everyone else.
            conversation = (
                Conversation.objects.select_for_update(of=("self",))
                .select_related("end_user")
                .get(pk=conversation.pk)
            )
        # (A row this transaction inserted is locked by the insert itself until commit.)
    conversation.bot = bot  # the same row, already loaded: no join, no secret to decrypt
    if variables_changed and not user_created:
        # Agents looking at the user's contact details see the new variables (a user created
        # just now is on nobody's screen yet).
        name_changed = end_user.full_name != old_name
        transaction.on_commit(
            partial(live.contact_changed, conversation.pk, name_changed=name_changed)
        )
    return conversation


def _get_or_create(model, defaults=None, **lookup):
    # get_or_create inside an outer transaction: the insert needs its own savepoint so that
    # losing the race to a concurrent insert (IntegrityError) leaves the transaction usable.
    try:
        return model.objects.get(**lookup), False
    except model.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return model.objects.create(**lookup, **(defaults or {})), True
    except IntegrityError:
        return model.objects.get(**lookup), False


def preview(message: Message) -> str:
    text = message.text.strip() or describe_payload(message.payload)
    return text[:PREVIEW_LENGTH]


def describe_payload(payload: dict) -> str:
    """A readable one-line summary of a non-text message (image, card, choice, file...)."""
    if not isinstance(payload, dict) or not payload:
        return ""
    kind = str(payload.get("type") or "message")
    for key in ("title", "text", "caption", "name", "url", "image", "file"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return f"[{kind}] {value}"
    choices = payload.get("choices") or payload.get("options") or payload.get("buttons")
    if isinstance(choices, list) and choices:
        titles = [
            str(c.get("title") or c.get("label") or c.get("value"))
            if isinstance(c, dict)
            else str(c)
            for c in choices
        ]
        return f"[{kind}] " + " / ".join(titles)
    return f"[{kind}]"


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
) -> RelayResult:
    """Store one message the bot saw (the user's or its own) and show it to agents.

    Idempotent on the bot's message id: sending it again stores nothing twice.
    """
    with transaction.atomic():
        conversation = ensure_conversation(
            bot=bot,
            conversation_id=conversation_id,
            user_id=user_id,
            channel=channel,
            # Read with the locked conversation: whether a handoff is active and whether this
            # message id is already stored (each at most one row: unique constraints).
            annotations={
                "active_handoff_pk": Subquery(
                    Handoff.objects.filter(
                        conversation=OuterRef("pk"), status__in=Handoff.ACTIVE
                    ).values("pk")[:1]
                ),
                "same_message_pk": Subquery(
                    Message.objects.filter(
                        conversation=OuterRef("pk"), external_id=external_id
                    ).values("pk")[:1]
                ),
            },
        )
        if not hasattr(conversation, "active_handoff_pk"):  # created just now, or raced
            active = conversation.handoffs.filter(status__in=Handoff.ACTIVE).first()
            existing = conversation.messages.filter(external_id=external_id).first()
        else:
            active_pk, same_pk = conversation.active_handoff_pk, conversation.same_message_pk
            active = conversation.handoffs.get(pk=active_pk) if active_pk is not None else None
            existing = conversation.messages.get(pk=same_pk) if same_pk is not None else None
        if existing is not None:
            return RelayResult(message=existing, created=False, handoff=active)
        message = Message.objects.create(
            conversation=conversation,
            handoff=active,
            external_id=external_id,
            direction=direction,
            text=text,
            payload=payload or {},
            created_at=created_at or timezone.now(),
        )
        now = timezone.now()
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now)
        if active is not None and direction == Message.Direction.INCOMING:
            Handoff.objects.filter(pk=active.pk).update(
                last_user_message=preview(message), last_activity_at=now
            )
            # Only the inbox item (preview, time, unread) changed: not the status, the head,
            # the labels, nor what the web chat visitor sees of the handoff.
            transaction.on_commit(partial(live.inbox_item_changed, active.pk))
        # The message as inserted, with the conversation and user loaded above: the push
        # renders it without reading it back (a relayed message has no author to load).
        transaction.on_commit(
            partial(live.message_added, message.pk, webchat=bot.is_webchat, message=message)
        )
    return RelayResult(message=message, created=True, handoff=active)


def add_note(*, handoff: Handoff, author, text: str) -> Note:
    """A note on the handoff's conversation; later handoffs of it show it too."""
    text = check_storable(text.strip())
    if not text:
        raise ValueError("Write a note first.")
    with transaction.atomic():
        note = Note.objects.create(
            conversation_id=handoff.conversation_id, handoff=handoff, author=author, text=text
        )
        transaction.on_commit(partial(live.note_added, note.pk))
    return note
