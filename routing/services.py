"""Auto-assignment (HITLNEXT_ASSIGNMENT=auto): the queue's head goes to an online agent with
room.

Who: among online agents below their capacity, a speaker of the handoff's language whenever
a speaker is online at all (else anyone), the fewest open handoffs first, then whoever has
waited longest since their last assignment. The agent a handoff was requeued from is passed
over for it. A handoff nobody fits waits, and those behind it are served meanwhile.

When: after every change that can add a handoff to the queue or room for one (routing/apps.py
listens to the handoffs' and agents' announcements), and on every worker pass.

Race safety, with several processes on PostgreSQL: each assignment is one transaction that
first takes a transaction-level advisory lock, so routing decisions are made single-file and
each sees everything committed before it (read committed: every statement takes a new
snapshot, and the previous holder committed before releasing the lock). The assignment itself
is handoffs.services.auto_assign_handoff: the conversation's row lock, then the agent
profile's row lock (which "Assign to me" takes too) with their open handoffs re-counted under
it, then the conditional UPDATE on status=pending. So an agent never goes past their capacity
through auto-assignment, and a handoff is never claimed twice. On SQLite writers are serial
(BEGIN IMMEDIATE) already.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q

from agents.models import AgentProfile
from handoffs.models import Handoff
from handoffs.services import auto_assign_handoff
from routing.queue import queue

# Any constant, distinct from the other advisory locks (webhooks.events: "hitl").
_ROUTING_LOCK = 0x726F7574  # "rout"
# Assignments per call at most: a bound, not a quota (the next trigger or pass goes on).
ASSIGN_LIMIT = 100

_state = threading.local()


@dataclass(frozen=True)
class Candidate:
    """An online agent as routing sees them."""

    user_id: int
    open_handoffs: int
    capacity: int  # 0: unlimited
    last_assigned_at: datetime | None
    profile: AgentProfile

    @property
    def has_room(self) -> bool:
        return not self.capacity or self.open_handoffs < self.capacity


def is_auto() -> bool:
    return settings.HITLNEXT_ASSIGNMENT == "auto"


def assign_next(*, limit: int = ASSIGN_LIMIT) -> int:
    """Give queued handoffs to agents with room, one transaction each, until nothing fits.

    Returns how many were assigned. Does nothing in manual mode. The worker runs it on every
    pass; listeners run it after the changes that may let a handoff be assigned.
    """
    if not is_auto() or getattr(_state, "running", False):
        # Re-entered from an on-commit hook of our own assignment: the loop below goes on.
        return 0
    if not queue().exists():
        # The common case on a worker pass: no lock taken (a SQLite write, a PostgreSQL
        # advisory lock). A handoff committed after this look sets routing off itself.
        return 0
    _state.running = True
    try:
        assigned = 0
        for _ in range(limit):
            outcome = _assign_one()
            if outcome is None:
                break
            assigned += outcome
        return assigned
    finally:
        _state.running = False


def _assign_one() -> int | None:
    """Assign the first queued handoff some agent fits: 1 if done, 0 if it changed under us
    (look again), None when nothing fits."""
    with transaction.atomic():
        _take_routing_lock()
        candidates = online_candidates()
        if not any(c.has_room for c in candidates):
            return None
        pairs = set(
            Handoff.objects.filter(status=Handoff.Status.PENDING)
            .order_by()
            .values_list("language", "requeued_from_id")
            .distinct()
        )
        servable = [
            Q(language=language, requeued_from_id=skip)
            for language, skip in pairs
            if choose_agent(candidates, language=language, skip_user_id=skip) is not None
        ]
        if not servable:
            return None
        head = queue().filter(reduce(or_, servable)).first()
        if head is None:
            return None
        agent = choose_agent(candidates, language=head.language, skip_user_id=head.requeued_from_id)
        assert agent is not None
        # Under the routing lock only people (assigning, resolving, going offline) and the
        # bot change anything meanwhile; auto_assign_handoff re-checks it under its row locks.
        return int(auto_assign_handoff(handoff=head, agent=agent.profile.user) is not None)


def _take_routing_lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ROUTING_LOCK])


def online_candidates() -> list[Candidate]:
    """Online, active agents with their open handoffs: one query."""
    profiles = (
        AgentProfile.objects.filter(online=True, user__is_active=True)
        .select_related("user")
        .annotate(
            open_count=Count(
                "user__handoffs", filter=Q(user__handoffs__status=Handoff.Status.ASSIGNED)
            )
        )
        .order_by("user_id")
    )
    return [
        Candidate(
            user_id=profile.user_id,
            open_handoffs=profile.open_count,
            capacity=profile.effective_capacity,
            last_assigned_at=profile.last_assigned_at,
            profile=profile,
        )
        for profile in profiles
    ]


def choose_agent(
    candidates: list[Candidate], *, language: str, skip_user_id: int | None = None
) -> Candidate | None:
    """Who takes a handoff in `language`, or None: it waits.

    A speaker of the language when one is online (even if all of them are full: it waits for
    them), else any agent; below capacity; fewest open handoffs, then longest since their last
    assignment (never assigned: first).
    """
    online = [c for c in candidates if c.user_id != skip_user_id]
    speakers = [c for c in online if c.profile.speaks(language)]
    pool = [c for c in (speakers or online) if c.has_room]
    if not pool:
        return None
    return min(
        pool,
        key=lambda c: (
            c.open_handoffs,
            c.last_assigned_at is not None,
            c.last_assigned_at or datetime.min,
            c.user_id,
        ),
    )


def route_queue(**_: Any) -> None:
    """Listener of handoffs.signals.handoff_changed and agents.signals.availability_changed."""
    assign_next()
