"""1,000 idle agent sockets across a Redis restart: what keeping their groups costs, and how
soon they get pushes again.

    .venv/bin/python bench/redis_restart.py [--sockets 1000] [--idle 20]

Needs redis-server on PATH: it starts its own on a free port (no persistence, as a restart
there loses every group membership) and kills and restarts it; the shared Redis is never
touched. It recreates its own PostgreSQL database (default hitlnext_redis_restart), starts one
production-configured Daphne process on that Redis, connects the agent sockets (each its own
logged-in agent, hello said), then measures:
- idle: Redis commands per second and the server's CPU while the sockets sit idle (what the
  layer's check for lost memberships costs: it runs in the process's one reading loop, so it
  does not grow with the sockets);
- restart: Redis killed, restarted empty; from the moment it answers again, a push to the
  inbox group every 0.25 s until every socket got one; sockets still open at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.environment import production_env, use_env  # noqa: E402
from bench.load import FanOut  # noqa: E402
from bench.procs import (  # noqa: E402
    APP,
    free_port,
    raise_fd_limit,
    rss_bytes,
    start_daphne,
    wait_ready,
)

MIB = 2**20


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not self.answers():
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.01)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def commands(self) -> int:
        """Commands processed since the server started (INFO stats), this query excluded."""
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            return int(client.info("stats")["total_commands_processed"])
        finally:
            client.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def push(redis_url: str, prefix: str, html: str) -> None:
    from hitlnext_project.shared.channel_layer import RedisChannelLayer

    layer = RedisChannelLayer(hosts=[redis_url], prefix=prefix)
    try:
        await layer.group_send("inbox", {"type": "push.html", "html": html})
    except Exception:  # Redis not quite there yet: the next push will do
        pass
    finally:
        await layer.close_pools()


async def measure(args, server, redis: PrivateRedis, prefix: str, agents: list) -> list[str]:
    fan = FanOut()
    ws_url = server.url.replace("http://", "ws://") + "/ws/agent/"
    lines = []
    try:
        rss0 = rss_bytes(server.pid)
        fan.arm('id="online-switch"', expected=args.sockets)
        await fan.connect(
            ws_url,
            count=args.sockets,
            headers=[a.headers for a in agents],
            hello=json.dumps({"action": "hello"}),
        )
        if await fan.wait_all(120) < args.sockets:
            raise RuntimeError(f"only {len(fan.arrivals)} sockets said hello")
        await asyncio.sleep(2)
        rss1 = rss_bytes(server.pid)
        lines.append(
            f"- {args.sockets:,} agent sockets open: RSS {rss0 / MIB:.0f} -> {rss1 / MIB:.0f} MiB"
        )

        commands, cpu, began = redis.commands(), cpu_seconds(server.pid), time.monotonic()
        await asyncio.sleep(args.idle)
        took = time.monotonic() - began
        rate = (redis.commands() - commands - 1) / took
        cpu_share = (cpu_seconds(server.pid) - cpu) / took
        lines.append(
            f"- idle for {took:.0f} s: {rate:.2f} Redis commands/s from the process, "
            f"server CPU {100 * cpu_share:.2f}%"
        )

        await asyncio.to_thread(redis.kill)
        await asyncio.sleep(args.down)
        await asyncio.to_thread(redis.start)
        back = time.monotonic()
        token = f"back{uuid.uuid4().hex}"
        fan.arm(token)
        while len(fan.arrivals) < args.sockets and time.monotonic() - back < 60:
            await push(redis.url, prefix, f"<p>{token}</p>")
            await fan.wait_all(0.25)
        arrivals = sorted(fan.arrivals)
        if arrivals:
            first, last = arrivals[0] - back, arrivals[-1] - back
            reached = f"first socket {first:.2f} s, last {last:.2f} s after Redis answered"
        else:
            reached = "no socket"
        lines.append(
            f"- Redis down {args.down:.0f} s then back empty: {len(arrivals)} of "
            f"{args.sockets:,} sockets got a push again ({reached}); "
            f"{fan.open_count()} still open, RSS {rss_bytes(server.pid) / MIB:.0f} MiB"
        )
    finally:
        await fan.close()
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    parser.add_argument("--down", type=float, default=2.0, help="seconds Redis stays down")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hitlnext_redis_restart"
        ),
        help="PostgreSQL database to DROP and recreate (env BENCH_DATABASE_URL)",
    )
    parser.add_argument("--logs", type=Path, help="keep the server's log in this directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()
    redis = PrivateRedis()
    redis.start()
    prefix = "hxrestart"
    try:
        with tempfile.TemporaryDirectory(prefix="hitlnext-redis-restart-") as tmp:
            logs = args.logs or Path(tmp)
            logs.mkdir(parents=True, exist_ok=True)
            env = production_env(args.database_url, redis.url, tmp, prefix)
            use_env(env)
            import django

            django.setup()
            from django.db import connections

            from bench import fixtures

            fixtures.recreate_database(args.database_url)
            fixtures.migrate()
            agents = fixtures.create_agents(args.sockets)
            connections.close_all()
            server = start_daphne("restart", APP, env=env, logs=logs)
            try:
                wait_ready([server])
                lines = asyncio.run(measure(args, server, redis, prefix, agents))
            except BaseException:
                print(f"--- server log (last lines)\n{server.tail()}", file=sys.stderr)
                raise
            finally:
                server.stop()
    finally:
        redis.kill()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
