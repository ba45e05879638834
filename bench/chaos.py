"""The chaos run: the support floor's load on a scale-out deployment while its processes and
services are killed and restarted at random moments; then, once it has settled, proof that
nothing was lost.

    .venv/bin/python bench/chaos.py [--duration 180] [--rate 15] [--seed N] [--quick]

Everything runs on 127.0.0.1 and is the run's own: a throwaway PostgreSQL 15 cluster (initdb in
a temporary directory, port 5440 or the next free one), a redis-server without persistence
(6390 or next), two Daphne processes and two `run_worker` processes with production settings,
a webhook endpoint that verifies signatures, and the clients: a bot posting user messages
(POST /api/v1/messages) over a set of conversations and new handoffs (some with a timeout), agents
assigning, answering and resolving through their pages' endpoints, and agent pages (websockets
saying hello and catching up on every reconnect) each watching one conversation.

A scheduler (seeded; the seed is printed) injects faults at random moments, at least one of
each kind: a worker SIGKILLed and restarted, a Daphne process SIGKILLed and restarted on its
port, Redis killed and restarted empty, PostgreSQL stopped (fast or immediate) and started.
After the load, a bounded wait for the system to settle, then the checks (bench/chaos_checks.py)
and a report; exit status 1 on any violation. Everything it started is stopped and removed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chaos_clients import Agent, Bot, Page, Record, Servers, WebhookSink  # noqa: E402
from bench.environment import production_env, use_env  # noqa: E402
from bench.faults import PrivatePostgres, PrivateRedis  # noqa: E402
from bench.procs import (  # noqa: E402
    APP,
    Server,
    raise_fd_limit,
    restart_daphne,
    start_daphne,
    start_worker,
    wait_ready,
)

KINDS = ("worker", "daphne", "redis", "postgres")
# A killed worker's in-flight delivery is retried by another once its lease runs out.
LEASE = "10s"
WEBHOOK_TIMEOUT = "4s"


@dataclass
class Fault:
    kind: str
    at: float  # seconds into the load
    down: float  # seconds before the restart
    detail: str = ""
    began: float = 0.0  # time.monotonic() of the kill
    back: float = 0.0  # time.monotonic() when it answered again


def plan_faults(rng: random.Random, duration: float, rounds: int) -> list[Fault]:
    """`rounds` faults of each kind in random order, one in each slot of the load's middle
    (10%..75%), at a random moment of its slot; the last quarter lets things recover under
    load."""
    kinds = [kind for _ in range(rounds) for kind in KINDS]
    rng.shuffle(kinds)
    start, end = 0.10 * duration, 0.75 * duration
    slot = (end - start) / len(kinds)
    faults = []
    for n, kind in enumerate(kinds):
        at = start + n * slot + rng.uniform(0.1, 0.6) * slot
        down = {"worker": (0.5, 3), "daphne": (1, 3), "redis": (0.5, 2), "postgres": (2, 5)}[kind]
        faults.append(Fault(kind, round(at, 1), round(rng.uniform(*down), 1)))
    return faults


@dataclass
class Deployment:
    env: dict[str, str]
    logs: Path
    pg: PrivatePostgres
    redis: PrivateRedis
    web: list[Server] = field(default_factory=list)
    workers: list[Server] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)
    restarts: int = 0
    injecting: bool = False  # a fault is being injected: its process is meant to be down

    def start(self) -> None:
        self.web = [start_daphne(f"daphne-{n}", APP, env=self.env, logs=self.logs) for n in (1, 2)]
        self.workers = [start_worker(f"worker-{n}", env=self.env, logs=self.logs) for n in (1, 2)]
        wait_ready(self.web)

    def stop(self) -> None:
        for process in self.web + self.workers:
            process.stop()

    def new_worker(self, index: int) -> None:
        self.restarts += 1
        name = f"worker-{index + 1}-r{self.restarts}"
        self.workers[index] = start_worker(name, env=self.env, logs=self.logs, seconds=90)

    def new_daphne(self, index: int) -> None:
        self.web[index] = restart_daphne(self.web[index], APP, env=self.env)
        wait_ready([self.web[index]], seconds=90)

    def watch(self) -> None:
        """A process that ended without being killed by us is a finding: noted, restarted."""
        for n, worker in enumerate(self.workers):
            if worker.popen.poll() is not None and not self.injecting:
                self.unexpected_exits.append(f"{worker.name} exited {worker.popen.returncode}")
                self.new_worker(n)
        for n, server in enumerate(self.web):
            if server.popen.poll() is not None and not self.injecting:
                self.unexpected_exits.append(f"{server.name} exited {server.popen.returncode}")
                self.new_daphne(n)

    async def inject(self, fault: Fault, rng: random.Random) -> None:
        self.injecting = True
        try:
            await self._inject(fault, rng)
        finally:
            self.injecting = False

    async def _inject(self, fault: Fault, rng: random.Random) -> None:
        fault.began = time.monotonic()
        if fault.kind == "worker":
            n = rng.randrange(len(self.workers))
            fault.detail = f"{self.workers[n].name} (pid {self.workers[n].pid}) SIGKILL"
            self.workers[n].popen.send_signal(signal.SIGKILL)
            self.workers[n].popen.wait(10)
            await asyncio.sleep(fault.down)
            await asyncio.to_thread(self.new_worker, n)
        elif fault.kind == "daphne":
            n = rng.randrange(len(self.web))
            fault.detail = (
                f"{self.web[n].name} (pid {self.web[n].pid}, :{self.web[n].port}) SIGKILL"
            )
            self.web[n].popen.send_signal(signal.SIGKILL)
            self.web[n].popen.wait(10)
            await asyncio.sleep(fault.down)
            await asyncio.to_thread(self.new_daphne, n)
        elif fault.kind == "redis":
            fault.detail = f"redis-server :{self.redis.port} SIGKILL, restarted empty"
            await asyncio.to_thread(self.redis.stop)
            await asyncio.sleep(fault.down)
            await asyncio.to_thread(self.redis.start)
        else:
            mode = rng.choice(["fast", "immediate"])
            fault.detail = f"PostgreSQL :{self.pg.port} pg_ctl stop -m {mode}, start"
            await asyncio.to_thread(self.pg.stop, mode)
            await asyncio.sleep(fault.down)
            await asyncio.to_thread(self.pg.start)
        fault.back = time.monotonic()


# --- The load ----------------------------------------------------------------------------------


@dataclass
class Cast:
    api_key: str
    conversations: list[str]
    watched: list[tuple[int, int]]  # (handoff id, conversation pk) for each page
    page_sessions: list[str]
    agent_sessions: list[str]


async def run_load(
    args: argparse.Namespace,
    rng: random.Random,
    deployment: Deployment,
    cast: Cast,
    faults: list[Fault],
    record: Record,
    settled: Callable[[list[Page]], bool],
) -> tuple[list[Page], float]:
    """The load for args.duration seconds with the faults at their moments; then the settling
    (pages stay open until `settled()` holds or time runs out). Returns the pages and the
    seconds the settling took."""
    servers = Servers([s.url for s in deployment.web])
    bot = Bot(cast.api_key, servers, record, cast.conversations)
    stop_pages = asyncio.Event()
    pages = [
        Page(f"page-{n + 1}", session, handoff_id, conversation_pk, servers)
        for n, (session, (handoff_id, conversation_pk)) in enumerate(
            zip(cast.page_sessions, cast.watched, strict=True)
        )
    ]
    page_tasks = [asyncio.ensure_future(page.run(stop_pages)) for page in pages]
    agents = [
        Agent(f"a{n + 1}", session, servers, record)
        for n, session in enumerate(cast.agent_sessions)
    ]
    began = record.began = time.monotonic()
    record.began_wall = time.time()
    end = began + args.duration
    work: set[asyncio.Task] = set()

    async def scheduler() -> None:
        for fault in faults:
            await asyncio.sleep(max(0.0, began + fault.at - time.monotonic()))
            print(f"  t={time.monotonic() - began:5.1f}s  {fault.kind}...", flush=True)
            await deployment.inject(fault, rng)
            print(
                f"  t={time.monotonic() - began:5.1f}s  {fault.kind} back: {fault.detail}",
                flush=True,
            )

    async def supervisor() -> None:
        while time.monotonic() < end:
            await asyncio.to_thread(deployment.watch)
            await asyncio.sleep(1)

    async def agent_loop(agent: Agent) -> None:
        while time.monotonic() < end - 3:
            candidates = list(record.handoffs)
            if candidates:
                await agent.work(rng.choice(candidates), pause=lambda: rng.uniform(0.5, 2.5))
            await asyncio.sleep(rng.uniform(0.5, 2.0))

    async with bot.client() as client:

        async def handoffs() -> None:
            fresh = 0
            while time.monotonic() < end - 2:
                # Half in conversations of their own (the user writes there from then on),
                # half in known ones (often answered with the active handoff: 200).
                if rng.random() < 0.5:
                    fresh += 1
                    conversation = f"chaos-h{fresh}"
                    cast.conversations.append(conversation)
                else:
                    conversation = rng.choice(cast.conversations)
                timeout = rng.choice([0, rng.randint(8, 30), rng.randint(8, 30)])
                task = asyncio.ensure_future(bot.start_handoff(client, conversation, timeout))
                work.add(task)
                task.add_done_callback(work.discard)
                await asyncio.sleep(rng.expovariate(1 / args.handoff_every))

        async def messages() -> None:
            gate = asyncio.Semaphore(48)  # in flight at once, retries included
            next_at = time.monotonic()
            while (now := time.monotonic()) < end:
                if now < next_at:
                    await asyncio.sleep(next_at - now)
                next_at += rng.expovariate(args.rate)
                await gate.acquire()
                task = asyncio.ensure_future(
                    bot.post_message(client, rng.choice(cast.conversations))
                )
                work.add(task)
                task.add_done_callback(lambda _: gate.release())
                task.add_done_callback(work.discard)

        load = [scheduler(), supervisor(), handoffs(), messages(), *map(agent_loop, agents)]
        await asyncio.gather(*load)
        if work:  # requests still retrying: bounded by their own deadline
            await asyncio.wait(work, timeout=60)
    for agent in agents:
        await agent.close()
    print(f"  t={time.monotonic() - began:5.1f}s  load stopped; settling...", flush=True)
    settle_began = time.monotonic()
    hello_said = False
    while time.monotonic() - settle_began < args.settle:
        await asyncio.to_thread(deployment.watch)
        if all(p.connected for p in pages) and await asyncio.to_thread(settled, pages):
            break
        if not hello_said and time.monotonic() - settle_began > args.settle / 2:
            # Still missing something: what the page's periodic catch-up would bring.
            for page in pages:
                page.missing_before_hello = await asyncio.to_thread(missing_of, page)
                await page.say_hello()
            hello_said = True
        await asyncio.sleep(1)
    settling = time.monotonic() - settle_began
    stop_pages.set()
    await asyncio.wait(page_tasks, timeout=15)
    for task in page_tasks:
        task.cancel()
    return pages, settling


# --- Setup, checks and report -------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, help="seconds of load (default 180, quick 75)")
    parser.add_argument(
        "--rate", type=float, help="user messages per second (default 15, quick 10)"
    )
    parser.add_argument(
        "--seed", type=int, help="the faults' and the load's seed (default: random)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="one fault of each kind, shorter (CI: 2-3 minutes)"
    )
    parser.add_argument("--settle", type=float, default=90, help="at most this long to settle")
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this directory")
    args = parser.parse_args(argv)
    args.duration = args.duration or (75.0 if args.quick else 180.0)
    args.rate = args.rate or (10.0 if args.quick else 15.0)
    args.rounds = 1 if args.quick else 2
    args.conversations = 16 if args.quick else 30
    args.pages = 4 if args.quick else 6
    args.agents = 3
    args.handoff_every = 2.0  # seconds between new handoffs, on average
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(10**6)
    return args


def setup_cast(args: argparse.Namespace, webhook_url: str) -> tuple[Cast, str, object]:
    from django.db import connections

    from bench import fixtures
    from conversations.models import Bot as BotModel
    from handoffs.services import start_handoff

    fixtures.migrate()
    bot = BotModel(name="Chaos bot", webhook_url=webhook_url)
    api_key = bot.set_new_api_key()
    secret = bot.set_new_webhook_secret()
    bot.save()
    agents = fixtures.create_agents(args.pages + args.agents)
    conversations = [f"chaos-c{n}" for n in range(args.conversations)]
    watched = []
    for conversation in conversations[: args.pages]:
        handoff, _ = start_handoff(
            bot=bot,
            conversation_id=conversation,
            user_id=f"u-{conversation}",
            channel="web",
            user_variables={"fullName": f"Chaos {conversation}"},
        )
        watched.append((handoff.pk, handoff.conversation_id))
    connections.close_all()
    cast = Cast(
        api_key=api_key,
        conversations=conversations,
        watched=watched,
        page_sessions=[a.session_key for a in agents[: args.pages]],
        agent_sessions=[a.session_key for a in agents[args.pages :]],
    )
    return cast, secret, bot


def settled_now(bot) -> Callable[[list[Page]], bool]:
    """Whether the deployment has caught up: every delivery delivered, no timer overdue, every
    page showing its conversation's messages."""
    from django.db import close_old_connections
    from django.utils import timezone

    from conversations.models import Message
    from handoffs.models import Handoff
    from webhooks.models import Delivery

    def settled(pages: list[Page]) -> bool:
        close_old_connections()
        try:
            if Delivery.objects.filter(bot=bot).exclude(status=Delivery.Status.DELIVERED).exists():
                return False
            if Handoff.objects.filter(
                bot=bot, status=Handoff.Status.PENDING, expires_at__lt=timezone.now()
            ).exists():
                return False
            for page in pages:
                stored = set(
                    Message.objects.filter(conversation_id=page.conversation_id).values_list(
                        "id", flat=True
                    )
                )
                if not stored <= page.shown:
                    return False
            return True
        except Exception:  # the database is still coming back
            return False

    return settled


def missing_of(page: Page) -> set[int]:
    from django.db import close_old_connections

    from conversations.models import Message

    close_old_connections()
    ids = Message.objects.filter(conversation_id=page.conversation_id).values_list("id", flat=True)
    return set(ids) - page.shown


def report(args, faults, deployment, checks, settling: float, elapsed: float, began: float) -> str:
    lines = [
        f"Chaos run: seed {args.seed}, {args.duration:.0f} s of load at {args.rate:g} "
        f"messages/s, {args.conversations} conversations, {args.pages} agent pages, "
        f"{args.agents} agents, 2 Daphne + 2 workers, PostgreSQL 15 + Redis "
        f"(settled {settling:.0f} s after the load; {elapsed:.0f} s in all)",
        "",
        "Faults injected:",
    ]
    for f in faults:
        took = f"down {f.back - f.began:.1f} s" if f.back else "NOT RESTORED"
        lines.append(f"- t={f.began - began:5.1f}s {f.kind:8} {f.detail} ({took})")
    counts = {kind: sum(1 for f in faults if f.kind == kind and f.back) for kind in KINDS}
    lines.append("faults: " + ", ".join(f"{kind} {n}" for kind, n in counts.items()))
    if deployment.unexpected_exits:
        lines.append(f"unexpected process exits: {deployment.unexpected_exits}")
    lines.append("")
    for check in checks:
        lines.append(f"[{'PASS' if check.ok else 'FAIL'}] {check.name}")
        lines += [f"    {figure}" for figure in check.figures]
        lines += [f"    VIOLATION: {violation}" for violation in check.violations]
    violations = sum(len(c.violations) for c in checks) + len(deployment.unexpected_exits)
    lines += [
        "",
        f"losses: {sum(c.lost for c in checks)}",
        f"violations: {violations}",
        f"result: {'PASS' if not violations else 'FAIL'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    faults = plan_faults(rng, args.duration, args.rounds)
    print(f"chaos run, seed {args.seed}; faults planned:", flush=True)
    for fault in faults:
        print(f"  t={fault.at:5.1f}s  {fault.kind} (down {fault.down} s)", flush=True)
    raise_fd_limit()
    began = time.monotonic()
    var_dir = Path(os.environ.get("HITLNEXT_CHAOS_VAR_DIR", "/tmp/chaos-var"))
    var_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="run-", dir=var_dir))
    logs = args.logs or tmp / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pg = PrivatePostgres()
    redis = PrivateRedis()
    deployment = None
    try:
        pg.init()
        redis.start()
        with WebhookSink() as sink:
            env = production_env(
                pg.url("hitlnext_chaos"),
                redis.url,
                str(tmp),
                f"hxchaos-{uuid.uuid4().hex[:8]}",
                HITLNEXT_API_RATE_LIMIT="100000000/m",
                HITLNEXT_WEBHOOK_LEASE=LEASE,
                HITLNEXT_WEBHOOK_TIMEOUT=WEBHOOK_TIMEOUT,
                HITLNEXT_AGENT_SESSION_TIMEOUT="1h",
            )
            use_env(env)
            import django

            django.setup()
            from bench import fixtures

            fixtures.recreate_database(env["DATABASE_URL"])
            cast, sink.secret, bot = setup_cast(args, sink.url)
            deployment = Deployment(env=env, logs=logs, pg=pg, redis=redis)
            deployment.start()
            print(
                f"PostgreSQL :{pg.port}, Redis :{redis.port}, Daphne "
                f"{', '.join(s.url for s in deployment.web)}; load for {args.duration:.0f} s",
                flush=True,
            )
            record = Record()
            pages, settling = asyncio.run(
                run_load(args, rng, deployment, cast, faults, record, settled_now(bot))
            )
            checks = run_checks(args, bot, cast, deployment, record, sink, pages, faults)
        text = report(
            args, faults, deployment, checks, settling, time.monotonic() - began, record.began
        )
        print()
        print(text)
        return 0 if text.endswith("result: PASS") else 1
    except BaseException:
        for log in sorted(logs.glob("*.log")):
            tail = log.read_text(errors="replace")[-1500:].strip()
            if tail:
                print(f"--- {log.name} (last lines)\n{tail}", file=sys.stderr)
        raise
    finally:
        if deployment is not None:
            deployment.stop()
        redis.stop()
        pg.destroy()
        shutil.rmtree(tmp, ignore_errors=True)  # --logs, when given, is elsewhere


def moment(record: Record, faults: list[Fault], at: datetime) -> str:
    """When a wall-clock time was in the run: seconds into the load, and the fault whose
    window (from its kill to 5 s after it was back) holds it."""
    t = at.timestamp() - record.began_wall
    now = record.began + t
    around = [
        f"{f.kind} {'down' if now < f.back else f'back +{now - f.back:.1f} s'}"
        for f in faults
        if f.began - 0.5 <= now <= f.back + 5
    ]
    return f"t={t:.1f}s" + (f", {', '.join(around)}" if around else "")


def run_checks(args, bot, cast, deployment, record, sink, pages, faults) -> list:
    from django.db import connections

    from bench import chaos_checks

    connections.close_all()
    windows = {
        kind: [(f.began, f.back) for f in faults if f.kind == kind and f.back] for kind in KINDS
    }
    feed = chaos_checks.read_feed(deployment.web[0].url, cast.api_key)
    return [
        chaos_checks.messages_stored_once(bot, record),
        chaos_checks.events_delivered_in_order(bot, sink, feed),
        chaos_checks.pages_show_everything(pages, partial(moment, record, faults)),
        chaos_checks.no_timer_lost(bot, record, grace=timedelta(seconds=5)),
        chaos_checks.no_unexpected_5xx(record, windows, slack=3.0),
    ]


if __name__ == "__main__":
    sys.exit(main())
