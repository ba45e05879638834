"""Queue positions and wait estimates from the database: the source registered with
handoffs.queue_place (the handoff JSON, system messages, the inbox) and the snapshot the live
pushes use (routing/queue_live.py).

Costs: a position is one query however many handoffs are asked about (routing.queue
.positions); an estimate adds the online agents (one query) and the history's statistics (one
query per process every STATS_TTL seconds at most).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.utils import timezone

from handoffs.models import Handoff
from handoffs.queue_place import QueuePlace
from routing import queue
from routing.estimate import AgentsNow, QueueStats, Record, estimate_wait, stats_from_history
from routing.services import is_auto, online_candidates

LOOKBACK = timedelta(hours=6)  # the history read for the statistics
STATS_TTL = 30.0  # seconds a process keeps the statistics


def agents_now() -> AgentsNow:
    """The online agents' places: one query."""
    candidates = online_candidates()
    if any(not c.capacity for c in candidates):
        return AgentsNow(online=len(candidates), slots=None, free=None)
    return AgentsNow(
        online=len(candidates),
        slots=sum(c.capacity for c in candidates),
        free=sum(max(c.capacity - c.open_handoffs, 0) for c in candidates),
    )


_memo: tuple[float, QueueStats] | None = None
_memo_lock = threading.Lock()


def current_stats() -> QueueStats:
    """The history's statistics: read at most every STATS_TTL seconds per process. They move
    slowly, and a burst of handoffs must not read the last hours once per handoff."""
    global _memo
    with _memo_lock:
        if _memo is None or time.monotonic() - _memo[0] >= STATS_TTL:
            _memo = (time.monotonic(), stats_from_history(_history(), now=time.time()))
        return _memo[1]


def forget_stats() -> None:
    """Read the history afresh next time (tests build histories of their own)."""
    global _memo
    with _memo_lock:
        _memo = None


def _history() -> Iterator[Record]:
    # Every status listed, so that the (status, -created_at) index serves the range.
    rows = Handoff.objects.filter(
        status__in=Handoff.Status.values, created_at__gte=timezone.now() - LOOKBACK
    ).values_list("created_at", "assigned_at", "closed_at")
    for created, assigned, closed in rows.iterator():
        yield Record(created=created.timestamp(), assigned=_epoch(assigned), closed=_epoch(closed))


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass
class Estimator:
    """Turns positions into places; the agents and statistics are read on first use."""

    auto: bool = field(default_factory=is_auto)

    @cached_property
    def agents(self) -> AgentsNow:
        return agents_now()

    @cached_property
    def stats(self) -> QueueStats:
        return current_stats()

    def place(self, position: int) -> QueuePlace:
        wait = estimate_wait(
            position=position, agents=self.agents, stats=self.stats, auto=self.auto
        )
        return QueuePlace(
            position=position,
            estimated_wait_seconds=None if wait is None else round(wait),
            agents_online=self.agents.online,
        )


class DatabaseQueue:
    """What handoffs.queue_place asks (registered in routing/apps.py)."""

    def positions(self, handoffs: Iterable[Handoff]) -> dict[int, int]:
        return queue.positions(handoffs)

    def places(self, handoffs: Sequence[Handoff]) -> dict[int, QueuePlace]:
        found = queue.positions(handoffs)
        if not found:
            return {}
        estimator = Estimator()
        return {pk: estimator.place(position) for pk, position in found.items()}


@dataclass
class QueueSnapshot:
    """The whole queue at one moment, for pushes to everyone waiting: one query for the
    order; places cost the agents and statistics once, whoever asks."""

    order: list[int]  # pending handoff ids, next first
    at: datetime
    estimator: Estimator = field(default_factory=Estimator)

    @classmethod
    def take(cls) -> QueueSnapshot:
        return cls(order=list(queue.queue().values_list("pk", flat=True)), at=timezone.now())

    @cached_property
    def _positions(self) -> dict[int, int]:
        return {pk: n for n, pk in enumerate(self.order, start=1)}

    def place_of(self, handoff_id: int) -> QueuePlace | None:
        position = self._positions.get(handoff_id)
        return None if position is None else self.estimator.place(position)
