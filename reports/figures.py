"""The figures of a report, read from the handoffs themselves: exact, never stale.

No roll-up table: indexed aggregates. Every query reads only the handoffs created in the chosen
range, through the index on Handoff.created_at, so their number, not the table's size, sets
the cost (bench/reports.py measures it at 100,000 and 1,000,000 handoffs). Each figure is
computed in the database: counts grouped by day, hour, status and label; on PostgreSQL the
percentiles too, with percentile_cont; a handoff's first agent message is one probe of the
partial index conversations.Message "message_agent_reply". A report is five queries, whatever
the range. SQLite has no percentile function: there the per-handoff durations are read and
the same interpolation runs in Python (`percentiles`), so both backends give the same numbers.

Definitions (the page and the README say the same):
- the handoffs of a report are those created in the range; each counts once, under its
  outcome now (resolved, expired, rejected, or still open: pending or assigned);
- wait time: created -> assigned (the assignment it has now: after a transfer or a return to
  the queue, the later one); first response time: created -> the first message an agent
  wrote in it; handle time: assigned -> resolved (resolved handoffs only);
- p50 and p90: the value half (nine in ten) of the handoffs stayed within, interpolated
  linearly between the two nearest values, as PostgreSQL's percentile_cont.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import ExtractHour, TruncDate
from django.utils import dates
from django.utils.translation import gettext, gettext_lazy

from agents.models import display_name
from conversations.models import Conversation, Message
from handoffs.models import Handoff, Label
from handoffs.ratings import CsatSummary, csat_summary
from reports.filters import ReportFilter

Status = Handoff.Status
FRACTIONS = (0.5, 0.9)
# Django's own names, translated by its catalogs.
WEEKDAYS = tuple(dates.WEEKDAYS[day] for day in range(7))  # Monday first

OUTCOME_COUNTS = {
    "handoffs": Count("id"),
    "resolved": Count("id", filter=Q(status=Status.RESOLVED)),
    "expired": Count("id", filter=Q(status=Status.EXPIRED)),
    "rejected": Count("id", filter=Q(status=Status.REJECTED)),
    "still_open": Count("id", filter=Q(status__in=Handoff.ACTIVE)),
}


@dataclass(frozen=True)
class Outcomes:
    handoffs: int = 0
    resolved: int = 0
    expired: int = 0
    rejected: int = 0
    still_open: int = 0

    def __add__(self, other: Outcomes) -> Outcomes:
        return Outcomes(
            self.handoffs + other.handoffs,
            self.resolved + other.resolved,
            self.expired + other.expired,
            self.rejected + other.rejected,
            self.still_open + other.still_open,
        )


@dataclass(frozen=True)
class DayOutcomes:
    day: date
    outcomes: Outcomes


@dataclass(frozen=True)
class Rate:
    key: str
    name: str
    count: int
    handoffs: int

    @property
    def value(self) -> float | None:
        return self.count / self.handoffs if self.handoffs else None


@dataclass(frozen=True)
class TimeStat:
    key: str
    name: str
    definition: str
    p50: float | None  # seconds
    p90: float | None
    measured: int  # handoffs that have this duration


@dataclass(frozen=True)
class AgentRow:
    agent_id: int
    name: str
    handled: int
    resolved: int
    median_first_response: float | None
    median_handle: float | None


@dataclass(frozen=True)
class LabelRow:
    label_id: int | None  # None: the handoffs without a label
    name: str
    outcomes: Outcomes


@dataclass(frozen=True)
class Heatmap:
    counts: tuple[tuple[int, ...], ...]  # [weekday 0=Monday][hour]

    @property
    def peak(self) -> int:
        return max((max(row) for row in self.counts), default=0)

    @property
    def rows(self) -> list[tuple[str, tuple[int, ...]]]:
        return list(zip(WEEKDAYS, self.counts, strict=True))


TIME_DEFINITIONS = {
    "wait": (
        gettext_lazy("Wait time"),
        gettext_lazy(
            "From the handoff's creation to its assignment to an agent (assigned handoffs; "
            "after a transfer or a return to the queue, the assignment it has now)."
        ),
    ),
    "first_response": (
        gettext_lazy("First response time"),
        gettext_lazy(
            "From the handoff's creation to the first message an agent wrote in it (handoffs "
            "with at least one agent message)."
        ),
    ),
    "handle": (
        gettext_lazy("Handle time"),
        gettext_lazy("From the handoff's assignment to its resolution (resolved handoffs only)."),
    ),
}


def percentiles(values: Sequence[float], fractions: Iterable[float] = FRACTIONS) -> list[float]:
    """PostgreSQL's percentile_cont, value for value: the sorted values' position
    fraction * (n - 1), interpolated linearly between its two neighbours."""
    ordered = sorted(values)
    result = []
    for fraction in fractions:
        position = fraction * (len(ordered) - 1)
        low, high = math.floor(position), math.ceil(position)
        if low == high:
            result.append(ordered[low])
        else:
            lo = ordered[low]
            result.append(lo + (position - low) * (ordered[high] - lo))
    return result


def handoffs_in(report_filter: ReportFilter) -> QuerySet[Handoff]:
    """The handoffs a report counts: created in the range, matching its filters."""
    handoffs = Handoff.objects.filter(
        created_at__gte=report_filter.start, created_at__lt=report_filter.end
    )
    if report_filter.label is not None:
        handoffs = handoffs.filter(labels=report_filter.label)
    if report_filter.channel:
        handoffs = handoffs.filter(conversation__channel=report_filter.channel)
    if report_filter.agent is not None:
        handoffs = handoffs.filter(agent=report_filter.agent)
    return handoffs


def _first_agent_message() -> Subquery:
    return Subquery(
        Message.objects.filter(handoff=OuterRef("pk"), direction=Message.Direction.AGENT)
        .order_by("created_at")
        .values("created_at")[:1]
    )


@dataclass(frozen=True)
class DurationGroup:
    """Durations (seconds) of one group of handoffs: all of them, or one agent's."""

    handled: int
    resolved: int
    wait: list[float] | None  # [p50, p90], None when no handoff has the duration
    wait_n: int
    first_response: list[float] | None
    first_response_n: int
    handle: list[float] | None
    handle_n: int


# On PostgreSQL: the ORM's query of the handoffs' timestamps, wrapped in one aggregate over
# all of them and per agent (GROUPING SETS), so the first-response subquery runs once per
# handoff. Every percentile is percentile_cont over epoch seconds (float8), as `percentiles`.
# MATERIALIZED keeps the range read through its created_at index: inlined, the planner may
# rather walk the whole agent_id index to get the rows already grouped (seen at 100,000).
_PG_DURATIONS = """
WITH f AS MATERIALIZED ({rows})
SELECT GROUPING(agent_id) = 1 AS everyone, agent_id,
  COUNT(*) AS handled,
  COUNT(*) FILTER (WHERE status = %s) AS resolved,
  percentile_cont(ARRAY[{fractions}]) WITHIN GROUP
    (ORDER BY EXTRACT(EPOCH FROM assigned_at - created_at)::float8) AS wait,
  COUNT(assigned_at) AS wait_n,
  percentile_cont(ARRAY[{fractions}]) WITHIN GROUP
    (ORDER BY EXTRACT(EPOCH FROM first_response_at - created_at)::float8) AS first_response,
  COUNT(first_response_at) AS first_response_n,
  percentile_cont(ARRAY[{fractions}]) WITHIN GROUP
    (ORDER BY EXTRACT(EPOCH FROM resolved_at - assigned_at)::float8) AS handle,
  COUNT(resolved_at - assigned_at) AS handle_n
FROM f
GROUP BY GROUPING SETS ((agent_id), ())
"""


# The distinct channels without reading every conversation: one index probe per channel
# (a "loose index scan" on conversation_channel), however many conversations there are.
_PG_CHANNELS = """
WITH RECURSIVE c(channel) AS (
  (SELECT channel FROM {table} ORDER BY channel LIMIT 1)
  UNION ALL
  SELECT (SELECT channel FROM {table} WHERE channel > c.channel ORDER BY channel LIMIT 1)
  FROM c WHERE c.channel IS NOT NULL
)
SELECT channel FROM c WHERE channel IS NOT NULL
"""


# Each handoff's labels by one probe of the through table's (handoff, label) index: a plain
# join lets the planner hash the whole through table, which grows with every handoff ever
# labelled (seen at 1,000,000: twice as slow, and growing). OFFSET 0 keeps the subquery from
# being flattened back into such a join. No label: one row with a NULL label.
_PG_LABELS = """
WITH h AS MATERIALIZED ({rows})
SELECT l.label_id, lab.name, h.status, COUNT(*) AS n
FROM h
LEFT JOIN LATERAL (
  SELECT t.label_id FROM {through} t WHERE t.handoff_id = h.id OFFSET 0
) AS l ON TRUE
LEFT JOIN {label} lab ON lab.id = l.label_id
GROUP BY l.label_id, lab.name, h.status
"""


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds()


class Report:
    """One report: each figure computed on first use (the page uses them all, a CSV export
    only its table's)."""

    def __init__(self, report_filter: ReportFilter) -> None:
        self.filter = report_filter

    @cached_property
    def handoffs(self) -> QuerySet[Handoff]:
        return handoffs_in(self.filter)

    # --- outcomes ------------------------------------------------------------------------

    @cached_property
    def _arrivals(self) -> list[Mapping[str, Any]]:
        """Handoffs by creation day and hour (the viewer's clock) and status: one pass over
        the range gives both the outcomes per day and the weekday x hour heatmap."""
        zone = self.filter.zone
        rows: Iterable[Mapping[str, Any]] = (
            self.handoffs.annotate(
                day=TruncDate("created_at", tzinfo=zone),
                hour=ExtractHour("created_at", tzinfo=zone),
            )
            .values("day", "hour", "status")
            .annotate(n=Count("id"))
            .order_by()
        )
        return list(rows)

    @cached_property
    def days(self) -> list[DayOutcomes]:
        """Every day of the range (days without handoffs too), by the viewer's calendar."""
        by_day: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for row in self._arrivals:
            by_day[row["day"]][row["status"]] += row["n"]
        return [DayOutcomes(day, _outcomes(by_day.get(day, {}))) for day in self.filter.days()]

    @cached_property
    def totals(self) -> Outcomes:
        return sum((d.outcomes for d in self.days), Outcomes())

    @cached_property
    def rates(self) -> list[Rate]:
        total = self.totals
        return [
            Rate("expiry", gettext("Expiry rate"), total.expired, total.handoffs),
            Rate("rejection", gettext("Rejection rate"), total.rejected, total.handoffs),
        ]

    # --- times and agents ----------------------------------------------------------------

    def duration_rows(self) -> QuerySet:
        """Per handoff: its agent, status and the timestamps its durations come from."""
        return self.handoffs.values(
            "agent_id", "status", "created_at", "assigned_at", "resolved_at"
        ).annotate(first_response_at=_first_agent_message())

    @cached_property
    def _durations(self) -> dict[int | None, DurationGroup]:
        """Key None: every handoff of the report; else an agent's id."""
        rows = self.duration_rows()
        if connection.vendor == "postgresql":
            return self.durations_in_postgresql(rows)
        return self.durations_in_python(rows)

    @staticmethod
    def durations_in_postgresql(rows: QuerySet) -> dict[int | None, DurationGroup]:
        sql, params = rows.query.sql_with_params()
        fractions = ", ".join(repr(float(f)) for f in FRACTIONS)
        query = _PG_DURATIONS.format(rows=sql, fractions=fractions)
        with connection.cursor() as cursor:
            cursor.execute(query, [*params, Status.RESOLVED])
            columns = [c.name for c in cursor.description]
            rows_out = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
        result: dict[int | None, DurationGroup] = {}
        for row in rows_out:
            everyone, agent_id = row.pop("everyone"), row.pop("agent_id")
            if everyone or agent_id is not None:  # not the group of handoffs without agent
                result[None if everyone else agent_id] = DurationGroup(**row)
        return result

    @staticmethod
    def durations_in_python(rows: QuerySet) -> dict[int | None, DurationGroup]:
        groups: dict[int | None, list[dict]] = defaultdict(list)
        everyone: list[dict] = []
        for row in rows:
            everyone.append(row)
            if row["agent_id"] is not None:
                groups[row["agent_id"]].append(row)
        result = {agent_id: _summarise(members) for agent_id, members in groups.items()}
        result[None] = _summarise(everyone)
        return result

    @cached_property
    def times(self) -> list[TimeStat]:
        overall = self._durations.get(None)
        stats = []
        for key, (name, definition) in TIME_DEFINITIONS.items():
            values = getattr(overall, key) if overall else None
            measured = getattr(overall, f"{key}_n") if overall else 0
            p50, p90 = values if values else (None, None)
            stats.append(TimeStat(key, str(name), str(definition), p50, p90, measured))
        return stats

    @cached_property
    def agents(self) -> list[AgentRow]:
        """The agents holding handoffs of the report, most handled first."""
        groups = {k: v for k, v in self._durations.items() if k is not None}
        users = {u.pk: u for u in User.objects.filter(pk__in=groups)} if groups else {}
        rows = [
            AgentRow(
                agent_id=agent_id,
                name=display_name(users[agent_id]) if agent_id in users else f"#{agent_id}",
                handled=group.handled,
                resolved=group.resolved,
                median_first_response=group.first_response[0] if group.first_response else None,
                median_handle=group.handle[0] if group.handle else None,
            )
            for agent_id, group in groups.items()
        ]
        return sorted(rows, key=lambda r: (-r.handled, r.name.lower(), r.agent_id))

    # --- labels, arrivals, filter choices ------------------------------------------------

    @cached_property
    def labels(self) -> list[LabelRow]:
        """Per label, the report's handoffs carrying it now (a handoff with two labels counts
        under both; with a label filter, the other labels they carry too), then those without
        any label."""
        if connection.vendor == "postgresql":
            rows = self._labels_in_postgresql()
        else:
            rows = self._labels_in_orm()
        by_label: dict[int | None, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        no_label = gettext("No label")
        names: dict[int | None, str] = {None: no_label}
        for label_id, name, status, n in rows:
            by_label[label_id][status] += n
            names[label_id] = name or names.get(label_id, no_label)
        result = [
            LabelRow(label_id, names[label_id], _outcomes(counts))
            for label_id, counts in by_label.items()
        ]
        return sorted(
            result, key=lambda r: (r.label_id is None, -r.outcomes.handoffs, r.name.lower())
        )

    def _labels_in_postgresql(self) -> list[tuple[int | None, str | None, str, int]]:
        sql, params = self.handoffs.values("id", "status").query.sql_with_params()
        query = _PG_LABELS.format(
            rows=sql,
            through=connection.ops.quote_name(Handoff.labels.through._meta.db_table),
            label=connection.ops.quote_name(Label._meta.db_table),
        )
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()

    def _labels_in_orm(self) -> list[tuple[int | None, str | None, str, int]]:
        through = Handoff.labels.through.objects
        labelled = (
            through.filter(handoff__in=self.handoffs.values("pk"))
            .values_list("label_id", "label__name", "handoff__status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        unlabelled = (
            self.handoffs.filter(~Exists(through.filter(handoff=OuterRef("pk"))))
            .values_list("status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        return [*labelled, *((None, None, status, n) for status, n in unlabelled)]

    @cached_property
    def heatmap(self) -> Heatmap:
        """Arrivals by weekday and hour of the viewer's time zone."""
        counts = [[0] * 24 for _ in WEEKDAYS]
        for row in self._arrivals:
            counts[row["day"].weekday()][row["hour"]] += row["n"]
        return Heatmap(tuple(tuple(hours) for hours in counts))

    @cached_property
    def csat(self) -> CsatSummary:
        """The ratings of the report's handoffs (handoffs.ratings): one query."""
        return csat_summary(self.handoffs)

    @cached_property
    def channels(self) -> list[str]:
        """Every channel a conversation has used, for the channel menu (and the chosen one)."""
        if connection.vendor == "postgresql":
            table = connection.ops.quote_name(Conversation._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(_PG_CHANNELS.format(table=table))
                names = {name for (name,) in cursor.fetchall()}
        else:
            names = set(Conversation.objects.values_list("channel", flat=True).distinct())
        if self.filter.channel:
            names.add(self.filter.channel)
        return sorted(names, key=str.lower)


def _outcomes(by_status: dict[str, int]) -> Outcomes:
    return Outcomes(
        handoffs=sum(by_status.values()),
        resolved=by_status.get(Status.RESOLVED, 0),
        expired=by_status.get(Status.EXPIRED, 0),
        rejected=by_status.get(Status.REJECTED, 0),
        still_open=sum(by_status.get(s, 0) for s in Handoff.ACTIVE),
    )


def _summarise(rows: list[dict]) -> DurationGroup:
    wait = [s for r in rows if (s := _seconds(r["assigned_at"], r["created_at"])) is not None]
    first = [
        s for r in rows if (s := _seconds(r["first_response_at"], r["created_at"])) is not None
    ]
    handle = [s for r in rows if (s := _seconds(r["resolved_at"], r["assigned_at"])) is not None]
    return DurationGroup(
        handled=len(rows),
        resolved=sum(1 for r in rows if r["status"] == Status.RESOLVED),
        wait=percentiles(wait) if wait else None,
        wait_n=len(wait),
        first_response=percentiles(first) if first else None,
        first_response_n=len(first),
        handle=percentiles(handle) if handle else None,
        handle_n=len(handle),
    )
