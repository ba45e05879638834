"""What the bot API stores of its own: replayable answers to Idempotency-Keys."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """A replayable API response for a bot's Idempotency-Key."""

    bot = models.ForeignKey("conversations.Bot", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "conversations_idempotencyrecord"  # kept from before the api app existed
        constraints = [
            models.UniqueConstraint(fields=["bot", "key"], name="idempotency_key_unique_per_bot")
        ]
