"""Each table of the report as CSV (`?format=csv&table=<name>`), safe to open in a
spreadsheet: a text cell that a spreadsheet would run as a formula (it starts with =, +, -,
@, a tab or a carriage return: a label or an agent's name is anyone's text) gets a leading
apostrophe, which spreadsheets show as text. Numbers are written as numbers."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence

from django.http import HttpResponse

from reports.figures import WEEKDAYS, Report

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | None


def spreadsheet_safe(value: Cell) -> Cell:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _outcomes(report: Report) -> Iterator[Sequence[Cell]]:
    yield ("day", "handoffs", "resolved", "expired", "rejected", "still_open")
    for d in report.days:
        o = d.outcomes
        yield (d.day.isoformat(), o.handoffs, o.resolved, o.expired, o.rejected, o.still_open)


def _times(report: Report) -> Iterator[Sequence[Cell]]:
    yield ("metric", "p50_seconds", "p90_seconds", "handoffs_measured")
    for stat in report.times:
        yield (stat.name, _seconds(stat.p50), _seconds(stat.p90), stat.measured)


def _rates(report: Report) -> Iterator[Sequence[Cell]]:
    yield ("metric", "rate", "count", "handoffs")
    for rate in report.rates:
        value = None if rate.value is None else round(rate.value, 4)
        yield (rate.name, value, rate.count, rate.handoffs)


def _agents(report: Report) -> Iterator[Sequence[Cell]]:
    yield (
        "agent",
        "handled",
        "resolved",
        "median_first_response_seconds",
        "median_handle_seconds",
    )
    for row in report.agents:
        yield (
            row.name,
            row.handled,
            row.resolved,
            _seconds(row.median_first_response),
            _seconds(row.median_handle),
        )


def _labels(report: Report) -> Iterator[Sequence[Cell]]:
    yield ("label", "handoffs", "resolved", "expired", "rejected", "still_open")
    for row in report.labels:
        o = row.outcomes
        yield (row.name, o.handoffs, o.resolved, o.expired, o.rejected, o.still_open)


def _heatmap(report: Report) -> Iterator[Sequence[Cell]]:
    yield ("weekday", *(f"{hour:02d}:00" for hour in range(24)))
    for weekday, hours in zip(WEEKDAYS, report.heatmap.counts, strict=True):
        yield (weekday, *hours)


def _csat(report: Report) -> Iterator[Sequence[Cell]]:
    csat = report.csat
    rate = csat["response_rate"]
    average = csat["average"]
    yield ("average_score", "responses", "resolved", "response_rate")
    yield (
        None if average is None else round(average, 2),
        csat["responses"],
        csat["resolved"],
        None if rate is None else round(rate, 4),
    )


TABLES: dict[str, Callable[[Report], Iterable[Sequence[Cell]]]] = {
    "outcomes": _outcomes,
    "times": _times,
    "rates": _rates,
    "agents": _agents,
    "labels": _labels,
    "heatmap": _heatmap,
    "csat": _csat,
}


def csv_response(report: Report, table: str) -> HttpResponse:
    """The table as a CSV download; a 400 naming the tables for an unknown one."""
    rows = TABLES.get(table)
    if rows is None:
        names = ", ".join(TABLES)
        return HttpResponse(
            f"Which table? Add &table=<name>, one of: {names}.\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    f = report.filter
    filename = f"hitlnext-{table}-{f.first_day.isoformat()}-{f.last_day.isoformat()}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    for row in rows(report):
        writer.writerow([spreadsheet_safe(cell) for cell in row])
    return response
