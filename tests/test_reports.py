"""/reports/: figures from a constructed history with known answers, on the page and in the
CSV; the filters (date range, label, channel, agent, the viewer's time zone moving a day's
boundary); formula escaping in the CSV; who may see the reports.

The history (UTC), the week of Monday 2 to Sunday 8 March 2026 (Tokyo is UTC+9):

    h0  Sun 1  18:00  web        rejected                      (Tokyo: Mon 2, 03:00)
    h1  Mon 2  09:00  web  billing  Alice: assigned +60 s, first message +120 s, resolved +660 s
    h2  Mon 2  10:00  web        Alice: assigned +180 s, first message +240 s, resolved +1,380 s
    h3  Tue 3  14:00  whatsapp  billing  Bob: assigned +300 s, message +360 s, resolved +2,100 s
    h4  Wed 4  08:00  whatsapp   expired
    h5  Thu 5  12:00  web        rejected
    h6  Fri 6  16:00  web        Bob: assigned +600 s, no message, still assigned (Tokyo: Sat 7)
    h7  Sun 8  02:00  web        pending
    h8  Sun 8  20:00  whatsapp   pending                       (Tokyo: Mon 9, 05:00)
    h9  Sat 28 Feb    web        Alice, resolved: outside every range below
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from agents.roles import SUPERVISORS
from conversations.models import Message
from handoffs.models import Handoff, Rating
from reports.exports import spreadsheet_safe
from reports.figures import percentiles
from tests.factories import HandoffFactory, LabelFactory, MessageFactory, UserFactory

Status = Handoff.Status
WEEK = {"from": "2026-03-02", "to": "2026-03-08"}


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def make(
    bot,
    created: datetime,
    *,
    status: str = Status.PENDING,
    channel: str = "web",
    agent=None,
    assigned: int | None = None,
    first_message: int | None = None,
    resolved: int | None = None,
    closed: int | None = None,
    labels=(),
) -> Handoff:
    """A handoff with exact timestamps; offsets are seconds after its creation."""

    def after(seconds: int | None) -> datetime | None:
        return None if seconds is None else created + timedelta(seconds=seconds)

    handoff = HandoffFactory(
        conversation__bot=bot,
        conversation__channel=channel,
        status=status,
        agent=agent,
        created_at=created,
        assigned_at=after(assigned),
        resolved_at=after(resolved),
        closed_at=after(resolved if resolved is not None else closed),
    )
    handoff.labels.set(labels)
    if first_message is not None:
        # Two agent messages: only the first counts; a system message before it does not.
        for seconds, direction in (
            (first_message - 5, Message.Direction.SYSTEM),
            (first_message, Message.Direction.AGENT),
            (first_message + 30, Message.Direction.AGENT),
        ):
            MessageFactory(
                conversation=handoff.conversation,
                handoff=handoff,
                direction=direction,
                author=agent if direction == Message.Direction.AGENT else None,
                created_at=after(seconds),
            )
    return handoff


@pytest.fixture
def supervisor(db):
    user = UserFactory(username="sam", first_name="Sam", last_name="Boss")
    user.groups.add(Group.objects.get(name=SUPERVISORS))
    return user


@pytest.fixture
def history(bot, agent, second_agent):
    billing = LabelFactory(name="billing")
    h = {}
    h[0] = make(bot, at(1, 18), status=Status.REJECTED, closed=600)
    h[1] = make(
        bot,
        at(2, 9),
        status=Status.RESOLVED,
        agent=agent,
        assigned=60,
        first_message=120,
        resolved=660,
        labels=[billing],
    )
    h[2] = make(
        bot,
        at(2, 10),
        status=Status.RESOLVED,
        agent=agent,
        assigned=180,
        first_message=240,
        resolved=1380,
    )
    h[3] = make(
        bot,
        at(3, 14),
        status=Status.RESOLVED,
        channel="whatsapp",
        agent=second_agent,
        assigned=300,
        first_message=360,
        resolved=2100,
        labels=[billing],
    )
    h[4] = make(bot, at(4, 8), status=Status.EXPIRED, channel="whatsapp", closed=300)
    h[5] = make(bot, at(5, 12), status=Status.REJECTED, closed=60)
    h[6] = make(bot, at(6, 16), status=Status.ASSIGNED, agent=second_agent, assigned=600)
    h[7] = make(bot, at(8, 2))
    h[8] = make(bot, at(8, 20), channel="whatsapp")
    h[9] = make(
        bot,
        at(28, 12, month=2),
        status=Status.RESOLVED,
        agent=agent,
        assigned=1,
        first_message=2,
        resolved=3,
    )
    return h


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(client: Client, **params) -> str:
    response = client.get("/reports/", {**WEEK, "tz": "UTC", **params})
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def csv_rows(client: Client, table: str, **params) -> list[list[str]]:
    response = client.get(
        "/reports/", {**WEEK, "tz": "UTC", **params, "format": "csv", "table": table}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.content.decode())))


class Tables(HTMLParser):
    """Every <table> of a page by its caption: rows of cell texts (header rows included)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._rows: list[list[str]] | None = None
        self._caption: str | None = None
        self._text: list[str] | None = None
        self._in_caption = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._rows, self._caption = [], ""
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._text = []

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._text is not None and self._rows is not None:
            self._rows[-1].append(" ".join("".join(self._text).split()))
            self._text = None
        elif tag == "table" and self._rows is not None:
            self.tables[self._caption or ""] = self._rows
            self._rows = None

    def handle_data(self, data):
        if self._in_caption:
            self._caption = (self._caption or "") + data.strip()
        elif self._text is not None:
            self._text.append(data)


def table(html: str, caption: str) -> list[list[str]]:
    return Tables(html).tables[caption]


def by_first_cell(rows: list[list[str]]) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in rows[1:]}


# --- the figures ------------------------------------------------------------------------------


def test_percentiles_interpolate_as_postgresql_percentile_cont():
    assert percentiles([60, 180, 300, 600]) == [240, pytest.approx(510)]
    assert percentiles([42]) == [42, 42]
    assert percentiles([10, 20], [0, 0.5, 1]) == [10, 15, 20]


def test_outcomes_per_day_count_each_handoff_once_on_its_creation_day(history, supervisor):
    rows = table(page(client_for(supervisor)), "Outcomes per day")

    assert rows[0] == ["Day", "Handoffs", "Resolved", "Expired", "Rejected", "Still open"]
    assert rows[1:] == [
        ["Mon 2 Mar", "2", "2", "0", "0", "0"],
        ["Tue 3 Mar", "1", "1", "0", "0", "0"],
        ["Wed 4 Mar", "1", "0", "1", "0", "0"],
        ["Thu 5 Mar", "1", "0", "0", "1", "0"],
        ["Fri 6 Mar", "1", "0", "0", "0", "1"],
        ["Sat 7 Mar", "0", "0", "0", "0", "0"],
        ["Sun 8 Mar", "2", "0", "0", "0", "2"],
        ["Total", "8", "3", "1", "1", "3"],
    ]


def test_times_are_p50_and_p90_of_wait_first_response_and_handle(history, supervisor):
    html = page(client_for(supervisor))

    # wait 60, 180, 300, 600 s; first response 120, 240, 360; handle 600, 1200, 1800.
    assert by_first_cell(table(html, "Response times")) == {
        "Wait time": ["4 min", "8 min 30 s", "4"],
        "First response time": ["4 min", "5 min 36 s", "3"],
        "Handle time": ["20 min", "28 min", "3"],
    }
    # The definitions are written on the page.
    assert "From the handoff&#x27;s creation to its assignment" in html
    assert "to the first message an agent wrote in it" in html


def test_expiry_and_rejection_rates(history, supervisor):
    rows = table(page(client_for(supervisor)), "Expiry and rejection rates")

    assert by_first_cell(rows) == {
        "Expiry rate": ["12.5%", "1", "8"],
        "Rejection rate": ["12.5%", "1", "8"],
    }


def test_agents_table(history, supervisor):
    rows = table(page(client_for(supervisor)), "Agents")

    assert rows[0] == [
        "Agent",
        "Handled",
        "Resolved",
        "Median first response",
        "Median handle time",
    ]
    assert rows[1:] == [
        ["Alice Martin", "2", "2", "3 min", "15 min"],
        ["Bob Stone", "2", "1", "6 min", "30 min"],
    ]


def test_labels_table_counts_labelled_and_unlabelled_handoffs(history, supervisor):
    rows = table(page(client_for(supervisor)), "Labels")

    assert rows[1:] == [
        ["billing", "2", "2", "0", "0", "0"],
        ["No label", "6", "1", "1", "1", "3"],
    ]


def test_heatmap_counts_arrivals_by_weekday_and_hour(history, supervisor):
    rows = by_first_cell(table(page(client_for(supervisor)), "Arrivals by weekday and hour"))

    arrivals = {
        (day, hour): int(count)
        for day, counts in rows.items()
        for hour, count in enumerate(counts)
        if count != "0"
    }
    assert arrivals == {
        ("Monday", 9): 1,
        ("Monday", 10): 1,
        ("Tuesday", 14): 1,
        ("Wednesday", 8): 1,
        ("Thursday", 12): 1,
        ("Friday", 16): 1,
        ("Sunday", 2): 1,
        ("Sunday", 20): 1,
    }


def test_every_chart_is_server_side_svg_beside_its_table(history, supervisor):
    html = page(client_for(supervisor))

    assert html.count('<svg class="chart"') == 4
    assert html.count('role="img"') == 4
    assert "<script" not in html.split('aria-label="Reports"', 1)[1]
    assert "style=" not in html.split('aria-label="Reports"', 1)[1]
    # Bars carry their numbers as titles too.
    assert "<title>Mon 2 Mar: 2 resolved</title>" in html


def test_csat_says_no_ratings_yet_before_any(history, supervisor):
    html = page(client_for(supervisor))

    assert "Satisfaction (CSAT)" in html
    assert "No ratings yet for the 3 resolved handoffs of this report." in html


def test_csat_is_the_average_rating_and_the_share_of_resolved_handoffs_rated(history, supervisor):
    Rating.objects.create(handoff=history[1], score=5, source="webchat")
    Rating.objects.create(handoff=history[3], score=2, source="bot")
    Rating.objects.create(handoff=history[9], score=1, source="bot")  # before the range
    client = client_for(supervisor)

    assert table(page(client), "Satisfaction") == [
        ["Average rating", "Ratings", "Resolved handoffs", "Response rate"],
        ["3.5 / 5", "2", "3", "67%"],
    ]
    assert csv_rows(client, "csat") == [
        ["average_score", "responses", "resolved", "response_rate"],
        ["3.5", "2", "3", "0.6667"],
    ]
    # Filters apply: Alice's handoffs only (one rated of two resolved).
    assert table(page(client, agent=history[1].agent_id), "Satisfaction")[1] == [
        "5.0 / 5",
        "1",
        "2",
        "50%",
    ]


def test_an_empty_range_shows_zeros_and_no_times(db, supervisor):
    html = page(client_for(supervisor))

    assert table(html, "Outcomes per day")[-1] == ["Total", "0", "0", "0", "0", "0"]
    assert by_first_cell(table(html, "Response times"))["Wait time"] == ["–", "–", "0"]
    assert "No handoff of this report was assigned to an agent." in html


# --- the filters ------------------------------------------------------------------------------


def test_the_viewers_time_zone_moves_handoffs_across_day_boundaries(history, supervisor):
    html = page(client_for(supervisor), tz="Asia/Tokyo")

    # h0 (Sun 1, 18:00 UTC) is Monday 03:00 in Tokyo: in; h6 moves to Saturday; h8 (Sun 8,
    # 20:00 UTC) is Monday 9 in Tokyo: out.
    assert table(html, "Outcomes per day")[1:] == [
        ["Mon 2 Mar", "3", "2", "0", "1", "0"],
        ["Tue 3 Mar", "1", "1", "0", "0", "0"],
        ["Wed 4 Mar", "1", "0", "1", "0", "0"],
        ["Thu 5 Mar", "1", "0", "0", "1", "0"],
        ["Fri 6 Mar", "0", "0", "0", "0", "0"],
        ["Sat 7 Mar", "1", "0", "0", "0", "1"],
        ["Sun 8 Mar", "1", "0", "0", "0", "1"],
        ["Total", "8", "3", "1", "2", "2"],
    ]
    heat = by_first_cell(table(html, "Arrivals by weekday and hour"))
    assert heat["Monday"][3] == "1" and heat["Monday"][18] == "1"
    assert heat["Saturday"][1] == "1"
    assert "time zone <strong>Asia/Tokyo</strong>" in html


def test_an_unknown_time_zone_falls_back_to_the_servers_and_says_so(history, supervisor):
    html = page(client_for(supervisor), tz="Mars/Olympus_Mons")

    assert "The time zone “Mars/Olympus_Mons” is unknown here: the report uses UTC." in html
    assert table(html, "Outcomes per day")[-1] == ["Total", "8", "3", "1", "1", "3"]


@pytest.mark.parametrize("tz", ["../../etc/passwd", "/etc/localtime", "Etc/GMT+10", "x" * 500])
def test_crafted_time_zones_are_refused_not_an_error(history, supervisor, tz):
    html = page(client_for(supervisor), tz=tz)

    assert "is unknown here" in html


def test_the_date_range_filter(history, supervisor):
    client = client_for(supervisor)

    rows = csv_rows(client, "outcomes", **{"from": "2026-03-02", "to": "2026-03-02"})

    assert rows == [
        ["day", "handoffs", "resolved", "expired", "rejected", "still_open"],
        ["2026-03-02", "2", "2", "0", "0", "0"],
    ]


def test_the_label_filter(history, supervisor):
    label = history[1].labels.get()
    html = page(client_for(supervisor), label=label.pk)

    assert table(html, "Outcomes per day")[-1] == ["Total", "2", "2", "0", "0", "0"]
    # wait 60 and 300 s
    assert by_first_cell(table(html, "Response times"))["Wait time"] == ["3 min", "4 min 36 s", "2"]
    assert table(html, "Labels")[1:] == [["billing", "2", "2", "0", "0", "0"]]


def test_with_a_label_filter_the_labels_table_shows_what_else_those_handoffs_carry(
    history, supervisor
):
    billing = history[1].labels.get()
    history[1].labels.add(LabelFactory(name="vip"))

    html = page(client_for(supervisor), label=billing.pk)

    assert table(html, "Labels")[1:] == [
        ["billing", "2", "2", "0", "0", "0"],
        ["vip", "1", "1", "0", "0", "0"],
    ]


def test_the_channel_filter(history, supervisor):
    html = page(client_for(supervisor), channel="whatsapp")

    assert table(html, "Outcomes per day")[-1] == ["Total", "3", "1", "1", "0", "1"]
    # The menu keeps every channel of the range, the chosen one selected.
    assert '<option value="whatsapp" selected>whatsapp</option>' in html
    assert '<option value="web">web</option>' in html


def test_the_agent_filter(history, supervisor, second_agent):
    html = page(client_for(supervisor), agent=second_agent.pk)

    assert table(html, "Outcomes per day")[-1] == ["Total", "2", "1", "0", "0", "1"]
    assert table(html, "Agents")[1:] == [["Bob Stone", "2", "1", "6 min", "30 min"]]


def test_the_default_range_is_the_last_seven_days_in_the_viewers_zone(bot, supervisor):
    now = datetime.now(UTC)
    make(bot, now - timedelta(days=3))
    make(bot, now - timedelta(days=9))

    response = client_for(supervisor).get("/reports/", {"tz": "UTC"})

    html = response.content.decode()
    rows = table(html, "Outcomes per day")
    assert len(rows) == 1 + 7 + 1  # header, seven days, total
    assert rows[-1][:2] == ["Total", "1"]
    assert f'value="{now.date().isoformat()}"' in html
    assert f'value="{(now.date() - timedelta(days=6)).isoformat()}"' in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-03-09", "to": "2026-03-02"}, "The first day must be on or before"),
        ({"from": "2024-01-01", "to": "2026-03-02"}, "A report covers at most 366 days."),
        ({"from": "March", "to": "2026-03-02"}, "Enter a valid date."),
        ({"label": "999999"}, "Select a valid choice."),
        ({"agent": "x"}, "Select a valid choice."),
    ],
)
def test_invalid_filters_are_shown_with_their_errors(db, supervisor, params, message):
    response = client_for(supervisor).get("/reports/", {**WEEK, **params})

    assert response.status_code == 422
    assert message in response.content.decode()


# --- CSV ----------------------------------------------------------------------------------------


def test_every_table_exports_as_csv_with_the_pages_figures(history, supervisor):
    client = client_for(supervisor)

    assert csv_rows(client, "times") == [
        ["metric", "p50_seconds", "p90_seconds", "handoffs_measured"],
        ["Wait time", "240.0", "510.0", "4"],
        ["First response time", "240.0", "336.0", "3"],
        ["Handle time", "1200.0", "1680.0", "3"],
    ]
    assert csv_rows(client, "rates")[1:] == [
        ["Expiry rate", "0.125", "1", "8"],
        ["Rejection rate", "0.125", "1", "8"],
    ]
    assert csv_rows(client, "agents") == [
        ["agent", "handled", "resolved", "median_first_response_seconds", "median_handle_seconds"],
        ["Alice Martin", "2", "2", "180.0", "900.0"],
        ["Bob Stone", "2", "1", "360.0", "1800.0"],
    ]
    assert csv_rows(client, "labels")[1:] == [
        ["billing", "2", "2", "0", "0", "0"],
        ["No label", "6", "1", "1", "1", "3"],
    ]
    outcomes = csv_rows(client, "outcomes")
    assert outcomes[1] == ["2026-03-02", "2", "2", "0", "0", "0"]
    assert len(outcomes) == 8
    heatmap = csv_rows(client, "heatmap")
    assert heatmap[0][:3] == ["weekday", "00:00", "01:00"]
    assert heatmap[1][0] == "Monday" and heatmap[1][1 + 9] == "1"


def test_an_unknown_table_is_a_400_naming_the_tables(db, supervisor):
    response = client_for(supervisor).get("/reports/", {"format": "csv", "table": "x"})

    assert response.status_code == 400
    assert "outcomes, times, rates, agents, labels, heatmap" in response.content.decode()


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("billing", "billing"),
        ("a=b", "a=b"),
        ("", ""),
        (-5, -5),
        (1.5, 1.5),
        (None, None),
    ],
)
def test_spreadsheet_formulas_are_escaped_text_only(value, safe):
    assert spreadsheet_safe(value) == safe


def test_csv_cells_from_labels_and_agent_names_cannot_run_as_formulas(bot, supervisor):
    evil_agent = UserFactory(first_name="=cmd|' /C calc'!A0", last_name="")
    tabbed = UserFactory(first_name="@Eve", last_name="")
    for name, agent in (("=1+2", evil_agent), ("-2", tabbed), ("+x", None), ("\tTab", None)):
        make(
            bot,
            at(3, 9),
            labels=[LabelFactory(name=name)],
            agent=agent,
            status=Status.ASSIGNED if agent else Status.PENDING,
            assigned=5 if agent else None,
        )
    client = client_for(supervisor)

    labels = {row[0] for row in csv_rows(client, "labels")[1:]}
    agents = {row[0] for row in csv_rows(client, "agents")[1:]}

    assert labels == {"'=1+2", "'-2", "'+x", "'\tTab"}
    assert agents == {"'=cmd|' /C calc'!A0", "'@Eve"}


# --- access ---------------------------------------------------------------------------------------


def test_an_agent_without_the_supervisors_group_is_refused_with_a_clear_page(history, agent):
    client = client_for(agent)

    response = client.get("/reports/")
    csv_response = client.get("/reports/", {"format": "csv", "table": "agents"})

    assert response.status_code == 403
    assert "You need to be in the <strong>Supervisors</strong> group" in response.content.decode()
    assert csv_response.status_code == 403
    assert csv_response["Content-Type"].startswith("text/html")  # the same page, no figures
    assert b"Median handle" not in csv_response.content


@pytest.mark.parametrize("who", ["group", "staff", "superuser", "user_permission", "group_perm"])
def test_supervisors_admins_and_granted_users_see_the_reports(db, who):
    user = UserFactory(
        is_staff=who == "staff", is_superuser=who == "superuser", username=f"u-{who}"
    )
    permission = Permission.objects.get(content_type__app_label="reports", codename="view_reports")
    if who == "group":
        user.groups.add(Group.objects.get(name=SUPERVISORS))
    elif who == "user_permission":
        user.user_permissions.add(permission)
    elif who == "group_perm":
        analysts = Group.objects.create(name="Analysts")
        analysts.permissions.add(permission)
        user.groups.add(analysts)

    response = client_for(user).get("/reports/")

    assert response.status_code == 200
    assert 'aria-label="Reports"' in response.content.decode()


def test_the_reports_link_is_in_the_top_bar_only_for_those_who_see_them(agent, supervisor):
    link = "data-time-zone-link"

    assert link not in client_for(agent).get("/").content.decode()
    assert link in client_for(supervisor).get("/").content.decode()


def test_reports_answer_get_only(supervisor):
    assert client_for(supervisor).post("/reports/").status_code == 405


def test_the_page_costs_a_bounded_number_of_queries(
    history, supervisor, django_assert_max_num_queries
):
    client = client_for(supervisor)

    # The report's own: outcomes per day, durations (all and per agent), agent names, labels,
    # heatmap, the channel menu; the form's label; the menus' labels and agents. The rest is
    # every agent page's (session, user, presence, load...), whatever the number of handoffs.
    with django_assert_max_num_queries(25):
        page(client, label=history[1].labels.get().pk)


# --- the pictures ---------------------------------------------------------------------------------


def test_chart_scales_round_up_to_readable_numbers():
    from reports.charts import nice_ceiling

    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 11, 23, 121, 17_300)] == [
        1,
        1,
        3,
        8,
        12,
        25,
        150,
        20_000,
    ]


def test_durations_read_as_people_say_them():
    from reports.charts import format_duration

    assert format_duration(None) == "–"
    assert format_duration(44.6) == "45 s"
    assert format_duration(240) == "4 min"
    assert format_duration(336) == "5 min 36 s"
    assert format_duration(2 * 3600 + 5 * 60) == "2 h 05 min"
    assert format_duration(86400 + 4 * 3600) == "1 d 4 h"


def test_stacked_bars_are_as_tall_as_their_share_of_the_scale():
    from datetime import date

    from reports.charts import outcomes_chart
    from reports.figures import DayOutcomes, Outcomes

    chart = outcomes_chart(
        [
            DayOutcomes(date(2026, 3, 2), Outcomes(handoffs=4, resolved=3, expired=1)),
            DayOutcomes(date(2026, 3, 3), Outcomes()),
        ]
    )

    resolved, expired = chart.rects
    plot_height = 240 - 12 - 36
    assert (resolved.css, expired.css) == ("outcome-resolved", "outcome-expired")
    assert resolved.height == pytest.approx(plot_height * 3 / 4)
    assert expired.y + expired.height == pytest.approx(resolved.y)
    assert resolved.title == "Mon 2 Mar: 3 resolved"


def test_heatmap_cells_darken_with_arrivals():
    from reports.charts import heat_level

    assert [heat_level(n, 8) for n in (0, 1, 2, 4, 8)] == [0, 1, 1, 2, 4]


def test_svg_text_is_escaped(bot, supervisor):
    make(bot, at(3, 9), labels=[LabelFactory(name="<script>alert(1)</script>")])

    html = page(client_for(supervisor))

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: 1 still open" in html
