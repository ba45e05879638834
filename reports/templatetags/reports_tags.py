"""Template helpers of the reports page, and the top bar's question "may this user see the
reports?" (templates/base.html shows the "Reports" link only then)."""

from __future__ import annotations

from django import template

from reports.access import can_view_reports as _can_view_reports
from reports.charts import format_duration

register = template.Library()


@register.filter
def can_view_reports(user) -> bool:
    return _can_view_reports(user)


@register.filter
def duration(seconds: float | None) -> str:
    return format_duration(seconds)


@register.filter
def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


@register.filter
def attr(obj: object, name: str) -> object:
    """`obj|attr:"resolved"`: a field named by a variable (the outcome columns)."""
    return getattr(obj, name)
