"""Data lifecycle: purge old conversations' messages, export a user's data on request."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from conversations.attachments import remove_files_with
from conversations.models import Conversation, EndUser, Message
from handoffs.models import Handoff
from webhooks.events import isoformat

logger = logging.getLogger("hitlnext.worker")


@dataclass(frozen=True)
class PurgePlan:
    cutoff: datetime
    conversation_ids: list[int]
    message_count: int


def plan_purge(*, days: int, now: datetime | None = None) -> PurgePlan:
    """Conversations whose handoffs all ended more than `days` ago, with no message since.

    A conversation with an active handoff is never touched, whatever its age.
    """
    if days < 1:
        raise ValueError("Retention must be at least one day.")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    active = Handoff.objects.filter(conversation=OuterRef("pk"), status__in=Handoff.ACTIVE)
    candidates = (
        Conversation.objects.annotate(last_closed=Max("handoffs__closed_at"))
        .filter(last_closed__lt=cutoff)
        .exclude(last_message_at__gte=cutoff)
        .exclude(Exists(active))
    )
    ids = list(candidates.values_list("pk", flat=True))
    count = Message.objects.filter(conversation_id__in=ids).count()
    return PurgePlan(cutoff=cutoff, conversation_ids=ids, message_count=count)


def purge_messages(*, plan: PurgePlan) -> int:
    """Carry out a plan; re-checks each conversation under its row lock."""
    deleted = 0
    for conversation_id in plan.conversation_ids:
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
            # A handoff or message may have arrived since the plan was made: skip it then.
            if conversation.handoffs.filter(status__in=Handoff.ACTIVE).exists():
                continue
            if conversation.last_message_at and conversation.last_message_at >= plan.cutoff:
                continue
            remove_files_with(conversation.messages.all())
            _, per_model = conversation.messages.all().delete()
            deleted += per_model.get(Message._meta.label, 0)  # not their attachments' rows
            conversation.handoffs.update(last_user_message="")
    return deleted


def apply_retention_setting() -> int:
    """The worker's hourly job: purge what HITLNEXT_RETENTION_DAYS says is too old."""
    if not settings.HITLNEXT_RETENTION_DAYS:
        return 0
    deleted = purge_messages(plan=plan_purge(days=settings.HITLNEXT_RETENTION_DAYS))
    if deleted:
        logger.info("retention: deleted %d messages", deleted)
    return deleted


def export_user_data(*, end_user: EndUser) -> dict:
    """Everything stored about one end user, for a data-access request."""
    conversations = (
        end_user.conversations.prefetch_related("messages", "notes", "handoffs__labels")
        .select_related("bot")
        .order_by("pk")
    )
    return {
        "bot": end_user.bot.name,
        "user_id": end_user.external_id,
        "variables": end_user.variables,
        "created_at": isoformat(end_user.created_at),
        "conversations": [
            {
                "conversation_id": c.external_id,
                "channel": c.channel,
                "created_at": isoformat(c.created_at),
                "messages": [
                    {
                        "id": m.external_id or f"msg_{m.pk}",
                        "direction": m.direction,
                        "text": m.text,
                        "payload": m.payload,
                        "created_at": isoformat(m.created_at),
                    }
                    for m in c.messages.all()
                ],
                "notes": [
                    {"text": n.text, "created_at": isoformat(n.created_at)} for n in c.notes.all()
                ],
                "handoffs": [
                    {
                        "id": h.pk,
                        "status": h.status,
                        "labels": sorted(label.name for label in h.labels.all()),
                        "created_at": isoformat(h.created_at),
                        "closed_at": isoformat(h.closed_at),
                    }
                    for h in c.handoffs.all()
                ],
            }
            for c in conversations
        ],
    }
