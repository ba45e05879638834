"""Waking an idle worker when a delivery is queued, instead of letting it sleep out its poll
interval: an agent's reply then reaches the bot's webhook in tens of milliseconds, not up to
half a second later.

A transaction that queued a delivery sets a key in the cache after it commits (Redis with
REDIS_URL, shared by every process; process memory in the embedded default, where the worker
runs inside the server); an idle worker checks it every WAKE_CHECK seconds and starts its next
pass at once. Only a hint: the worker still polls the database on its interval, so a lost
wake-up (Redis restarting, another worker taking it first) delays nothing past that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.core.cache import cache

logger = logging.getLogger(__name__)

WAKE_KEY = "webhooks:wake"
WAKE_CHECK = 0.05  # seconds between two looks at the key while idle


def delivery_queued() -> None:
    """After the commit of a transaction that queued a delivery."""
    try:
        cache.set(WAKE_KEY, 1, timeout=60)
    except Exception:  # the poll finds the delivery anyway
        logger.debug("could not wake the workers", exc_info=True)


def woken() -> bool:
    """Whether a delivery was queued since the last look (and take the hint)."""
    try:
        return bool(cache.delete(WAKE_KEY))
    except Exception:
        return False


def idle(interval: float, *, stopping: Callable[[], bool] = lambda: False) -> None:
    """Sleep up to `interval` seconds; back early when woken or asked to stop."""
    deadline = time.monotonic() + interval
    while not stopping() and time.monotonic() < deadline:
        if woken():
            return
        time.sleep(min(WAKE_CHECK, max(0.0, deadline - time.monotonic())))
