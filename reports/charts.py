"""The report's pictures, drawn on the server: shapes laid out with coordinates and a title
each (the number a hover shows), written as inline SVG. No script, no inline style: colours
come from classes in reports.css, so the pictures live within the page's CSP.

Every chart is drawn beside a table holding its numbers (the page's templates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy

from reports.figures import DayOutcomes, Heatmap, LabelRow, Outcomes, TimeStat

# The outcomes, bottom to top in a stacked bar, with their legend names.
OUTCOMES = (
    ("resolved", gettext_lazy("Resolved")),
    ("expired", gettext_lazy("Expired")),
    ("rejected", gettext_lazy("Rejected")),
    ("still_open", gettext_lazy("Still open")),
)
HEAT_LEVELS = 5  # classes heat-0 (none) .. heat-4 (the busiest hours)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass
class Chart:
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)

    def svg(self, *, id: str, title: str, desc: str) -> SafeString:
        """The picture as inline SVG, named by its title and described by `desc` for
        assistive technology (role="img": its shapes are not read one by one). Written here
        rather than in a template: a heatmap is 168 cells, each a handful of attributes."""
        lines = format_html_join(
            "",
            '<line class="chart-grid" x1="{}" y1="{}" x2="{}" y2="{}"/>',
            ((_c(ln.x1), _c(ln.y1), _c(ln.x2), _c(ln.y2)) for ln in self.lines),
        )
        rects = format_html_join(
            "",
            '<rect class="{}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            ((r.css, _c(r.x), _c(r.y), _c(r.width), _c(r.height), r.title) for r in self.rects),
        )
        texts = format_html_join(
            "",
            '<text class="chart-text" x="{}" y="{}" text-anchor="{}">{}</text>',
            ((_c(t.x), _c(t.y), t.anchor, t.text) for t in self.texts),
        )
        return format_html(
            '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-title {}-desc"'
            ' preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">'
            '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>{}{}{}</svg>',
            self.width,
            self.height,
            id,
            id,
            id,
            title,
            id,
            desc,
            lines,
            rects,
            texts,
        )


def _c(value: float) -> str:
    """An SVG coordinate: a plain number, whatever the locale's formats."""
    return f"{value:.1f}"


def nice_ceiling(value: float) -> float:
    """An axis's top: the smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k) at
    least `value`, so the tallest bar fills most of the height; 1 for nothing."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(round(step * power, 6) for step in _STEPS if value <= round(step * power, 6))


_STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == round(value) else f"{value:,.1f}"


def _day_label(day: date, *, short: bool) -> str:
    return f"{day:%a} {day.day}" if short else f"{day.day} {day:%b}"


def outcomes_chart(days: list[DayOutcomes]) -> Chart:
    """Stacked columns, one per day: resolved, expired, rejected, still open."""
    width, height = 720, 240
    left, right, top, bottom = 44, 8, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    chart = Chart(width, height)
    peak = nice_ceiling(max((d.outcomes.handoffs for d in days), default=0))
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        chart.lines.append(Line(left, y, width - right, y))
        chart.texts.append(Text(left - 6, y + 4, _number(peak * fraction), "end"))
    if not days:
        return chart
    band = plot_w / len(days)
    bar = max(1.0, band * 0.7)
    every = max(1, math.ceil(len(days) / 12))
    short = len(days) <= 14
    for n, day in enumerate(days):
        x = left + n * band + (band - bar) / 2
        base = top + plot_h
        for key, name in OUTCOMES:
            count = getattr(day.outcomes, key)
            if not count:
                continue
            h = plot_h * count / peak
            base -= h
            title = f"{day.day:%a} {day.day.day} {day.day:%b}: {count} {name.lower()}"
            chart.rects.append(Rect(x, base, bar, h, f"outcome-{key}", title))
        if n % every == 0:
            label = _day_label(day.day, short=short)
            chart.texts.append(Text(left + n * band + band / 2, height - bottom + 16, label))
    return chart


def times_chart(stats: list[TimeStat]) -> Chart:
    """Horizontal bars: p50 and p90 of each duration, on one scale."""
    width, row_h, left, right = 720, 26, 150, 90
    height = 8 + len(stats) * 2 * row_h + len(stats) * 10
    chart = Chart(width, height)
    peak = max((s.p90 or 0 for s in stats), default=0) or 1
    y = 8.0
    for stat in stats:
        for which, value in (("p50", stat.p50), ("p90", stat.p90)):
            chart.texts.append(Text(left - 8, y + 16, f"{stat.name} {which}", "end"))
            if value is None:
                chart.texts.append(Text(left + 4, y + 16, gettext("no data"), "start"))
            else:
                w = max(1.0, (width - left - right) * value / peak)
                title = f"{stat.name}, {which}: {format_duration(value)}"
                chart.rects.append(Rect(left, y + 4, w, row_h - 8, f"time-{which}", title))
                chart.texts.append(Text(left + w + 6, y + 16, format_duration(value), "start"))
            y += row_h
        y += 10
    return chart


def labels_chart(rows: list[LabelRow]) -> Chart:
    """One horizontal stacked bar per label (and "No label"), by outcome."""
    width, row_h, left, right = 720, 24, 150, 60
    chart = Chart(width, 8 + max(1, len(rows)) * row_h)
    peak = max((r.outcomes.handoffs for r in rows), default=0) or 1
    for n, row in enumerate(rows):
        y = 8 + n * row_h
        chart.texts.append(Text(left - 8, y + 15, _shorten(row.name), "end"))
        x = float(left)
        for key, name in OUTCOMES:
            count = getattr(row.outcomes, key)
            if not count:
                continue
            w = (width - left - right) * count / peak
            title = f"{row.name}: {count} {name.lower()}"
            chart.rects.append(Rect(x, y + 3, w, row_h - 6, f"outcome-{key}", title))
            x += w
        chart.texts.append(Text(x + 6, y + 15, _number(row.outcomes.handoffs), "start"))
    return chart


def heatmap_chart(heatmap: Heatmap) -> Chart:
    """Weekdays down, hours across; the darker the cell, the more handoffs arrived."""
    cell_w, cell_h, left, top = 27, 24, 44, 20
    chart = Chart(left + 24 * cell_w + 4, top + 7 * cell_h + 4)
    peak = heatmap.peak
    for hour in range(0, 24, 3):
        chart.texts.append(Text(left + hour * cell_w + cell_w / 2, top - 6, f"{hour:02d}"))
    for d, (weekday, hours) in enumerate(heatmap.rows):
        y = top + d * cell_h
        chart.texts.append(Text(left - 6, y + cell_h / 2 + 4, weekday[:3], "end"))
        for hour, count in enumerate(hours):
            level = heat_level(count, peak)
            title = gettext("%(weekday)s %(start)s–%(end)s: %(count)s handoffs") % {
                "weekday": weekday,
                "start": f"{hour:02d}:00",
                "end": f"{(hour + 1) % 24:02d}:00",
                "count": count,
            }
            chart.rects.append(
                Rect(left + hour * cell_w, y, cell_w - 2, cell_h - 2, f"heat-{level}", title)
            )
    return chart


def heat_level(count: int, peak: int) -> int:
    """0 for no arrival; else 1..HEAT_LEVELS-1 by the share of the busiest hour."""
    if not count or not peak:
        return 0
    return max(1, math.ceil((HEAT_LEVELS - 1) * count / peak))


def outcomes_summary(total: Outcomes) -> str:
    """The chart's text alternative, in one sentence."""
    parts = ", ".join(f"{getattr(total, key)} {name.lower()}" for key, name in OUTCOMES)
    return gettext("%(count)s handoffs: %(parts)s.") % {"count": total.handoffs, "parts": parts}


def format_duration(seconds: float | None) -> str:
    """ "45 s", "3 min 20 s", "2 h 05 min", "1 d 4 h" ("1 j 4 h" in French): rounded to the
    second, in the active language. The wallboard's ticking wait uses the same words
    (static/hitlnext/js/units.js)."""
    if seconds is None:
        return "–"
    total = round(seconds)
    if total < 60:
        return gettext("%(seconds)s s") % {"seconds": total}
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        if not secs:
            return gettext("%(minutes)s min") % {"minutes": minutes}
        return gettext("%(minutes)s min %(seconds)s s") % {
            "minutes": minutes,
            "seconds": f"{secs:02d}",
        }
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if not minutes:
            return gettext("%(hours)s h") % {"hours": hours}
        return gettext("%(hours)s h %(minutes)s min") % {
            "hours": hours,
            "minutes": f"{minutes:02d}",
        }
    days, hours = divmod(hours, 24)
    if not hours:
        return gettext("%(days)s d") % {"days": days}
    return gettext("%(days)s d %(hours)s h") % {"days": days, "hours": hours}


def _shorten(name: str, limit: int = 20) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
