"""The steps every handoff change is built from: the locks it takes, the event it records
in the same transaction, the messages it writes for the user, and the announcements that run
after commit (handoffs.signals).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial

from django.contrib.auth.models import User
from django.db import transaction

from conversations.attachments import StoredFile, attach_files
from conversations.models import Bot, Conversation, Message
from handoffs import signals
from handoffs.errors import (
    UnknownLabel,
)
from handoffs.models import Handoff, Label, SystemMessage
from handoffs.payloads import handoff_json, message_json
from handoffs.queue_place import place_of, wait_words
from handoffs.templating import SYSTEM_PLACEHOLDER, fill_system_message
from hitlnext_project.shared.push import announce
from webhooks.events import record_event


def load_handoff(handoff_id: int) -> Handoff:
    return (
        Handoff.objects.select_related("conversation__end_user", "bot", "agent__agent_profile")
        .prefetch_related("labels")
        .get(pk=handoff_id)
    )


def lock_conversation(conversation_id: int) -> None:
    """Take the conversation's row lock first thing in a transaction that emits its events.

    Every such transaction (relay_message and start_handoff lock it too, in
    ensure_conversation) then runs single-file per conversation: its events get ids in
    commit order, which is the order webhooks go out in, and locks are always taken in the
    same order, so none of them can deadlock another.
    """
    Conversation.objects.select_for_update().filter(pk=conversation_id).values_list(
        "pk", flat=True
    ).get()


def announce_handoff_changed(handoff_id: int, *, previous_agent_id: int | None = None) -> None:
    """previous_agent_id: the agent a transfer took it from, whose load dropped."""
    transaction.on_commit(
        partial(
            announce,
            signals.handoff_changed,
            sender=Handoff,
            handoff_id=handoff_id,
            previous_agent_id=previous_agent_id,
        )
    )


def announce_message_added(
    message: Message, *, with_row: bool = False, webchat: bool | None = None
) -> None:
    # with_row: the row as inserted, its conversation and user loaded, goes along so that
    # listeners render it without reading it back.
    transaction.on_commit(
        partial(
            announce,
            signals.message_added,
            sender=Message,
            message_id=message.pk,
            message=message if with_row else None,
            webchat=webchat,
        )
    )


def emit_handoff_event(handoff: Handoff, type: str, **extra: object) -> None:
    """The event in this transaction, and the announcement after commit."""
    record_handoff_event(handoff, type, **extra)
    announce_handoff_changed(handoff.pk)


def record_handoff_event(handoff: Handoff, type: str, **extra: object) -> None:
    """The event alone, for a change that records several and announces once (a transfer)."""
    record_event(
        bot=handoff.bot,
        type=type,
        data={"handoff": handoff_json(handoff), **extra},
        conversation=handoff.conversation,
    )


def add_outbound_message(
    handoff: Handoff,
    *,
    direction: str,
    text: str,
    author: User | None = None,
    files: Sequence[StoredFile] = (),
) -> Message:
    """A message for the user (agent or system): stored, then sent as message.created."""
    message = Message.objects.create(
        conversation=handoff.conversation,
        handoff=handoff,
        direction=direction,
        author=author,
        text=text,
    )
    attach_files(message, files)
    Conversation.objects.filter(pk=handoff.conversation_id).update(
        last_message_at=message.created_at
    )
    record_event(
        bot=handoff.bot,
        type="message.created",
        data={"message": message_json(message)},
        conversation=handoff.conversation,
    )
    announce_message_added(message)
    return message


def system_message_text(
    *, kind: str, language: str, bot: Bot, agent_name: str = "", handoff: Handoff | None = None
) -> str:
    """The admin-managed text in the user's language, else the bot's default, else English,
    with its placeholders filled (handoffs.templating.fill_system_message).

    {{queuePosition}} and {{estimatedWait}} ("about 3 minutes", in the user's language) are
    the place of `handoff` in the queue while it is pending; empty otherwise. {{fullName}}
    and {{user.<variable>}} are its user's.
    """
    texts = dict(
        SystemMessage.objects.filter(
            kind=kind, language__in={language, bot.default_language, "en"}
        ).values_list("language", "text")
    )
    for candidate in (language, bot.default_language, "en"):
        if candidate in texts:
            text = texts[candidate]
            values = {"agentName": agent_name}
            wanted = set(SYSTEM_PLACEHOLDER.findall(text))
            if handoff is not None and {"queuePosition", "estimatedWait"} & wanted:
                place = place_of(handoff)
                if place is not None:
                    values["queuePosition"] = str(place.position)
                    values["estimatedWait"] = wait_words(place.estimated_wait_seconds, language)
            # {{fullName}}, {{user.<variable>}}: read only when the text has one.
            user_wanted = handoff is not None and any(
                name == "fullName" or name.startswith("user.") for name in wanted
            )
            end_user = (
                handoff.conversation.end_user if handoff is not None and user_wanted else None
            )
            return fill_system_message(text, values, end_user=end_user)
    return ""


def resolve_labels(names: Iterable[str]) -> list[Label]:
    wanted = list(dict.fromkeys(names))
    labels = list(Label.objects.filter(name__in=wanted))
    missing = sorted(set(wanted) - {label.name for label in labels})
    if missing:
        raise UnknownLabel(missing)
    return labels
