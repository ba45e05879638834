"""Abuse limits: a per-bot request rate on the bot API (429 + Retry-After), and the shared
fixed-window helper behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import override_settings

from handoffs.models import Handoff
from hitlnext_project.shared.ratelimit import hit, parse_rate
from tests.api_support import BotApi, assert_error, handoff_body

# 30 s into a minute, so a 60 s window has 30 s left.
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
    assert "retry in 30 s" in body["detail"]
    assert response["Retry-After"] == "30"
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


def test_hit_counts_per_key_and_window():
    with time_machine.travel(T0, tick=False) as traveller:
        assert [hit("k", limit=2, window=60) for _ in range(2)] == [None, None]
        assert hit("k", limit=2, window=60) == 30
        assert hit("other", limit=2, window=60) is None

        traveller.shift(29)
        assert hit("k", limit=2, window=60) == 1
        traveller.shift(1)
        assert hit("k", limit=2, window=60) is None


def test_hit_lets_requests_through_when_the_cache_is_down(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ConnectionError("redis is restarting")

    monkeypatch.setattr(cache, "add", broken)

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
