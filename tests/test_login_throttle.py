"""Failed logins are budgeted per username and per client address (hitlnext_project/ratelimit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from hitlnext_project.shared.ratelimit import parse_rate

PASSWORD = "correct-horse-battery"
LOCKED = "Too many failed attempts. Try again in"


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    # Autouse runs before the cast is made: their passwords get the fast hasher too, so dozens
    # of login attempts stay cheap (the default hasher costs a good part of a second each).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.HITLNEXT_LOGIN_FAILURES_PER_USERNAME = (5, 900)
    settings.HITLNEXT_LOGIN_FAILURES_PER_IP = (50, 900)
    cache.clear()
    yield
    cache.clear()


def attempt(username: str, password: str = "wrong", *, address: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def fail(username: str, times: int, **kwargs) -> None:
    for _ in range(times):
        response = attempt(username, **kwargs)
        assert response.status_code == 200
        assert LOCKED not in response.content.decode()


@pytest.fixture
def start():
    # 30 s into a 90 s slice of the 15 minute window: the failures made now count until the
    # window's start passes the slice's end, 9:01:30 + 15 min = 9:16:30 (16 minutes from now).
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC), tick=False) as t:
        yield t


def test_five_failures_lock_the_username_even_for_the_right_password(agent, start):
    fail("alice", 5)

    refused = attempt("alice", PASSWORD)

    assert refused.status_code == 429
    assert "Too many failed attempts. Try again in 16 minutes." in refused.content.decode()
    assert 'role="alert"' in refused.content.decode()
    assert int(refused["Retry-After"]) == 900 + 90 - 30
    assert "_auth_user_id" not in refused.wsgi_request.session


def test_lock_out_is_per_username(agent, second_agent, start):
    fail("alice", 5)

    assert attempt("bob", PASSWORD, address="10.0.0.1").status_code == 302


def test_known_and_unknown_usernames_get_identical_answers(agent, start):
    known = [attempt("alice") for _ in range(6)]
    unknown = [attempt("nobody-here") for _ in range(6)]

    def shape(response):
        return response.status_code, response.get("Retry-After"), _errors(response)

    assert [shape(r) for r in known] == [shape(r) for r in unknown]
    assert known[-1].status_code == 429
    assert _errors(known[-1]) == _errors(unknown[-1])


def _errors(response) -> list[str]:
    form = response.context["form"]
    return list(form.non_field_errors())


def test_username_case_and_spaces_share_one_budget(agent, start):
    fail("alice", 3)
    fail(" ALICE ", 2)

    assert attempt("Alice", PASSWORD).status_code == 429


def test_success_resets_the_usernames_counter(agent, start):
    fail("alice", 4)
    assert attempt("alice", PASSWORD).status_code == 302

    fail("alice", 4)
    assert attempt("alice", PASSWORD).status_code == 302


def test_the_lock_ends_once_the_failures_leave_the_window(agent, start):
    fail("alice", 5)
    assert attempt("alice", PASSWORD).status_code == 429

    # A sliding window: no fresh budget at the next quarter hour (9:15), as a fixed one gave.
    start.shift(timedelta(minutes=14, seconds=31))
    assert attempt("alice", PASSWORD).status_code == 429
    start.shift(timedelta(minutes=1, seconds=28))
    assert attempt("alice", PASSWORD).status_code == 429
    start.shift(timedelta(seconds=1))

    assert attempt("alice", PASSWORD).status_code == 302


def test_the_message_counts_minutes_left(agent, start):
    fail("alice", 5)
    start.shift(timedelta(minutes=15))

    refused = attempt("alice")

    assert "Try again in 1 minute." in refused.content.decode()


def test_one_address_trying_many_usernames_is_locked_out(agent, settings, start):
    settings.HITLNEXT_LOGIN_FAILURES_PER_IP = (8, 900)
    for name in ["u1", "u2", "u3", "u4"]:
        fail(name, 2, address="192.0.2.7")

    assert attempt("alice", PASSWORD, address="192.0.2.7").status_code == 429
    # Another address is not concerned.
    assert attempt("alice", PASSWORD, address="192.0.2.8").status_code == 302


def test_limits_can_be_disabled(agent, settings, start):
    settings.HITLNEXT_LOGIN_FAILURES_PER_USERNAME = (0, 0)
    settings.HITLNEXT_LOGIN_FAILURES_PER_IP = (0, 0)
    fail("alice", 10)

    assert attempt("alice", PASSWORD).status_code == 302


def test_login_page_itself_is_not_counted(agent, start):
    for _ in range(10):
        assert Client().get("/login/").status_code == 200

    assert attempt("alice", PASSWORD).status_code == 302


@pytest.mark.parametrize(("text", "expected"), [("5/15m", (5, 900)), ("50/2h", (50, 7200))])
def test_rates_with_a_multiple_of_the_period(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["5/0m", "5/15", "5/15d"])
def test_nonsense_multiples_are_refused(text):
    with pytest.raises(ValueError):
        parse_rate(text)
