"""The reports benchmark (bench/reports.py) at a tiny size, on PostgreSQL, so it cannot rot:
it loads its rows, renders every scenario, prints its table, and PostgreSQL's percentiles
equal the Python fallback's on its thousands of generated handoffs. No timing is asserted
(the machine is shared)."""

from __future__ import annotations

import pytest

from tests.bench_support import bench_database, run_bench


@pytest.fixture
def bench_database_url():
    with bench_database("_reports_bench") as url:
        yield url


def test_smallest_reports_benchmark_runs_and_its_figures_are_exact(bench_database_url):
    out = run_bench(
        "reports.py",
        *("--sizes", "3000,6000", "--rounds", "1"),
        *("--database-url", bench_database_url),
        timeout=110,
    )
    assert "PROBLEM" not in out
    assert out.count("identical") == 4, out  # two sizes, two ranges
    rows = [line for line in out.splitlines() if line.startswith("| 6,000 |")]
    assert len(rows) == 6, out
