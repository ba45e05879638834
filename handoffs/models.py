from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Label(models.Model):
    name = models.CharField(max_length=64, unique=True)
    color = models.CharField(max_length=7, default="#6b7280", help_text="Hex colour, e.g. #2563eb")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Handoff(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ASSIGNED = "assigned", _("Assigned")
        RESOLVED = "resolved", _("Resolved")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")

    class Priority(models.TextChoices):
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"

    ACTIVE = (Status.PENDING, Status.ASSIGNED)
    TERMINAL = (Status.RESOLVED, Status.REJECTED, Status.EXPIRED)
    # The queue serves these in this order, then the oldest first (routing/queue.py).
    PRIORITY_ORDER = (Priority.HIGH, Priority.NORMAL)

    bot = models.ForeignKey("conversations.Bot", on_delete=models.CASCADE, related_name="handoffs")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="handoffs"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # The queue's order: high before normal, then oldest first (routing/queue.py).
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handoffs",
    )
    language = models.CharField(max_length=16)
    labels = models.ManyToManyField(Label, blank=True, related_name="handoffs")
    timeout_seconds = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Set on rejection and expiry too: when the handoff became terminal.
    closed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Denormalised for the inbox list, so it needs no per-row query.
    last_user_message = models.CharField(max_length=200, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    # Since when the user has waited for the assignee's answer: set on assignment and by the
    # user's first message after the agent last wrote, cleared when the agent writes. The
    # reassignment timer (HITLNEXT_REASSIGN_AFTER) reads it, so a restart loses no deadline.
    awaiting_reply_since = models.DateTimeField(null=True, blank=True)
    # The agent it was last taken back from (requeued): auto-assignment passes them over.
    requeued_from = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Not columns: the viewing agent's read mark, set on the rows of an inbox page for the
    # templates (handoffs.inbox.inbox_page; handoffs.live for a pushed row).
    read_at: datetime | None
    unread: bool
    # Not a column either: its position in the queue while pending (routing/queue.py), set
    # on the rows the inbox shows.
    queue_position: int | None

    class Meta:
        constraints = [
            # The database itself guarantees one active handoff per conversation.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["pending", "assigned"]),
                name="one_active_handoff_per_conversation",
            )
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="handoff_inbox_status"),
            models.Index(fields=["agent", "status", "-created_at"], name="handoff_inbox_agent"),
            # Reports read the handoffs created in a date range (reports/figures.py).
            models.Index(fields=["created_at"], name="handoff_created"),
            models.Index(
                fields=["expires_at"], condition=Q(status="pending"), name="handoff_expiry_due"
            ),
            models.Index(
                fields=["awaiting_reply_since"],
                condition=Q(status="assigned"),
                name="handoff_reply_due",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def queue_rank(self) -> int:
        """Lower is served first: the priority's place in PRIORITY_ORDER."""
        return self.PRIORITY_ORDER.index(Handoff.Priority(self.priority))


class Rating(models.Model):
    """The user's satisfaction with a resolved handoff (CSAT): at most one per handoff, given
    by the web chat visitor or sent by the bot (handoffs.ratings.rate_handoff)."""

    class Source(models.TextChoices):
        WEBCHAT = "webchat", _("Web chat")
        BOT = "bot", _("Bot")

    SCORES = range(1, 6)
    COMMENT_MAX_LENGTH = 1000

    # One-to-one: the database itself refuses a second rating of a handoff.
    handoff = models.OneToOneField(Handoff, on_delete=models.CASCADE, related_name="rating")
    score = models.PositiveSmallIntegerField()
    comment = models.CharField(max_length=COMMENT_MAX_LENGTH, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1, score__lte=5), name="rating_score_1_to_5"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.handoff_id}: {self.score}/5"

    @property
    def source_label(self) -> str | Promise:
        """The source's name, lazily translated (as a choice's label)."""
        return self.Source(self.source).label

    @property
    def stars(self) -> str:
        return "\u2605" * self.score + "\u2606" * (len(self.SCORES) - self.score)


class HandoffRead(models.Model):
    """How far an agent has read a conversation: drives the per-agent unread dot."""

    agent = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    last_read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "conversation"], name="read_unique")
        ]


class MessageTemplate(models.Model):
    """A canned answer agents insert with the autocomplete trigger (":" by default)."""

    name = models.CharField(max_length=100, unique=True)
    text = models.TextField(
        help_text="May use {{user.fullName}}, {{user.<variable>}}, {{agent.firstName}}, "
        "{{agent.lastName}}, {{agent.name}}."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SystemMessage(models.Model):
    """The text sent to the user on transfer and on assignment, per language."""

    class Kind(models.TextChoices):
        TRANSFER = "transfer", "Transfer (handoff created)"
        ASSIGN = "assign", "Assign (an agent took it)"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    language = models.CharField(max_length=16)
    text = models.TextField(help_text="{{agentName}} is replaced by the agent's name.")

    class Meta:
        ordering = ["kind", "language"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "language"], name="system_message_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.language})"


class ConversationDeletion(models.Model):
    """Audit line left behind when an agent deletes a conversation's messages."""

    conversation_ref = models.CharField(max_length=300)
    bot_name = models.CharField(max_length=100)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    message_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
