"""The outbox (Event) and its webhook deliveries (Delivery)."""

from __future__ import annotations

import secrets
import time
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def new_event_id() -> str:
    # Time-ordered prefix so ids sort roughly by creation, plus 80 random bits.
    return f"evt_{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


class Event(models.Model):
    """The outbox: one row per event, written in the transaction of the change it reports.

    It is also the bot's pull feed (GET /api/v1/events); the pk is the cursor.
    """

    public_id = models.CharField(max_length=64, unique=True, default=new_event_id)
    bot = models.ForeignKey("conversations.Bot", on_delete=models.CASCADE, related_name="events")
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    type = models.CharField(max_length=40)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    # The feed's cursor, given in commit order by webhooks.events.sequence_events: ids
    # are handed out at INSERT, so a later id can commit first and a cursor on ids would skip
    # the earlier one.
    feed_seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)

    class Meta:
        db_table = "conversations_event"  # created by the conversations app, kept on the move
        ordering = ["id"]
        indexes = [
            models.Index(fields=["bot", "feed_seq"], name="event_feed_seq"),
            models.Index(
                fields=["id"], condition=Q(feed_seq__isnull=True), name="event_unsequenced"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"

    def as_payload(self) -> dict:
        return {
            "id": self.public_id,
            "type": self.type,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "data": self.data,
        }


class Delivery(models.Model):
    """One event's webhook delivery: attempted until delivered, retried with backoff."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Gave up")

    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="delivery")
    bot = models.ForeignKey(
        "conversations.Bot", on_delete=models.CASCADE, related_name="deliveries"
    )
    # Deliveries of one conversation go out in order: a later one waits for the earlier.
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Set while an attempt is in flight (the end of its lease), cleared when its result is
    # written: a worker's attempt and an admin's "Retry now" are the same claim, and neither
    # starts a second attempt of a delivery while this is in the future.
    leased_until = models.DateTimeField("in flight until", null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "conversations_delivery"  # created by the conversations app, kept on the move
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="delivery_due",
            ),
            models.Index(
                fields=["conversation", "id"],
                condition=Q(status="pending"),
                name="delivery_pending_per_conv",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery of {self.event_id} ({self.status})"

    def in_flight(self, now: datetime | None = None) -> bool:
        """An attempt is being made right now (its lease has not run out)."""
        return (
            self.status == self.Status.PENDING
            and self.leased_until is not None
            and self.leased_until > (now or timezone.now())
        )


class WorkerHeartbeat(models.Model):
    """When each running worker last finished a pass (webhooks.worker), for /metrics.

    A worker that stops cleanly deletes its row; a killed one's row keeps ageing (which is the
    alarm) until the hourly housekeeping forgets it a day later.
    """

    worker = models.CharField(max_length=200, unique=True, help_text="host:pid")
    started_at = models.DateTimeField(default=timezone.now)
    last_pass_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["worker"]

    def __str__(self) -> str:
        return self.worker
