"""Sliding-window rate limits kept in the Django cache (shared by every process through Redis
when REDIS_URL is set; per process with the embedded LocMemCache).

    wait = hit("api:bot:42", limit=600, window=60)
    if wait is not None:
        ...  # refuse, and tell the client to come back in `wait` seconds

At most `limit` hits pass in any `window` seconds, wherever that span starts. (A fixed window,
what this was, lets twice the limit through around a boundary: a full window's worth at the
end of one and another at the start of the next.) The window is cut into SLICES slices, one
counter each; a hit passes while the slices that overlap the last `window` seconds hold fewer
than `limit` hits. Whole slices are counted, so a hit stops counting between `window` and
`window + window / SLICES` seconds after it was made: never early (the limit holds exactly),
at most a tenth of the window late. The wait given back is when enough slices will have left
the window for a hit to pass (Retry-After: a retry then succeeds unless others spent the room).

Cost per hit in Redis: one round trip, a script that reads the slices and counts the hit when
there is room, atomically (shared/cache.py, count_hit). Elsewhere (the embedded LocMemCache):
one read of the slices and one increment of the current slice, a refused hit only the read;
two threads that both saw room for the last hit both count it, and the one that then finds
the count over the limit takes its hit back and refuses, so the limit holds. When the cache is
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


SLICES = 10


def _slices(key: str, window: int, now: float) -> tuple[int, list[str]]:
    """(index of the oldest slice overlapping the last `window` seconds, the cache keys of the
    slices from it to the current one)."""
    current = int(now * SLICES // window)
    first = current - SLICES
    return first, [f"ratelimit:{key}:{window}:{index}" for index in range(first, current + 1)]


def _counts(keys: list[str]) -> list[int]:
    found = cache.get_many(keys)
    return [int(found.get(key) or 0) for key in keys]


def _wait(counts: list[int], *, first: int, limit: int, window: int, now: float) -> int:
    """Seconds until the counted hits are fewer than `limit` (at least 1): slices leave the
    window oldest first, slice i once the window's start passes its end."""
    remaining = sum(counts)
    for offset, count in enumerate(counts):
        remaining -= count
        if remaining < limit:
            leaves_at = (first + offset + 1) * window / SLICES + window
            return max(1, math.ceil(leaves_at - now))
    raise AssertionError("unreachable: a positive limit is met once every slice has left")


def _count_one(key: str, *, seen: int, timeout: int) -> int:
    """Add a hit to the slice counter `key` (`seen`: its value just read); its new value."""
    # A slice read as empty is usually created here (add() creates only if absent, atomic in
    # Redis and LocMem); else incr() is atomic: concurrent hits from all processes count.
    if not seen and cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired since it was read: this hit starts it again
        if cache.add(key, 1, timeout=timeout):
            return 1
        return cache.incr(key)


def hit(key: str, *, limit: int, window: int) -> int | None:
    """Count one hit against `key`: None when allowed, else the seconds to wait (at least 1);
    a refused hit is not counted. A limit of 0 allows everything.
    """
    if limit <= 0 or window <= 0:
        return None
    now = time.time()
    first, keys = _slices(key, window, now)
    # A slice counts until the window's start passes its end: window + one slice from its start.
    timeout = math.ceil(window + window / SLICES) + 1
    try:
        count_hit = getattr(cache, "count_hit", None)
        if count_hit is not None:
            allowed, counts = count_hit(keys, limit=limit, timeout=timeout)
            if allowed:
                return None
            return _wait(counts, first=first, limit=limit, window=window, now=now)
        counts = _counts(keys)
        if sum(counts) >= limit:
            return _wait(counts, first=first, limit=limit, window=window, now=now)
        counts[-1] = _count_one(keys[-1], seen=counts[-1], timeout=timeout)
        if sum(counts) > limit:
            # Others took the last places between the read and the count: give this one back.
            try:
                cache.decr(keys[-1])
            except ValueError:
                pass
            counts[-1] -= 1
            return _wait(counts, first=first, limit=limit, window=window, now=now)
    except Exception:
        logger.warning("rate limit cache unavailable; allowing %s", key.split(":", 1)[0])
        return None
    return None


def count(key: str, *, window: int) -> int:
    """How many hits `key` has in the last `window` seconds (0 when the cache is unreachable)."""
    if window <= 0:
        return 0
    try:
        return sum(_counts(_slices(key, window, time.time())[1]))
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
    first, keys = _slices(key, window, now)
    try:
        counts = _counts(keys)
    except Exception:
        logger.warning("rate limit cache unavailable; allowing %s", key.split(":", 1)[0])
        return None
    if sum(counts) < limit:
        return None
    return _wait(counts, first=first, limit=limit, window=window, now=now)


def reset(key: str, *, window: int) -> None:
    """Forget the hits counted against `key`."""
    if window <= 0:
        return
    try:
        cache.delete_many(_slices(key, window, time.time())[1])
    except Exception:
        logger.warning("rate limit cache unavailable; not reset %s", key.split(":", 1)[0])
