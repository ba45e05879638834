"""The routing benchmark (bench/routing.py) in its quickest form, on PostgreSQL + Redis, so it
cannot rot: it runs to the end, every handoff is assigned exactly once, nobody goes past
capacity, and it prints its numbers. No timing is asserted (the machine is shared)."""

from __future__ import annotations

import os

import pytest

from tests.bench_support import bench_database, run_bench

HANDOFFS = 60


@pytest.fixture
def bench_database_url():
    with bench_database("_routing_bench", redis=True) as url:
        yield url


def test_quickest_routing_benchmark_assigns_every_handoff_once_within_capacity(
    bench_database_url,
):
    out = run_bench(
        "routing.py",
        *("--quick", "--handoffs", str(HANDOFFS)),
        *("--database-url", bench_database_url, "--redis-url", os.environ["REDIS_URL"]),
        timeout=90,
    )
    assert "PROBLEM" not in out
    rows = {line.split(" | ")[0].lstrip("| "): line for line in out.splitlines()}
    burst = next(line for key, line in rows.items() if key.startswith("Burst:"))
    drain = next(line for key, line in rows.items() if key.startswith("Drain:"))
    correctness = rows["Correctness, every phase of every round"]
    # Numbers printed for hitlnext and its floor, side by side.
    assert "assignments/s" in burst and "p99" in burst and "of floor throughput" in burst
    assert "assignments/s" in drain and "of floor throughput" in drain
    # Both phases: every handoff assigned once, nobody past capacity 5 (60 handoffs over 200
    # agents: one each at most, the least loaded first).
    assert f"{2 * HANDOFFS} of {2 * HANDOFFS} assigned, each once" in correctness
    assert "most open per agent: 1 (capacity 5" in correctness
    assert correctness.rstrip(" |").endswith("PASS")
