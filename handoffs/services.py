"""The handoff state machine: one function per transition, each transactional and race-safe.

pending -> assigned -> resolved; pending|assigned -> rejected; pending -> expired;
assigned -> pending (requeued).
Events (outbox rows) are written in the same transaction; live pushes and announcements
(handoffs.signals) run after commit; handoffs.steps holds the pieces every transition shares.
Messages and notes are in handoffs.messaging, labels in handoffs.labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from agents.models import AgentProfile, display_name
from agents.roles import is_supervisor
from agents.services import require_online
from conversations.attachments import clean_external_payload
from conversations.models import Bot, Conversation, Message
from conversations.services import ensure_conversation, preview
from handoffs import live
from handoffs.errors import (
    AlreadyAssigned,
    IllegalTransition,
    NotYourHandoff,
    TransferRefused,
)
from handoffs.models import Handoff
from handoffs.payloads import agent_json
from handoffs.steps import (
    add_outbound_message,
    announce_handoff_changed,
    emit_handoff_event,
    load_handoff,
    lock_conversation,
    record_handoff_event,
    resolve_labels,
    system_message_text,
)

Status = Handoff.Status
# Who decided an assignment: routing, the agent ("Assign to me"), or a transfer.
AssignedBy = Literal["auto", "agent", "transfer"]
# Why a handoff went back to the queue.
RequeueReason = Literal["agentDidNotReply", "transfer"]


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
    label_rows = resolve_labels(labels)
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
            return load_handoff(active.pk), False
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
            return load_handoff(active.pk), False
        if label_rows:
            handoff.labels.set(label_rows)
        handoff = load_handoff(handoff.pk)
        emit_handoff_event(handoff, "handoff.created")
        text = system_message_text(
            kind="transfer", language=handoff.language, bot=bot, handoff=handoff
        )
        if text:
            add_outbound_message(handoff, direction=Message.Direction.SYSTEM, text=text)
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
                payload=clean_external_payload(item.get("payload")),
                created_at=item.get("created_at") or timezone.now(),
            )
        )
    if rows:
        rows.sort(key=lambda m: m.created_at)
        Message.objects.bulk_create(rows)


def assign_handoff(*, handoff: Handoff, agent: User) -> Handoff:
    """ "Assign to me": exactly one of several agents clicking at once wins. It may take the
    agent past their capacity: a person decided (auto-assignment never does)."""
    require_online(agent)
    with transaction.atomic():
        lock_conversation(handoff.conversation_id)
        _lock_agent(agent)
        won = _claim(handoff, agent)
        handoff = load_handoff(handoff.pk)
        if not won:
            if handoff.status == Status.ASSIGNED and handoff.agent is not None:
                raise AlreadyAssigned(handoff.pk, display_name(handoff.agent))
            raise IllegalTransition(handoff.pk, handoff.status, "assigned")
        _report_assignment(handoff, agent, "agent")
    return handoff


def auto_assign_handoff(*, handoff: Handoff, agent: User) -> Handoff | None:
    """Routing's assignment (assigned_by "auto"). The agent did not act, so it is not their
    activity; they must be online and below their capacity. None, changing nothing, when the
    handoff is no longer pending or the agent is offline or full."""
    with transaction.atomic():
        lock_conversation(handoff.conversation_id)
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
        handoff = load_handoff(handoff.pk)
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


def _report_assignment(
    handoff: Handoff, agent: User, assigned_by: AssignedBy, *, previous_agent_id: int | None = None
) -> None:
    """handoff.assigned, the announcement, and the assign message with the agent's name."""
    record_handoff_event(handoff, "handoff.assigned", assigned_by=assigned_by)
    announce_handoff_changed(handoff.pk, previous_agent_id=previous_agent_id)
    text = system_message_text(
        kind="assign",
        language=handoff.language,
        bot=handoff.bot,
        agent_name=display_name(agent),
        handoff=handoff,
    )
    if text:
        add_outbound_message(handoff, direction=Message.Direction.SYSTEM, text=text)


def resolve_handoff(*, handoff: Handoff, agent: User) -> Handoff:
    """Hand the conversation back to the bot: the assignee, or a supervisor for any assigned
    handoff (agents.roles)."""
    require_online(agent)
    whose = Q() if is_supervisor(agent) else Q(agent=agent)
    with transaction.atomic():
        lock_conversation(handoff.conversation_id)
        now = timezone.now()
        done = Handoff.objects.filter(whose, pk=handoff.pk, status=Status.ASSIGNED).update(
            status=Status.RESOLVED, resolved_at=now, closed_at=now, last_activity_at=now
        )
        handoff = load_handoff(handoff.pk)
        if not done:
            if handoff.status == Status.ASSIGNED:
                raise NotYourHandoff(handoff.pk)
            raise IllegalTransition(handoff.pk, handoff.status, "resolved")
        emit_handoff_event(handoff, "handoff.resolved", exit_type="handoffResolved")
    return handoff


def reject_handoff(*, handoff: Handoff) -> Handoff:
    """The bot cancels the handoff (the user left, the bot solved it...)."""
    with transaction.atomic():
        lock_conversation(handoff.conversation_id)
        now = timezone.now()
        done = Handoff.objects.filter(pk=handoff.pk, status__in=Handoff.ACTIVE).update(
            status=Status.REJECTED, closed_at=now, last_activity_at=now
        )
        handoff = load_handoff(handoff.pk)
        if not done:
            raise IllegalTransition(handoff.pk, handoff.status, "rejected")
        emit_handoff_event(handoff, "handoff.rejected")
    return handoff


def requeue_handoff(*, handoff: Handoff, reason: RequeueReason) -> Handoff:
    """assigned -> pending: back to the queue without an agent (handoff.requeued)."""
    requeued = _requeue(handoff.pk, handoff.conversation_id, reason=reason)
    if requeued is None:
        current = Handoff.objects.get(pk=handoff.pk)
        raise IllegalTransition(current.pk, current.status, "requeued")
    return requeued


def transfer_handoff(*, handoff: Handoff, by: User, to: User | None) -> Handoff:
    """The assignee, or a supervisor, hands an assigned handoff to another online agent, or
    back to the queue with to=None (handoff.requeued, reason "transfer").

    To an agent: handoff.transferred (data.from_agent), then handoff.assigned (assigned_by
    "transfer") so that a bot following assignments alone still knows who answers, and the
    assign message with the new agent's name for the user. It may take the new agent past
    their capacity: a person decided. Their time to answer starts now.
    """
    require_online(by)
    with transaction.atomic():
        lock_conversation(handoff.conversation_id)
        # Under the conversation lock nothing else changes this handoff until we commit.
        current = Handoff.objects.select_related("agent__agent_profile").get(pk=handoff.pk)
        if current.status != Status.ASSIGNED:
            raise IllegalTransition(current.pk, current.status, "transferred")
        if current.agent_id != by.pk and not is_supervisor(by):
            raise NotYourHandoff(current.pk)
        if to is None:
            requeued = _requeue(current.pk, current.conversation_id, reason="transfer")
            assert requeued is not None  # assigned, and locked since we read it
            return requeued
        if to.pk == current.agent_id:
            raise TransferRefused(
                gettext("Handoff #%(id)s is already with %(name)s.")
                % {"id": current.pk, "name": display_name(current.agent)}
            )
        # The new agent's profile lock, as every assignment takes it (after the conversation's):
        # auto-assignment counting their open handoffs waits for this transfer.
        profile = _lock_agent(to)
        if profile is None or not profile.online or not to.is_active:
            raise TransferRefused(
                gettext("%(name)s is offline: transfer to an online agent, or back to the queue.")
                % {"name": display_name(to)}
            )
        now = timezone.now()
        Handoff.objects.filter(pk=current.pk, status=Status.ASSIGNED, agent=current.agent).update(
            agent=to, assigned_at=now, last_activity_at=now, awaiting_reply_since=now
        )
        AgentProfile.objects.filter(user=to).update(last_assigned_at=now)
        transferred = load_handoff(current.pk)
        record_handoff_event(
            transferred,
            "handoff.transferred",
            from_agent=agent_json(current.agent),
            by_agent=agent_json(by),
        )
        _report_assignment(transferred, to, "transfer", previous_agent_id=current.agent_id)
        if to.pk != by.pk:
            transaction.on_commit(
                partial(
                    live.handoff_transferred,
                    transferred.pk,
                    to_agent_id=to.pk,
                    by_name=display_name(by),
                )
            )
    return transferred


def _requeue(
    handoff_id: int, conversation_id: int, *, reason: RequeueReason, condition: Q | None = None
) -> Handoff | None:
    with transaction.atomic():
        lock_conversation(conversation_id)
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
        handoff = load_handoff(handoff_id)
        emit_handoff_event(
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
        lock_conversation(handoff.conversation_id)
        done = Handoff.objects.filter(
            pk=handoff.pk, status=Status.PENDING, expires_at__lte=now
        ).update(status=Status.EXPIRED, closed_at=now, last_activity_at=now)
        if not done:
            return False
        emit_handoff_event(
            load_handoff(handoff.pk), "handoff.expired", exit_type="timedOutWaitingAgent"
        )
    return True


def expire_due_handoffs(*, now: datetime | None = None, limit: int = 500) -> int:
    """The worker's timer: the deadline lives in the database, so a restart loses none."""
    now = now or timezone.now()
    due = Handoff.objects.filter(status=Status.PENDING, expires_at__lte=now).order_by("expires_at")[
        :limit
    ]
    return sum(expire_handoff(handoff=h, now=now) for h in due)
