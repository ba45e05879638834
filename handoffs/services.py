"""The handoff state machine: one function per transition, each transactional and race-safe,
and the messages and notes written around it.

pending -> assigned -> resolved; pending|assigned -> rejected; pending -> expired;
assigned -> pending (requeued).
Events (outbox rows) are written in the same transaction; live pushes and announcements
(handoffs.signals) run after commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, F, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import AgentProfile, display_name
from agents.services import require_online
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
from handoffs import live, signals
from handoffs.errors import (
    AlreadyAssigned,
    ConversationDeletionDisabled,
    ConversationStillActive,
    IllegalTransition,
    NotYourHandoff,
    UnknownLabel,
)
from handoffs.models import ConversationDeletion, Handoff, HandoffRead, Label, SystemMessage
from handoffs.payloads import agent_json, handoff_json, message_json
from hitlnext_project.shared.push import announce
from webhooks.events import record_event

Status = Handoff.Status
# Who decided an assignment: routing, the agent ("Assign to me"), or a transfer.
AssignedBy = Literal["auto", "agent", "transfer"]
# Why a handoff went back to the queue.
RequeueReason = Literal["agentDidNotReply", "transfer"]


def _load(handoff_id: int) -> Handoff:
    return (
        Handoff.objects.select_related("conversation__end_user", "bot", "agent__agent_profile")
        .prefetch_related("labels")
        .get(pk=handoff_id)
    )


def _lock_conversation(conversation_id: int) -> None:
    """Take the conversation's row lock first thing in a transaction that emits its events.

    Every such transaction (relay_message and start_handoff lock it too, in
    ensure_conversation) then runs single-file per conversation: its events get ids in
    commit order, which is the order webhooks go out in, and locks are always taken in the
    same order, so none of them can deadlock another.
    """
    Conversation.objects.select_for_update().filter(pk=conversation_id).values_list(
        "pk", flat=True
    ).get()


def _announce_handoff_changed(handoff_id: int) -> None:
    transaction.on_commit(
        partial(announce, signals.handoff_changed, sender=Handoff, handoff_id=handoff_id)
    )


def _announce_message_added(
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


def _emit_handoff_event(handoff: Handoff, type: str, **extra: object) -> None:
    record_event(
        bot=handoff.bot,
        type=type,
        data={"handoff": handoff_json(handoff), **extra},
        conversation=handoff.conversation,
    )
    _announce_handoff_changed(handoff.pk)


def _add_outbound_message(
    handoff: Handoff, *, direction: str, text: str, author: User | None = None
) -> Message:
    """A message for the user (agent or system): stored, then sent as message.created."""
    message = Message.objects.create(
        conversation=handoff.conversation,
        handoff=handoff,
        direction=direction,
        author=author,
        text=text,
    )
    Conversation.objects.filter(pk=handoff.conversation_id).update(
        last_message_at=message.created_at
    )
    record_event(
        bot=handoff.bot,
        type="message.created",
        data={"message": message_json(message)},
        conversation=handoff.conversation,
    )
    _announce_message_added(message)
    return message


def system_message_text(*, kind: str, language: str, bot: Bot, agent_name: str = "") -> str:
    """The admin-managed text in the user's language, else the bot's default, else English."""
    texts = dict(
        SystemMessage.objects.filter(
            kind=kind, language__in={language, bot.default_language, "en"}
        ).values_list("language", "text")
    )
    for candidate in (language, bot.default_language, "en"):
        if candidate in texts:
            return texts[candidate].replace("{{agentName}}", agent_name)
    return ""


def _resolve_labels(names: Iterable[str]) -> list[Label]:
    wanted = list(dict.fromkeys(names))
    labels = list(Label.objects.filter(name__in=wanted))
    missing = sorted(set(wanted) - {label.name for label in labels})
    if missing:
        raise UnknownLabel(missing)
    return labels


def start_handoff(
    *,
    bot: Bot,
    conversation_id: str,
    user_id: str,
    channel: str,
    language: str | None = None,
    user_variables: dict | None = None,
    history: Iterable[dict] = (),
    timeout_seconds: int = 0,
    labels: Iterable[str] = (),
    priority: str = Handoff.Priority.NORMAL,
) -> tuple[Handoff, bool]:
    """Open a handoff, or return the conversation's active one. Returns (handoff, created)."""
    priority = Handoff.Priority(priority)  # ValueError on anything else
    label_rows = _resolve_labels(labels)
    with transaction.atomic():
        # The conversation row lock serialises concurrent requests for one conversation; the
        # partial unique constraint on Handoff is the backstop if anything slipped past it.
        conversation = ensure_conversation(
            bot=bot,
            conversation_id=conversation_id,
            user_id=user_id,
            channel=channel,
            user_variables=user_variables,
        )
        _import_history(conversation, history)
        active = conversation.handoffs.filter(status__in=Handoff.ACTIVE).first()
        if active is not None:
            return _load(active.pk), False
        now = timezone.now()
        last_user = conversation.messages.filter(direction=Message.Direction.INCOMING).last()
        try:
            with transaction.atomic():
                handoff = Handoff.objects.create(
                    bot=bot,
                    conversation=conversation,
                    language=language or bot.default_language,
                    priority=priority,
                    timeout_seconds=timeout_seconds,
                    created_at=now,
                    last_activity_at=now,
                    expires_at=now + timedelta(seconds=timeout_seconds)
                    if timeout_seconds
                    else None,
                    last_user_message=preview(last_user) if last_user else "",
                )
        except IntegrityError:
            active = conversation.handoffs.get(status__in=Handoff.ACTIVE)
            return _load(active.pk), False
        if label_rows:
            handoff.labels.set(label_rows)
        handoff = _load(handoff.pk)
        _emit_handoff_event(handoff, "handoff.created")
        text = system_message_text(kind="transfer", language=handoff.language, bot=bot)
        if text:
            _add_outbound_message(handoff, direction=Message.Direction.SYSTEM, text=text)
    return handoff, True


def _import_history(conversation: Conversation, history: Iterable[dict]) -> None:
    """Store the bot's earlier messages so agents read the whole conversation."""
    known = set(
        conversation.messages.exclude(external_id=None).values_list("external_id", flat=True)
    )
    rows = []
    for item in history:
        external_id = item.get("id")
        if external_id is not None and external_id in known:
            continue
        known.add(external_id)
        rows.append(
            Message(
                conversation=conversation,
                external_id=external_id,
                direction=item["direction"],
                text=item.get("text") or "",
                payload=item.get("payload") or {},
                created_at=item.get("created_at") or timezone.now(),
            )
        )
    if rows:
        rows.sort(key=lambda m: m.created_at)
        Message.objects.bulk_create(rows)


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
    check_length(check_storable(text), limit=RELAYED_MESSAGE_MAX, what="A relayed message")
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
        # A conversation created just now, or raced, has neither annotation.
        if not (
            hasattr(conversation, "active_handoff_pk") and hasattr(conversation, "same_message_pk")
        ):
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
        _announce_message_added(message, with_row=True, webchat=bot.is_webchat)
    return RelayResult(message=message, created=True, handoff=active)


def add_note(*, handoff: Handoff, author: User, text: str) -> Note:
    """A note on the handoff's conversation; later handoffs of it show it too."""
    text = clean_typed_text(text, limit=NOTE_MAX, what="A note", empty="Write a note first.")
    require_online(author)
    with transaction.atomic():
        note = Note.objects.create(
            conversation_id=handoff.conversation_id, handoff=handoff, author=author, text=text
        )
        transaction.on_commit(partial(live.note_added, note.pk))
    return note


def assign_handoff(
    *, handoff: Handoff, agent: User, assigned_by: Literal["agent", "transfer"] = "agent"
) -> Handoff:
    """ "Assign to me": exactly one of several agents clicking at once wins. It may take the
    agent past their capacity: a person decided (auto-assignment never does)."""
    require_online(agent)
    with transaction.atomic():
        _lock_conversation(handoff.conversation_id)
        _lock_agent(agent)
        won = _claim(handoff, agent)
        handoff = _load(handoff.pk)
        if not won:
            if handoff.status == Status.ASSIGNED and handoff.agent is not None:
                raise AlreadyAssigned(handoff.pk, display_name(handoff.agent))
            raise IllegalTransition(handoff.pk, handoff.status, "assigned")
        _report_assignment(handoff, agent, assigned_by)
    return handoff


def auto_assign_handoff(*, handoff: Handoff, agent: User) -> Handoff | None:
    """Routing's assignment (assigned_by "auto"). The agent did not act, so it is not their
    activity; they must be online and below their capacity. None, changing nothing, when the
    handoff is no longer pending or the agent is offline or full."""
    with transaction.atomic():
        _lock_conversation(handoff.conversation_id)
        profile = _lock_agent(agent)
        if profile is None or not profile.online:
            return None
        capacity = profile.effective_capacity
        # Counted under the profile's row lock, which every assignment to this agent holds
        # until it commits: two concurrent assignments cannot both see the last free place.
        open_now = Handoff.objects.filter(agent=agent, status=Status.ASSIGNED).count()
        if capacity and open_now >= capacity:
            return None
        if not _claim(handoff, agent):
            return None
        handoff = _load(handoff.pk)
        _report_assignment(handoff, agent, "auto")
    return handoff


def _lock_agent(agent: User) -> AgentProfile | None:
    """The agent's profile row lock, taken by every assignment after the conversation's."""
    return AgentProfile.objects.select_for_update().filter(user=agent).first()


def _claim(handoff: Handoff, agent: User) -> bool:
    now = timezone.now()
    # Conditional UPDATE: of two concurrent claims, only one matches status=pending.
    won = Handoff.objects.filter(pk=handoff.pk, status=Status.PENDING).update(
        status=Status.ASSIGNED,
        agent=agent,
        assigned_at=now,
        last_activity_at=now,
        # The user has waited since before; the agent's time to answer starts now.
        awaiting_reply_since=now,
    )
    if won:
        AgentProfile.objects.filter(user=agent).update(last_assigned_at=now)
    return bool(won)


def _report_assignment(handoff: Handoff, agent: User, assigned_by: AssignedBy) -> None:
    _emit_handoff_event(handoff, "handoff.assigned", assigned_by=assigned_by)
    text = system_message_text(
        kind="assign",
        language=handoff.language,
        bot=handoff.bot,
        agent_name=display_name(agent),
    )
    if text:
        _add_outbound_message(handoff, direction=Message.Direction.SYSTEM, text=text)


def send_agent_message(*, handoff: Handoff, agent: User, text: str) -> Message:
    text = clean_typed_text(
        text, limit=AGENT_MESSAGE_MAX, what="A message", empty="Write a message first."
    )
    require_online(agent)
    with transaction.atomic():
        _lock_conversation(handoff.conversation_id)
        # Lock the handoff so a message cannot slip in after a concurrent resolve.
        current = Handoff.objects.select_for_update().get(pk=handoff.pk)
        if current.status != Status.ASSIGNED:
            raise IllegalTransition(current.pk, current.status, "written to")
        if current.agent_id != agent.pk:
            raise NotYourHandoff(current.pk)
        handoff = _load(current.pk)
        message = _add_outbound_message(
            handoff, direction=Message.Direction.AGENT, text=text, author=agent
        )
        Handoff.objects.filter(pk=handoff.pk).update(
            last_activity_at=message.created_at, awaiting_reply_since=None
        )
    return message


def resolve_handoff(*, handoff: Handoff, agent: User) -> Handoff:
    """Hand the conversation back to the bot."""
    require_online(agent)
    with transaction.atomic():
        _lock_conversation(handoff.conversation_id)
        now = timezone.now()
        done = Handoff.objects.filter(pk=handoff.pk, status=Status.ASSIGNED, agent=agent).update(
            status=Status.RESOLVED, resolved_at=now, closed_at=now, last_activity_at=now
        )
        handoff = _load(handoff.pk)
        if not done:
            if handoff.status == Status.ASSIGNED:
                raise NotYourHandoff(handoff.pk)
            raise IllegalTransition(handoff.pk, handoff.status, "resolved")
        _emit_handoff_event(handoff, "handoff.resolved", exit_type="handoffResolved")
    return handoff


def reject_handoff(*, handoff: Handoff) -> Handoff:
    """The bot cancels the handoff (the user left, the bot solved it...)."""
    with transaction.atomic():
        _lock_conversation(handoff.conversation_id)
        now = timezone.now()
        done = Handoff.objects.filter(pk=handoff.pk, status__in=Handoff.ACTIVE).update(
            status=Status.REJECTED, closed_at=now, last_activity_at=now
        )
        handoff = _load(handoff.pk)
        if not done:
            raise IllegalTransition(handoff.pk, handoff.status, "rejected")
        _emit_handoff_event(handoff, "handoff.rejected")
    return handoff


def requeue_handoff(*, handoff: Handoff, reason: RequeueReason) -> Handoff:
    """assigned -> pending: back to the queue without an agent (handoff.requeued)."""
    requeued = _requeue(handoff.pk, handoff.conversation_id, reason=reason)
    if requeued is None:
        current = Handoff.objects.get(pk=handoff.pk)
        raise IllegalTransition(current.pk, current.status, "requeued")
    return requeued


def _requeue(
    handoff_id: int, conversation_id: int, *, reason: RequeueReason, condition: Q | None = None
) -> Handoff | None:
    with transaction.atomic():
        _lock_conversation(conversation_id)
        # Under the conversation lock no other transition of this handoff runs; the UPDATE is
        # still conditional on what was read (and on `condition`, the timer's deadline).
        current = (
            Handoff.objects.select_related("agent__agent_profile")
            .filter(pk=handoff_id, status=Status.ASSIGNED)
            .first()
        )
        if current is None:
            return None
        now = timezone.now()
        done = Handoff.objects.filter(
            condition or Q(), pk=handoff_id, status=Status.ASSIGNED, agent_id=current.agent_id
        ).update(
            status=Status.PENDING,
            agent=None,
            assigned_at=None,
            awaiting_reply_since=None,
            requeued_from_id=current.agent_id,
            last_activity_at=now,
            # Waiting again: timeout_seconds counts from now, not from the first creation.
            expires_at=now + timedelta(seconds=current.timeout_seconds)
            if current.timeout_seconds
            else None,
        )
        if not done:
            return None
        handoff = _load(handoff_id)
        _emit_handoff_event(
            handoff,
            "handoff.requeued",
            reason=reason,
            from_agent=agent_json(current.agent) if current.agent_id else None,
        )
    return handoff


def requeue_unanswered_handoff(*, handoff: Handoff, now: datetime | None = None) -> bool:
    """Requeue an assigned handoff whose user has waited HITLNEXT_REASSIGN_AFTER for the
    agent's answer; False if that is not (or no longer: the agent just wrote) the case."""
    after = settings.HITLNEXT_REASSIGN_AFTER
    if not after:
        return False
    overdue = Q(awaiting_reply_since__lte=(now or timezone.now()) - after)
    requeued = _requeue(
        handoff.pk, handoff.conversation_id, reason="agentDidNotReply", condition=overdue
    )
    return requeued is not None


def requeue_unanswered_handoffs(*, now: datetime | None = None, limit: int = 500) -> int:
    """The worker's timer for HITLNEXT_REASSIGN_AFTER. When the user started waiting is in the
    database (Handoff.awaiting_reply_since), so a restart loses no deadline."""
    after = settings.HITLNEXT_REASSIGN_AFTER
    if not after:
        return 0
    now = now or timezone.now()
    due = Handoff.objects.filter(
        status=Status.ASSIGNED, awaiting_reply_since__lte=now - after
    ).order_by("awaiting_reply_since")[:limit]
    return sum(requeue_unanswered_handoff(handoff=h, now=now) for h in due)


def expire_handoff(*, handoff: Handoff, now: datetime | None = None) -> bool:
    """Expire a pending handoff whose deadline passed; False if it changed meanwhile."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock_conversation(handoff.conversation_id)
        done = Handoff.objects.filter(
            pk=handoff.pk, status=Status.PENDING, expires_at__lte=now
        ).update(status=Status.EXPIRED, closed_at=now, last_activity_at=now)
        if not done:
            return False
        _emit_handoff_event(_load(handoff.pk), "handoff.expired", exit_type="timedOutWaitingAgent")
    return True


def expire_due_handoffs(*, now: datetime | None = None, limit: int = 500) -> int:
    """The worker's timer: the deadline lives in the database, so a restart loses none."""
    now = now or timezone.now()
    due = Handoff.objects.filter(status=Status.PENDING, expires_at__lte=now).order_by("expires_at")[
        :limit
    ]
    return sum(expire_handoff(handoff=h, now=now) for h in due)


def set_handoff_labels(
    *, handoff: Handoff, names: Iterable[str], agent: User | None = None
) -> Handoff:
    """Replace the handoff's labels; one handoff.updated event when they really change."""
    labels = _resolve_labels(names)
    if agent is not None:
        require_online(agent)
    with transaction.atomic():
        _lock_conversation(handoff.conversation_id)
        locked = Handoff.objects.select_for_update().get(pk=handoff.pk)
        before = set(locked.labels.values_list("pk", flat=True))
        if before == {label.pk for label in labels}:
            return _load(locked.pk)
        locked.labels.set(labels)
        handoff = _load(locked.pk)
        _emit_handoff_event(handoff, "handoff.updated")
    return handoff


def delete_conversation_messages(
    *, conversation: Conversation, agent: User
) -> ConversationDeletion:
    """Delete a finished conversation's messages, leaving an audit line (who, when, how many).

    Notes stay: they are the team's record about the conversation, not the user's messages.
    """
    if not settings.HITLNEXT_ENABLE_CONVERSATION_DELETION:
        raise ConversationDeletionDisabled()
    require_online(agent)
    with transaction.atomic():
        # The same row lock ensure_conversation takes: a handoff or message arriving for this
        # conversation waits until the deletion commits, and we see any handoff it committed.
        conversation = (
            Conversation.objects.select_for_update().select_related("bot").get(pk=conversation.pk)
        )
        active = conversation.handoffs.filter(status__in=Handoff.ACTIVE).first()
        if active is not None:
            raise ConversationStillActive(active.pk)
        _, deleted = conversation.messages.all().delete()
        count = deleted.get(Message._meta.label, 0)
        # The inbox keeps a copy of the last user message; it goes with the messages.
        handoff_ids = list(conversation.handoffs.values_list("pk", flat=True))
        Handoff.objects.filter(pk__in=handoff_ids).update(last_user_message="")
        deletion = ConversationDeletion.objects.create(
            conversation_ref=conversation.external_id,
            bot_name=conversation.bot.name,
            deleted_by=agent,
            message_count=count,
        )
        for handoff_id in handoff_ids:
            _announce_handoff_changed(handoff_id)
        transaction.on_commit(partial(live.conversation_deleted, conversation.pk))
    return deletion


def save_label(*, label: Label) -> Label:
    """Save a new or edited label. A rename changes every handoff carrying it, so each of them
    reports handoff.updated, as set_handoff_labels would."""
    with transaction.atomic():
        if label.pk is None:
            label.save()
            return label
        # Lock the row so two concurrent renames each see the name they replace.
        before = Label.objects.select_for_update().get(pk=label.pk)
        label.save()
        if before.name != label.name:
            for handoff_id in label.handoffs.values_list("pk", flat=True):
                _emit_handoff_event(_load(handoff_id), "handoff.updated")
    return label


def delete_label(*, label: Label) -> int:
    """Delete a label; the handoffs that carried it report handoff.updated. Returns how many."""
    with transaction.atomic():
        locked = Label.objects.select_for_update().get(pk=label.pk)
        handoff_ids = list(locked.handoffs.values_list("pk", flat=True))
        locked.delete()
        for handoff_id in handoff_ids:
            _emit_handoff_event(_load(handoff_id), "handoff.updated")
    return len(handoff_ids)


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
