"""What a report covers, read from the query string: a date range in the viewer's time
zone and optional label, channel and agent filters. Everything lives in the URL, so a report
is a link anyone allowed can open and see the same figures.

The time zone comes from `tz` (an IANA name such as "Europe/Paris"). The agent pages add it
from the browser (reports/static/reports/time-zone.js, through Intl.DateTimeFormat); without
it, or with a name the server does not know, settings.TIME_ZONE is used and the page says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.db.backends.utils import split_tzname_delta
from django.http import QueryDict
from django.utils import timezone

from handoffs.models import Label

DEFAULT_DAYS = 7
MAX_DAYS = 366


@cache
def _known_zones() -> frozenset[str]:
    # The IANA names of the tz database (the same one PostgreSQL reads on Debian), minus
    # those Django's date functions would read as "<name>+HH:MM" offsets ("Etc/GMT+10").
    return frozenset(name for name in available_timezones() if split_tzname_delta(name)[2] is None)


def viewer_zone(name: str) -> tuple[ZoneInfo, str | None]:
    """The viewer's zone, and the name asked for when it was not understood (else None)."""
    name = name.strip()
    if name in _known_zones():
        return ZoneInfo(name), None
    return ZoneInfo(settings.TIME_ZONE), name or None


class ReportFilterForm(forms.Form):
    """The filters as submitted; `from` and `to` always hold a day (the defaults are filled
    in before validation, so the form shows what the report covers)."""

    to = forms.DateField(input_formats=["%Y-%m-%d"], label="To")
    label = forms.ModelChoiceField(Label.objects.all(), required=False, label="Label")
    channel = forms.CharField(required=False, max_length=64, label="Channel")
    agent = forms.ModelChoiceField(User.objects.all(), required=False, label="Agent")

    def __init__(self, data: QueryDict, *, zone: ZoneInfo) -> None:
        data = data.copy()
        today = timezone.now().astimezone(zone).date()
        if not data.get("to"):
            data["to"] = today.isoformat()
        super().__init__(data)
        # "from" is a keyword: the field is added by name.
        self.fields["from"] = forms.DateField(
            input_formats=["%Y-%m-%d"], required=False, label="From"
        )
        self.order_fields(["from", "to", "label", "channel", "agent"])
        self.zone = zone

    def clean(self) -> dict:
        cleaned = super().clean() or {}
        last = cleaned.get("to")
        first = cleaned.get("from")
        if last and not first and not self.has_error("from"):
            first = cleaned["from"] = last - timedelta(days=DEFAULT_DAYS - 1)
        if first and last:
            if first > last:
                self.add_error("from", "The first day must be on or before the last day.")
            elif (last - first).days + 1 > MAX_DAYS:
                self.add_error("from", f"A report covers at most {MAX_DAYS} days.")
        return cleaned


@dataclass(frozen=True)
class ReportFilter:
    first_day: date
    last_day: date
    zone: ZoneInfo
    label: Label | None = None
    channel: str = ""
    agent: User | None = None
    # The time zone asked for but not understood (the report then uses settings.TIME_ZONE).
    unknown_zone: str | None = field(default=None, compare=False)

    @classmethod
    def from_query(cls, query: QueryDict) -> tuple[ReportFilter | None, ReportFilterForm]:
        """The filter, or None when the form has errors (shown on the page)."""
        zone, unknown = viewer_zone(query.get("tz", ""))
        form = ReportFilterForm(query, zone=zone)
        if not form.is_valid():
            return None, form
        data = form.cleaned_data
        return (
            cls(
                first_day=data["from"],
                last_day=data["to"],
                zone=zone,
                label=data["label"],
                channel=data["channel"].strip(),
                agent=data["agent"],
                unknown_zone=unknown,
            ),
            form,
        )

    @property
    def zone_name(self) -> str:
        return self.zone.key

    @property
    def start(self) -> datetime:
        """The first instant covered: midnight of the first day, in the viewer's zone."""
        return datetime.combine(self.first_day, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """The first instant after the range: midnight after the last day."""
        return datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=self.zone)

    def days(self) -> Iterator[date]:
        day = self.first_day
        while day <= self.last_day:
            yield day
            day += timedelta(days=1)

    @property
    def day_count(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def params(self) -> list[tuple[str, str]]:
        params = [
            ("from", self.first_day.isoformat()),
            ("to", self.last_day.isoformat()),
            ("tz", self.zone_name),
        ]
        if self.label is not None:
            params.append(("label", str(self.label.pk)))
        if self.channel:
            params.append(("channel", self.channel))
        if self.agent is not None:
            params.append(("agent", str(self.agent.pk)))
        return params

    def querystring(self, **extra: str) -> str:
        return urlencode(self.params() + list(extra.items()))
