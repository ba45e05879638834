"""Routing measurements (bench/routing.py): auto-assignment of a burst and of a queue, and
their floors, a bare conditional UPDATE loop on the same tables.

Every phase starts with no handoff open (the previous one's are resolved by reset()), so the
agents' loads at its end are its own assignments. Times come from the database rows: when
each handoff was created and when its assignment was recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from django.db import connection

from bench.load import HttpConnection, percentile
from bench.procs import Profiler, Server, start_worker

if TYPE_CHECKING:  # imported for real only after django.setup()
    from conversations.models import Bot

# --- What a phase measured --------------------------------------------------------------------


@dataclass
class Phase:
    """One burst or drain, by hitlnext or by the floor."""

    created: list[float] = field(default_factory=list)  # epoch seconds, per assigned handoff
    assigned: list[float] = field(default_factory=list)
    posts_per_second: float = 0.0  # hitlnext bursts: how fast the API took the POSTs
    problems: list[str] = field(default_factory=list)
    max_load: int = 0

    @property
    def count(self) -> int:
        return len(self.assigned)

    @property
    def burst_seconds(self) -> float:
        """First handoff created -> last one assigned."""
        return max(self.assigned) - min(self.created) if self.assigned else 0.0

    @property
    def drain_seconds(self) -> float:
        """First assignment -> last one (the queue was there before)."""
        return max(self.assigned) - min(self.assigned) if self.count > 1 else 0.0

    @property
    def latencies(self) -> list[float]:
        return [a - c for c, a in zip(self.created, self.assigned, strict=True)]


@dataclass
class Totals:
    """The phases of one kind over every round (a floor has two per round)."""

    rounds: list[list[Phase]] = field(default_factory=list)

    @property
    def phases(self) -> list[Phase]:
        return [p for phases in self.rounds for p in phases]

    @staticmethod
    def pooled_rate(phases: list[Phase], drain: bool) -> float:
        """Assignments per second: total count / total time (a drain counts the intervals
        between its first and last assignment)."""
        seconds = sum(p.drain_seconds if drain else p.burst_seconds for p in phases)
        count = sum(p.count - 1 if drain else p.count for p in phases)
        return count / seconds if seconds else 0.0

    def rate(self, drain: bool) -> float:
        return self.pooled_rate(self.phases, drain)

    def round_rates(self, drain: bool) -> list[float]:
        return [self.pooled_rate(phases, drain) for phases in self.rounds]

    def latency(self, q: float) -> float:
        pooled = [x for p in self.phases for x in p.latencies]
        return percentile(pooled, q) if pooled else 0.0

    @property
    def posts_per_second(self) -> float:
        rates = [p.posts_per_second for p in self.phases if p.posts_per_second]
        return statistics.mean(rates) if rates else 0.0

    @property
    def assigned(self) -> int:
        return sum(p.count for p in self.phases)

    @property
    def max_load(self) -> int:
        return max((p.max_load for p in self.phases), default=0)

    @property
    def problems(self) -> list[str]:
        return [problem for p in self.phases for problem in p.problems]


# --- The database, as the benchmark reads it --------------------------------------------------


def high_water() -> tuple[int, int]:
    """The last handoff id and event id: what a phase creates comes after them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM handoffs_handoff),"
            " (SELECT COALESCE(MAX(id), 0) FROM conversations_event)"
        )
        handoff_id, event_id = cursor.fetchone()
    return handoff_id, event_id


def waiting(after: int) -> tuple[int, int]:
    """Handoffs created after `after`: how many, and how many are still pending."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'pending')"
            " FROM handoffs_handoff WHERE id > %s",
            [after],
        )
        total, pending = cursor.fetchone()
    return total, pending


def wait_assigned(after: int, expected: int, *, seconds: float) -> None:
    """Until the phase's handoffs are all there and none is pending (or the deadline)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        total, pending = waiting(after)
        if total >= expected and not pending:
            return
        time.sleep(0.05)


# One row per handoff of the phase, with the handoff.assigned events that name it (hitlnext
# records one per assignment; the floor none).
PHASE_SQL = """
WITH assigned_events AS (
    SELECT (data -> 'handoff' ->> 'id')::bigint AS handoff_id, COUNT(*) AS n,
           MIN(created_at) AS at, BOOL_AND(data ->> 'assigned_by' = 'auto') AS auto
    FROM conversations_event
    WHERE type = 'handoff.assigned' AND id > %(event_after)s
    GROUP BY 1
)
SELECT h.status, h.agent_id, h.created_at, h.assigned_at,
       COALESCE(e.n, 0), e.at, COALESCE(e.auto, false)
FROM handoffs_handoff h LEFT JOIN assigned_events e ON e.handoff_id = h.id
WHERE h.id > %(handoff_after)s
ORDER BY h.id
"""


def read_phase(after: tuple[int, int], *, expected: int, capacity: int, events: bool) -> Phase:
    """The phase's handoffs as the database has them, checked: `expected` handoffs, each
    assigned exactly once (hitlnext: one handoff.assigned event, by "auto"), and no agent past
    `capacity`. Assignment time: the event's for hitlnext, the row's assigned_at for the
    floor (which records no event)."""
    with connection.cursor() as cursor:
        cursor.execute(PHASE_SQL, {"handoff_after": after[0], "event_after": after[1]})
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM handoffs_handoff"
            " WHERE status = 'assigned' GROUP BY agent_id) AS loads"
        )
        max_load = cursor.fetchone()[0]
    phase = Phase(max_load=max_load)
    if len(rows) != expected:
        phase.problems.append(f"{len(rows)} handoffs created, {expected} expected")
    not_assigned = twice = not_auto = 0
    for status, agent_id, created_at, assigned_at, n_events, event_at, auto in rows:
        if status != "assigned" or agent_id is None:
            not_assigned += 1
            continue
        if events and n_events != 1:
            twice += 1
            continue
        if events and not auto:
            not_auto += 1
        phase.created.append(created_at.timestamp())
        phase.assigned.append((event_at if events else assigned_at).timestamp())
    if not_assigned:
        phase.problems.append(f"{not_assigned} handoffs not assigned")
    if twice:
        phase.problems.append(f"{twice} handoffs without exactly one handoff.assigned event")
    if not_auto:
        phase.problems.append(f"{not_auto} assignments not by routing (assigned_by != auto)")
    if max_load > capacity:
        phase.problems.append(f"an agent holds {max_load} open handoffs, capacity {capacity}")
    return phase


def reset() -> int:
    """Resolve every open handoff (bare SQL, announcing nothing): each agent is back to no
    load and the queue is empty for the next phase."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE handoffs_handoff SET status = 'resolved', resolved_at = clock_timestamp(),"
            " closed_at = clock_timestamp() WHERE status IN ('pending', 'assigned')"
        )
        return cursor.rowcount


# --- hitlnext ---------------------------------------------------------------------------------


@dataclass
class Context:
    """What every phase needs: the servers, the bot, the agents, the settings."""

    servers: list[Server]
    env: dict[str, str]
    logs: Path
    database_url: str
    api_key: str
    bot: Bot
    agent_ids: list[int]
    capacity: int
    connections: int
    floor_conversations: list[int]
    deadline: float  # seconds, per phase


async def post_handoffs(
    urls: list[str], api_key: str, run: str, count: int, connections: int
) -> tuple[dict[int, int], float]:
    """The bot's burst: `count` POST /api/v1/handoffs, each in a new conversation, over
    `connections` keep-alive connections spread over `urls`, each sending its next as soon as
    the previous is answered. Returns the statuses and the seconds it took."""
    auth = {"Authorization": f"Bearer {api_key}"}
    numbers = iter(range(count))
    statuses: dict[int, int] = {}

    async def client(url: str) -> None:
        conn = await HttpConnection(url).open()
        try:
            for n in numbers:
                body = {
                    "conversation_id": f"{run}-{n}",
                    "user_id": f"{run}-u{n}",
                    "channel": "web",
                    "user": {"fullName": f"Burst user {n}"},
                }
                raw = conn.request_bytes(
                    "POST", "/api/v1/handoffs", body=json.dumps(body).encode(), headers=auth
                )
                status, _ = await conn.send(raw)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(urls[i % len(urls)]) for i in range(connections)))
    return statuses, time.perf_counter() - started


def hitlnext_burst(ctx: Context, count: int, run: str, profile: Path | None = None) -> Phase:
    """The bot posts `count` handoffs at once; each request's own routing (after its commit,
    in the Daphne process) and the worker's sweep assign them to the online agents.
    `profile`: py-spy's output for the first Daphne process meanwhile."""
    after = high_water()
    worker = start_worker(f"worker-{run}", env=ctx.env, logs=ctx.logs)
    profiler = Profiler(ctx.servers[0].pid, profile) if profile else None
    try:
        statuses, seconds = asyncio.run(
            asyncio.wait_for(
                post_handoffs(
                    [s.url for s in ctx.servers], ctx.api_key, run, count, ctx.connections
                ),
                ctx.deadline,
            )
        )
        wait_assigned(after[0], count, seconds=ctx.deadline)
    finally:
        if profiler:
            profiler.stop()
        worker.stop()
    phase = read_phase(after, expected=count, capacity=ctx.capacity, events=True)
    phase.posts_per_second = count / seconds if seconds else 0.0
    if set(statuses) != {201}:
        phase.problems.append(f"POST /api/v1/handoffs answered {statuses}")
    return phase


def hitlnext_drain(ctx: Context, count: int, run: str, profile: Path | None = None) -> Phase:
    """`count` handoffs already queued (written while no worker ran, announcing nothing);
    a worker starts and its routing sweep assigns them, one transaction each. `profile`:
    py-spy's output for the worker meanwhile."""
    from bench import fixtures

    after = high_water()
    fixtures.queue_handoffs(ctx.bot, run, count)
    worker = start_worker(f"worker-{run}", env=ctx.env, logs=ctx.logs)
    profiler = Profiler(worker.pid, profile) if profile else None
    try:
        wait_assigned(after[0], count, seconds=ctx.deadline)
    finally:
        if profiler:
            profiler.stop()
        worker.stop()
    return read_phase(after, expected=count, capacity=ctx.capacity, events=True)


# --- The floor: bare SQL through psycopg, one transaction per statement -----------------------

# What a new handoff minimally is: the pending row (same table, the columns the API fills).
FLOOR_INSERT = """
INSERT INTO handoffs_handoff (bot_id, conversation_id, status, priority, language,
    timeout_seconds, created_at, last_activity_at, last_user_message)
VALUES (%s, %s, 'pending', 'normal', 'en', 0, clock_timestamp(), clock_timestamp(), '')
RETURNING id
"""
# The queue's head, oldest first (every handoff here has normal priority).
FLOOR_QUEUE = (
    "SELECT id FROM handoffs_handoff WHERE status = 'pending' ORDER BY created_at, id LIMIT 100"
)
# The claim, as handoffs.services._claim writes it: of two, only one matches status=pending.
FLOOR_ASSIGN = """
UPDATE handoffs_handoff
SET status = 'assigned', agent_id = %s, assigned_at = clock_timestamp(),
    last_activity_at = clock_timestamp(), awaiting_reply_since = clock_timestamp()
WHERE id = %s AND status = 'pending'
"""


class Turns:
    """The floor's choice of agent: each in turn, below capacity (shared by threads)."""

    def __init__(self, agent_ids: list[int], capacity: int) -> None:
        self.loads = dict.fromkeys(agent_ids, 0)
        self.capacity = capacity
        self.turn = itertools.cycle(agent_ids)
        self.lock = threading.Lock()

    def take(self) -> int:
        with self.lock:
            for agent in itertools.islice(self.turn, len(self.loads)):
                if self.loads[agent] < self.capacity:
                    self.loads[agent] += 1
                    return agent
        raise RuntimeError("every agent is full: the plan has more handoffs than places")


def bare_assign_loop(database_url: str, turns: Turns, count: int, deadline: float) -> int:
    """Assign `count` queued handoffs in queue order, one conditional UPDATE (its own
    transaction) each. Returns how many it assigned before the deadline (time.monotonic())."""
    done = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        while done < count and time.monotonic() < deadline:
            head = [row[0] for row in conn.execute(FLOOR_QUEUE).fetchall()]
            if not head:
                break  # nothing more queued
            for handoff_id in head:
                if conn.execute(FLOOR_ASSIGN, (turns.take(), handoff_id)).rowcount == 1:
                    done += 1
    return done


def _run_threads(targets: list[Callable[[], object]], seconds: float) -> None:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # re-raised below, in the caller's thread
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(t), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds)
    if any(thread.is_alive() for thread in threads):
        raise RuntimeError("a floor thread did not finish in time")
    if errors:
        raise errors[0]


def floor_burst(ctx: Context, count: int) -> Phase:
    """The floor of a burst, on the bot's number of connections: each creates a handoff (the
    bare INSERT) and assigns it at once (the bare conditional UPDATE), as each of hitlnext's
    requests creates its handoff and then routes, one transaction per statement."""
    after = high_water()
    conversations = ctx.floor_conversations[:count]
    clients = ctx.connections
    turns = Turns(ctx.agent_ids, ctx.capacity)
    start = threading.Barrier(clients, timeout=60)  # every connection open first
    deadline = time.monotonic() + ctx.deadline
    bot_id = ctx.bot.pk

    def client(k: int) -> None:
        with psycopg.connect(ctx.database_url, autocommit=True) as conn:
            start.wait()
            for conversation_id in conversations[k::clients]:
                if time.monotonic() > deadline:
                    return
                row = conn.execute(FLOOR_INSERT, (bot_id, conversation_id)).fetchone()
                assert row is not None
                conn.execute(FLOOR_ASSIGN, (turns.take(), row[0]))

    _run_threads([partial(client, k) for k in range(clients)], ctx.deadline + 60)
    return read_phase(after, expected=count, capacity=ctx.capacity, events=False)


def floor_drain(ctx: Context, count: int, run: str) -> Phase:
    """The floor of a drain: the same queued rows as hitlnext's drain, assigned by one bare
    loop."""
    from bench import fixtures

    after = high_water()
    fixtures.queue_handoffs(ctx.bot, run, count)
    turns = Turns(ctx.agent_ids, ctx.capacity)
    deadline = time.monotonic() + ctx.deadline
    _run_threads(
        [partial(bare_assign_loop, ctx.database_url, turns, count, deadline)], ctx.deadline + 60
    )
    return read_phase(after, expected=count, capacity=ctx.capacity, events=False)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
