from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def parse_languages(value: str) -> list[str]:
    """ "en, fr_CA" -> ["en", "fr-ca"]: the codes an agent speaks, lower-cased, in order."""
    codes = (normalize_language(code) for code in value.split(","))
    return list(dict.fromkeys(code for code in codes if code))


def normalize_language(code: str) -> str:
    return code.strip().lower().replace("_", "-")


def validate_languages(value: str) -> None:
    bad = [code for code in parse_languages(value) if not _LANGUAGE_CODE.match(code)]
    if bad:
        raise ValidationError(
            "Not a language code: %(codes)s. Write codes like en, fr, pt-BR, separated by commas.",
            params={"codes": ", ".join(bad)},
        )


class AgentProfileQuerySet(models.QuerySet["AgentProfile"]):
    def online(self) -> AgentProfileQuerySet:
        """Who is online, with their user, in the order every header lists them."""
        return (
            self.filter(online=True)
            .select_related("user")
            .order_by("user__first_name", "user__last_name", "user__username")
        )


class AgentProfile(models.Model):
    """What the user's side sees of an agent, and the agent's presence."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    avatar = models.ImageField(upload_to="avatars/", blank=True)
    online = models.BooleanField(default=False)
    # Deadline, fired by the worker: past it, an online agent is set offline.
    session_expires_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(default=timezone.now)
    # Routing (routing/services.py).
    capacity = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Open handoffs at once that auto-assignment may give this agent. "
        "Empty: the HITLNEXT_AGENT_CAPACITY setting; 0: unlimited.",
    )
    languages = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_languages],
        help_text='Languages the agent speaks, e.g. "en, fr". Auto-assignment gives a handoff '
        "to a speaker of its language whenever one is online.",
    )
    # The tie-break between equally loaded agents: who waited longest for a new handoff.
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # The agent's pages while their tab is hidden (static/hitlnext/js/notifications.js,
    # new-handoff-alert.js): browser notifications (opt-in: the browser asks permission) of new
    # handoffs and of messages in their own; the new-handoff chime.
    browser_notifications = models.BooleanField(default=False)
    play_sound = models.BooleanField(default=True)
    # The language of the agent's own pages, one of settings.LANGUAGES (agents/middleware.py);
    # empty: the browser's (Accept-Language).
    interface_language = models.CharField(max_length=16, blank=True, default="")

    objects = AgentProfileQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["session_expires_at"],
                condition=models.Q(online=True),
                name="agent_session_due",
            )
        ]

    def __str__(self) -> str:
        return display_name(self.user)

    @property
    def effective_capacity(self) -> int:
        """Open handoffs auto-assignment may give this agent; 0 means no limit."""
        return settings.HITLNEXT_AGENT_CAPACITY if self.capacity is None else self.capacity

    def speaks(self, language: str) -> bool:
        """ "fr" speaks handoffs in "fr" and "fr-CA"; "fr-CA" only "fr-CA"."""
        wanted = normalize_language(language)
        return any(wanted == code or wanted.startswith(code + "-") for code in self.language_codes)

    @property
    def language_codes(self) -> list[str]:
        return parse_languages(self.languages)


def display_name(user) -> str:
    full = f"{user.first_name} {user.last_name}".strip()
    return full or user.username
