"""Abuse limits: a per-bot request rate on the bot API (429 + Retry-After), and the shared
sliding-window helper behind it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from handoffs.models import Handoff
from hitlnext_project.shared.ratelimit import count, hit, parse_rate
from tests.api_support import BotApi, assert_error, handoff_body
from tests.workers import BASE_DIR

# 30 s into a minute. A 60 s window is counted in 6 s slices: hits made at T0 count until the
# window's start passes the end of their slice (12:00:36), i.e. until 12:01:36, 66 s later.
T0 = datetime(2031, 5, 1, 12, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


@pytest.mark.django_db
@override_settings(HITLNEXT_API_RATE_LIMIT=(3, 60))
def test_a_bot_over_its_rate_gets_429_with_retry_after_and_no_work_is_done(api):
    with time_machine.travel(T0, tick=False):
        for _ in range(3):
            assert api.get("/agents").status_code == 200

        response = api.post("/handoffs", handoff_body())

    body = assert_error(response, 429)
    assert "retry in 66 s" in body["detail"]
    assert response["Retry-After"] == "66"
    assert not Handoff.objects.exists()


@pytest.mark.django_db
@override_settings(HITLNEXT_API_RATE_LIMIT=(2, 60))
def test_another_bot_is_not_affected(client, bot, other_bot):
    mine, theirs = BotApi(client, bot.api_key), BotApi(client, other_bot.api_key)
    with time_machine.travel(T0, tick=False):
        for _ in range(2):
            assert mine.get("/agents").status_code == 200
        assert mine.get("/agents").status_code == 429

        assert theirs.get("/agents").status_code == 200
        assert theirs.get("/agents").status_code == 200


@pytest.mark.django_db
@override_settings(HITLNEXT_API_RATE_LIMIT=(2, 60))
def test_requests_are_allowed_again_once_the_window_has_passed(api):
    with time_machine.travel(T0, tick=False) as traveller:
        api.get("/agents"), api.get("/agents")
        refused = api.get("/agents")
        assert refused.status_code == 429

        traveller.shift(timedelta(seconds=int(refused["Retry-After"])))

        assert api.get("/agents").status_code == 200


@pytest.mark.django_db
@override_settings(HITLNEXT_API_RATE_LIMIT=(1, 60))
def test_a_bad_key_is_401_and_not_counted_against_the_bot(client, api):
    stranger = BotApi(client, "hk_not-a-key")
    with time_machine.travel(T0, tick=False):
        for _ in range(3):
            assert_error(stranger.get("/agents"), 401)

        assert api.get("/agents").status_code == 200


@pytest.mark.django_db
@override_settings(HITLNEXT_API_RATE_LIMIT=(0, 0))
def test_a_zero_limit_disables_the_check(api):
    for _ in range(20):
        assert api.get("/agents").status_code == 200


def test_the_429_is_documented_on_every_operation(client):
    document = client.get("/api/v1/openapi.json").json()

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "429" in operation["responses"], f"{method.upper()} {path}"


# --- The helper --------------------------------------------------------------------------


def test_hit_counts_per_key_and_refuses_until_the_hits_leave_the_window():
    with time_machine.travel(T0, tick=False) as traveller:
        assert [hit("k", limit=2, window=60) for _ in range(2)] == [None, None]
        assert hit("k", limit=2, window=60) == 66
        assert hit("other", limit=2, window=60) is None

        traveller.shift(65)
        assert hit("k", limit=2, window=60) == 1
        traveller.shift(1)
        assert hit("k", limit=2, window=60) is None


@pytest.mark.django_db
@override_settings(HITLNEXT_API_RATE_LIMIT=(3, 60))
def test_no_second_burst_passes_right_after_a_window_boundary(api):
    """A fixed window let the limit through at the end of one minute and again at the start
    of the next: twice the limit within two seconds."""
    end_of_a_minute = datetime(2031, 5, 1, 12, 0, 59, tzinfo=UTC)
    with time_machine.travel(end_of_a_minute, tick=False) as traveller:
        for _ in range(3):
            assert api.get("/agents").status_code == 200
        traveller.shift(2)  # 12:01:01, a new minute

        refused = api.get("/agents")

        assert refused.status_code == 429
        # Retry-After is the truth: refused one second earlier, served then.
        wait = int(refused["Retry-After"])
        assert 60 - 2 <= wait <= 60 + 6
        traveller.shift(wait - 1)
        assert api.get("/agents").status_code == 429
        traveller.shift(1)
        assert api.get("/agents").status_code == 200


def allowed_times(*, limit: int, window: int, attempts: list[float]) -> list[float]:
    """Seconds (from T0) at which a client trying at each of `attempts` got through."""
    allowed = []
    with time_machine.travel(T0, tick=False) as traveller:
        for at in attempts:
            traveller.move_to(T0 + timedelta(seconds=at))
            if hit("client", limit=limit, window=window) is None:
                allowed.append(at)
    return allowed


def busiest_window(times: list[float], window: int) -> int:
    """The most hits in any span of `window` seconds."""
    return max(sum(1 for u in times if t - window < u <= t) for t in times)


@pytest.mark.parametrize(
    "attempts",
    [
        # Bursts at the end of each minute and at the start of the next.
        [b + d for b in (29.0, 89.0, 149.0) for d in (0.1, 0.2, 0.3, 0.4, 0.5, 1.1, 1.2, 1.3)],
        # A client trying every 0.7 s for five minutes.
        [i * 0.7 for i in range(430)],
        # Trying every 0.1 s around each 6 s slice boundary of the first two minutes.
        [s * 6 - 0.45 + d / 10 for s in range(1, 21) for d in range(10)],
    ],
    ids=["boundary-bursts", "steady", "slice-edges"],
)
def test_no_more_than_the_limit_passes_within_any_window_length(attempts):
    limit, window = 5, 60

    allowed = allowed_times(limit=limit, window=window, attempts=attempts)

    assert busiest_window(allowed, window) == limit
    # Not stricter than it says either: a window and a slice after a hit, it is forgotten.
    assert len(allowed) >= limit * int(max(attempts) // (window + window / 10))


def test_retry_after_is_when_a_hit_passes_again():
    limit, window = 4, 60
    with time_machine.travel(T0, tick=False) as traveller:
        for gap in (0, 7, 7, 7):  # hits spread over three slices
            traveller.shift(gap)
            assert hit("k", limit=limit, window=window) is None
        traveller.shift(20)

        wait = hit("k", limit=limit, window=window)

        assert wait is not None
        traveller.shift(wait - 1)
        assert hit("k", limit=limit, window=window) is not None
        traveller.shift(1)
        assert hit("k", limit=limit, window=window) is None


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="the embedded cache's path")
def test_in_the_embedded_cache_a_hit_costs_two_operations_and_a_refusal_one(monkeypatch):
    calls: list[str] = []
    inside: list[str] = []  # LocMem's get_many calls its own get(): one operation, not more

    for name in ("get", "get_many", "add", "incr", "decr", "set", "delete", "delete_many"):
        original = getattr(cache, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            if not inside:
                calls.append(_name)
            inside.append(_name)
            try:
                return _original(*args, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(cache, name, counted)
    with time_machine.travel(T0, tick=False):
        for expected in (["get_many", "add"], ["get_many", "incr"], ["get_many"]):
            calls.clear()
            hit("k", limit=2, window=60)
            assert calls == expected


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: the Redis path")
def test_in_redis_a_hit_or_a_refusal_is_one_round_trip(monkeypatch):
    from redis import Redis

    commands: list[object] = []
    original = Redis.execute_command

    def counted(self, *args, **options):
        commands.append(args[0])
        return original(self, *args, **options)

    monkeypatch.setattr(Redis, "execute_command", counted)
    with time_machine.travel(T0, tick=False):
        for allowed in (True, True, False):
            commands.clear()
            assert (hit("k", limit=2, window=60) is None) is allowed
            assert commands == ["EVAL"]
        assert count("k", window=60) == 2  # the refusal was not counted


def test_the_limit_holds_for_hits_made_at_the_same_moment():
    limit, threads, tries = 20, 8, 10
    results: list[int | None] = []
    start_line = threading.Barrier(threads)

    def client() -> None:
        start_line.wait(10)
        for _ in range(tries):
            results.append(hit("shared", limit=limit, window=3600))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)

    allowed = sum(1 for wait in results if wait is None)
    assert len(results) == threads * tries
    assert 0 < allowed <= limit
    assert count("shared", window=3600) == allowed  # refused hits are not left counted


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL: a cache shared by processes")
def test_processes_share_one_budget_through_redis():
    key = f"cross-process-{uuid.uuid4().hex}"
    script = (
        "import django, sys; django.setup()\n"
        "from hitlnext_project.shared.ratelimit import hit\n"
        f"print(sum(hit({key!r}, limit=30, window=3600) is None for _ in range(25)))\n"
    )
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "hitlnext_project.settings"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    allowed = [int(process.communicate(timeout=60)[0]) for process in processes]

    # Each alone would have let its 25 through: 50 if each kept its own count. Exactly 30: in
    # Redis the read and the count are one script, so no two hits race for the last places.
    assert sum(allowed) == 30
    assert count(key, window=3600) == sum(allowed)


def test_hit_lets_requests_through_when_the_cache_is_down(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ConnectionError("redis is restarting")

    monkeypatch.setattr(cache, "add", broken)
    monkeypatch.setattr(cache, "count_hit", broken, raising=False)  # the Redis path

    assert hit("api:abc", limit=1, window=60) is None
    assert hit("api:abc", limit=1, window=60) is None
    assert "rate limit cache unavailable" in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("600/m", (600, 60)), ("20/s", (20, 1)), (" 5000 / h ", (5000, 3600)), ("0", (0, 0))],
)
def test_rates_are_parsed(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["", "600", "600/d", "ten/m", "-1/m", "1.5/s"])
def test_nonsense_rates_are_refused(text):
    with pytest.raises(ValueError):
        parse_rate(text)
