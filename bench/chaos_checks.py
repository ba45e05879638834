"""The chaos run's checks, read from the database after the run has settled: each returns its
figures and its violations (an empty list: the property held).

Import after django.setup().
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from django.utils import timezone

from bench.chaos_clients import Page, Record, WebhookSink
from conversations.models import Bot, Message
from handoffs.models import Handoff
from webhooks.models import Delivery, Event


@dataclass
class Check:
    name: str
    figures: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    lost: int = 0  # things lost (a message, an event, a timer...), among the violations

    @property
    def ok(self) -> bool:
        return not self.violations


def _sample(items: list, n: int = 5) -> str:
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" (+{len(items) - n} more)" if len(items) > n else "")


def messages_stored_once(bot: Bot, record: Record) -> Check:
    check = Check("every accepted message stored exactly once")
    stored = Counter(
        Message.objects.filter(conversation__bot=bot, external_id__isnull=False).values_list(
            "conversation__external_id", "external_id"
        )
    )
    accepted = [key for key, ok in record.bot_messages.items() if ok]
    missing = [key for key in accepted if stored[key] == 0]
    twice = [key for key, n in stored.items() if n > 1]
    unknown = [key for key, ok in record.bot_messages.items() if not ok]
    check.figures.append(
        f"bot messages: {len(record.bot_messages)} sent, {len(accepted)} accepted (2xx), "
        f"{sum(1 for k in accepted if stored[k] == 1)} stored once; "
        f"{len(unknown)} never accepted ({sum(1 for k in unknown if stored[k])} of them stored)"
    )
    check.lost += len(missing)
    if missing:
        check.violations.append(f"{len(missing)} accepted messages not stored: {_sample(missing)}")
    if twice:
        check.violations.append(f"{len(twice)} messages stored twice: {_sample(twice)}")

    texts = Counter(
        Message.objects.filter(
            conversation__bot=bot, direction=Message.Direction.AGENT
        ).values_list("text", flat=True)
    )
    sent_ok = [t for t, ok in record.agent_messages.items() if ok]
    lost = [t for t in sent_ok if texts[t] != 1]
    check.lost += len(lost)
    doubled = [t for t in record.agent_messages if texts[t] > 1]
    check.figures.append(
        f"agent messages: {len(record.agent_messages)} sent, {len(sent_ok)} answered, "
        f"{sum(1 for t in sent_ok if texts[t] == 1)} stored once"
    )
    if lost:
        check.violations.append(
            f"{len(lost)} answered agent messages not stored once: {_sample(lost)}"
        )
    if doubled:
        check.violations.append(f"{len(doubled)} agent messages stored twice: {_sample(doubled)}")
    return check


def events_delivered_in_order(bot: Bot, sink: WebhookSink, feed: list[str]) -> Check:
    check = Check("every event delivered at least once, in order per conversation")
    events = list(
        Event.objects.filter(bot=bot)
        .select_related("delivery")
        .order_by("id")
        .values_list("public_id", "conversation_id", "delivery__id", "delivery__status")
    )
    known = {public_id for public_id, *_ in events}
    arrivals: dict[str, list] = defaultdict(list)
    for d in sink.received:
        arrivals[d.webhook_id].append(d)
    bad_ids = [d.webhook_id for d in sink.received if d.webhook_id != d.event_id]
    bad_signatures = [d.webhook_id for d in sink.received if not d.signature_ok]
    strangers = sorted(set(arrivals) - known)
    missing = [public_id for public_id, *_ in events if public_id not in arrivals]
    undelivered = [p for p, _, _, status in events if status != Delivery.Status.DELIVERED]
    duplicates = {k: len(v) for k, v in arrivals.items() if len(v) > 1}

    out_of_order = []
    per_conversation: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for public_id, conversation_id, delivery_id, _ in events:
        if conversation_id is not None and delivery_id is not None:
            per_conversation[conversation_id].append((delivery_id, public_id))
    for conversation_id, rows in per_conversation.items():
        previous = -1
        for _, public_id in sorted(rows):
            first = min((d.seq for d in arrivals.get(public_id, [])), default=None)
            if first is None:
                continue
            if first < previous:
                out_of_order.append((conversation_id, public_id))
            previous = max(previous, first)

    types = Counter(d.type for d in sink.received)
    check.figures.append(
        f"{len(events)} events in the outbox ({len(per_conversation)} conversations); "
        f"{len(sink.received)} deliveries received, {len(arrivals)} distinct, "
        f"{sum(n - 1 for n in duplicates.values())} duplicates (same webhook-id) "
        f"over {len(duplicates)} events; signatures valid: "
        f"{len(sink.received) - len(bad_signatures)}/{len(sink.received)}"
    )
    check.figures.append("by type: " + ", ".join(f"{t} {n}" for t, n in sorted(types.items())))
    feed_set = set(feed)
    same = feed_set == known and len(feed) == len(known)
    check.figures.append(
        f"events feed (GET /api/v1/events): {len(feed)} events, "
        f"{'the same as the outbox' if same else 'DIFFERENT'}"
    )
    problems: list[tuple[str, list]] = [
        ("events never delivered", missing),
        ("deliveries not marked delivered", undelivered),
        ("deliveries of unknown events", strangers),
        ("deliveries whose webhook-id differs from the body's id", bad_ids),
        ("deliveries with a bad signature", bad_signatures),
        ("events delivered before an earlier one of their conversation", out_of_order),
    ]
    check.lost += len(missing) + len(out_of_order) + len(known - feed_set)
    for label, items in problems:
        if items:
            check.violations.append(f"{len(items)} {label}: {_sample(items)}")
    if not same:
        check.violations.append(
            f"the feed differs from the outbox: {len(known - feed_set)} missing, "
            f"{len(feed_set - known)} unknown, {len(feed) - len(feed_set)} repeated"
        )
    return check


def read_feed(base_url: str, api_key: str) -> list[str]:
    """Every event of the feed, paged as a polling bot does (bounded)."""
    ids: list[str] = []
    cursor = ""
    with httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=30) as client:
        for _ in range(10_000):
            params = {"limit": "100"} | ({"after": cursor} if cursor else {})
            page = client.get(f"{base_url}/api/v1/events", params=params).raise_for_status().json()
            ids += [e["id"] for e in page["events"]]
            if not page["events"] or not page.get("next_cursor"):
                break
            cursor = page["next_cursor"]
    return ids


def pages_show_everything(pages: list[Page], moment: Callable[[datetime], str]) -> Check:
    """`moment(t)` says when t was in the run (seconds into the load, the faults around)."""
    check = Check("every open agent page shows every message of its conversation")
    for page in pages:
        created = dict(
            Message.objects.filter(conversation_id=page.conversation_id).values_list(
                "id", "created_at"
            )
        )
        stored = set(created)
        missing = sorted(stored - page.shown)
        extra = sorted(page.shown - stored)
        check.figures.append(
            f"{page.name} (conversation {page.conversation_id}): {len(stored)} messages, "
            f"shows {len(page.shown & stored)}; {page.connects} connects "
            f"({len(page.drops)} drops, {page.failed_connects} failed attempts), "
            f"{page.reloads} panel reloads"
        )
        if not page.connected:
            check.violations.append(f"{page.name}: not connected at the end")
        if page.missing_before_hello:
            recovered = len(page.missing_before_hello - set(missing))
            check.figures.append(
                f"    missing before its periodic catch-up (asked at the end): "
                f"{len(page.missing_before_hello)}; that catch-up brought {recovered}"
            )
        check.lost += len(missing)
        if missing:
            when = [f"{pk} ({moment(created[pk])})" for pk in missing]
            check.violations.append(
                f"{page.name}: {len(missing)} messages missing: {_sample(when)}"
            )
        if extra:
            check.violations.append(f"{page.name}: shows unknown messages {_sample(extra)}")
    return check


def no_timer_lost(bot: Bot, record: Record, *, grace: timedelta) -> Check:
    check = Check("no timer lost")
    now = timezone.now()
    timed = Handoff.objects.filter(bot=bot, expires_at__isnull=False)
    overdue = list(
        timed.filter(status=Handoff.Status.PENDING, expires_at__lt=now - grace).values_list(
            "id", flat=True
        )
    )
    expired = list(timed.filter(status=Handoff.Status.EXPIRED).values_list("id", flat=True))
    announced = Counter(
        e["handoff"]["id"]
        for e in Event.objects.filter(bot=bot, type="handoff.expired").values_list(
            "data", flat=True
        )
    )
    unannounced = [pk for pk in expired if announced[pk] != 1]
    check.lost += len(overdue) + sum(1 for pk in expired if not announced[pk])
    check.figures.append(
        f"{timed.count()} handoffs with a timeout ({record.timers} created with one by this "
        f"run), {len(expired)} expired, each with one handoff.expired event: "
        f"{len(expired) - len(unannounced)}; overdue and still pending: {len(overdue)}"
    )
    if overdue:
        check.violations.append(
            f"{len(overdue)} handoffs past their timeout still pending: {_sample(overdue)}"
        )
    if unannounced:
        check.violations.append(
            f"{len(unannounced)} expired handoffs without exactly one event: {_sample(unannounced)}"
        )
    return check


def no_unexpected_5xx(
    record: Record, windows: dict[str, list[tuple[float, float]]], *, slack: float
) -> Check:
    """5xx answers per kind of request, each labelled with the fault it happened in (from the
    kill to `slack` seconds after the restart); only a 503 while the database was down is
    expected."""
    check = Check("no 5xx but the documented 503 during the database outage")
    counts: Counter[tuple[str, str]] = Counter()
    unexpected = []
    for o in record.outcomes:
        if o.status is None:
            counts[(o.kind, f"no answer ({o.error})")] += 1
            continue
        if o.status < 500:
            counts[(o.kind, "ok" if o.status < 400 else str(o.status))] += 1
            continue
        during = [
            kind
            for kind, spans in windows.items()
            if any(start <= o.at <= end + slack for start, end in spans)
        ]
        label = f"{o.status} ({', '.join(during) or 'no fault'})"
        counts[(o.kind, label)] += 1
        if not (o.status == 503 and "postgres" in during):
            unexpected.append(f"{o.kind} {label}")
    kinds = sorted({kind for kind, _ in counts})
    for kind in kinds:
        parts = [f"{label} {n}" for (k, label), n in sorted(counts.items()) if k == kind]
        check.figures.append(f"{kind}: " + ", ".join(parts))
    if unexpected:
        check.violations.append(f"{len(unexpected)} unexpected 5xx: {dict(Counter(unexpected))}")
    return check
