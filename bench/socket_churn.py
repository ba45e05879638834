"""Agent sockets connecting and leaving, 10,000 times: does a Daphne process's memory stay flat?

    .venv/bin/python bench/socket_churn.py [--cycles 10000] [--batch 50] [--warmup 1000]

It recreates its own PostgreSQL database (default hitlnext_churn), uses a Redis prefix of its
own, starts one production-configured Daphne process on 127.0.0.1 and, batch after batch,
opens agent sockets (each with a logged-in session), says hello (half of them watching a
handoff, so they join and leave a conversation group too), waits for the answer and leaves:
three in four close cleanly, one in four drops the connection without a close frame. It
prints the process's RSS (/proc/PID/status) after the warm-up and at every interval, the
growth after the warm-up and its slope (least squares), and what the process left behind in
Redis (members still in the groups the sockets joined, the layer's keys). Exit status 1 when
the growth passes --max-growth-mib.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import production_env, use_env  # noqa: E402
from bench.procs import APP, raise_fd_limit, rss_bytes, start_daphne, wait_ready  # noqa: E402

MIB = 2**20


@dataclass
class Churn:
    """RSS of the server process at checkpoints: (cycles done, bytes)."""

    points: list[tuple[int, int]] = field(default_factory=list)
    warmup: int = 0
    failures: int = 0
    seconds: float = 0.0

    @property
    def measured(self) -> list[tuple[int, int]]:
        return [(n, rss) for n, rss in self.points if n >= self.warmup]

    @property
    def growth(self) -> int:
        """Bytes from the first checkpoint after the warm-up to the last one."""
        measured = self.measured
        return measured[-1][1] - measured[0][1]

    @property
    def slope(self) -> float:
        """Bytes per 1,000 cycles after the warm-up (least squares)."""
        measured = self.measured
        if len(measured) < 2:
            return 0.0
        xs = [n / 1000 for n, _ in measured]
        ys = [float(rss) for _, rss in measured]
        return statistics.linear_regression(xs, ys).slope


async def one_cycle(
    ws_url: str, origin: str, headers: dict[str, str], handoff: int | None, abrupt: bool
) -> None:
    """One page's socket: connect, hello, the state it answers with, leave."""
    async with websockets.connect(
        ws_url, origin=origin, additional_headers=headers, open_timeout=60, ping_interval=None
    ) as ws:
        await ws.send(json.dumps({"action": "hello", "handoff": handoff, "after": None}))
        waiting_for = ['id="online-switch"']
        if handoff is not None:
            waiting_for.append(f'id="handoff-{handoff}-head"')  # after joining its group
        while waiting_for:
            frame = await asyncio.wait_for(ws.recv(), timeout=60)
            waiting_for = [marker for marker in waiting_for if marker not in frame]
        if abrupt:  # gone without a close frame: a closed laptop, a dropped network
            ws.transport.abort()


async def churn(
    *,
    base_url: str,
    pid: int,
    sessions: list[dict[str, str]],
    handoff: int,
    cycles: int,
    batch: int,
    warmup: int,
    every: int,
    settle: float = 1.0,
    log=print,
) -> Churn:
    """Run `cycles` socket cycles against the server, `batch` at a time, reading its RSS after
    the warm-up and every `every` cycles (after `settle` seconds of quiet)."""
    ws_url = base_url.replace("http://", "ws://") + "/ws/agent/"
    result = Churn(warmup=warmup)
    started = time.perf_counter()
    done = 0
    while done < cycles:
        size = min(batch, cycles - done)
        outcomes = await asyncio.gather(
            *(
                one_cycle(
                    ws_url,
                    base_url,
                    sessions[(done + i) % len(sessions)],
                    handoff if (done + i) % 2 else None,
                    abrupt=(done + i) % 4 == 3,
                )
                for i in range(size)
            ),
            return_exceptions=True,
        )
        result.failures += sum(isinstance(outcome, BaseException) for outcome in outcomes)
        done += size
        if done == warmup or (done > warmup and (done - warmup) % every == 0) or done == cycles:
            await asyncio.sleep(settle)  # disconnects handled, nothing in flight
            rss = rss_bytes(pid)
            result.points.append((done, rss))
            log(f"  {done:>6,} cycles  RSS {rss / MIB:7.1f} MiB")
    result.seconds = time.perf_counter() - started
    return result


def leftovers(redis_url: str, prefix: str) -> dict[str, Any]:
    """What the process left in Redis: members of its groups, and its keys by kind."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        members, groups, other = 0, 0, []
        for key in client.scan_iter(f"{prefix}*", count=1000):
            if b":group:" in key:
                groups += 1
                members += client.zcard(key)
            else:
                other.append(key.decode(errors="replace").removeprefix(prefix))
        return {"group members": members, "group keys": groups, "other keys": sorted(other)}
    finally:
        client.close()


def report(result: Churn, left: dict[str, Any]) -> str:
    first, last = result.measured[0], result.measured[-1]
    lines = [
        "| Cycles | RSS |",
        "|---|---|",
        *(f"| {n:,} | {rss / MIB:.1f} MiB |" for n, rss in result.points),
        "",
        f"- {result.points[-1][0]:,} connect/disconnect cycles in {result.seconds:.0f} s "
        f"({result.failures} failed)",
        f"- after the warm-up ({first[0]:,} cycles, {first[1] / MIB:.1f} MiB) to the end "
        f"({last[0]:,} cycles, {last[1] / MIB:.1f} MiB): {result.growth / 1024:+,.0f} KiB, "
        f"slope {result.slope / 1024:+.1f} KiB per 1,000 cycles",
        "- left in Redis: " + ", ".join(f"{v} {k}" for k, v in left.items()),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50, help="sockets open at once")
    parser.add_argument("--warmup", type=int, default=1_000, help="cycles before the baseline")
    parser.add_argument("--every", type=int, default=1_000, help="cycles between readings")
    parser.add_argument("--agents", type=int, default=50, help="distinct logged-in agents")
    parser.add_argument(
        "--max-growth-mib", type=float, default=8.0, help="exit 1 above this growth"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hitlnext_churn"
        ),
        help="PostgreSQL database to DROP and recreate (env BENCH_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the channel layer; keys use a fresh prefix (env BENCH_REDIS_URL)",
    )
    parser.add_argument("--logs", type=Path, help="keep the server's log in this directory")
    args = parser.parse_args(argv)
    if args.warmup >= args.cycles:
        parser.error("--warmup must be below --cycles")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    prefix = f"hxchurn-{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="hitlnext-churn-") as tmp:
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        env = production_env(args.database_url, args.redis_url, tmp, prefix)
        use_env(env)
        import django

        django.setup()
        from django.db import connections

        from bench import fixtures

        fixtures.recreate_database(args.database_url)
        fixtures.migrate()
        bot, _ = fixtures.create_bot()
        agents = fixtures.create_agents(args.agents)
        handoff = fixtures.open_handoff(bot, "churn-c")
        connections.close_all()

        server = start_daphne("churn", APP, env=env, logs=logs)
        try:
            wait_ready([server])
            print(
                f"{args.cycles:,} cycles, {args.batch} at a time, warm-up {args.warmup:,}, "
                f"Daphne pid {server.pid}",
                flush=True,
            )
            result = asyncio.run(
                churn(
                    base_url=server.url,
                    pid=server.pid,
                    sessions=[agent.headers for agent in agents],
                    handoff=handoff.pk,
                    cycles=args.cycles,
                    batch=args.batch,
                    warmup=args.warmup,
                    every=args.every,
                    log=lambda line: print(line, flush=True),
                )
            )
            left = leftovers(args.redis_url, prefix)
        except BaseException:
            print(f"--- server log (last lines)\n{server.tail()}", file=sys.stderr)
            raise
        finally:
            server.stop()
            from bench.run import flush_redis

            flush_redis(args.redis_url, prefix)
    print(report(result, left))
    return 1 if result.growth > args.max_growth_mib * MIB or result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
