"""The database briefly unavailable: the bot API answers a clean 503 in its error shape and
writes nothing half-way; a running worker survives its connections being killed (PostgreSQL)
and delivers everything afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from conversations.models import Conversation, EndUser
from handoffs.models import Handoff
from tests.api_support import BotApi, assert_error, handoff_body
from tests.factories import BotFactory, ConversationFactory
from tests.webhooks import WebhookReceiver
from tests.workers import BASE_DIR, current_database_url, stop, wait_for
from webhooks.events import record_event
from webhooks.models import Delivery, Event


@pytest.fixture
def api(client, bot):
    return BotApi(client, bot.api_key)


@pytest.mark.django_db(transaction=True)
def test_an_api_request_while_the_database_is_down_is_a_json_503(api, monkeypatch):
    def refuse(*args, **kwargs):
        raise connection.Database.OperationalError("connection refused: is the server running?")

    connection.close()  # the next query has to connect, and the database is not there
    with monkeypatch.context() as patched:
        patched.setattr(connection, "get_new_connection", refuse)
        response = api.post("/handoffs", handoff_body())

    body = assert_error(response, 503)
    assert "temporarily unavailable" in body["detail"]
    assert response["Retry-After"].isdigit()
    assert "connection refused" not in response.content.decode()
    # Back up: the same request now succeeds.
    assert api.post("/handoffs", handoff_body()).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_database_failure_mid_request_leaves_nothing_half_written(client):
    bot = BotFactory(webhook_url="https://bot.example.com/hooks")
    api = BotApi(client, bot.api_key)

    def fail_on_outbox(execute, sql, params, many, context):
        # The conversation and the handoff are already written in this transaction when
        # the outbox INSERT fails: all of it must go, or a webhook would be missing.
        if sql.startswith(f'INSERT INTO "{Event._meta.db_table}"'):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fail_on_outbox):
        response = api.post("/handoffs", handoff_body())

    assert_error(response, 503)
    for model in (EndUser, Conversation, Handoff, Event, Delivery):
        assert not model.objects.exists(), model.__name__
    # The bot retries: everything is written once, each event with its delivery.
    assert api.post("/handoffs", handoff_body()).status_code == 201
    assert Handoff.objects.count() == 1
    events = list(Event.objects.all())
    assert events[0].type == "handoff.created"
    assert Delivery.objects.count() == len(events)


# --- The worker while PostgreSQL drops its connections ---------------------------------------


@pytest.fixture
def fresh_pool():
    """This process's pool as a server process has it: only the connections it uses. Killed
    connections must not outlive the test either (the next tests would get them)."""
    connection.close()
    connection.close_pool()
    yield
    connection.close()
    connection.close_pool()


def terminate_other_backends() -> int:
    """Kill every other session on the test database: the worker's (and its pool's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def emit(bot, conversation, **data) -> Event:
    with transaction.atomic():
        return record_event(bot=bot, type="message.created", data=data, conversation=conversation)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite has no server to lose"
)
@pytest.mark.django_db(transaction=True)
def test_after_the_database_drops_every_connection_the_next_request_succeeds(api, fresh_pool):
    """A PostgreSQL restart or failover kills every connection idling in the pool; the next
    request must get a fresh one, not a dead one (and a 503)."""
    assert api.get("/agents").status_code == 200
    connection.close()  # back into the pool, idle, as between two requests
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    ) as outsider:
        killed = outsider.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]
    assert killed >= 1

    assert api.get("/agents").status_code == 200


def start_logged_worker(log: Path, **env: str) -> subprocess.Popen:
    """`manage.py run_worker` logging to a file: a pipe nobody reads would fill up and block
    the worker inside a log call, which is not the failure under test."""
    full_env = os.environ | {"DATABASE_URL": current_database_url(), "LOG_LEVEL": "INFO"} | env
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--interval", "0.05"],
            cwd=BASE_DIR,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (DATABASE_URL=postgres://...): SQLite has no server to lose",
)
@pytest.mark.django_db(transaction=True)
def test_the_worker_survives_its_connections_being_killed_and_delivers_everything(
    tmp_path, fresh_pool
):
    log = tmp_path / "worker.log"
    with WebhookReceiver() as receiver:
        bot = BotFactory(webhook_url=receiver.url)
        talks = [ConversationFactory(bot=bot) for _ in range(3)]
        worker = start_logged_worker(
            log, HITLNEXT_WEBHOOK_TIMEOUT="2s", HITLNEXT_WEBHOOK_LEASE="3s"
        )
        try:
            emitted = []
            for round_ in range(4):
                emitted += [emit(bot, talk, round=round_) for talk in talks]
                # Killed mid-stream: between passes, inside a claim or while recording.
                terminate_other_backends()
                wait_for(
                    lambda n=len(emitted): len(set(receiver.ids())) >= n,  # noqa: B008
                    what=f"round {round_} delivered",
                )
                assert worker.poll() is None, "the worker died with its connections"
            wait_for(
                lambda: not Delivery.objects.exclude(status=Delivery.Status.DELIVERED).exists(),
                what="every delivery recorded as delivered",
            )
            assert worker.poll() is None
        finally:
            code, _, _ = stop(worker)

    assert code == 0, log.read_text()
    assert "worker: database unavailable" in log.read_text()
    by_id = {event.public_id: event for event in emitted}
    assert set(receiver.ids()) == set(by_id)
    # At least once: a cut between the POST and recording it resends (same webhook-id);
    # each conversation still sees its events in order.
    for talk in talks:
        rounds = [
            by_id[r.webhook_id].data["round"]
            for r in receiver.received
            if by_id[r.webhook_id].conversation_id == talk.pk
        ]
        assert list(dict.fromkeys(rounds)) == [0, 1, 2, 3]
