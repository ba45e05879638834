"""The search benchmark (bench/search.py) at a tiny size, on PostgreSQL, so it cannot rot: it
loads its rows, builds the migration's indexes, renders every search, prints its table, and
full-text search finds the same messages as a scan. No timing is asserted (the machine is
shared)."""

from __future__ import annotations

import pytest

from tests.bench_support import bench_database, run_bench


@pytest.fixture
def bench_database_url():
    with bench_database("_search_bench") as url:
        yield url


def test_smallest_search_benchmark_runs_and_finds_what_a_scan_finds(bench_database_url):
    out = run_bench(
        "search.py",
        *("--quick", "--messages", "5000", "--rounds", "1"),
        *("--database-url", bench_database_url),
        timeout=110,
    )
    assert "PROBLEM" not in out
    assert out.count("messages as a scan") == 4, out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 8, out  # the header, one row per search
    assert "| an order number (ORD-257): its user and its message | 2 / 1 |" in out, out
    assert "| an email (user257@example.com): its user | 1 / 0 |" in out, out
