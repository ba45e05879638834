"""HTTP measurements: API ingest throughput and inbox render time."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from pathlib import Path

from bench.load import HttpConnection, LoadResult, http_load, percentile
from bench.plan import TARGETS, Plan, Row, ms, verdict
from bench.procs import Profiler, Server

# --- Ingest -----------------------------------------------------------------------------------


def message_request(api_key: str, run: str, conversations: int = 100):
    auth = {"Authorization": f"Bearer {api_key}"}

    def make(conn: HttpConnection, n: int) -> bytes:
        # 100 conversations; ingest-c-0..9 have an active handoff (live pushes to agents).
        k = n % conversations
        body = {
            "conversation_id": f"ingest-c-{k}",
            "user_id": f"ingest-u-{k}",
            "channel": "web",
            "id": f"{run}-{n}",
            "direction": "incoming",
            "text": f"Hello, this is message {n} about my order.",
        }
        return conn.request_bytes(
            "POST", "/api/v1/messages", body=json.dumps(body).encode(), headers=auth
        )

    return make


def bare_request(conn: HttpConnection, n: int) -> bytes:
    body = {
        "conversation_id": f"ingest-c-{n % 100}",
        "user_id": "u",
        "channel": "web",
        "id": f"bare-{n}",
        "direction": "incoming",
        "text": f"Hello, this is message {n} about my order.",
    }
    return conn.request_bytes("POST", "/bare", body=json.dumps(body).encode())


# The floor and hitlnext take turns in this many slices, so both see the same background load.
SLICES = 4


def measure_ingest(
    plan: Plan, app: list[Server], floor: list[Server], api_key: str, profile: Path | None
) -> list[Row]:
    rows = []
    for count in (1, 2):
        bare, real = LoadResult(), LoadResult()
        profiler = Profiler(app[0].pid, profile / f"ingest-{count}.txt") if profile else None
        for n in range(SLICES):
            kwargs = {
                "connections": 8 * count,
                "warmup": 1.0 if n == 0 else 0.2,
                "duration": plan.ingest_seconds / SLICES,
            }
            bare.add(
                asyncio.run(http_load([s.url for s in floor[:count]], bare_request, **kwargs))  # type: ignore[arg-type]
            )
            make = message_request(api_key, f"ingest{count}-{n}-{uuid.uuid4().hex[:6]}")
            real.add(asyncio.run(http_load([s.url for s in app[:count]], make, **kwargs)))  # type: ignore[arg-type]
        if profiler:
            profiler.stop()
        ratio = real.throughput / bare.throughput if bare.throughput else 0.0
        errors = f" ({real.errors} errors: {real.statuses})" if real.errors else ""
        rows.append(
            Row(
                f"Ingest POST /api/v1/messages, {count} process{'es' if count > 1 else ''} "
                "(100 conversations, 10 in handoff)",
                f"{real.throughput:,.0f} req/s (p50 {real.p50_ms:.1f} ms){errors}",
                f"bare JSON view: {bare.throughput:,.0f} req/s (p50 {bare.p50_ms:.1f} ms)",
                f"{ratio:.0%}",
                f">= {TARGETS['ingest']:.0%} of floor",
                verdict(ratio >= TARGETS["ingest"] and not real.errors),
            )
        )
    return rows


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
