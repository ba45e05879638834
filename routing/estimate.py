"""How long a queued handoff will still wait for an agent: "estimated_wait_seconds".

The method is a queue-length predictor (W. Whitt, "Predicting queueing delays", Management
Science 45(6), 1999; R. Ibrahim and W. Whitt, "Real-time delay estimation in overloaded
multiserver queues with abandonments", 2009), fed with what the database knows now and over
the last hour:

- **Places.** The online agents have S places (the sum of their capacities) of which F are
  free right now. In auto mode the first F handoffs of the queue are assigned at once, so a
  handoff at position k <= F waits about nothing (0). Otherwise it needs m = k - F places to
  free up.
- **Rate.** While every place is taken, places free up at R = S / H per second, H being the
  mean handle time (assigned -> closed) of the handoffs closed in the last hour (at least the
  last HANDLE_SAMPLES of the lookback when the hour had fewer).
- **Giving up.** Handoffs ahead also leave unserved (the bot rejects them, they expire): each
  waiting handoff leaves at rate theta = abandonments / total waiting time of the last hour
  (the maximum-likelihood rate of an exponential patience). With j handoffs still ahead the
  queue moves at R + j * theta, so the wait is the sum over j = 0 .. m-1 of 1 / (R + j * theta).

In manual mode agents pick by hand, so free places say little about when: R is the queue's
observed throughput while it was not empty (assignments of handoffs that waited, over the
time at least one handoff waited, in the last hour) and F is not used. Auto mode falls back on
that throughput when no handle time is known yet, and when no agent is online (the queue then
moves as it did lately, with agents coming back). The estimate is None when neither is known:
nobody online and no history.

Not modelled: languages (any online agent is counted), and high-priority handoffs arriving
later and going ahead. Stretching a normal handoff's wait for those by R / (R - lambda_h)
(lambda_h: the last hour's high-priority arrivals per second), as a priority queue would, made
the estimate worse on the simulated days of bench/wait_estimate.py (auto mode: mean absolute
error 54 s instead of 44 s, bias +27 s instead of +4 s), so it was left out.

This module is pure arithmetic, without Django, so that bench/wait_estimate.py runs the same
code on a simulated day; routing/position.py reads the database for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WINDOW = 3600.0  # seconds of history the rates are measured over
HANDLE_SAMPLES = 20  # handle times wanted at least, when the window had fewer
WAITED = 1.0  # seconds: an assignment after a shorter wait was not queueing


@dataclass(frozen=True)
class AgentsNow:
    """The online agents' places: `slots` None when one of them has no limit."""

    online: int
    slots: int | None
    free: int | None


@dataclass(frozen=True)
class QueueStats:
    """What the recent history says; None where it says nothing."""

    mean_handle: float | None  # seconds, assigned -> closed
    throughput: float | None  # assignments per second while the queue was not empty
    abandon_rate: float  # per waiting handoff per second (theta)

    @classmethod
    def empty(cls) -> QueueStats:
        return cls(mean_handle=None, throughput=None, abandon_rate=0.0)


@dataclass(frozen=True)
class Record:
    """One handoff of the history, in seconds on any clock (the epoch, a simulation's)."""

    created: float
    assigned: float | None  # its (latest) assignment
    closed: float | None  # resolved, rejected or expired


def estimate_wait(
    *, position: int, agents: AgentsNow, stats: QueueStats, auto: bool
) -> float | None:
    """Seconds the handoff at `position` (1 = next) will still wait; None when unknown."""
    if auto and agents.online and (agents.slots is None or position <= (agents.free or 0)):
        return 0.0
    needed = position - (agents.free or 0) if auto else position
    rate = None
    if auto and agents.online and agents.slots and stats.mean_handle:
        rate = agents.slots / stats.mean_handle
    if rate is None:
        rate = stats.throughput
    if not rate:
        return None
    theta = stats.abandon_rate
    return sum(1.0 / (rate + ahead * theta) for ahead in range(max(needed, 1)))


def stats_from_history(records: Iterable[Record], *, now: float) -> QueueStats:
    """The rates of QueueStats over the WINDOW before `now`; `records` are the handoffs
    created in the lookback, in any order."""
    start = now - WINDOW
    handles: list[tuple[float, float]] = []  # (closed, handle time)
    waits: list[tuple[float, float]] = []  # waiting intervals, clipped to the window
    exposure = 0.0
    served = abandoned = 0
    for record in records:
        if record.assigned is not None and record.closed is not None:
            handles.append((record.closed, record.closed - record.assigned))
        end = record.assigned if record.assigned is not None else record.closed
        end = now if end is None else end
        begin, finish = max(record.created, start), min(end, now)
        if finish > begin:
            waits.append((begin, finish))
            exposure += finish - begin
        if record.assigned is not None and start <= record.assigned <= now:
            served += record.assigned - record.created >= WAITED
        elif record.assigned is None and record.closed is not None and start <= record.closed:
            abandoned += record.closed <= now
    return QueueStats(
        mean_handle=_mean_handle(handles, start),
        throughput=served / busy if served and (busy := _union_length(waits)) else None,
        abandon_rate=abandoned / exposure if exposure else 0.0,
    )


def _mean_handle(handles: list[tuple[float, float]], start: float) -> float | None:
    handles.sort()
    recent = [handle for closed, handle in handles if closed >= start]
    if len(recent) < HANDLE_SAMPLES:
        recent = [handle for _, handle in handles[-HANDLE_SAMPLES:]]
    return sum(recent) / len(recent) if recent else None


def _union_length(intervals: Sequence[tuple[float, float]]) -> float:
    """How long at least one of the intervals was open."""
    total, reach = 0.0, float("-inf")
    for begin, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(begin, reach)
        reach = end
    return total
