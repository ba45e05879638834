"""/reports/: the supervisors' figures over a date range, as a page or one table as CSV."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from handoffs.models import Label
from hitlnext_project.shared.http import AuthenticatedHttpRequest
from reports import charts
from reports import live as wallboard_live
from reports.access import can_view_reports
from reports.exports import csv_response
from reports.figures import Report
from reports.filters import ReportFilter


@login_required
@require_GET
def reports(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not can_view_reports(request.user):
        return render(request, "reports/forbidden.html", status=403)
    report_filter, form = ReportFilter.from_query(request.GET)
    if report_filter is None:
        context = _choices() | {"form": form, "report": None}
        return render(request, "reports/reports.html", context, status=422)
    if request.GET.get("format") == "csv":
        # A data file, read by scripts and spreadsheets as well as people: the same words
        # (metrics, "No label", weekdays) in whatever language the supervisor reads the page.
        with translation.override("en"):
            return csv_response(Report(report_filter), request.GET.get("table", ""))
    report = Report(report_filter)
    context = _choices() | {
        "form": form,
        "report": report,
        "filter": report_filter,
        "querystring": report_filter.querystring(),
        "outcome_names": charts.OUTCOMES,
        "hours": [f"{hour:02d}" for hour in range(24)],
        "outcomes_svg": charts.outcomes_chart(report.days).svg(
            id="chart-outcomes",
            title=gettext("Handoffs per day by outcome"),
            desc=charts.outcomes_summary(report.totals),
        ),
        "times_svg": charts.times_chart(report.times).svg(
            id="chart-times",
            title=gettext("Wait, first response and handle time, p50 and p90"),
            desc=gettext(
                "The median (p50) and the 90th percentile (p90) of each duration; "
                "the table below has the numbers."
            ),
        ),
        "labels_svg": charts.labels_chart(report.labels).svg(
            id="chart-labels",
            title=gettext("Handoffs per label by outcome"),
            desc=gettext("One bar per label, split by outcome; the table below has the numbers."),
        ),
        "heatmap_svg": charts.heatmap_chart(report.heatmap).svg(
            id="chart-heatmap",
            title=gettext("Handoffs created by weekday and hour"),
            desc=gettext(
                "The darker the cell, the more handoffs arrived in that hour; "
                "the table below has the numbers."
            ),
        ),
    }
    return render(request, "reports/reports.html", context)


def _choices() -> dict:
    """The filter menus' labels and agents (the channels come with the report)."""
    agents = User.objects.filter(agent_profile__isnull=False).order_by(
        "first_name", "last_name", "username"
    )
    return {"labels": list(Label.objects.all()), "agents": list(agents)}


@login_required
@require_GET
def live(request: AuthenticatedHttpRequest) -> HttpResponse:
    """/reports/live/: the wallboard, kept current over the page's socket (reports/live.py)."""
    if not can_view_reports(request.user):
        return render(request, "reports/forbidden.html", status=403)
    return render(request, "reports/live.html", wallboard_live.wallboard_context())
