"""The outbox: events are written in the transaction of the change they report.

A webhook delivery row is created beside each event for bots with an endpoint; the
worker sends it after commit. Bots without an endpoint read the same events from the feed.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

from conversations.models import Bot, Conversation
from webhooks import wakeup
from webhooks.models import Delivery, Event


def isoformat(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def absolute_url(path: str) -> str:
    base = settings.HITLNEXT_PUBLIC_URL
    return f"{base}{path}" if base and path.startswith("/") else path


def record_event(
    *, bot: Bot, type: str, data: dict, conversation: Conversation | None = None
) -> Event:
    # Callers are services inside transaction.atomic(): the event commits with the change or
    # not at all, which is what makes delivery lossless.
    assert transaction.get_connection().in_atomic_block, "record_event needs a transaction"
    event = Event.objects.create(bot=bot, type=type, data=data, conversation=conversation)
    # Also while the endpoint is disabled (after a 410): the row waits, and goes out in order
    # once an admin re-enables it, so nothing is lost in between.
    if bot.webhook_url and not bot.is_webchat:
        Delivery.objects.create(event=event, bot=bot, conversation=conversation)
        transaction.on_commit(wakeup.delivery_queued)
    return event


# Any constant: the advisory lock that makes sequencing single-file on PostgreSQL.
_SEQUENCER_LOCK = 0x6869746C  # "hitl"
SEQUENCE_BATCH = 1000


def sequence_events() -> int:
    """Give committed, unsequenced events their feed position, in the order we see them.

    Run single-file (an advisory lock on PostgreSQL; SQLite writers are serial anyway), so a
    position is handed out only to events already committed, and never below one a reader
    may have passed. An event whose transaction commits late simply gets a later position.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEQUENCER_LOCK])
        pending = list(Event.objects.filter(feed_seq__isnull=True).order_by("id")[:SEQUENCE_BATCH])
        if not pending:
            return 0
        last = Event.objects.aggregate(last=Max("feed_seq"))["last"] or 0
        for offset, event in enumerate(pending, start=1):
            event.feed_seq = last + offset
        Event.objects.bulk_update(pending, ["feed_seq"])
    return len(pending)


def prune_events(*, before: datetime) -> int:
    """Forget events older than `before` whose webhook is no longer pending.

    The feed only promises recent history (HITLNEXT_EVENT_RETENTION); an undelivered webhook
    is kept whatever its age, so pruning never loses a delivery.
    """
    _, per_model = (
        Event.objects.filter(created_at__lt=before)
        .exclude(delivery__status=Delivery.Status.PENDING)
        .delete()
    )
    return per_model.get(Event._meta.label, 0)
