"""The support-floor benchmark (bench/floor.py) in a tiny form, on PostgreSQL + Redis, so it
cannot rot: it runs to the end, every message the bots sent was accepted, every expected
arrival reached its screen (the assignee's open conversation, the inbox item on each page that
shows it), every agent reply reached the bot's webhook, and it prints its table. No timing is
asserted (the machine is shared)."""

from __future__ import annotations

import os
import re

import pytest

from tests.bench_support import bench_database, run_bench


@pytest.fixture
def bench_database_url():
    with bench_database("_floor_bench", redis=True) as url:
        yield url


@pytest.mark.timeout(300)
def test_a_tiny_floor_gets_every_message_to_every_screen_that_shows_it(bench_database_url):
    out = run_bench(
        "floor.py",
        *("--agents", "8", "--rates", "4", "--seconds", "4", "--conversations", "60"),
        *("--database-url", bench_database_url, "--redis-url", os.environ["REDIS_URL"]),
        timeout=240,
    )
    (row,) = [line for line in out.splitlines() if line.startswith("| A=8, R=4/s offered")]
    # Every expected arrival arrived: (got/expected) with got == expected, both kinds.
    arrivals = re.findall(r"\((\d+)/(\d+)\)", row)
    assert len(arrivals) == 2, row
    for got, expected in arrivals:
        assert got == expected, row
    inbox_expected = int(arrivals[1][1])
    assert inbox_expected > 0, row  # pending items reached all 8 pages, assigned ones theirs
    assert "errors 0" in row, row
    assert "reply->webhook p50" in row and "frames/s" in row
    assert "Highest R with both p99 < 200 ms and no error, A=8" in out
