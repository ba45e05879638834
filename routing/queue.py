"""The queue: pending handoffs, high priority first, then the oldest first.

Every reader of "the queue" (auto-assignment, the inbox's queue order, queue positions) takes
its order from here and from Handoff.PRIORITY_ORDER, so they never disagree about who is next.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

from handoffs.models import Handoff

# Lower rank is served first.
PRIORITY_RANK = Case(
    *(When(priority=p, then=Value(rank)) for rank, p in enumerate(Handoff.PRIORITY_ORDER)),
    default=Value(len(Handoff.PRIORITY_ORDER)),
    output_field=IntegerField(),
)
QUEUE_ORDER = (PRIORITY_RANK.asc(), "created_at", "pk")


def queue() -> QuerySet[Handoff]:
    """The pending handoffs in the order they are served."""
    return Handoff.objects.filter(status=Handoff.Status.PENDING).order_by(*QUEUE_ORDER)


def ahead_of(handoff: Handoff) -> Q:
    """The handoffs served before `handoff` if both are pending: a higher priority, or the
    same one and older (the id breaks a tie)."""
    rank = handoff.queue_rank
    same_and_older = Q(created_at__lt=handoff.created_at) | Q(
        created_at=handoff.created_at, pk__lt=handoff.pk
    )
    return Q(priority__in=Handoff.PRIORITY_ORDER[:rank]) | (
        Q(priority=handoff.priority) & same_and_older
    )


def positions(handoffs: Iterable[Handoff]) -> dict[int, int]:
    """{id: position (1 = next)} of the pending ones among `handoffs`: one query, whatever
    their number, which counts the handoffs ahead of each in one pass over the queue."""
    pending = [h for h in handoffs if h.status == Handoff.Status.PENDING]
    if not pending:
        return {}
    counts = Handoff.objects.filter(status=Handoff.Status.PENDING).aggregate(
        **{f"ahead_{h.pk}": Count("pk", filter=ahead_of(h)) for h in pending}
    )
    return {h.pk: counts[f"ahead_{h.pk}"] + 1 for h in pending}
