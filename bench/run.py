"""hitlnext benchmarks: one command, a markdown table of hitlnext beside its floors.

    .venv/bin/python bench/run.py [--quick] [--only ingest,fanout,memory,inbox] [--profile DIR]

It recreates its own PostgreSQL database (default hitlnext_bench), uses a Redis prefix of its
own, starts Daphne (and, for ingest, gunicorn) processes on 127.0.0.1, runs bounded loads
against them only, stops them, and prints the table. Every floor is measured in the same run,
on the same machine state.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import production_env  # noqa: E402
from bench.measure_http import (  # noqa: E402
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    inbox_alias,
    measure_inbox,
    measure_ingest,
    prepare_ingest,
)
from bench.measure_ws import measure_fanout, measure_memory  # noqa: E402
from bench.plan import SECTIONS, Plan, Row, table  # noqa: E402
from bench.procs import (  # noqa: E402
    APP,
    FLOOR,
    WSGI_APP,
    WSGI_FLOOR,
    Server,
    raise_fd_limit,
    start_daphne,
    start_gunicorn,
    summarize_profile,
    wait_ready,
)

# --- Environment ------------------------------------------------------------------------------


def configure(args: argparse.Namespace) -> dict[str, str]:
    """Environment for this process and every server it starts (production-like settings)."""
    env = production_env(
        args.database_url,
        args.redis_url,
        args.var_dir,
        f"hxbench-{uuid.uuid4().hex[:10]}",
        # The abuse limit (600/m per bot by default) would turn a load test into 429s; a huge
        # one keeps its cost (a counter in Redis per request) without refusing anything.
        HITLNEXT_API_RATE_LIMIT="100000000/m",
    )
    os.environ.update(env)
    return env


def flush_redis(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


# --- Main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (under 2 minutes)")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hitlnext_bench"
        ),
        help="PostgreSQL database to DROP and recreate (env BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the channel layer; keys use a fresh prefix (env BENCH_REDIS_URL)",
    )
    parser.add_argument(
        "--profile", type=Path, help="write py-spy profiles of the measured server here"
    )
    parser.add_argument("--logs", type=Path, help="keep the servers' logs in this directory")
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(quick=args.quick)
    raise_fd_limit()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hitlnext-bench-") as tmp:
        args.var_dir = tmp
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        env = configure(args)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)

        import django

        django.setup()  # connects to nothing yet
        from bench import fixtures

        # One database per inbox size, copies of the main one: their servers are measured in
        # turns, so the sizes compare under the same background load.
        inbox_urls = {
            size: fixtures.with_name(
                args.database_url, f"{fixtures.database_name(args.database_url)}_inbox{size}"
            )
            for size in plan.inbox_sizes
        }
        for size, url in inbox_urls.items():
            fixtures.add_alias(inbox_alias(size), url)

        fixtures.recreate_database(args.database_url)
        fixtures.migrate()
        bot, api_key = fixtures.create_bot()
        agents = fixtures.create_agents(max(plan.idle_sockets, max(plan.fanout_agents)))
        for k in range(10):
            fixtures.open_handoff(bot, f"ingest-c-{k}")
        prepare_ingest(bot)
        fan_handoff = fixtures.open_handoff(bot, "fanout-c")
        if "inbox" in args.only:
            for size, url in inbox_urls.items():
                fixtures.clone_database(args.database_url, url)
                started = time.perf_counter()
                fixtures.grow_inbox(
                    bot,
                    total=size,
                    assignees=[a.user_id for a in agents[:20]],
                    using=inbox_alias(size),
                )
                print(f"  {size:,} handoffs built in {time.perf_counter() - started:.0f} s")
        from django.db import connections

        connections.close_all()
        print(f"setup done in {time.perf_counter() - began:.0f} s", flush=True)

        rows: list[Row] = []
        servers: list[Server] = []
        try:
            if {"ingest", "fanout", "inbox"} & set(args.only):
                app = [start_daphne("app-1", APP, env=env, logs=logs)]
                floor = [start_daphne("floor-1", FLOOR, env=env, logs=logs)]
                servers = app + floor
                if "ingest" in args.only:
                    # The scale-out deployment's HTTP, and its floors on the same settings.
                    wsgi = [
                        start_gunicorn(
                            name,
                            wsgi_app,
                            env=env,
                            logs=logs,
                            workers=GUNICORN_WORKERS,
                            threads=GUNICORN_THREADS,
                            BENCH_BOT_ID=bot.pk,
                        )
                        for name, wsgi_app in (
                            ("gunicorn-app", WSGI_APP),
                            ("gunicorn-floor", WSGI_FLOOR),
                        )
                    ]
                    servers += wsgi
                wait_ready(servers)
                if "ingest" in args.only:
                    print("ingest...", flush=True)
                    rows += measure_ingest(
                        plan,
                        daphne=app[0],
                        daphne_floor=floor[0],
                        gunicorn=wsgi[0],
                        gunicorn_floor=wsgi[1],
                        api_key=api_key,
                        profile=args.profile,
                    )
                    for server in wsgi:
                        server.stop()
                if "inbox" in args.only:
                    print("inbox...", flush=True)
                    inbox = {
                        size: start_daphne(
                            f"inbox-{size}", APP, env=env, logs=logs, DATABASE_URL=url
                        )
                        for size, url in inbox_urls.items()
                    }
                    servers += inbox.values()
                    wait_ready(list(inbox.values()))
                    rows += measure_inbox(plan, inbox, agents)
                    for server in inbox.values():
                        server.stop()
                if "fanout" in args.only:
                    print("fan-out...", flush=True)
                    rows += measure_fanout(
                        plan, app[0], floor[0], api_key, agents, fan_handoff, args.profile
                    )
            for server in servers:
                server.stop()
            servers = []
            if "memory" in args.only:
                print("idle sockets...", flush=True)
                rows += measure_memory(plan, env, logs, api_key, agents)
        except BaseException:
            for log in sorted(logs.glob("*.log")):
                tail = log.read_text(errors="replace")[-2000:].strip()
                if tail:
                    print(f"--- {log.name} (last lines)\n{tail}", file=sys.stderr)
            raise
        finally:
            for server in servers:
                server.stop()
            flush_redis(args.redis_url, env["HITLNEXT_REDIS_PREFIX"])

        elapsed = time.perf_counter() - began
        print()
        print(
            f"hitlnext benchmarks ({'quick' if args.quick else 'full'} run, {elapsed:.0f} s, "
            f"{os.cpu_count()} CPUs, PostgreSQL + Redis, Daphne and gunicorn on 127.0.0.1)"
        )
        print()
        print(table(rows))
        if args.profile:
            for path in sorted(args.profile.glob("*.txt")):
                print(f"\n### py-spy: {path.name}\n")
                print(summarize_profile(path))
        return 1 if any(r.result == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
