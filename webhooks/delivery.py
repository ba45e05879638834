"""Signed webhook delivery of the outbox: at least once, in order per conversation.

A delivery is claimed by leasing it (`leased_until`, and `next_attempt_at` pushed to the same
moment, longer than the HTTP timeout from now), so nobody else starts an attempt while it is in
flight; the POST happens outside any transaction, and its result is written only if the row
still carries that lease. A worker that dies mid-delivery leaves a lease that simply expires:
the next worker sends it again (receivers de-duplicate on `webhook-id`, which is the same on
every attempt). The admin's "Retry now" (retry_deliveries) goes through the same claim as the
worker's loop (deliver_due), so it too never starts a second attempt of a delivery in flight.

Each attempt is over within HITLNEXT_WEBHOOK_TIMEOUT whatever the receiver does (a hang, a
trickle), and its destination is checked again at the moment of sending (webhook_urls.pin).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from conversations import webhook_urls
from conversations.models import Bot
from conversations.webhook_urls import RefusedDestination
from webhooks import signing
from webhooks.models import Delivery

logger = logging.getLogger("hitlnext.webhooks")

Status = Delivery.Status

BACKOFF_BASE = 5.0  # seconds before the first retry, at most (full jitter)
BACKOFF_CAP = 3600.0  # the longest wait between two attempts
RETRY_AFTER_CAP = timedelta(hours=6)  # a receiver's Retry-After beyond this is shortened
BATCH_SIZE = 8  # deliveries claimed together and sent in parallel


@dataclass(frozen=True)
class Outcome:
    status_code: int | None = None
    error: str = ""
    retry_after: timedelta | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Claim:
    delivery: Delivery  # with .event and .bot loaded: sending needs no database
    lease_until: datetime


def deliver_due(*, limit: int = 50) -> int:
    """Send up to `limit` due deliveries; returns how many attempts were made."""
    claims = claim_due(limit=min(BATCH_SIZE, limit))
    done = 0
    while claims:
        attempt(claims)
        done += len(claims)
        claims = claim_due(limit=min(BATCH_SIZE, limit - done)) if done < limit else []
    return done


def attempt(claims: list[Claim]) -> list[Outcome]:
    """Send the claimed deliveries and write each one's result."""
    # A batch never holds two deliveries of one conversation, so they go out in parallel:
    # one slow endpoint does not hold up the others. Only the HTTP is concurrent; the
    # results are written here, on the caller's own connection.
    outcomes = asyncio.run(_send_batch(claims))
    for claim, outcome in zip(claims, outcomes, strict=True):
        record_outcome(claim=claim, outcome=outcome)
    return outcomes


# Tests replace it with an httpx.MockTransport to see exactly what would be sent where.
_transport: httpx.AsyncBaseTransport | None = None


async def _send_batch(claims: list[Claim]) -> list[Outcome]:
    timeout = settings.HITLNEXT_WEBHOOK_TIMEOUT.total_seconds()
    async with httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        # A fresh connection per attempt: a pinned address never reuses a connection made
        # (and TLS-verified) for another host name that shares the address.
        limits=httpx.Limits(max_keepalive_connections=0),
        transport=_transport,
    ) as client:
        return await asyncio.gather(
            *(send(client=client, delivery=claim.delivery, deadline=timeout) for claim in claims)
        )


def _due(now: datetime) -> QuerySet[Delivery]:
    # Per-conversation order: a delivery waits while an earlier one of its conversation is
    # still pending (backing off, leased or waiting for a disabled endpoint). A NULL
    # conversation matches nothing in the subquery, so such deliveries never wait.
    earlier = Delivery.objects.filter(
        conversation=OuterRef("conversation"), status=Status.PENDING, pk__lt=OuterRef("pk")
    )
    return (
        Delivery.objects.filter(
            status=Status.PENDING, next_attempt_at__lte=now, bot__webhook_enabled=True
        )
        .exclude(bot__webhook_url="")
        .filter(~Exists(earlier))
        .order_by("pk")
    )


def claim_due(*, limit: int, only: Collection[int] | None = None) -> list[Claim]:
    """Lease up to `limit` due deliveries (among the pks `only`, when given) for the caller;
    nobody else attempts them until the lease ends or the result is written.

    The one claim: the worker's loop and the admin's "Retry now" both take deliveries here.
    """
    now = timezone.now()
    lease_until = now + settings.HITLNEXT_WEBHOOK_LEASE
    lease = {"next_attempt_at": lease_until, "leased_until": lease_until, "last_attempt_at": now}
    due = _due(now) if only is None else _due(now).filter(pk__in=list(only))
    if connection.features.has_select_for_update_skip_locked:
        # PostgreSQL: rows another worker is claiming right now are skipped, not waited for.
        # A row leased and committed by another worker meanwhile is re-checked against the
        # WHERE clause once locked (next_attempt_at is now in the future), so it drops out.
        # OF self: locking the joined bot row would make workers skip each other's bots.
        with transaction.atomic():
            rows = list(
                due.select_related("event", "bot").select_for_update(
                    skip_locked=True, of=("self",)
                )[:limit]
            )
            if rows:
                Delivery.objects.filter(pk__in=[row.pk for row in rows]).update(**lease)
        return [Claim(delivery=row, lease_until=lease_until) for row in rows]
    # SQLite has no row locks: claim each candidate with a conditional UPDATE that repeats
    # the whole due condition. Writers are serialised, so of two workers that read the same
    # candidate only the first UPDATE matches; the second finds it leased and moves on.
    claims = []
    for row in due.select_related("event", "bot")[:limit]:
        if _due(now).filter(pk=row.pk).update(**lease):
            claims.append(Claim(delivery=row, lease_until=lease_until))
    return claims


async def send(*, client: httpx.AsyncClient, delivery: Delivery, deadline: float) -> Outcome:
    """One signed POST, over within `deadline` seconds whatever the receiver does (httpx's
    timeouts are per operation, so a receiver trickling its headers a byte at a time would
    never trip them); never raises. The response body is not read (it is not needed)."""
    bot = delivery.bot
    try:
        async with asyncio.timeout(deadline):
            return await _post(client=client, delivery=delivery)
    except TimeoutError:
        return Outcome(error=f"Timed out: no answer within {deadline:g} s")
    except httpx.TimeoutException as exc:
        return Outcome(error=_safe_error(f"Timed out ({type(exc).__name__})", bot))
    except RefusedDestination as exc:
        return Outcome(error=_safe_error(f"Refused: {exc}", bot))
    except Exception as exc:  # network errors, bad URLs: all are a failed attempt
        return Outcome(error=_safe_error(f"{type(exc).__name__}: {exc}", bot))


async def _post(*, client: httpx.AsyncClient, delivery: Delivery) -> Outcome:
    bot = delivery.bot
    # Resolved and checked at every attempt, not only when the URL was saved. getaddrinfo
    # blocks, so it runs in a thread (bounded by the resolver's own timeouts).
    target = await asyncio.to_thread(webhook_urls.pin, bot.webhook_url)
    body, headers = signing.signed_request(event=delivery.event, secret=bot.webhook_secret)
    async with client.stream(
        "POST",
        target.url,
        content=body,
        headers=headers | target.headers,
        extensions=target.extensions,
    ) as response:
        code = response.status_code
        if 200 <= code < 300:
            return Outcome(status_code=code)
        error = f"HTTP {code} {response.reason_phrase}".strip()
        if 300 <= code < 400:
            error += " (redirects are not followed)"
        return Outcome(
            status_code=code,
            error=error,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )


def record_outcome(*, claim: Claim, outcome: Outcome) -> None:
    delivery, now = claim.delivery, timezone.now()
    event, bot = delivery.event, delivery.bot
    # Written only while the row still holds our lease: if the lease ran out and another
    # worker took the row over, its result wins, not ours.
    mine = Delivery.objects.filter(
        pk=delivery.pk, status=Status.PENDING, leased_until=claim.lease_until
    )
    common = {
        "attempts": F("attempts") + 1,
        "last_status_code": outcome.status_code,
        "leased_until": None,
    }
    if outcome.ok:
        mine.update(
            **common, status=Status.DELIVERED, delivered_at=now, next_attempt_at=now, last_error=""
        )
        logger.info("webhook %s delivered (HTTP %s)", event.public_id, outcome.status_code)
        return
    if outcome.status_code == 410:
        # The receiver says the endpoint is gone for good: stop sending to it. Its deliveries
        # (this one included) stay pending and go out, in order, once an admin re-enables it.
        mine.update(
            **common, last_error=outcome.error + " (endpoint disabled)", next_attempt_at=now
        )
        Bot.objects.filter(pk=bot.pk).update(webhook_enabled=False)
        logger.warning("webhook endpoint of bot %s answered 410 Gone: disabled", bot.pk)
        return
    deadline = event.created_at + settings.HITLNEXT_WEBHOOK_RETRY_FOR
    if now >= deadline:
        mine.update(**common, last_error=outcome.error, status=Status.FAILED, next_attempt_at=now)
        logger.warning("webhook %s failed for good: %s", event.public_id, outcome.error)
        return
    attempts = delivery.attempts + 1
    # The last retry lands on the deadline rather than past it; a Retry-After still wins.
    next_at = min(now + backoff(attempts), deadline)
    if outcome.retry_after is not None:
        next_at = max(next_at, now + outcome.retry_after)
    mine.update(**common, last_error=outcome.error, next_attempt_at=next_at)
    logger.info(
        "webhook %s attempt %s failed (%s); next try at %s",
        event.public_id,
        attempts,
        outcome.error,
        next_at.isoformat(),
    )


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter after `attempts` failed attempts (at least 1 s)."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(max(attempts - 1, 0), 30))
    return timedelta(seconds=max(1.0, random.uniform(0, ceiling)))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> timedelta | None:
    """Retry-After in seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        wait = when - (now or timezone.now())
    return max(timedelta(0), min(wait, RETRY_AFTER_CAP))


def _safe_error(text: str, bot: Bot) -> str:
    """An error message fit for the admin and the logs: no credentials, no secret.

    The URL's userinfo and query string can hold credentials, so every part that could is
    masked wherever an exception message echoes it.
    """
    parts = urlsplit(bot.webhook_url)
    for secret in (bot.webhook_secret, parts.password, parts.username, parts.query):
        if secret:
            text = text.replace(secret, "***")
    return text[:500]


@dataclass(frozen=True)
class Retried:
    """What "Retry now" did with the selected deliveries."""

    sent: int = 0  # attempted now, in this call
    delivered: int = 0  # of those, accepted by the receiver
    queued: int = 0  # due now, left to the worker (waiting for an earlier one, a disabled
    # endpoint, or beyond this call's batch)
    in_flight: int = 0  # an attempt was already under way: left alone


def retry_deliveries(*, deliveries: Iterable[Delivery] | QuerySet[Delivery]) -> Retried:
    """The admin's "Retry now": attempt the selected deliveries now, whatever their status.

    Each is made due now, then claimed exactly as the worker claims (claim_due), so a delivery
    whose attempt is under way, by a worker or by another "Retry now", is left alone rather
    than sent a second time; of the rest, the first of each conversation is sent before this
    returns (one batch, in parallel) and the later ones wait for it, in order, for the worker.
    A failed one gets one more attempt even past its retry window (it fails again if that
    attempt does). One of a disabled endpoint waits until the endpoint is re-enabled.
    """
    if isinstance(deliveries, QuerySet):
        pks = list(deliveries.values_list("pk", flat=True))
    else:
        pks = [delivery.pk for delivery in deliveries]
    now = timezone.now()
    # A conditional UPDATE, not read-then-write: a lease taken between a read and this write
    # would be undone, and the delivery claimed a second time while its attempt is in flight.
    # On PostgreSQL a row being claimed right now is waited for, then re-checked (leased: out).
    reopened = (
        Delivery.objects.filter(pk__in=pks)
        .exclude(leased_until__gt=now)
        .update(status=Status.PENDING, next_attempt_at=now, delivered_at=None, leased_until=None)
    )
    claims = claim_due(limit=BATCH_SIZE, only=pks)
    outcomes = attempt(claims) if claims else []
    return Retried(
        sent=len(claims),
        delivered=sum(outcome.ok for outcome in outcomes),
        queued=max(0, reopened - len(claims)),
        in_flight=len(pks) - reopened,
    )
