"""The reports benchmark (bench/reports.py) at a tiny size, on PostgreSQL, so it cannot rot:
it loads its rows, renders every scenario, prints its table, and PostgreSQL's percentiles
equal the Python fallback's on its thousands of generated handoffs. No timing is asserted
(the machine is shared)."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection

from tests.workers import BASE_DIR


@pytest.fixture
def bench_database_url():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    parts = urlsplit(os.environ["DATABASE_URL"])
    url = urlunsplit(parts._replace(path=f"{parts.path}_reports_bench"))
    yield url
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')


def test_smallest_reports_benchmark_runs_and_its_figures_are_exact(bench_database_url):
    result = subprocess.run(
        [
            sys.executable,
            "bench/reports.py",
            "--sizes",
            "3000,6000",
            "--rounds",
            "1",
            "--database-url",
            bench_database_url,
        ],
        cwd=BASE_DIR,
        env=os.environ | {"LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=110,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "PROBLEM" not in out
    assert out.count("identical") == 4, out  # two sizes, two ranges
    rows = [line for line in out.splitlines() if line.startswith("| 6,000 |")]
    assert len(rows) == 6, out
