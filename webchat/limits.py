"""Abuse limits of the anonymous web chat, checked before any database work: a refused page
view, message or "Talk to a person" costs a cache hit (hitlnext_project.shared.ratelimit),
never a transaction.

Budgets (settings HITLNEXT_WEBCHAT_*): per visitor, per client address and overall. A check
counts against the narrowest budget first and stops at the first refusal, so a visitor or an
address over its own budget does not use up the overall one too. Each returns the seconds to
wait, or None when allowed.

A socket's frames are also capped in memory (FrameWindow): a client sending frames flat out is
cut off before even the cache is asked, and its address may open no visitor socket for
FLOOD_PENALTY seconds.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import deque
from time import monotonic

from django.conf import settings
from django.core.cache import cache

from hitlnext_project.shared import ratelimit
from webchat import services

logger = logging.getLogger(__name__)

Budget = tuple[str, tuple[int, int]]
# Seconds an address that flooded a socket may open none: reconnecting straight away would buy
# it another second of flooding (the time Daphne waits for a close handshake).
FLOOD_PENALTY = 60


def address_key(address: str) -> str:
    """The budget an address counts against: IPv6 clients per /64 network, the block a single
    subscriber is usually given (and an attacker could otherwise rotate through)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _spend(*budgets: Budget) -> int | None:
    for key, (limit, window) in budgets:
        wait = ratelimit.hit(key, limit=limit, window=window)
        if wait is not None:
            return wait
    return None


def new_visitor_wait(*, address: str) -> int | None:
    """A visitor id is about to be issued (a page view without one)."""
    return _spend(
        (
            f"webchat:visitors:ip:{address_key(address)}",
            settings.HITLNEXT_WEBCHAT_NEW_VISITORS_PER_IP,
        ),
        ("webchat:visitors", settings.HITLNEXT_WEBCHAT_NEW_VISITORS),
    )


def message_wait(*, visitor_id: str, address: str) -> int | None:
    # The visitor's own budget is also counted in the database (services.post_visitor_message),
    # which holds when the cache is unreachable and these checks let everything through.
    per_visitor = (services.RATE_LIMIT, int(services.RATE_WINDOW.total_seconds()))
    return _spend(
        (f"webchat:messages:visitor:{visitor_id}", per_visitor),
        (f"webchat:messages:ip:{address_key(address)}", settings.HITLNEXT_WEBCHAT_MESSAGES_PER_IP),
        ("webchat:messages", settings.HITLNEXT_WEBCHAT_MESSAGES),
    )


def handoff_wait(*, address: str) -> int | None:
    # Not per visitor: a conversation has at most one active handoff (handoffs.services).
    return _spend(
        (f"webchat:handoffs:ip:{address_key(address)}", settings.HITLNEXT_WEBCHAT_HANDOFFS_PER_IP),
        ("webchat:handoffs", settings.HITLNEXT_WEBCHAT_HANDOFFS),
    )


class FrameWindow:
    """At most `per_second` frames in any one second, for one socket, in memory."""

    def __init__(self, per_second: int) -> None:
        self._times: deque[float] = deque(maxlen=per_second)

    def allow(self) -> bool:
        now = monotonic()
        if len(self._times) == self._times.maxlen and now - self._times[0] < 1.0:
            return False
        self._times.append(now)
        return True


def _flood_key(address: str) -> str:
    return f"webchat:flooded:ip:{address_key(address)}"


def penalise_flooding(*, address: str) -> None:
    # The end is stored, not only the entry's timeout: every process judges it by its own
    # clock, like the budgets' windows.
    until = time.time() + FLOOD_PENALTY
    try:
        cache.set(_flood_key(address), until, timeout=FLOOD_PENALTY + 1)
    except Exception:
        logger.warning("rate limit cache unavailable; flooding address not remembered")


def is_penalised(*, address: str) -> bool:
    try:
        until = cache.get(_flood_key(address))
    except Exception:  # like every budget here: a cache outage lets visitors through
        logger.warning("rate limit cache unavailable; allowing a visitor socket")
        return False
    return until is not None and until > time.time()
