"""HTTP measurements: API ingest throughput and inbox render time."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.load import HttpConnection, LoadResult, http_load, percentile
from bench.plan import TARGETS, Plan, Row, ms, verdict
from bench.procs import Profiler, Server

# --- Ingest -----------------------------------------------------------------------------------
# hitlnext's POST /api/v1/messages beside its floors, on both server kinds of the deployment:
# - one Daphne process (the embedded default's server) against the bare JSON view on Daphne;
# - gunicorn (the scale-out deployment's HTTP: deploy/gunicorn.conf.py, 2 workers x 8 threads)
#   against the irreducible transaction (a locked read, an insert, a durable COMMIT in raw SQL)
#   and the bare JSON view, both on the same gunicorn settings.
# All of them take turns in slices, so each sees the same background load. The load is wrk
# (C, a Lua script making a new message id per request) when installed, else bench.load's
# Python client; every ingest row uses the same one.

WRK = shutil.which("wrk")
CONVERSATIONS = 100
IN_HANDOFF = 10
# Connections per target: as many as the server serves at once (Daphne's one sync thread gets 8
# in flight, so its event loop is never idle; gunicorn's 2 x 8 threads get 16).
DAPHNE_CONNECTIONS = 8
GUNICORN_WORKERS, GUNICORN_THREADS = 2, 8
GUNICORN_CONNECTIONS = GUNICORN_WORKERS * GUNICORN_THREADS


def conversation_ids(k: int) -> tuple[str, str]:
    """The bot's ids for conversation k: the same user each time, as a real bot sends."""
    return f"ingest-c-{k}", f"user-ingest-c-{k}"


def prepare_ingest(bot) -> None:
    """The 100 conversations exist before the first request (the first IN_HANDOFF with an
    active handoff, opened by the caller), so that hitlnext and the irreducible floor, which
    only locks an existing conversation, do the same work from the first slice on."""
    from conversations.models import Conversation, EndUser

    for k in range(CONVERSATIONS):
        conversation_id, user_id = conversation_ids(k)
        if Conversation.objects.filter(bot=bot, external_id=conversation_id).exists():
            continue
        user, _ = EndUser.objects.get_or_create(bot=bot, external_id=user_id)
        Conversation.objects.create(
            bot=bot, external_id=conversation_id, end_user=user, channel="web"
        )


def message_body(run: str, n: int) -> bytes:
    conversation_id, user_id = conversation_ids(n % CONVERSATIONS)
    return json.dumps(
        {
            "conversation_id": conversation_id,
            "user_id": user_id,
            "channel": "web",
            "id": f"{run}-{n}",
            "direction": "incoming",
            "text": f"Hello, this is message {n} about my order.",
        }
    ).encode()


# One request per call, a new message id each (thread id, counter), spread over the
# conversations like the Python client's. Arguments: run id, path, API key (or "").
WRK_SCRIPT = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  run, path, key = args[1], args[2], args[3]
  headers = {["Content-Type"] = "application/json"}
  if key ~= "" then headers["Authorization"] = "Bearer " .. key end
  n = 0
end
function request()
  n = n + 1
  local k = (n + tid * 37) % CONVERSATIONS
  local body = string.format(
    '{"conversation_id":"ingest-c-%d","user_id":"user-ingest-c-%d","channel":"web",' ..
    '"id":"%s-%d-%d","direction":"incoming",' ..
    '"text":"Hello, this is message %d about my order."}',
    k, k, run, tid, n, n)
  return wrk.format("POST", path, headers, body)
end
""".replace("CONVERSATIONS", str(CONVERSATIONS))


@dataclass
class Target:
    label: str
    server: Server
    path: str
    connections: int
    api_key: str = ""


@dataclass
class Tally:
    """Several slices of one target: requests finished in the timed windows."""

    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    p50s: list[float] = field(default_factory=list)  # per slice, in seconds

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.errors += other.errors
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        self.p50s += other.p50s

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def p50_ms(self) -> float:
        return 1000 * statistics.median(self.p50s) if self.p50s else 0.0

    def describe(self) -> str:
        errors = f" ({self.errors} errors: {self.statuses})" if self.errors else ""
        return f"{self.throughput:,.0f} req/s (p50 {self.p50_ms:.1f} ms){errors}"


_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def _seconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk_slice(target: Target, run: str, seconds: float, script: Path) -> Tally:
    command = [WRK, "-t2", f"-c{target.connections}", f"-d{max(1, round(seconds))}s"]
    command += ["--timeout", "10s", "--latency", "-s", str(script), target.server.url]
    command += ["--", run, target.path, target.api_key]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    done = re.search(r"(\d+) requests in ([\d.]+(?:us|ms|s|m))", out)
    p50 = re.search(r"^\s+50%\s+([\d.]+(?:us|ms|s|m))", out, re.MULTILINE)
    if not done or not p50:
        raise RuntimeError(f"wrk on {target.label}: unexpected output\n{out}")
    tally = Tally(requests=int(done.group(1)), seconds=_seconds(done.group(2)))
    tally.p50s.append(_seconds(p50.group(1)))
    if bad := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        tally.errors += int(bad.group(1))
        tally.statuses["non-2xx"] = int(bad.group(1))
    if sock := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        tally.errors += sum(int(n) for n in sock.groups())
        tally.statuses["socket"] = sum(int(n) for n in sock.groups())
    return tally


def python_slice(target: Target, run: str, seconds: float, warmup: float) -> Tally:
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}

    def make(conn: HttpConnection, n: int) -> bytes:
        body = message_body(run, n)
        return conn.request_bytes("POST", target.path, body=body, headers=headers)

    result: LoadResult = asyncio.run(
        http_load(
            [target.server.url],
            make,
            connections=target.connections,
            warmup=warmup,
            duration=seconds,
        )
    )
    tally = Tally(requests=result.requests, seconds=result.seconds, errors=result.errors)
    tally.statuses = {str(k): v for k, v in result.statuses.items()}
    if result.latencies:
        tally.p50s.append(statistics.median(result.latencies))
    return tally


# The targets take turns in this many slices (the order reversed every other slice).
SLICES = 4


def measure_ingest(
    plan: Plan,
    *,
    daphne: Server,
    daphne_floor: Server,
    gunicorn: Server,
    gunicorn_floor: Server,
    api_key: str,
    profile: Path | None,
) -> list[Row]:
    targets = {
        "daphne": Target(
            "hitlnext, 1 Daphne", daphne, "/api/v1/messages", DAPHNE_CONNECTIONS, api_key
        ),
        "daphne_bare": Target("bare view, Daphne", daphne_floor, "/bare", DAPHNE_CONNECTIONS),
        "gunicorn": Target(
            "hitlnext, gunicorn", gunicorn, "/api/v1/messages", GUNICORN_CONNECTIONS, api_key
        ),
        "gunicorn_bare": Target(
            "bare view, gunicorn", gunicorn_floor, "/bare", GUNICORN_CONNECTIONS
        ),
        "irreducible": Target(
            "irreducible transaction, gunicorn",
            gunicorn_floor,
            "/irreducible",
            GUNICORN_CONNECTIONS,
        ),
    }
    tallies = {name: Tally() for name in targets}
    profilers = []
    if profile:
        profilers = [
            Profiler(daphne.pid, profile / "ingest-daphne.txt"),
            Profiler(gunicorn.pid, profile / "ingest-gunicorn.txt", subprocesses=True),
        ]
    seconds = plan.ingest_seconds / SLICES
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="hx-ingest-") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        for n in range(SLICES):
            order = list(targets) if n % 2 == 0 else list(reversed(targets))
            for name in order:
                target = targets[name]
                run = f"{name}-{n}-{uuid.uuid4().hex[:6]}"
                if WRK:
                    if n == 0:  # warm-up: connections, templates, caches, the pools
                        wrk_slice(target, run + "w", 1.0, Path(script.name))
                    tallies[name].add(wrk_slice(target, run, seconds, Path(script.name)))
                else:
                    warmup = 1.0 if n == 0 else 0.2
                    tallies[name].add(python_slice(target, run, seconds, warmup))
    for profiler in profilers:
        profiler.stop()

    def row(measurement: str, real: str, floor: str, *, target: bool) -> Row:
        ratio = (
            tallies[real].throughput / tallies[floor].throughput
            if tallies[floor].throughput
            else 0.0
        )
        return Row(
            measurement,
            tallies[real].describe(),
            f"{FLOOR_NAMES[floor]}: {tallies[floor].describe()}",
            f"{ratio:.0%}",
            f">= {TARGETS['ingest']:.0%} of floor" if target else "",
            verdict(ratio >= TARGETS["ingest"] and not tallies[real].errors) if target else "",
        )

    what = f"(100 conversations, 10 in handoff; {'wrk' if WRK else 'Python client'})"
    gunicorn_kind = f"gunicorn {GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads"
    return [
        row(
            f"Ingest POST /api/v1/messages, 1 Daphne process (embedded-like), "
            f"{DAPHNE_CONNECTIONS} connections {what}",
            "daphne",
            "daphne_bare",
            target=True,
        ),
        row(
            f"Ingest POST /api/v1/messages, {gunicorn_kind} (scale-out), "
            f"{GUNICORN_CONNECTIONS} connections {what}",
            "gunicorn",
            "irreducible",
            target=True,
        ),
        row(
            f"Ingest POST /api/v1/messages, {gunicorn_kind}, beside the bare view",
            "gunicorn",
            "gunicorn_bare",
            target=False,
        ),
    ]


FLOOR_NAMES = {
    "daphne_bare": "bare JSON view, same Daphne",
    "gunicorn_bare": "bare JSON view, same gunicorn",
    "irreducible": "irreducible transaction (locked read, insert, COMMIT; raw SQL), same gunicorn",
}


# --- Inbox ------------------------------------------------------------------------------------


# Requests before the timed ones: templates compile and caches fill on the first few.
WARM_UP = 10


def inbox_alias(size: int) -> str:
    return f"inbox_{size}"


async def time_gets_interleaved(
    targets: list[tuple[Server, str]], headers: dict, count: int
) -> list[list[float]]:
    """GET each (server, path) in turn, `count` times each after a warm-up: latencies per
    target. Taking turns means every target sees the same background load."""
    conns = [await HttpConnection(server.url).open() for server, _ in targets]
    raws = [
        c.request_bytes("GET", path, headers=headers)
        for c, (_, path) in zip(conns, targets, strict=True)
    ]
    latencies: list[list[float]] = [[] for _ in targets]
    try:
        for n in range(count + WARM_UP):
            for i, (conn, raw) in enumerate(zip(conns, raws, strict=True)):
                started = time.perf_counter()
                status, body = await conn.send(raw)
                if status != 200:
                    raise RuntimeError(f"GET {targets[i][1]}: {status} {body[:300]!r}")
                if n >= WARM_UP:
                    latencies[i].append(time.perf_counter() - started)
    finally:
        for conn in conns:
            conn.close()
    return latencies


def count_queries(path: str, user_id: int, *, using: str) -> int:
    """The queries of one request, run in this process against the database `using`."""
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")  # DEBUG is off: "testserver" is not allowed
    original = connections["default"]
    # The views query "default": point it at that database for this one request.
    connections["default"] = connections[using]
    try:
        client.force_login(get_user_model().objects.get(pk=user_id))
        with CaptureQueriesContext(connections[using]) as queries:
            response = client.get(path)
    finally:
        connections["default"] = original
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} in process: {response.status_code}")
    return len(queries)


def measure_inbox(plan: Plan, servers: dict[int, Server], agents: list) -> list[Row]:
    """`servers`: one hitlnext process per inbox size, each on its own database of that size
    (built beforehand by the caller)."""
    viewer = agents[0]
    paths = [
        ("Inbox page /", "/"),
        ("Inbox list, Resolved filter", "/inbox/list/?f=1&status=resolved"),
    ]
    sizes = plan.inbox_sizes
    targets = [(servers[size], path) for size in sizes for _, path in paths]
    samples = asyncio.run(time_gets_interleaved(targets, viewer.headers, plan.inbox_requests))
    rows = []
    for p, (label, path) in enumerate(paths):
        base = statistics.median(samples[p])
        base_queries = count_queries(path, viewer.user_id, using=inbox_alias(sizes[0]))
        for s, size in enumerate(sizes):
            timings = samples[s * len(paths) + p]
            p50, p99 = statistics.median(timings), percentile(timings, 99)
            queries = count_queries(path, viewer.user_id, using=inbox_alias(size))
            value = f"p50 {ms(p50)}, p99 {ms(p99)}, {queries} queries"
            if s == 0:
                rows.append(
                    Row(f"{label}, {size:,} handoffs", value, "(baseline)", "1.00x", "", "")
                )
                continue
            ratio = p50 / base
            rows.append(
                Row(
                    f"{label}, {size:,} handoffs",
                    value,
                    f"same at {sizes[0]:,}: p50 {ms(base)}",
                    f"{ratio:.2f}x (p50)",
                    f"<= {TARGETS['inbox_flat']}x, same query count",
                    verdict(ratio <= TARGETS["inbox_flat"] and queries == base_queries),
                )
            )
    return rows
