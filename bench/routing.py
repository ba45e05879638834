"""Routing benchmark: auto-assignment (HITLNEXT_ASSIGNMENT=auto) of a burst of handoffs to
200 online agents, beside the floor of a bare conditional UPDATE loop on the same database.

    .venv/bin/python bench/routing.py [--quick] [--rounds N] [--handoffs N] [--profile DIR]

It recreates its own PostgreSQL database (default hitlnext_bench_routing), uses a Redis prefix
of its own, starts two production-configured Daphne processes on 127.0.0.1, runs bounded
phases in which hitlnext and its floor take turns, checks every assignment, stops everything
and prints a table. Method and results: bench/README.md, "Routing benchmark".
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure_routing import (  # noqa: E402
    Context,
    Phase,
    Totals,
    floor_burst,
    floor_drain,
    hitlnext_burst,
    hitlnext_drain,
    median,
    reset,
)
from bench.plan import Row, ms, table, verdict  # noqa: E402
from bench.procs import APP, Server, start_daphne, summarize_profile, wait_ready  # noqa: E402
from bench.run import configure, flush_redis  # noqa: E402


@dataclass(frozen=True)
class RoutingPlan:
    quick: bool
    rounds: int
    handoffs: int
    agents: int = 200
    # 200 agents x 5 = 1,000 places: the full burst fills every place, so the last handoffs
    # go to the last free ones (the hardest case for the capacity check).
    capacity: int = 5
    processes: int = 2  # Daphne processes taking the bot's POSTs (and routing after each)
    connections: int = 16  # the bot's connections, spread over the processes

    @property
    def deadline(self) -> float:
        """Seconds any one phase may take before the run gives up on it: at least 2
        assignments a second (a busy machine did 4)."""
        return 60.0 + self.handoffs / 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="one round of 300 handoffs (1-2 minutes)"
    )
    parser.add_argument("--rounds", type=int, help="rounds of each phase (default 3, quick 1)")
    parser.add_argument(
        "--handoffs", type=int, help="handoffs per phase (default 1,000, quick 300; at most 1,000)"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_ROUTING_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/hitlnext_bench_routing",
        ),
        help="PostgreSQL database to DROP and recreate (env BENCH_ROUTING_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the channel layer and cache; keys use a fresh prefix",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="write py-spy profiles here: a Daphne process during the first burst, the worker "
        "during the first drain (slows them a little)",
    )
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this directory")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.handoffs is not None and not 2 <= args.handoffs <= 1000:
        # 200 agents x capacity 5: every handoff of a phase has a place.
        parser.error("--handoffs must be between 2 and 1,000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Stopped from outside (SIGTERM, e.g. a timeout): unwind, so every process it started is
    # stopped and its Redis keys deleted by the `finally` blocks below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan = RoutingPlan(
        quick=args.quick,
        rounds=args.rounds or (1 if args.quick else 3),
        handoffs=args.handoffs or (300 if args.quick else 1000),
    )
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hitlnext-bench-routing-") as tmp:
        args.var_dir = tmp
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        env = configure(args)
        routing_env = {
            "HITLNEXT_ASSIGNMENT": "auto",
            "HITLNEXT_AGENT_CAPACITY": str(plan.capacity),
            # A full run takes minutes: no agent may time out of "online" in the middle.
            "HITLNEXT_AGENT_SESSION_TIMEOUT": "2h",
        }
        env |= routing_env
        os.environ.update(routing_env)

        import django

        django.setup()
        from django.conf import settings
        from django.db import connections
        from django.utils import timezone

        from agents.models import AgentProfile
        from bench import fixtures

        fixtures.recreate_database(args.database_url)
        fixtures.migrate()
        bot, api_key = fixtures.create_bot()
        agents = fixtures.create_agents(plan.agents)
        # Online in one UPDATE: the state the switch leaves (online, a session deadline). Its
        # announcements would find an empty queue and sockets nobody opened, and going through
        # agents.services.set_online 200 times costs a busy machine 10 s of setup.
        AgentProfile.objects.filter(user_id__in=[a.user_id for a in agents]).update(
            online=True,
            session_expires_at=timezone.now() + settings.HITLNEXT_AGENT_SESSION_TIMEOUT,
        )
        floor_conversations = fixtures.create_conversations(bot, "floor", plan.handoffs)
        connections.close_all()
        print(f"setup done in {time.perf_counter() - began:.0f} s", flush=True)

        servers: list[Server] = []
        try:
            servers = [
                start_daphne(f"app-{n}", APP, env=env, logs=logs)
                for n in range(1, plan.processes + 1)
            ]
            wait_ready(servers)
            ctx = Context(
                servers=servers,
                env=env,
                logs=logs,
                database_url=args.database_url,
                api_key=api_key,
                bot=bot,
                agent_ids=[a.user_id for a in agents],
                capacity=plan.capacity,
                connections=plan.connections,
                floor_conversations=floor_conversations,
                deadline=plan.deadline,
            )
            totals = run_rounds(plan, ctx, args.profile)
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
        rows = summary(plan, totals)
        print()
        print(
            f"hitlnext routing benchmark ({'quick' if args.quick else 'full'} run, "
            f"{plan.rounds} round{'s' if plan.rounds > 1 else ''}, {elapsed:.0f} s, "
            f"{os.cpu_count()} CPUs, PostgreSQL + Redis, {plan.processes} Daphne processes "
            "+ 1 worker on 127.0.0.1)"
        )
        print()
        print(table(rows))
        if args.profile:
            for path in sorted(args.profile.glob("*.txt")):
                print(f"\n### py-spy: {path.name}\n")
                print(summarize_profile(path))
        problems = [p for t in totals.values() for p in t.problems]
        for problem in problems:
            print(f"PROBLEM: {problem}")
        return 1 if problems else 0


PHASES = ("burst", "burst floor", "drain", "drain floor")


def run_rounds(plan: RoutingPlan, ctx: Context, profile: Path | None) -> dict[str, Totals]:
    """Warm-up, then each round: the burst between two runs of its floor, then the drain
    between two runs of its floor. The floor phases take seconds and hitlnext's a minute or
    more: measured just before and just after it, the floor sees the same background load."""
    print("warm-up...", flush=True)
    hitlnext_burst(ctx, 20, "warmup")
    reset()
    floor_burst(ctx, 20)
    reset()
    totals = {name: Totals() for name in PHASES}
    n = plan.handoffs
    for r in range(1, plan.rounds + 1):
        burst_profile = profile / "burst.txt" if profile and r == 1 else None
        drain_profile = profile / "drain.txt" if profile and r == 1 else None
        steps: list[tuple[str, Callable[[], Phase]]] = [
            ("burst floor", partial(floor_burst, ctx, n)),
            ("burst", partial(hitlnext_burst, ctx, n, f"burst{r}", burst_profile)),
            ("burst floor", partial(floor_burst, ctx, n)),
            ("drain floor", partial(floor_drain, ctx, n, f"bare{r}a")),
            ("drain", partial(hitlnext_drain, ctx, n, f"drain{r}", drain_profile)),
            ("drain floor", partial(floor_drain, ctx, n, f"bare{r}b")),
        ]
        results: dict[str, list[Phase]] = {name: [] for name in PHASES}
        for name, measure in steps:
            results[name].append(measure())
            reset()
        for name, phases in results.items():
            totals[name].rounds.append(phases)
        print(round_line(r, plan.rounds, results), flush=True)
    return totals


def round_line(r: int, rounds: int, res: dict[str, list[Phase]]) -> str:
    def burst(phases: list[Phase]) -> str:
        latencies = [x for p in phases for x in p.latencies]
        return f"{Totals.pooled_rate(phases, drain=False):,.0f}/s, p50 {ms(median(latencies))}"

    def drain(phases: list[Phase]) -> str:
        return f"{Totals.pooled_rate(phases, drain=True):,.0f}/s"

    return (
        f"round {r}/{rounds}: burst {burst(res['burst'])} "
        f"(API {res['burst'][0].posts_per_second:,.0f} POST/s), "
        f"floor {burst(res['burst floor'])}; "
        f"drain {drain(res['drain'])}, floor {drain(res['drain floor'])}"
    )


def summary(plan: RoutingPlan, totals: dict[str, Totals]) -> list[Row]:
    burst, bfloor = totals["burst"], totals["burst floor"]
    drain, dfloor = totals["drain"], totals["drain floor"]

    def spread(real: Totals, floor: Totals, drain: bool) -> str:
        ratios = [
            a / b
            for a, b in zip(real.round_rates(drain), floor.round_rates(drain), strict=True)
            if b
        ]
        if len(ratios) < 2:
            return ""
        return f" (rounds {min(ratios):.1%}-{max(ratios):.1%})"

    def share(real: Totals, floor: Totals, drain: bool) -> str:
        f = floor.rate(drain)
        return f"{real.rate(drain) / f:.1%}" if f else "n/a"

    def times(a: float, b: float) -> str:
        return f"{a / b:.1f}x" if b else "n/a"

    n = plan.handoffs
    where = f"{plan.agents} agents online x capacity {plan.capacity}"
    places = plan.agents * plan.capacity
    checked = burst.assigned + drain.assigned
    floor_checked = bfloor.assigned + dfloor.assigned
    ok = not any(t.problems for t in totals.values())
    return [
        Row(
            f"Burst: {n:,} handoffs POSTed ({plan.connections} connections, "
            f"{plan.processes} processes) -> auto-assigned; {where}",
            f"{burst.rate(False):,.0f} assignments/s (the API took "
            f"{burst.posts_per_second:,.0f} POST/s); created -> assigned "
            f"p50 {ms(burst.latency(50))}, p99 {ms(burst.latency(99))}",
            f"bare INSERT then conditional UPDATE, {plan.connections} connections, "
            "before and after: "
            f"{bfloor.rate(False):,.0f}/s; p50 {ms(bfloor.latency(50))}, "
            f"p99 {ms(bfloor.latency(99))}",
            f"{share(burst, bfloor, False)} of floor throughput"
            f"{spread(burst, bfloor, False)}; p50 "
            f"{times(burst.latency(50), bfloor.latency(50))}, "
            f"p99 {times(burst.latency(99), bfloor.latency(99))}",
            "",
            "",
        ),
        Row(
            f"Drain: {n:,} queued handoffs -> assigned by the worker's routing sweep; {where}",
            f"{drain.rate(True):,.0f} assignments/s "
            f"({ms(1 / drain.rate(True)) if drain.rate(True) else 'n/a'} each)",
            f"bare conditional UPDATE loop, before and after: {dfloor.rate(True):,.0f}/s "
            f"({ms(1 / dfloor.rate(True)) if dfloor.rate(True) else 'n/a'} each)",
            f"{share(drain, dfloor, True)} of floor throughput{spread(drain, dfloor, True)}",
            "",
            "",
        ),
        Row(
            "Correctness, every phase of every round",
            f"{checked:,} of {2 * n * plan.rounds:,} assigned, each once (one handoff.assigned, "
            f"by auto); most open per agent: {max(burst.max_load, drain.max_load)} "
            f"(capacity {plan.capacity}, {places:,} places)",
            f"{floor_checked:,} of {4 * n * plan.rounds:,} assigned, most per agent: "
            f"{max(bfloor.max_load, dfloor.max_load)}",
            "",
            "all assigned once, none over capacity",
            verdict(ok),
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
