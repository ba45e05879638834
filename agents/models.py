from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


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


def display_name(user) -> str:
    full = f"{user.first_name} {user.last_name}".strip()
    return full or user.username
