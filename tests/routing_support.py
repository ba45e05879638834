"""Helpers for the routing tests: queued handoffs, agents with capacity and languages."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

from django.utils import timezone

from agents.models import AgentProfile
from handoffs import services
from handoffs.models import Handoff
from webhooks.models import Event

_threads = count(1)


def start(bot, **overrides) -> Handoff:
    """A new handoff through the service, in its own conversation."""
    n = next(_threads)
    args = {"bot": bot, "conversation_id": f"rt-{n}", "user_id": f"ru-{n}", "channel": "web"}
    handoff, created = services.start_handoff(**(args | overrides))
    assert created
    return handoff


def queued(bot, *, age_minutes: int = 0, **overrides) -> Handoff:
    """A pending handoff created `age_minutes` ago."""
    handoff = start(bot, **overrides)
    Handoff.objects.filter(pk=handoff.pk).update(
        created_at=timezone.now() - timedelta(minutes=age_minutes)
    )
    handoff.refresh_from_db()
    return handoff


def configure(user, *, capacity: int | None = None, languages: str = "") -> None:
    AgentProfile.objects.filter(user=user).update(capacity=capacity, languages=languages)


def open_count(user) -> int:
    return Handoff.objects.filter(agent=user, status=Handoff.Status.ASSIGNED).count()


def assigned_events(handoff: Handoff | None = None) -> list[dict]:
    events = Event.objects.filter(type="handoff.assigned").order_by("id")
    if handoff is not None:
        return [e.data for e in events if e.data["handoff"]["id"] == handoff.pk]
    return [e.data for e in events]
