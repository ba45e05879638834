"""Work across the conversation models: users and their threads."""

from __future__ import annotations

from functools import partial
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from conversations import signals
from conversations.attachments import message_files
from conversations.models import Bot, Conversation, EndUser, Message
from hitlnext_project.shared.push import announce

PREVIEW_LENGTH = 200

M = TypeVar("M", bound=Model)


def ensure_conversation(
    *,
    bot: Bot,
    conversation_id: str,
    user_id: str,
    channel: str,
    user_variables: dict | None = None,
) -> Conversation:
    """Get or create the user and the conversation, merging any new user variables.

    Returns the conversation row locked for the rest of the transaction, so concurrent
    requests about one conversation (a handoff and a message at once) take turns. (Relaying a
    message reads it with a query of its own first: handoffs.relay_read.)
    """
    assert transaction.get_connection().in_atomic_block
    # The common case, a known conversation: one locked read, joined to its user. Only the
    # conversation row is locked (requests about it take turns), not its user's or bot's.
    found = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("end_user")
        .filter(bot=bot, external_id=conversation_id)[:1]  # unique: no ORDER BY (first())
    )
    conversation = next(iter(found), None)
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
            partial(
                announce,
                signals.contact_changed,
                sender=Conversation,
                conversation_id=conversation.pk,
                name_changed=name_changed,
            )
        )
    return conversation


def _get_or_create(
    model: type[M], defaults: dict[str, Any] | None = None, **lookup: Any
) -> tuple[M, bool]:
    # get_or_create inside an outer transaction: the insert needs its own savepoint so that
    # losing the race to a concurrent insert (IntegrityError) leaves the transaction usable.
    manager = model._default_manager  # their `objects` (EndUser, Conversation have no other)
    try:
        return manager.get(**lookup), False
    except ObjectDoesNotExist:  # the model's DoesNotExist, which the stubs type per model only
        pass
    try:
        with transaction.atomic():
            return manager.create(**lookup, **(defaults or {})), True
    except IntegrityError:
        return manager.get(**lookup), False


def preview(message: Message) -> str:
    text = message.text.strip() or describe_payload(message.payload)
    return text[:PREVIEW_LENGTH]


def describe_payload(payload: dict) -> str:
    """A readable one-line summary of a non-text message (image, card, choice, file...)."""
    if not isinstance(payload, dict) or not payload:
        return ""
    files = message_files(payload)
    if files:  # files an agent or a web chat visitor sent
        return " ".join(f"📎 {f.get('name') or 'file'}" for f in files)
    kind = str(payload.get("type") or "message")
    name = payload.get("name")
    if kind in ("image", "file") and isinstance(name, str) and name:
        return f"📎 {name}"
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
