"""GET /metrics: what an operator watches, in Prometheus's text format (README "Operations"
says what each series means; deploy/grafana/hitlnext.json charts them).

Every series is computed when scraped, so whichever process answers gives the figures of the
whole deployment: counts and ages from the database (indexed queries whose cost follows what
is active: the queue, the delivery backlog, the last hour; the ended handoffs' counts are
kept in the cache between hourly recounts, see ended_counts), open sockets from the counts
each server process publishes (hitlnext_project/shared/sockets.py), worker heartbeats from the
rows the workers keep fresh (webhooks/worker.py).

Served behind HITLNEXT_METRICS_TOKEN (a bearer token), or to loopback clients only when it is
unset. Like urls.py, this module sits above every app (pyproject.toml's layers): it reads
their tables, and none of them knows it exists.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry

from handoffs.models import Handoff
from hitlnext_project.shared import sockets
from webhooks.models import Delivery, WorkerHeartbeat

# The wait histogram covers the handoffs created in the last WAIT_WINDOW that an agent has
# taken, in these buckets (seconds).
WAIT_WINDOW = timedelta(hours=1)
WAIT_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class HitlnextCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        yield from handoff_metrics(now)
        yield from delivery_metrics(now)
        yield from socket_metrics()
        yield from worker_metrics(now)


def handoff_metrics(now: datetime) -> Iterator[Metric]:
    by_status = GaugeMetricFamily(
        "hitlnext_handoffs",
        "Handoffs by status now: pending and assigned are the active ones; resolved, rejected "
        "and expired only grow.",
        labels=["status"],
    )
    # The active ones are few: an index-only count of their range of the status index.
    active = dict(
        Handoff.objects.filter(status__in=Handoff.ACTIVE)
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    counts = {s.value: active.get(s.value, 0) for s in Handoff.ACTIVE} | ended_counts(now)
    for status in Handoff.Status.values:
        by_status.add_metric([status], counts[status])
    yield by_status
    yield GaugeMetricFamily(
        "hitlnext_queue_length",
        "Pending handoffs: the queue waiting for an agent.",
        value=counts[Handoff.Status.PENDING],
    )
    oldest = (
        Handoff.objects.filter(status=Handoff.Status.PENDING)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    yield GaugeMetricFamily(
        "hitlnext_queue_oldest_age_seconds",
        "Seconds the oldest pending handoff has waited since it was created; 0 when the queue "
        "is empty.",
        value=_age(now, oldest),
    )
    yield _wait_histogram(now)


# Ended handoffs (resolved, rejected, expired) never change status again, so their counts up
# to a cutoff are kept in the cache (shared by the processes with REDIS_URL) and recounted
# from scratch every RECOUNT_EVERY (which also catches deleted handoffs); a scrape counts only
# those created since the cutoff, plus, by id, those that were still open at the recount.
# The cutoff lies SETTLE in the past, beyond any transaction still committing a new handoff.
SETTLED_KEY = "metrics:settled_handoffs:v1"
RECOUNT_EVERY = timedelta(hours=1)
SETTLE = timedelta(minutes=10)


def ended_counts(now: datetime) -> dict[str, int]:
    settled = _settled(now)
    counts = {status.value: settled["counts"].get(status.value, 0) for status in Handoff.TERMINAL}
    recent = (
        Handoff.objects.filter(
            Q(created_at__gte=settled["cutoff"]) | Q(pk__in=settled["open_then"]),
            status__in=Handoff.TERMINAL,
        )
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    for status, n in recent:
        counts[status] += n
    return counts


def _settled(now: datetime) -> dict:
    try:
        settled = cache.get(SETTLED_KEY)
    except Exception:  # the cache (Redis) is down: count everything this once
        settled = None
    if settled is None or settled["cutoff"] > now:  # none yet, or the clock went back
        settled = count_settled(cutoff=now - SETTLE)
        try:
            cache.set(SETTLED_KEY, settled, RECOUNT_EVERY.total_seconds())
        except Exception:
            pass
    return settled


def count_settled(*, cutoff: datetime) -> dict:
    """The full count (its cost follows the table): the ended handoffs created before `cutoff`,
    and the ids of those still open then, which may end later."""
    # The open ones first, then the ended ones without them: one that ends in between is
    # counted once, by id, never twice nor lost.
    open_then = list(
        Handoff.objects.filter(status__in=Handoff.ACTIVE, created_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    ended = (
        Handoff.objects.filter(status__in=Handoff.TERMINAL, created_at__lt=cutoff)
        .exclude(pk__in=open_then)
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {"cutoff": cutoff, "counts": dict(ended), "open_then": open_then}


def _wait_histogram(now: datetime) -> Metric:
    wait = ExpressionWrapper(F("assigned_at") - F("created_at"), output_field=DurationField())
    taken = Handoff.objects.filter(
        # Every status named, so that the (status, created_at) index serves the time range.
        status__in=Handoff.Status.values,
        created_at__gte=now - WAIT_WINDOW,
        assigned_at__isnull=False,
    ).annotate(wait=wait)
    row = taken.aggregate(
        count=Count("id"),
        total=Sum("wait"),
        **{
            f"le_{bound}": Count("id", filter=Q(wait__lte=timedelta(seconds=bound)))
            for bound in WAIT_BUCKETS
        },
    )
    total: timedelta | None = row["total"]
    return GaugeHistogramMetricFamily(
        "hitlnext_handoff_wait_seconds",
        "Wait from creation to assignment of the handoffs created in the last hour that an "
        "agent has taken: a sliding window, so quantiles come from the buckets as they are "
        "(no rate()).",
        buckets=[(str(float(b)), row[f"le_{b}"]) for b in WAIT_BUCKETS] + [("+Inf", row["count"])],
        gsum_value=total.total_seconds() if total is not None else 0.0,
    )


def delivery_metrics(now: datetime) -> Iterator[Metric]:
    # One pass over the pending deliveries (through the partial index on status = pending):
    # the cost follows the backlog, never the delivered history.
    row = Delivery.objects.filter(status=Delivery.Status.PENDING).aggregate(
        pending=Count("id"),
        failing=Count("id", filter=Q(attempts__gt=0)),
        oldest=Min("created_at"),
    )
    yield GaugeMetricFamily(
        "hitlnext_webhook_deliveries_pending",
        "Webhook deliveries not delivered yet: waiting for their turn, backing off after a "
        "failure, in flight, or held while their bot's endpoint is disabled.",
        value=row["pending"],
    )
    yield GaugeMetricFamily(
        "hitlnext_webhook_deliveries_failing",
        "Pending webhook deliveries whose last attempt failed: being retried, or held by a "
        "disabled endpoint.",
        value=row["failing"],
    )
    yield GaugeMetricFamily(
        "hitlnext_webhook_oldest_pending_age_seconds",
        "Seconds since the oldest pending webhook delivery's event happened; 0 when none is "
        "pending.",
        value=_age(now, row["oldest"]),
    )


def socket_metrics() -> Iterator[Metric]:
    counts = sockets.open_sockets()
    if counts is None:
        return  # Redis unreachable: the other processes' counts are unknown, so no series
    family = GaugeMetricFamily(
        "hitlnext_open_sockets",
        "Open websockets across all server processes: agent pages (agent) and web chat "
        "visitors (chat).",
        labels=["kind"],
    )
    for kind, count in sorted(counts.items()):
        family.add_metric([kind], count)
    yield family


def worker_metrics(now: datetime) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "hitlnext_worker_last_pass_age_seconds",
        "Seconds since each worker (host:pid) last finished a pass: a running worker stays "
        "within about 5 s plus one pass. A worker stopped cleanly leaves the list; a killed "
        "one keeps ageing for a day.",
        labels=["worker"],
    )
    for worker, last_pass_at in WorkerHeartbeat.objects.values_list("worker", "last_pass_at"):
        family.add_metric([worker], _age(now, last_pass_at))
    yield family


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


# Our series only: a process's own CPU and memory (prometheus_client's default collectors)
# would describe whichever process happened to answer.
registry = CollectorRegistry()
registry.register(HitlnextCollector())


# --- the endpoint -------------------------------------------------------------------------------


@require_GET
def serve_metrics(request: HttpRequest) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    # OpenMetrics when the scraper asks for it (Prometheus does), else text format 0.0.4.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = HttpResponse(encode(registry), content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token: str = settings.HITLNEXT_METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # Digests of equal length compared in constant time: neither the token's characters
        # nor its length can be probed by timing the answer.
        if scheme.lower() == "bearer" and hmac.compare_digest(
            hashlib.sha256(given.strip().encode()).digest(),
            hashlib.sha256(token.encode()).digest(),
        ):
            return None
        refused = _plain("Send Authorization: Bearer <HITLNEXT_METRICS_TOKEN>.", status=401)
        refused["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    # REMOTE_ADDR is the peer, or the client a trusted proxy reported (TrustedProxyMiddleware):
    # a client's own X-Forwarded-For never makes it loopback.
    if _is_loopback(request.META.get("REMOTE_ADDR", "")):
        return None
    return _plain(
        "Metrics are served to loopback clients only: set HITLNEXT_METRICS_TOKEN to scrape "
        "from elsewhere.",
        status=403,
    )


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a unix-socket peer that no trusted proxy spoke for, or garbage
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _plain(text: str, *, status: int) -> HttpResponse:
    return HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
