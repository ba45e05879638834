"""The outbox: events are written in the transaction of the change they report.

A webhook delivery row is created beside each event for bots with an endpoint; the
worker sends it after commit. Bots without an endpoint read the same events from the feed.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction

from conversations.models import Bot, Conversation, Delivery, Event


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
    return event
