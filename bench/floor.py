"""Support-floor benchmark (issue 13): A agents online, each a logged-in page (a socket with the
default inbox filters and one open conversation), C active conversations (5% waiting, the rest
assigned round-robin), bots posting user messages as an open-loop Poisson stream at R
messages/s, and agents answering part of them — all at once, on PostgreSQL + Redis.

    .venv/bin/python bench/floor.py [--quick] [--agents 50,200,500] [--rates 25,50,100,150]
                                    [--http gunicorn|daphne] [--seconds S]

Servers: HTTP on gunicorn (2 workers, deploy/gunicorn.conf.py) or on the Daphne process,
websockets on one Daphne process, one `run_worker`; everything on 127.0.0.1; the database
(default hitlnext_bench_floor) is dropped and recreated. For each A it offers each R in turn
(each step bounded: --seconds of load, then at most 5 s for late arrivals) and reports, per
(A, R): message-to-screen p50/p99 for the assignee (the message in its open conversation) and
for inbox items (the item's preview, on every page that shows it), agent-reply-to-webhook
p50/p99, errors, frames per second, CPU and RSS per process; then the highest R that kept both
p99 under 200 ms. Latency counts from the moment the message was due (open loop), so a server
that falls behind shows it. Method and results: bench/README.md, "Support floor".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets  # noqa: E402

from bench.load import HttpConnection, percentile  # noqa: E402
from bench.plan import Row, ms, table, verdict  # noqa: E402
from bench.procs import (  # noqa: E402
    APP,
    WSGI_APP,
    Profiler,
    Server,
    free_port,
    raise_fd_limit,
    rss_bytes,
    start_daphne,
    start_gunicorn,
    start_worker,
    summarize_profile,
    wait_ready,
)
from bench.run import configure, flush_redis  # noqa: E402

TARGET_P99 = 0.200  # seconds, message to screen
TOKEN = re.compile(r"tok(\d+)x")
REPLY = re.compile(r"rep(\d+)x")
PENDING_SHARE = 0.05  # of the active conversations, waiting for an agent
ANSWER_SHARE = 0.2  # of the user messages in assigned conversations, answered by the agent
THINK = 0.3  # seconds before the agent's answer goes out
BOT_CONNECTIONS = 16
AGENT_CONNECTIONS = 8
LATE = 5.0  # seconds a step waits for late arrivals after its load


@dataclass
class Floor:
    """What the bench knows of the database: who has which conversation."""

    api_key: str
    sessions: dict[int, str]  # agent id -> session key
    conversations: list[str]  # external ids
    handoff_of: dict[str, int]  # conversation external id -> handoff id
    db_id_of: dict[str, int]  # conversation external id -> conversation id
    pending: set[str] = field(default_factory=set)
    assignee: dict[str, int] = field(default_factory=dict)  # conversation -> agent id
    watching: dict[int, str] = field(default_factory=dict)  # agent id -> its open conversation


@dataclass
class Step:
    agents: int
    rate: float
    seconds: float
    sent: int = 0
    accepted: int = 0
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    assignee: list[float] = field(default_factory=list)
    inbox: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    expected_inbox: int = 0
    expected_assignee: int = 0
    frames: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU share of one core
    rss: dict[str, float] = field(default_factory=dict)  # process -> MiB

    def p(self, values: list[float], q: float) -> float | None:
        return percentile(values, q) if values else None

    @property
    def passed(self) -> bool:
        p99s = [self.p(self.assignee, 99), self.p(self.inbox, 99)]
        return (
            not self.errors
            and all(p is not None and p < TARGET_P99 for p in p99s)
            and len(self.assignee) >= 0.99 * self.expected_assignee
        )


# --- setup --------------------------------------------------------------------------------------


def build_floor(*, agents: int, conversations: int, webhook_url: str) -> Floor:
    """A bot whose webhooks go to the bench's receiver, `agents` online agents with sessions,
    and `conversations` active handoffs, written in bulk (no events: the floor starts busy)."""
    from django.conf import settings
    from django.utils import timezone

    from agents.models import AgentProfile
    from bench import fixtures
    from conversations.models import Bot
    from handoffs.models import Handoff

    bot, api_key = fixtures.create_bot()
    Bot.objects.filter(pk=bot.pk).update(webhook_url=webhook_url)
    people = fixtures.create_agents(agents)
    AgentProfile.objects.filter(user_id__in=[a.user_id for a in people]).update(
        online=True,
        capacity=0,
        session_expires_at=timezone.now() + settings.HITLNEXT_AGENT_SESSION_TIMEOUT,
    )
    ids = fixtures.create_conversations(bot, "floor", conversations)
    now = timezone.now()
    Handoff.objects.bulk_create(
        [
            Handoff(
                bot=bot,
                conversation_id=cid,
                language="en",
                created_at=now,
                last_activity_at=now,
                last_user_message="Hello?",
            )
            for cid in ids
        ],
        batch_size=1000,
    )
    rows = Handoff.objects.filter(bot=bot).values_list("pk", "conversation_id")
    handoff_by_db = {cid: pk for pk, cid in rows}
    external = [f"floor-{n}" for n in range(conversations)]
    return Floor(
        api_key=api_key,
        sessions={a.user_id: a.session_key for a in people},
        conversations=external,
        handoff_of={e: handoff_by_db[cid] for e, cid in zip(external, ids, strict=True)},
        db_id_of=dict(zip(external, ids, strict=True)),
    )


def staff_floor(floor: Floor, agent_ids: list[int]) -> None:
    """Assign the conversations round-robin to these agents (5% stay waiting), each agent's
    page watching its first one. Written directly: a bench's setting of the scene."""
    from django.db.models import Q
    from django.utils import timezone

    from handoffs.models import Handoff

    floor.pending.clear()
    floor.assignee.clear()
    floor.watching.clear()
    every = round(1 / PENDING_SHARE)
    by_agent: dict[int, list[int]] = defaultdict(list)
    for n, conversation in enumerate(floor.conversations):
        if n % every == 0:
            floor.pending.add(conversation)
            continue
        agent = agent_ids[n % len(agent_ids)]
        floor.assignee[conversation] = agent
        floor.watching.setdefault(agent, conversation)
        by_agent[agent].append(floor.handoff_of[conversation])
    pending_ids = [floor.handoff_of[c] for c in floor.pending]
    now = timezone.now()
    Handoff.objects.filter(pk__in=pending_ids).update(
        status=Handoff.Status.PENDING, agent=None, assigned_at=None
    )
    for agent, handoff_ids in by_agent.items():
        Handoff.objects.filter(Q(pk__in=handoff_ids)).update(
            status=Handoff.Status.ASSIGNED, agent_id=agent, assigned_at=now
        )


# --- the webhook receiver -------------------------------------------------------------------------


class Receiver:
    """A minimal HTTP/1.1 server on 127.0.0.1 answering 200 to every webhook, noting when each
    agent reply (by its token) arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrived: dict[int, float] = {}
        self.events = 0
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                at = time.perf_counter()
                self.events += 1
                for match in REPLY.finditer(body.decode(errors="replace")):
                    self.arrived.setdefault(int(match.group(1)), at)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


# --- one step: A pages, R messages/s ------------------------------------------------------------


class Pages:
    """A agents' pages: one socket each, hello with the default filters and its conversation."""

    def __init__(self, floor: Floor, url: str, agent_ids: list[int]) -> None:
        self.floor, self.url, self.agent_ids = floor, url, agent_ids
        self.sockets: list[websockets.ClientConnection] = []
        self.readers: list[asyncio.Task] = []
        self.frames = 0
        self.closed = 0
        self.answered: set[int] = set()  # agents whose hello was answered
        # token -> arrival times: (kind, agent) -> first arrival
        self.arrivals: dict[int, dict[tuple[str, int], float]] = defaultdict(dict)

    async def open(self) -> None:
        async def one(agent: int) -> None:
            for attempt in range(5):  # a handshake Daphne dropped (busy): as a page, retry
                try:
                    ws = await websockets.connect(
                        self.url,
                        additional_headers={"Cookie": f"sessionid={self.floor.sessions[agent]}"},
                        origin=self.url.replace("ws://", "http://").split("/ws/")[0],
                        open_timeout=60,
                        ping_interval=None,
                        max_queue=None,
                        max_size=None,
                    )
                    break
                except (websockets.InvalidMessage, OSError):
                    if attempt == 4:
                        raise
                    await asyncio.sleep(1 + attempt)
            watching = self.floor.watching.get(agent)
            hello = {
                "action": "hello",
                "handoff": self.floor.handoff_of[watching] if watching else None,
                "after": None,
                "inbox": ["unassigned", "mine"],
            }
            await ws.send(json.dumps(hello))
            self.sockets.append(ws)
            self.readers.append(asyncio.create_task(self._read(ws, agent)))

        for start in range(0, len(self.agent_ids), 50):
            await asyncio.gather(*(one(a) for a in self.agent_ids[start : start + 50]))
        # The floor starts once every page has its state (the hellos' answers), and the
        # server has had a moment to settle: not a measurement of a page storm.
        deadline = time.monotonic() + 120
        while len(self.answered) < len(self.agent_ids) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)
        self.frames = 0

    async def _read(self, ws: websockets.ClientConnection, agent: int) -> None:
        try:
            async for frame in ws:
                at = time.perf_counter()
                self.frames += 1
                self.answered.add(agent)
                text = frame if isinstance(frame, str) else frame.decode()
                if "inbox-item" in text:
                    kind = "inbox"
                elif "-messages" in text:
                    kind = "message"
                else:
                    continue
                for match in TOKEN.finditer(text):
                    self.arrivals[int(match.group(1))].setdefault((kind, agent), at)
        except websockets.ConnectionClosed:
            self.closed += 1

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)


class Clients:
    """Keep-alive HTTP connections, one request at a time each, shared by whoever needs one."""

    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count
        self.free: asyncio.Queue[HttpConnection] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.count):
            self.free.put_nowait(await HttpConnection(self.url).open())

    async def request(self, raw_for) -> int:
        connection = await self.free.get()
        try:
            status, _ = await connection.send(raw_for(connection))
        except (ConnectionError, asyncio.IncompleteReadError):
            connection.close()
            connection = await HttpConnection(self.url).open()
            status = 599
        finally:
            self.free.put_nowait(connection)
        return status

    async def close(self) -> None:
        while not self.free.empty():
            self.free.get_nowait().close()


async def run_step(
    floor: Floor,
    step: Step,
    *,
    http_url: str,
    pages: Pages,
    receiver: Receiver,
    seed: int,
    first_token: int,
) -> None:
    """One (A, R) step. Tokens start at `first_token`: a late arrival from an earlier step is
    never taken for one of this step's."""
    rng = random.Random(seed)
    bots, agents = Clients(http_url, BOT_CONNECTIONS), Clients(http_url, AGENT_CONNECTIONS)
    await bots.open()
    await agents.open()
    connected = set(pages.agent_ids)
    active = [c for c in floor.conversations if c in floor.pending or c in floor.assignee]
    due: dict[int, float] = {}  # token -> when the message was due
    expect: dict[int, list[tuple[str, int]]] = {}
    reply_due: dict[int, float] = {}
    tasks: set[asyncio.Task] = set()
    csrf = uuid.uuid4().hex

    async def user_message(n: int, conversation: str) -> None:
        body = json.dumps(
            {
                "conversation_id": conversation,
                "user_id": f"floor-u{conversation.split('-')[1]}",
                "channel": "web",
                "id": f"m{n}-{uuid.uuid4().hex[:8]}",
                "direction": "incoming",
                "text": f"Where is my order? tok{n}x",
            }
        ).encode()
        headers = {"Authorization": f"Bearer {floor.api_key}"}
        status = await bots.request(
            lambda c: c.request_bytes("POST", "/api/v1/messages", body=body, headers=headers)
        )
        step.sent += 1
        if status in (200, 201):
            step.accepted += 1
        else:
            step.errors[f"api {status}"] += 1
            expect.pop(n, None)
            return
        agent = floor.assignee.get(conversation)
        if agent is not None and agent in connected and rng.random() < ANSWER_SHARE:
            await asyncio.sleep(THINK)
            await agent_reply(n, agent, conversation)

    async def agent_reply(n: int, agent: int, conversation: str) -> None:
        handoff = floor.handoff_of[conversation]
        body = f"text=On+it+rep{n}x".encode()
        headers = {
            "Cookie": f"sessionid={floor.sessions[agent]}; csrftoken={csrf}",
            "X-CSRFToken": csrf,
            "HX-Request": "true",
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(len(body)),
        }

        def raw(c: HttpConnection) -> bytes:
            lines = [f"POST /handoffs/{handoff}/send/ HTTP/1.1", f"Host: {c.host}:{c.port}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

        reply_due[n] = time.perf_counter()
        status = await agents.request(raw)
        if status != 200:
            step.errors[f"send {status}"] += 1
            reply_due.pop(n, None)

    # Open loop: each message is due at its Poisson arrival time, sent then, whatever the
    # server's state (a connection free or not: waiting for one counts in its latency).
    began = time.perf_counter()
    at = began
    n = first_token
    while True:
        at += rng.expovariate(step.rate)
        if at - began >= step.seconds:
            break
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        n += 1
        conversation = rng.choice(active)
        due[n] = at
        if conversation in floor.pending:
            expect[n] = [("inbox", a) for a in pages.agent_ids]
        else:
            agent = floor.assignee[conversation]
            if agent in connected:
                kind = "message" if floor.watching.get(agent) == conversation else "inbox"
                expect[n] = [(kind, agent)]
        task = asyncio.create_task(user_message(n, conversation))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    load_end = time.perf_counter()
    deadline = load_end + LATE
    while time.perf_counter() < deadline and (
        tasks
        or not all(_arrived(pages, t, e) for t, e in expect.items())
        or not all(n in receiver.arrived for n in reply_due)
    ):
        await asyncio.sleep(0.1)
    step.frames = pages.frames
    for token, wanted in expect.items():
        got = pages.arrivals.get(token, {})
        for key in wanted:
            kind = "assignee" if key[0] == "message" else "inbox"
            if kind == "assignee":
                step.expected_assignee += 1
            else:
                step.expected_inbox += 1
            if key in got:
                (step.assignee if kind == "assignee" else step.inbox).append(got[key] - due[token])
    for n, sent_at in reply_due.items():
        if n in receiver.arrived:
            step.replies.append(receiver.arrived[n] - sent_at)
        else:
            step.errors["reply not at the webhook within 5 s"] += 1
    missing = step.expected_assignee - len(step.assignee)
    if missing:
        step.errors["not on the assignee's screen within 5 s"] += missing
    if pages.closed:
        step.errors["sockets closed"] += pages.closed
    for task in list(tasks):
        task.cancel()
    await bots.close()
    await agents.close()
    pages.frames = 0
    pages.arrivals.clear()
    step.seconds = load_end - began


def _arrived(pages: Pages, token: int, wanted: list[tuple[str, int]]) -> bool:
    got = pages.arrivals.get(token, {})
    return all(key in got for key in wanted)


# --- processes ----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (gunicorn: its workers)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid, *_children(pid)]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError):
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mib(pid: int) -> float:
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            total += rss_bytes(p)
        except (OSError, RuntimeError):
            pass
    return total / 2**20


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="A=50,200, C=1,000, short steps")
    parser.add_argument("--agents", help="comma-separated A values (default 50,200,500)")
    parser.add_argument("--rates", help="comma-separated R values, messages/s")
    parser.add_argument("--conversations", type=int, help="C (default 5,000; quick 1,000)")
    parser.add_argument("--seconds", type=float, help="load per step (default 20; quick 6)")
    parser.add_argument("--http", choices=("gunicorn", "daphne"), default="gunicorn")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_FLOOR_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hitlnext_bench_floor"
        ),
        help="PostgreSQL database to DROP and recreate (env BENCH_FLOOR_DATABASE_URL)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the channel layer and cache; keys use a fresh prefix",
    )
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this directory")
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy profiles of the HTTP server (its workers too) and the websocket Daphne "
        "during the largest A's highest-rate step, written and summarised here",
    )
    args = parser.parse_args(argv)

    def numbers(text: str | None, default: str) -> list[float]:
        return [float(x) for x in (text or default).split(",") if x.strip()]

    args.agents = [int(a) for a in numbers(args.agents, "50,200" if args.quick else "50,200,500")]
    args.rates = numbers(args.rates, "10,25" if args.quick else "25,50,100,150")
    args.conversations = args.conversations or (1000 if args.quick else 5000)
    args.seconds = args.seconds or (6.0 if args.quick else 20.0)
    if min(args.rates) <= 0 or min(args.agents) < 1:
        parser.error("rates and agents must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise_fd_limit()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hitlnext-bench-floor-") as tmp:
        args.var_dir = tmp
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        env = configure(args)
        extra = {"HITLNEXT_AGENT_SESSION_TIMEOUT": "2h", "HITLNEXT_ASSIGNMENT": "manual"}
        env |= extra
        os.environ.update(extra)

        import django

        django.setup()
        from django.db import connections

        from bench import fixtures

        fixtures.recreate_database(args.database_url)
        fixtures.migrate()
        receiver = Receiver()
        floor = build_floor(
            agents=max(args.agents), conversations=args.conversations, webhook_url=receiver.url
        )
        connections.close_all()
        print(f"setup done in {time.perf_counter() - began:.0f} s", flush=True)

        servers: dict[str, Server] = {}
        try:
            servers["ws"] = start_daphne("daphne", APP, env=env, logs=logs)
            if args.http == "gunicorn":
                servers["http"] = start_gunicorn(
                    "gunicorn", WSGI_APP, env=env, logs=logs, workers=2, threads=8
                )
            servers["worker"] = start_worker("worker", env=env, logs=logs)
            wait_ready([s for s in servers.values() if s.port])
            steps = asyncio.run(run_all(args, floor, servers, receiver))
        except BaseException:
            for log in sorted(logs.glob("*.log")):
                tail = log.read_text(errors="replace")[-2000:].strip()
                if tail:
                    print(f"--- {log.name} (last lines)\n{tail}", file=sys.stderr)
            raise
        finally:
            for server in servers.values():
                server.stop()
            flush_redis(args.redis_url, env["HITLNEXT_REDIS_PREFIX"])

    elapsed = time.perf_counter() - began
    http = "gunicorn (2 workers x 8 threads)" if args.http == "gunicorn" else "the Daphne process"
    print()
    print(
        f"hitlnext support floor ({'quick' if args.quick else 'full'} run, {elapsed:.0f} s, "
        f"{os.cpu_count()} CPUs; PostgreSQL + Redis; HTTP on {http}, websockets on 1 Daphne, "
        f"1 worker, the load generator, all on 127.0.0.1; C={args.conversations:,})"
    )
    print()
    print(table(summary(args, steps)))
    if args.profile:
        for path in sorted(args.profile.glob("*.txt")):
            print(f"\n### py-spy: {path.name}\n")
            print(summarize_profile(path))
    return 0 if all(s.passed for s in steps if (s.agents, s.rate) == (500, 100)) else 1


async def run_all(
    args: argparse.Namespace, floor: Floor, servers: dict[str, Server], receiver: Receiver
) -> list[Step]:
    from asgiref.sync import sync_to_async

    await receiver.start()
    http = servers.get("http", servers["ws"])
    ws_url = servers["ws"].url.replace("http://", "ws://") + "/ws/agent/"
    agent_ids = sorted(floor.sessions)
    steps: list[Step] = []
    procs = {name: s.pid for name, s in servers.items()} | {"load": os.getpid()}
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    for a in args.agents:
        await sync_to_async(staff_floor)(floor, agent_ids[:a])
        pages = Pages(floor, ws_url, agent_ids[:a])
        await pages.open()
        try:
            for r in args.rates:
                step = Step(agents=a, rate=r, seconds=args.seconds)
                profilers = []
                if args.profile and a == max(args.agents) and r == max(args.rates):
                    profilers = [
                        Profiler(http.pid, args.profile / "http.txt", subprocesses=True),
                        Profiler(servers["ws"].pid, args.profile / "websockets.txt"),
                    ]
                cpu0 = {name: cpu_seconds(pid) for name, pid in procs.items()}
                t0 = time.perf_counter()
                try:
                    await run_step(
                        floor,
                        step,
                        http_url=http.url,
                        pages=pages,
                        receiver=receiver,
                        seed=args.seed,
                        first_token=len(steps) * 10**7,
                    )
                finally:
                    for profiler in profilers:
                        profiler.stop()
                wall = time.perf_counter() - t0
                step.cpu = {n: (cpu_seconds(p) - cpu0[n]) / wall for n, p in procs.items()}
                step.rss = {n: rss_mib(p) for n, p in procs.items()}
                steps.append(step)
                print(step_line(step), flush=True)
                if not step.passed and r >= 100 and not args.profile:
                    break  # past the knee: higher rates only take longer to fail
        finally:
            await pages.close()
    await receiver.stop()
    return steps


def _ms(value: float | None) -> str:
    return "n/a" if value is None else ms(value)


def step_line(step: Step) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in step.errors.items()) or "none"
    return (
        f"A={step.agents} R={step.rate:g}/s: {step.accepted / step.seconds:.0f} msg/s accepted; "
        f"assignee p50 {_ms(step.p(step.assignee, 50))} p99 {_ms(step.p(step.assignee, 99))}; "
        f"inbox p50 {_ms(step.p(step.inbox, 50))} p99 {_ms(step.p(step.inbox, 99))}; "
        f"reply->webhook p50 {_ms(step.p(step.replies, 50))} "
        f"p99 {_ms(step.p(step.replies, 99))}; {step.frames / step.seconds:,.0f} frames/s; "
        f"errors: {errors}"
    )


def summary(args: argparse.Namespace, steps: list[Step]) -> list[Row]:
    rows = []
    for step in steps:
        cpu = ", ".join(f"{n} {c:.0%}" for n, c in step.cpu.items())
        rss = ", ".join(f"{n} {m:.0f}" for n, m in step.rss.items())
        errors = ", ".join(f"{k} {v}" for k, v in step.errors.items()) or "0"
        rows.append(
            Row(
                f"A={step.agents}, R={step.rate:g}/s offered",
                f"{step.accepted / step.seconds:.0f}/s accepted; to screen: assignee p50 "
                f"{_ms(step.p(step.assignee, 50))} / p99 {_ms(step.p(step.assignee, 99))} "
                f"({len(step.assignee)}/{step.expected_assignee}), inbox p50 "
                f"{_ms(step.p(step.inbox, 50))} / p99 {_ms(step.p(step.inbox, 99))} "
                f"({len(step.inbox)}/{step.expected_inbox}); reply->webhook p50 "
                f"{_ms(step.p(step.replies, 50))} / p99 {_ms(step.p(step.replies, 99))}; "
                f"{step.frames / step.seconds:,.0f} frames/s; errors {errors}; "
                f"CPU (of one core) {cpu}; RSS MiB {rss}",
                "none: an absolute target",
                "",
                "p99 < 200 ms, 0 errors",
                verdict(step.passed),
            )
        )
    for a in args.agents:
        good = [s.rate for s in steps if s.agents == a and s.passed]
        rows.append(
            Row(
                f"Highest R with both p99 < 200 ms and no error, A={a}",
                f"{max(good):g} messages/s" if good else "none of the rates tried",
                "",
                "",
                "R=100 at A=500" if a == 500 else "",
                verdict(100 in good) if a == 500 else "",
            )
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
