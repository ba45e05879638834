from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from conversations import keys
from conversations.crypto import EncryptedSecretField
from conversations.webhook_urls import WebhookUrlValidator


class Bot(models.Model):
    """An integration: a bot that hands conversations off and receives our webhooks."""

    name = models.CharField(max_length=100, unique=True)
    api_key_hash = models.CharField(max_length=64, unique=True, editable=False)
    api_key_hint = models.CharField(max_length=12, editable=False, help_text="First characters")
    webhook_url = models.URLField(max_length=500, blank=True, validators=[WebhookUrlValidator()])
    # Encrypted at rest (conversations/crypto.py); plaintext on the instance, to sign with.
    webhook_secret = EncryptedSecretField(max_length=255, editable=False)
    webhook_enabled = models.BooleanField(
        default=True, help_text="Turned off automatically when the endpoint answers 410 Gone."
    )
    default_language = models.CharField(max_length=16, default="en")
    is_webchat = models.BooleanField(
        default=False, help_text="The built-in web chat channel: events go to the visitor."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_new_api_key(self) -> str:
        """Store a fresh key's hash and return the key itself: it is shown once, never again."""
        key = keys.new_api_key()
        self.api_key_hash = keys.hash_api_key(key)
        self.api_key_hint = key[:7]
        return key

    def set_new_webhook_secret(self) -> str:
        self.webhook_secret = keys.new_webhook_secret()
        return self.webhook_secret


class EndUser(models.Model):
    """The person talking to a bot, identified by the bot's own user id."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="end_users")
    external_id = models.CharField(max_length=255)
    variables = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "external_id"], name="end_user_unique_per_bot")
        ]

    def __str__(self) -> str:
        return self.full_name or self.external_id

    @property
    def full_name(self) -> str:
        name = self.variables.get("fullName") if isinstance(self.variables, dict) else None
        return str(name) if name else ""


class Conversation(models.Model):
    """One thread of the bot (its conversation id), with its whole message history."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="conversations")
    external_id = models.CharField(max_length=255)
    end_user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="conversations")
    channel = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "external_id"], name="conversation_unique_per_bot"
            )
        ]
        # The reports' channel menu lists the distinct channels by skipping along this index.
        indexes = [models.Index(fields=["channel"], name="conversation_channel")]

    def __str__(self) -> str:
        return f"{self.bot} / {self.external_id}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INCOMING = "incoming", "From the user"
        OUTGOING = "outgoing", "From the bot"
        AGENT = "agent", "From an agent"
        SYSTEM = "system", "System"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # The handoff active when the message was written, if any (agent and system messages).
    handoff = models.ForeignKey(
        "handoffs.Handoff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    external_id = models.CharField(max_length=255, null=True, blank=True)
    direction = models.CharField(max_length=10, choices=Direction.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    text = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    # When the message was written (the bot's clock for relayed ones); ordering uses the id.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "external_id"],
                condition=Q(external_id__isnull=False),
                name="message_external_id_unique_per_conversation",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "-id"], name="message_conv_latest"),
            # A handoff's first agent message, read straight from the index (reports' first
            # response time, reports/figures.py).
            models.Index(
                fields=["handoff", "created_at"],
                condition=Q(direction="agent"),
                name="message_agent_reply",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction}: {self.text[:40]}"


class Note(models.Model):
    """An agent's note on a conversation; it outlives the handoff it was written during."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    handoff = models.ForeignKey(
        "handoffs.Handoff", null=True, blank=True, on_delete=models.SET_NULL, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]


class Attachment(models.Model):
    """A file an agent or a web chat visitor sent with a message, kept in the "attachments"
    storage (settings.STORAGES) under a random name; served only through the access-checked
    view (conversations/attachments.py says how)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    storage_name = models.CharField(max_length=255, unique=True, editable=False)
    # What the sender called it (sanitised, shortened) and what we decided it is (from its
    # extension, never from the sender's word).
    name = models.CharField(max_length=150)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
