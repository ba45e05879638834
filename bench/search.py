"""Search benchmark: the /search/ page at 1,000,000 messages on PostgreSQL, beside the floor of
an indexed lookup (a message by primary key) on the same table, in the same run.

    .venv/bin/python bench/search.py [--quick] [--messages N] [--rounds N]

It recreates its own PostgreSQL database (default hitlnext_bench_search) and fills it in bulk
(INSERT ... SELECT generate_series, as bench/reports.py does: one conversation, user and
handoff per 10 messages), with the search indexes dropped during the load and built after it,
as a bulk load would. Then, per search, it renders the page in-process through Django's test
client as an agent (production settings, DEBUG off) and runs the search query alone, each
alternating with the floor, and prints a markdown table of medians and ratios. It checks that
full-text search finds the same messages as a plain ILIKE scan for whole words. Method and
results: bench/README.md, "Search".
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import django_on_fresh_database  # noqa: E402
from bench.plan import ms  # noqa: E402
from bench.reports import insert_series  # noqa: E402

PER_CONVERSATION = 10
# The words of the messages, in 16 sentences (English, French, Spanish: 'simple' config).
SENTENCES = [
    "Hello, I need help with my order",
    "Where is my parcel? It was due last week",
    "Thanks for your help, have a nice day",
    "I would like a refund for the damaged item",
    "My invoice shows the wrong amount",
    "I cannot log in to my account",
    "The app crashes when I try to pay",
    "Bonjour, ma commande n'est pas arrivée",
    "Hola, necesito ayuda con mi pedido",
    "Can you change the delivery address?",
    "Let me check that for you",
    "Your parcel left our warehouse yesterday",
    "Is there anything else I can do for you?",
    "The tracking page does not load",
    "I was charged twice this month",
    "Please cancel my subscription",
]
ROUNDS = 15


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 messages, 5 rounds")
    parser.add_argument("--messages", type=int, help="messages to load (default 1,000,000)")
    parser.add_argument("--rounds", type=int, help=f"timed requests per search ({ROUNDS})")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_SEARCH_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/hitlnext_bench_search",
        ),
        help="PostgreSQL database to DROP and recreate (env BENCH_SEARCH_DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    args.messages = args.messages or (100_000 if args.quick else 1_000_000)
    if not 1_000 <= args.messages <= 5_000_000:
        parser.error("--messages: between 1,000 and 5,000,000")
    args.rounds = args.rounds or (5 if args.quick else ROUNDS)
    return args


# --- Loading ------------------------------------------------------------------------------


def load(bot_id: int, messages: int) -> dict[str, float]:
    """Conversations 1..n (n = messages / 10), each with its user (fullName, email, an order
    number), one handoff and ten messages; handoff i is i minutes old. Returns timings."""
    from django.db import connection, transaction

    from conversations.models import Conversation, EndUser, Message
    from handoffs.models import Handoff

    conversations = messages // PER_CONVERSATION
    params: dict = {"bot": bot_id, "last": conversations, "sentences": SENTENCES}
    series = (
        "t AS (SELECT i, now() - make_interval(mins => i) AS created "
        "FROM generate_series(1, %(last)s) AS i)"
    )
    created = "t.created"
    statements = [
        (
            EndUser,
            {
                "id": "t.i",
                "bot_id": "%(bot)s",
                "external_id": "'bench-u-' || t.i",
                "variables": (
                    "jsonb_build_object('fullName', 'Bench user ' || t.i, "
                    "'email', 'user' || t.i || '@example.com', 'plan', "
                    "(ARRAY['free','pro','team'])[1 + t.i %% 3], "
                    "'orders', jsonb_build_array('ORD-' || t.i))"
                ),
                "created_at": created,
                "updated_at": created,
            },
            "",
        ),
        (
            Conversation,
            {
                "id": "t.i",
                "bot_id": "%(bot)s",
                "external_id": "'bench-c-' || t.i",
                "end_user_id": "t.i",
                "channel": "(ARRAY['web','whatsapp','messenger','telegram'])[1 + t.i %% 4]",
                "created_at": created,
                "last_message_at": created,
            },
            "",
        ),
        (
            Handoff,
            {
                "id": "t.i",
                "bot_id": "%(bot)s",
                "conversation_id": "t.i",
                "status": "CASE WHEN t.i %% 10 = 0 THEN 'pending' ELSE 'resolved' END",
                "last_user_message": "'Where is my parcel?'",
                "language": "'en'",
                "created_at": created,
                "last_activity_at": created,
            },
            "",
        ),
        (
            Message,
            {
                "conversation_id": "t.i",
                "handoff_id": "CASE WHEN m.n > 2 THEN t.i END",
                "direction": (
                    "CASE WHEN m.n %% 2 = 1 THEN 'incoming' "
                    "WHEN m.n <= 2 THEN 'outgoing' ELSE 'agent' END"
                ),
                # 1 message in 1,000 holds "voucher"; the 6th of each conversation its order.
                "text": (
                    "CASE WHEN m.n = 6 THEN 'About order ORD-' || t.i || ': is it late?' "
                    "ELSE (%(sentences)s::text[])[1 + (t.i * 7 + m.n * 3) %% 16] "
                    "|| CASE WHEN (t.i * 10 + m.n) %% 1000 = 0 THEN ' (voucher code)' "
                    "ELSE '' END END"
                ),
                "created_at": "t.created + make_interval(secs => m.n * 20)",
            },
            "CROSS JOIN generate_series(1, 10) AS m(n)",
        ),
    ]
    timings = {}
    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS message_text_search")
        cursor.execute("DROP INDEX IF EXISTS end_user_variables_trgm")
        insert_series(cursor, series, statements, params, next_id=conversations + 1)
    timings["rows"] = time.perf_counter() - began
    began = time.perf_counter()
    build_indexes()
    timings["indexes"] = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have, on a table grown slowly
    return timings


def build_indexes() -> None:
    """The migration's own statements (conversations 0009), so the benchmark measures its
    indexes and no others."""
    import importlib

    from django.db import connection

    migration = importlib.import_module("conversations.migrations.0009_message_search")
    with connection.cursor() as cursor:
        cursor.execute(migration.MESSAGE_INDEX)
        cursor.execute(migration.VARIABLES_INDEX)


def create_agent():
    from django.contrib.auth import get_user_model

    from agents.models import AgentProfile
    from conversations.models import Bot

    bot = Bot(name="Bench bot")
    bot.set_new_api_key()
    bot.set_new_webhook_secret()
    bot.save()
    agent = get_user_model().objects.create(username="agent", first_name="Ann", last_name="A")
    AgentProfile.objects.create(user=agent)
    return bot.pk, agent


# --- Measuring ----------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    q: str
    page: int = 1
    # A whole word whose message hits full-text search must find exactly as ILIKE does.
    check_word: str = ""


def scenarios(conversations: int) -> list[Scenario]:
    one = conversations // 2 + 7
    return [
        Scenario(f"an order number (ORD-{one}): its user and its message", f"ORD-{one}"),
        Scenario(f"an email (user{one}@example.com): its user", f"user{one}@example.com"),
        Scenario("a rare word (voucher)", "voucher", check_word="voucher"),
        Scenario("a word (refund)", "refund", check_word="refund"),
        Scenario("a common word (my)", "my", check_word="my"),
        Scenario("two words (tracking page)", "tracking page"),
        Scenario("page 10 of a word (refund)", "refund", page=10),
        Scenario("nothing matches (zebra)", "zebra", check_word="zebra"),
    ]


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


@dataclass
class Result:
    scenario: Scenario
    page: list[float]
    query: list[float]
    floor: list[float]
    hits: int
    message_hits: int
    check: str

    def ratio(self, values: list[float]) -> str:
        return times(statistics.median(values) / statistics.median(self.floor))


def times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


def measure(client, plan: list[Scenario], rounds: int, messages: int) -> list[Result]:
    from django.db import connection

    from handoffs.search import SearchQuery, search_handoffs

    picks = random.Random(7)

    def floor() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id, text FROM conversations_message WHERE id = %s",
                [picks.randint(1, messages)],
            )
            assert cursor.fetchone() is not None

    results = []
    for scenario in plan:
        query = SearchQuery.parse(scenario.q)

        def page(scenario: Scenario = scenario) -> None:
            response = client.get("/search/", {"q": scenario.q, "page": scenario.page})
            assert response.status_code == 200, response.status_code

        def search(query: SearchQuery = query, number: int = scenario.page) -> int:
            return len(search_handoffs(query, page=number).hits)

        page()  # warm-up
        hits = search()
        pages, queries, floors = [], [], []
        for _ in range(rounds):
            # Alternating, so both see the same background load.
            pages.append(timed(page))
            floors.append(timed(floor))
            queries.append(timed(search))
            floors.append(timed(floor))
        message_hits, check = check_words(scenario)
        results.append(Result(scenario, pages, queries, floors, hits, message_hits, check))
        print(f"  {scenario.name}: page p50 {ms(statistics.median(pages))}", flush=True)
    return results


def check_words(scenario: Scenario) -> tuple[int, str]:
    """How many messages full-text search finds for the query, and, for a whole word, whether
    a plain case-insensitive ILIKE on word boundaries finds the same ones (SQLite's way)."""
    from django.db import connection

    from handoffs.search import _prefix_tsquery

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM conversations_message WHERE direction <> 'system' AND "
            "to_tsvector('simple'::regconfig, text) @@ to_tsquery('simple'::regconfig, %s)",
            [_prefix_tsquery(scenario.q) or "''"],
        )
        found = cursor.fetchone()[0]
        if not scenario.check_word:
            return found, ""
        cursor.execute(
            "SELECT count(*) FROM conversations_message WHERE direction <> 'system' AND text ~* %s",
            [rf"\m{scenario.check_word}"],
        )
        scanned = cursor.fetchone()[0]
    if found == scanned:
        return found, f"same {found:,} messages as a scan"
    return found, f"PROBLEM: full-text {found:,}, scan {scanned:,}"


def without_index(client, scenario: Scenario, rounds: int) -> list[float]:
    """The same page with PostgreSQL kept off its GIN indexes (bitmap scans are the only way
    it reads them): what the index saves."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET enable_bitmapscan = off")
    try:
        return [timed(lambda: client.get("/search/", {"q": scenario.q})) for _ in range(rounds)]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_bitmapscan")


def table(results: list[Result], scan: tuple[Scenario, list[float], list[float]] | None) -> str:
    lines = [
        "| Search | Hits on the page / messages matching | Page p50 | Query alone p50 "
        "| Floor: message by primary key, p50 (same run) | Page / floor | Query / floor "
        "| Check |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario.name} | {r.hits} / {r.message_hits:,} "
            f"| {ms(statistics.median(r.page))} | {ms(statistics.median(r.query))} "
            f"| {ms(statistics.median(r.floor))} | {r.ratio(r.page)} "
            f"| {r.ratio(r.query)} | {r.check} |"
        )
    if scan is not None:
        scenario, pages, floors = scan
        ratio = times(statistics.median(pages) / statistics.median(floors))
        lines.append(
            f"| {scenario.name}, without the indexes (bitmap scans off) | | "
            f"{ms(statistics.median(pages))} | | {ms(statistics.median(floors))} "
            f"| {ratio} | | |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    with django_on_fresh_database(args.database_url, prefix="hitlnext-bench-search-"):
        from django.test import Client

        bot_id, agent = create_agent()
        timings = load(bot_id, args.messages)
        print(
            f"loaded {args.messages:,} messages in {timings['rows']:.0f} s, built the search "
            f"indexes in {timings['indexes']:.0f} s",
            flush=True,
        )
        client = Client()
        client.force_login(agent)
        conversations = args.messages // PER_CONVERSATION
        plan = scenarios(conversations)
        results = measure(client, plan, args.rounds, args.messages)
        scan = None
        if not args.quick:
            rare = plan[0]
            scan_rounds = max(3, args.rounds // 5)
            floors = next(r.floor for r in results if r.scenario is rare)
            scan = (rare, without_index(client, rare, scan_rounds), floors)
    print()
    print(
        f"Search benchmark ({'quick' if args.quick else 'full'} run, "
        f"{time.perf_counter() - began:.0f} s, {os.cpu_count()} CPUs, PostgreSQL, "
        f"{args.messages:,} messages in {conversations:,} conversations (one handoff and one "
        f"user each), in-process test client, {args.rounds} alternating rounds)"
    )
    print()
    output = table(results, scan)
    print(output)
    return 1 if "PROBLEM" in output else 0


if __name__ == "__main__":
    raise SystemExit(main())
