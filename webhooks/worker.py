"""One pass of the background worker: timers first, then webhook deliveries.

Every timer is a deadline in the database, so whichever worker runs next fires it, and a
restart loses nothing. Any number of workers may run at once: each step claims its rows
with a conditional UPDATE or SKIP LOCKED.

The timers belong to higher apps (handoff expiry, agent sessions…): each registers its own
in its AppConfig.ready() with register_timer / register_hourly, so this loop imports none.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from webhooks import wakeup
from webhooks.delivery import deliver_due
from webhooks.events import prune_events, sequence_events
from webhooks.models import WorkerHeartbeat

logger = logging.getLogger("hitlnext.worker")

# A timer returns how many things it did (0: nothing was due); an hourly job returns nothing.
Timer = Callable[[], int]
_timers: list[Timer] = []
_hourly: list[Callable[[], object]] = []


def register_timer(step: Timer) -> None:
    """Run `step` at the start of every pass, before deliveries (idempotent per step)."""
    if step not in _timers:
        _timers.append(step)


def register_hourly(job: Callable[[], object]) -> None:
    """Run `job` with the hourly housekeeping; it must be safe to run twice in an hour."""
    if job not in _hourly:
        _hourly.append(job)


# Deliveries per pass. A busy worker starts the next pass at once, so this costs no
# throughput; it bounds a pass (one parallel batch, about one HTTP timeout) so timers fire
# between batches and a SIGTERM is honoured quickly.
DELIVERIES_PER_PASS = 8


def deliver_batch() -> int:
    return deliver_due(limit=DELIVERIES_PER_PASS)


HOUSEKEEPING_EVERY = 3600.0  # seconds
_last_housekeeping = 0.0


def housekeeping() -> int:
    """Hourly: forget old events, then the registered jobs (old Idempotency-Keys, the
    HITLNEXT_RETENTION_DAYS purge…).

    All are idempotent, so several workers doing them in the same hour is harmless.
    """
    global _last_housekeeping
    if time.monotonic() - _last_housekeeping < HOUSEKEEPING_EVERY and _last_housekeeping:
        return 0
    _last_housekeeping = time.monotonic()
    prune_events(before=timezone.now() - settings.HITLNEXT_EVENT_RETENTION)
    WorkerHeartbeat.objects.filter(last_pass_at__lt=timezone.now() - FORGET_WORKERS_AFTER).delete()
    for job in _hourly:
        try:
            job()
        except Exception:  # one failing job must not starve the others
            logger.exception("housekeeping job %s failed", job.__name__)
    # Not counted as work: it must not keep the loop from idling.
    return 0


# The heartbeat (/metrics: hitlnext_worker_last_pass_age_seconds): each worker writes when it
# last finished a pass, at most this often, so an idle worker costs one UPDATE per 5 seconds.
HEARTBEAT_EVERY = timedelta(seconds=5)
# A killed worker's row is kept this long (its growing age is the alarm), then forgotten.
FORGET_WORKERS_AFTER = timedelta(days=1)
_last_heartbeat: datetime | None = None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def record_heartbeat() -> None:
    """This worker finished a pass now (throttled to HEARTBEAT_EVERY)."""
    global _last_heartbeat
    now = timezone.now()
    if _last_heartbeat is not None and _last_heartbeat <= now < _last_heartbeat + HEARTBEAT_EVERY:
        return
    name = worker_name()
    if not WorkerHeartbeat.objects.filter(worker=name).update(last_pass_at=now):
        WorkerHeartbeat.objects.update_or_create(worker=name, defaults={"last_pass_at": now})
    _last_heartbeat = now


def heartbeat() -> int:
    """The pass's last step."""
    record_heartbeat()
    return 0  # not work: it must not keep the loop from idling


def forget_heartbeat() -> None:
    """This worker stops cleanly: it leaves no row to age into an alarm."""
    global _last_heartbeat
    WorkerHeartbeat.objects.filter(worker=worker_name()).delete()
    _last_heartbeat = None


def run_once() -> int:
    """Do whatever is due; returns how many things were done (0 means idle)."""
    close_old_connections()
    done = 0
    for step in (*_timers, deliver_batch, sequence_events, housekeeping, heartbeat):
        try:
            done += step()
        except (OperationalError, InterfaceError) as exc:
            # The database is down, restarting or cut our connection: the other steps would
            # fail the same way. One line, not a traceback per step and pass (an outage would
            # flood the log); the unusable connection is dropped and the next pass retries.
            # Work claimed before the cut stays leased and is taken up again when it expires.
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            logger.warning("worker: database unavailable (%s); retrying", first_line)
            break
        except Exception:  # one failing step must not starve the others
            logger.exception("worker step %s failed", step.__name__)
    close_old_connections()
    return done


async def worker_loop(interval: float = 0.5) -> None:
    """The worker inside a Daphne process (the embedded default and the browser tests).

    Live pushes made by the worker's services then reach this process's sockets even with the
    in-memory channel layer.
    """
    # Not thread-sensitive: a slow webhook must not hold up the views' shared sync thread.
    step = database_sync_to_async(run_once, thread_sensitive=False)
    while True:
        try:
            done = await step()
        except Exception:
            logger.exception("worker pass failed")
            done = 0
        if not done:
            # Back early when a delivery is queued (webhooks/wakeup.py).
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not await asyncio.to_thread(wakeup.woken):
                await asyncio.sleep(wakeup.WAKE_CHECK)
