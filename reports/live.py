"""/reports/live/, the wallboard: queue length, longest current wait, agents online with their
load, pushed over the page's socket to group "reports.wallboard".

The page sends {"action": "wallboard"} (static reports/wallboard.js); the socket joins the
group only if its agent may see the reports (reports/access.py), checked on that action and
on every hello (handoffs.consumers.register_page_group), and is answered the fragment as it is
now (the catch-up on every (re)connect).

Listeners of handoffs.signals.handoff_changed and agents.signals.availability_changed (after
commit, in whichever process) only set a flag in the cache (Redis with REDIS_URL, so shared by
every process); the worker's timer, on its next pass (half a second when idle), drops the flag,
renders the fragment once and pushes it: a burst of changes is one push. What no signal
announces (an agent going offline, by the switch or the worker's inactivity timeout) is caught
by the same timer: every SWEEP_EVERY seconds it compares the figures with the last ones pushed
and pushes only if they differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from handoffs.models import Handoff
from hitlnext_project.shared.push import best_effort, send_to_group
from routing.load import AgentLoad, loads_of
from routing.queue import queue

WALLBOARD_GROUP = "reports.wallboard"
SWEEP_EVERY = 10.0
_PENDING_KEY = "reports:wallboard:pending"
_LAST_KEY = "reports:wallboard:last"


@dataclass(frozen=True)
class Wallboard:
    queue_length: int
    oldest_pending_at: datetime | None
    agents: tuple[AgentLoad, ...]  # online, by name

    def longest_wait(self, now: datetime) -> float | None:
        """Seconds the oldest pending handoff has waited; None when nobody waits."""
        if self.oldest_pending_at is None:
            return None
        return max(0.0, (now - self.oldest_pending_at).total_seconds())


def wallboard() -> Wallboard:
    """The figures as they are now: three queries."""
    pending = queue()
    oldest = (
        Handoff.objects.filter(status=Handoff.Status.PENDING)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    loads = loads_of(Q(is_active=True, agent_profile__online=True))
    return Wallboard(
        queue_length=pending.count(),
        oldest_pending_at=oldest,
        agents=tuple(sorted(loads, key=lambda load: (load.name.lower(), load.id))),
    )


def wallboard_context(board: Wallboard | None = None) -> dict[str, Any]:
    """What the template needs, for the page and for a push."""
    board = board or wallboard()
    wait = board.longest_wait(timezone.now())
    return {"board": board, "longest_wait": None if wait is None else int(wait)}


def render_wallboard(board: Wallboard | None = None) -> str:
    return render_to_string("reports/live.html#wallboard", wallboard_context(board))


def _push(board: Wallboard) -> None:
    cache.set(_LAST_KEY, _fingerprint(board), timeout=None)
    send_to_group(WALLBOARD_GROUP, render_wallboard(board))


def _fingerprint(board: Wallboard) -> str:
    return repr(board)


@best_effort
def changed(**_: Any) -> None:
    """A handoff or an agent's availability changed: the worker's next pass pushes the
    wallboard, once for every change since its last pass."""
    cache.set(_PENDING_KEY, 1, timeout=None)


_last_sweep = 0.0


def flush() -> int:
    """The worker's timer, every pass: push the wallboard if a change is pending, or, every
    SWEEP_EVERY seconds, if the figures differ from the last pushed (an agent went offline,
    which no signal announces); 1 if it pushed."""
    global _last_sweep
    pending = cache.get(_PENDING_KEY) is not None
    if pending:
        # Dropped before reading the figures: a change committed from here on is pending again.
        cache.delete(_PENDING_KEY)
    elif time.monotonic() - _last_sweep < SWEEP_EVERY:
        return 0
    _last_sweep = time.monotonic()
    board = wallboard()
    if not pending and cache.get(_LAST_KEY) == _fingerprint(board):
        return 0
    _push(board)
    return 1
