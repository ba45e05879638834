"""The queue: pending handoffs, high priority first, then the oldest first.

Every reader of "the queue" (auto-assignment, the inbox's Unassigned view, queue positions)
takes its order from here, so they never disagree about who is next.
"""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

from handoffs.models import Handoff

# Lower rank is served first.
PRIORITY_RANK = Case(
    When(priority=Handoff.Priority.HIGH, then=Value(0)),
    default=Value(1),
    output_field=IntegerField(),
)
QUEUE_ORDER = (PRIORITY_RANK.asc(), "created_at", "pk")


def queue() -> QuerySet[Handoff]:
    """The pending handoffs in the order they are served."""
    return Handoff.objects.filter(status=Handoff.Status.PENDING).order_by(*QUEUE_ORDER)
