"""Fixed-window rate limits kept in the Django cache (shared by every process through Redis
when REDIS_URL is set; per process with the embedded LocMemCache).

    wait = hit("api:bot:42", limit=600, window=60)
    if wait is not None:
        ...  # refuse, and tell the client to come back in `wait` seconds

A fixed window is cheap (one INCR) and its only imprecision is a burst of up to twice the
limit across a window boundary, which is acceptable for abuse limits. When the cache is
unreachable, requests are let through: a Redis outage must not take the API down with it.
"""

from __future__ import annotations

import logging
import math
import re
import time

# A lazy proxy: importing it reads no setting, so settings.py may import parse_rate.
from django.core.cache import cache

logger = logging.getLogger(__name__)

_RATE = re.compile(r"^\s*(\d+)\s*(?:/\s*(\d*)\s*(s|m|h))?\s*$")
_WINDOWS = {"s": 1, "m": 60, "h": 3600}


def parse_rate(text: str) -> tuple[int, int]:
    """ "600/m" -> (600, 60): requests allowed per window of seconds; "0" -> (0, 0), no limit.

    The period may carry a multiple: "5/15m" -> (5, 900).
    """
    match = _RATE.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a rate like 600/m, 20/s or 5000/h (0 disables)")
    count = int(match.group(1))
    if count == 0:
        return 0, 0
    if not match.group(3):
        raise ValueError(f"{text!r} needs a period: 600/m, 20/s or 5000/h")
    multiple = int(match.group(2) or 1)
    if multiple == 0:
        raise ValueError(f"{text!r} has an empty period")
    return count, multiple * _WINDOWS[match.group(3)]


def hit(key: str, *, limit: int, window: int) -> int | None:
    """Count one hit against `key`: None when allowed, else the seconds to wait (at least 1).

    A limit of 0 allows everything.
    """
    if limit <= 0 or window <= 0:
        return None
    now = time.time()
    bucket = int(now // window)
    cache_key = f"ratelimit:{key}:{window}:{bucket}"
    try:
        # incr() is atomic: concurrent hits from several processes are all counted. Most hits
        # find the window's counter there (one round trip); the first of a window creates it
        # with add(), which only creates it if absent (atomic in Redis and LocMem).
        try:
            count = cache.incr(cache_key)
        except ValueError:
            cache.add(cache_key, 0, timeout=window + 1)
            try:
                count = cache.incr(cache_key)
            except ValueError:  # expired between add() and incr(): this hit starts the window
                cache.set(cache_key, 1, timeout=window + 1)
                count = 1
    except Exception:
        logger.warning("rate limit cache unavailable; allowing %s", key.split(":", 1)[0])
        return None
    if count <= limit:
        return None
    return max(1, math.ceil((bucket + 1) * window - now))


def _window_key(key: str, window: int, now: float) -> str:
    return f"ratelimit:{key}:{window}:{int(now // window)}"


def count(key: str, *, window: int) -> int:
    """How many hits `key` has in the current window (0 when the cache is unreachable)."""
    if window <= 0:
        return 0
    try:
        return int(cache.get(_window_key(key, window, time.time())) or 0)
    except Exception:
        logger.warning("rate limit cache unavailable; counting 0 for %s", key.split(":", 1)[0])
        return 0


def blocked(key: str, *, limit: int, window: int) -> int | None:
    """Like hit() without counting: the seconds to wait once `limit` hits are used, else None.

    For budgets counted only on failure (logins): check first, count the failures afterwards.
    """
    if limit <= 0 or window <= 0:
        return None
    now = time.time()
    try:
        used = cache.get(_window_key(key, window, now)) or 0
    except Exception:
        logger.warning("rate limit cache unavailable; allowing %s", key.split(":", 1)[0])
        return None
    if used < limit:
        return None
    return max(1, math.ceil((int(now // window) + 1) * window - now))


def reset(key: str, *, window: int) -> None:
    """Forget the hits counted against `key` in the current window."""
    if window <= 0:
        return
    try:
        cache.delete(_window_key(key, window, time.time()))
    except Exception:
        logger.warning("rate limit cache unavailable; not reset %s", key.split(":", 1)[0])
