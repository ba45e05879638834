"""Reports benchmark: the /reports/ page at 100,000 and 1,000,000 handoffs on PostgreSQL,
beside the floor of a plain `SELECT COUNT(*)` on the handoffs table, in the same run.

    .venv/bin/python bench/reports.py [--quick] [--sizes 100000,1000000] [--rounds N]

It recreates its own PostgreSQL database (default hitlnext_bench_reports) and fills it in bulk
(INSERT ... SELECT generate_series: one handoff every 31.5 s back in time, with its conversation,
messages and labels). It renders the page in-process through Django's test client as a
supervisor (production settings, DEBUG off), each request alternating with the COUNT(*) floor,
and prints a table of medians and ratios. At every size it also checks that PostgreSQL's
percentiles equal the Python fallback's on the same rows. Method and results:
bench/README.md, "Reports".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import django_on_fresh_database  # noqa: E402
from bench.plan import ms  # noqa: E402

YEAR = 365 * 86400
AGENTS = 40
LABELS = 8
CHANNELS = ("web", "whatsapp", "messenger", "telegram")
# The bound this benchmark checks (README "Reports"), on the default page (the last 7 days) at
# 1,000,000 handoffs: within BOUND_RATIO x the COUNT(*) floor of the same run, and within
# BOUND_FLAT x the same page at 100,000 handoffs.
BOUND_RATIO = 5.0
BOUND_FLAT = 1.5
DEFAULT = "default page (last 7 days)"
# One handoff every 31.5 s (2,740 a day, a large team): 1,000,000 handoffs are a year of
# history, 100,000 its last 36 days. Handoff i is i * SPACING seconds old, so each size adds
# older history and the default week holds the same ~19,000 handoffs at every size; rows are
# stored newest first, in time order, as a table filled over time is.
SPACING = YEAR / 1_000_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 handoffs only, 5 rounds")
    parser.add_argument("--sizes", help="comma-separated handoff counts (default 100000,1000000)")
    parser.add_argument("--rounds", type=int, help="timed requests per scenario (default 15)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_REPORTS_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/hitlnext_bench_reports",
        ),
        help="PostgreSQL database to DROP and recreate (env BENCH_REPORTS_DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    default_sizes = "100000" if args.quick else "100000,1000000"
    args.sizes = sorted(int(s.replace("_", "")) for s in (args.sizes or default_sizes).split(","))
    args.rounds = args.rounds or (5 if args.quick else 15)
    return args


# --- Loading ------------------------------------------------------------------------------


def _columns(model, given: dict[str, str], params: dict) -> tuple[str, str]:
    """The INSERT's column list and SELECT list: `given` SQL expressions, every other column
    its field's default (or NULL), so a column added later does not break the loader."""
    from django.db import connection

    names, values = [], []
    for f in model._meta.concrete_fields:
        names.append(connection.ops.quote_name(f.column))
        if f.column in given:
            values.append(given[f.column])
        elif f.primary_key:
            names.pop()  # the sequence numbers it
        elif f.has_default():
            key = f"default_{model._meta.model_name}_{f.column}"
            params[key] = f.get_db_prep_save(f.get_default(), connection)
            values.append(f"%({key})s")
        elif f.null:
            values.append("NULL")
        else:
            raise SystemExit(f"bench/reports.py: no value for {model.__name__}.{f.name}")
    return ", ".join(names), ", ".join(values)


def insert_series(cursor, series: str, statements: list, params: dict, *, next_id: int) -> None:
    """Each (model, given columns, tail) of `statements` as one INSERT ... SELECT from the
    `series` CTEs (`t` last), then the sequences of the users, conversations and handoffs
    moved past the ids the series gave them."""
    from django.db import connection

    from conversations.models import Conversation, EndUser
    from handoffs.models import Handoff

    for model, given, tail in statements:
        names, values = _columns(model, given, params)
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(
            f"WITH {series} INSERT INTO {table} ({names}) SELECT {values} FROM t {tail}", params
        )
    for model in (EndUser, Conversation, Handoff):
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
            [model._meta.db_table, next_id],
        )


# One row of `s` per handoff number i: its timestamps and choices, all derived from i, so
# the rows of a size are the same whatever sizes ran before.
_SERIES = """
s AS (
  SELECT i,
    %(now)s::timestamptz - make_interval(secs => i * %(spacing)s) AS created,
    i %% 100 AS slot,
    5 + (i * 37) %% 600 AS wait,
    3 + (i * 13) %% 120 AS gap,
    60 + (i * 53) %% 1800 AS handle,
    (%(agents)s::bigint[])[1 + (i * 31) %% %(agent_count)s] AS agent
  FROM generate_series(%(first)s, %(last)s) AS i
), t AS (
  SELECT s.*,
    CASE WHEN slot < 2 THEN 'pending' WHEN slot < 5 THEN 'assigned'
         WHEN slot < 10 THEN 'rejected' WHEN slot < 15 THEN 'expired'
         ELSE 'resolved' END AS status,
    (slot >= 2 AND slot < 5) OR slot >= 15 AS taken
  FROM s
)
"""


def load(bot_id: int, agent_ids: list[int], label_ids: list[int], first: int, last: int) -> None:
    """Handoffs number first..last (ids i + 1), each in its own conversation of its own user."""
    from django.db import connection, transaction

    from conversations.models import Conversation, EndUser, Message
    from handoffs.models import Handoff

    Through = Handoff.labels.through
    params: dict = {
        "now": datetime.now().astimezone(),
        "spacing": SPACING,
        "agents": agent_ids,
        "agent_count": len(agent_ids),
        "labels": label_ids,
        "label_count": len(label_ids),
        "channels": list(CHANNELS),
        "first": first,
        "last": last,
        "bot": bot_id,
    }
    created = "t.created"
    assigned = "CASE WHEN t.taken THEN t.created + make_interval(secs => t.wait) END"
    resolved = (
        "CASE WHEN t.status = 'resolved' THEN "
        "t.created + make_interval(secs => t.wait + t.handle) END"
    )
    statements = [
        (
            EndUser,
            {
                "id": "t.i + 1",
                "bot_id": "%(bot)s",
                "external_id": "'bench-u-' || t.i",
                "variables": """jsonb_build_object('fullName', 'Bench user ' || t.i)""",
                "created_at": created,
                "updated_at": created,
            },
            "",
        ),
        (
            Conversation,
            {
                "id": "t.i + 1",
                "bot_id": "%(bot)s",
                "external_id": "'bench-c-' || t.i",
                "end_user_id": "t.i + 1",
                "channel": "(%(channels)s::text[])[1 + (t.i * 7) %% 4]",
                "created_at": created,
                "last_message_at": created,
            },
            "",
        ),
        (
            Handoff,
            {
                "id": "t.i + 1",
                "bot_id": "%(bot)s",
                "conversation_id": "t.i + 1",
                "status": "t.status",
                "agent_id": "CASE WHEN t.taken THEN t.agent END",
                "language": "'en'",
                "created_at": created,
                "assigned_at": assigned,
                "resolved_at": resolved,
                "closed_at": (
                    f"CASE t.status WHEN 'resolved' THEN {resolved} "
                    "WHEN 'expired' THEN t.created + interval '300 seconds' "
                    "WHEN 'rejected' THEN t.created + interval '60 seconds' END"
                ),
                "last_user_message": "'Where is my order? It was due last week.'",
                "last_activity_at": created,
            },
            "",
        ),
        (
            Through,
            {
                "handoff_id": "t.i + 1",
                "label_id": "(%(labels)s::bigint[])[1 + (t.i * 11 + m.shift) %% %(label_count)s]",
            },
            # One in three handoffs has a label, one in ten a second one.
            "CROSS JOIN (VALUES (0), (3)) AS m(shift) "
            "WHERE t.i %% 3 = 0 AND (m.shift = 0 OR t.i %% 10 = 0)",
        ),
        (
            Message,
            {
                "conversation_id": "t.i + 1",
                "handoff_id": "CASE WHEN m.direction = 'incoming' THEN NULL ELSE t.i + 1 END",
                "direction": "m.direction",
                "author_id": "CASE WHEN m.direction = 'agent' THEN t.agent END",
                "text": "m.text",
                "created_at": "t.created + make_interval(secs => m.at)",
            },
            # The user's message before the handoff; for a taken handoff, the assign notice
            # and two agent messages (the first one is the first response).
            "CROSS JOIN LATERAL (VALUES ('incoming', 'I need a person', -10), "
            "('system', 'An agent is with you', t.wait), "
            "('agent', 'Hello, I am looking at it', t.wait + t.gap), "
            "('agent', 'Done: anything else?', t.wait + t.gap + 60)) AS m(direction, text, at) "
            "WHERE m.direction = 'incoming' OR t.taken",
        ),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        insert_series(cursor, _SERIES, statements, params, next_id=last + 1)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have, on a table grown slowly


def create_cast() -> tuple[int, list[int], list[int], object]:
    """The bot, the agents, the labels and the supervisor who reads the reports."""
    from django.contrib.auth import get_user_model

    from agents.models import AgentProfile
    from conversations.models import Bot
    from handoffs.models import Label

    User = get_user_model()
    bot = Bot(name="Bench bot")
    bot.set_new_api_key()
    bot.set_new_webhook_secret()
    bot.save()
    users = User.objects.bulk_create(
        [
            User(username=f"agent{n:02d}", first_name="Agent", last_name=f"{n:02d}")
            for n in range(AGENTS)
        ]
    )
    boss = User.objects.create(username="boss", first_name="Sam", last_name="Boss", is_staff=True)
    AgentProfile.objects.bulk_create([AgentProfile(user=u) for u in [*users, boss]])
    labels = Label.objects.bulk_create([Label(name=f"label-{n}") for n in range(LABELS)])
    return bot.pk, [u.pk for u in users], [label.pk for label in labels], boss


# --- Measuring ----------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    params: dict[str, str]


def scenarios(agent_id: int, label_id: int) -> list[Scenario]:
    return [
        Scenario(DEFAULT, {}),
        Scenario("last 7 days, one label", {"label": str(label_id)}),
        Scenario("last 7 days, one agent", {"agent": str(agent_id)}),
        Scenario("last 30 days", {"days": "30"}),
        Scenario("CSV of the agents table, last 7 days", {"format": "csv", "table": "agents"}),
        Scenario("last 365 days (every handoff at 1,000,000)", {"days": "365"}),
    ]


def query_for(scenario: Scenario) -> dict[str, str]:
    from django.utils import timezone

    params = dict(scenario.params)
    days = int(params.pop("days", "7"))
    today = timezone.now().date()
    params |= {"tz": "UTC", "to": today.isoformat()}
    params["from"] = (today - timedelta(days=days - 1)).isoformat()
    return params


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


@dataclass
class Result:
    size: int
    scenario: str
    page: list[float]
    floor: list[float]
    queries: int

    @property
    def ratio(self) -> float:
        return statistics.median(self.page) / statistics.median(self.floor)


def measure(size: int, client, plan: list[Scenario], rounds: int) -> list[Result]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    def count() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM handoffs_handoff")
            assert cursor.fetchone()[0] == size

    results = []
    for scenario in plan:
        query = query_for(scenario)

        def page(query: dict[str, str] = query) -> None:
            response = client.get("/reports/", query)
            assert response.status_code == 200, response.status_code

        page()  # warm-up, as a user's second visit
        count()
        reset_queries()  # the request resets the log: start the count from empty
        with CaptureQueriesContext(connection) as queries:
            page()
        query_count = len(queries)  # now: the next request empties the log it reads
        pages, floors = [], []
        # The long ranges take seconds a request at 1,000,000: fewer rounds of them.
        heavy = int(scenario.params.get("days", "7")) > 7
        for _ in range(max(3, rounds // 3) if heavy else rounds):
            # Alternating, so both see the same background load.
            pages.append(timed(page))
            floors.append(timed(count))
        results.append(Result(size, scenario.name, pages, floors, query_count))
    return results


def check_exact(days: int) -> str:
    """PostgreSQL's figures against the portable ones (percentiles in Python, labels by the
    ORM's join), on the same rows."""
    from django.utils import timezone

    from reports.figures import Report
    from reports.filters import ReportFilter

    today = timezone.now().date()
    report = Report(
        ReportFilter(
            first_day=today - timedelta(days=days - 1),
            last_day=today,
            zone=timezone.get_default_timezone(),
        )
    )
    rows = report.duration_rows()
    in_sql = report.durations_in_postgresql(rows)
    in_python = report.durations_in_python(rows)
    if in_sql.keys() != in_python.keys():
        return f"PROBLEM: groups differ over {days} days"
    for key, group in in_sql.items():
        if group != in_python[key]:
            return f"PROBLEM: {key}: {group} != {in_python[key]}"
    labels_sql = sorted(report._labels_in_postgresql(), key=repr)
    labels_orm = sorted(report._labels_in_orm(), key=repr)
    if labels_sql != labels_orm:
        return f"PROBLEM: labels over {days} days: {labels_sql} != {labels_orm}"
    measured = in_sql[None].handled if None in in_sql else 0
    return (
        f"{days} days: {measured:,} handoffs, {len(in_sql) - 1} agents, "
        f"{len(labels_sql)} label rows, identical"
    )


def table(results: list[Result]) -> str:
    """Medians beside the floor; the bound is checked on the default page at 1,000,000
    handoffs: at most BOUND_RATIO x the floor, and at most BOUND_FLAT x the same page at
    100,000 (the week's handoffs are as many: the table's size must not show)."""
    default = {r.size: r for r in results if r.scenario == DEFAULT}
    lines = [
        "| Handoffs | Request | p50 | p90 | Queries | COUNT(*) floor p50 (same run) "
        "| Ratio (p50) | Bound | Result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        p50, floor = statistics.median(r.page), statistics.median(r.floor)
        p90 = statistics.quantiles(r.page, n=10)[-1] if len(r.page) > 1 else r.page[0]
        bound = result = ""
        if r.scenario == DEFAULT and r.size >= 1_000_000:
            checks = [r.ratio <= BOUND_RATIO]
            bound = f"<= {BOUND_RATIO:g}x floor"
            if 100_000 in default:
                flat = p50 / statistics.median(default[100_000].page)
                checks.append(flat <= BOUND_FLAT)
                bound += f"; {flat:.2f}x the 100,000 page (<= {BOUND_FLAT:g}x)"
            result = "PASS" if all(checks) else "FAIL"
        lines.append(
            f"| {r.size:,} | {r.scenario} | {ms(p50)} | {ms(p90)} | {r.queries} | {ms(floor)} "
            f"| {r.ratio:.2f}x | {bound} | {result} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    with django_on_fresh_database(args.database_url, prefix="hitlnext-bench-reports-"):
        from django.test import Client

        bot_id, agent_ids, label_ids, boss = create_cast()
        client = Client()
        client.force_login(boss)
        plan = scenarios(agent_ids[0], label_ids[0])
        results: list[Result] = []
        checks: list[str] = []
        have = 0
        for size in args.sizes:
            t = time.perf_counter()
            load(bot_id, agent_ids, label_ids, have, size - 1)
            have = size
            print(f"loaded {size:,} handoffs in {time.perf_counter() - t:.0f} s", flush=True)
            results += measure(size, client, plan, args.rounds)
            checks += [f"{size:,} handoffs, {check_exact(days)}" for days in (7, 30)]
    print()
    print(
        f"Reports benchmark ({'quick' if args.quick else 'full'} run, "
        f"{time.perf_counter() - began:.0f} s, {os.cpu_count()} CPUs, PostgreSQL, in-process "
        f"test client, {args.rounds} alternating rounds, {max(3, args.rounds // 3)} for the "
        "30- and 365-day ranges)"
    )
    print()
    print(table(results))
    print()
    print("PostgreSQL's figures vs the portable code's (SQLite's), on the same rows:")
    for line in checks:
        print(f"- {line}")
    failed = any("PROBLEM" in c for c in checks) or "| FAIL |" in table(results)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
