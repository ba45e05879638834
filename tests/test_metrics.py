"""GET /metrics: each series' value for a constructed state, who may scrape, open sockets
counted through the real ASGI application, and the Grafana dashboard naming only what is
served. (Several real processes: tests/test_metrics_processes.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import Client
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from handoffs.models import Handoff
from hitlnext_project import metrics
from hitlnext_project.asgi import application
from hitlnext_project.shared import sockets
from hitlnext_project.shared.proxies import parse_trusted_proxies
from tests.factories import HandoffFactory
from tests.test_webchat import visitor_socket
from tests.workers import BASE_DIR, start_worker, stop, wait_for
from webhooks import worker
from webhooks.models import Delivery, Event

DASHBOARD = BASE_DIR / "deploy" / "grafana" / "hitlnext.json"
T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOKEN = "s3cret-metrics-token-0123456789"


@pytest.fixture(autouse=True)
def _fresh_metrics(monkeypatch):
    """No kept counts from another test; open sockets under this test's own Redis key."""
    cache.delete(metrics.SETTLED_KEY)
    monkeypatch.setattr(sockets, "KEY_NAME", f"test-open-sockets-{uuid.uuid4().hex}")
    monkeypatch.setattr(worker, "_last_heartbeat", None)
    yield
    cache.delete(metrics.SETTLED_KEY)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: Client | None = None, **extra) -> Samples:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(response.content.decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def handoff(status: str, *, created: timedelta, waited: timedelta | None = None, **fields):
    """A handoff created `created` before T, assigned `waited` after its creation."""
    created_at = T - created
    return HandoffFactory(
        status=status,
        created_at=created_at,
        assigned_at=created_at + waited if waited is not None else None,
        **fields,
    )


def delivery(bot, *, status: str, attempts: int = 0, age: timedelta = timedelta(0)):
    event = Event.objects.create(bot=bot, type="handoff.created", data={}, created_at=T - age)
    return Delivery.objects.create(
        event=event, bot=bot, status=status, attempts=attempts, created_at=T - age
    )


# --- the series --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_series_has_the_value_of_the_state_it_reports(bot):
    minute = timedelta(minutes=1)
    S = Handoff.Status
    handoff(S.PENDING, created=90 * timedelta(seconds=1))  # the oldest pending: 90 s
    handoff(S.PENDING, created=20 * timedelta(seconds=1))
    handoff(S.ASSIGNED, created=30 * minute, waited=timedelta(seconds=45))
    handoff(S.RESOLVED, created=10 * minute, waited=timedelta(seconds=5))
    handoff(S.RESOLVED, created=50 * minute, waited=timedelta(seconds=200))
    handoff(S.RESOLVED, created=2 * 60 * minute, waited=timedelta(seconds=7))  # out of the hour
    handoff(S.REJECTED, created=5 * minute)
    handoff(S.EXPIRED, created=70 * minute)
    delivery(bot, status=Delivery.Status.PENDING, age=10 * minute)  # the oldest pending
    delivery(bot, status=Delivery.Status.PENDING, attempts=3, age=minute)  # failing
    delivery(bot, status=Delivery.Status.PENDING)
    delivery(bot, status=Delivery.Status.DELIVERED, attempts=1, age=60 * minute)
    delivery(bot, status=Delivery.Status.FAILED, attempts=40, age=60 * minute)  # gave up
    with time_machine.travel(T - timedelta(seconds=12), tick=False):
        worker.record_heartbeat()

    with time_machine.travel(T, tick=False):
        samples = scrape()

    statuses = {s: value(samples, "hitlnext_handoffs", status=s) for s in Handoff.Status.values}
    assert statuses == {"pending": 2, "assigned": 1, "resolved": 3, "rejected": 1, "expired": 1}
    assert value(samples, "hitlnext_queue_length") == 2
    assert value(samples, "hitlnext_queue_oldest_age_seconds") == 90
    # Waits of the handoffs created in the last hour and taken: 45 s, 5 s and 200 s.
    buckets = {
        le: value(samples, "hitlnext_handoff_wait_seconds_bucket", le=le)
        for le in ("10.0", "30.0", "60.0", "120.0", "300.0", "3600.0", "+Inf")
    }
    assert buckets == {
        "10.0": 1,
        "30.0": 1,
        "60.0": 2,
        "120.0": 2,
        "300.0": 3,
        "3600.0": 3,
        "+Inf": 3,
    }
    assert value(samples, "hitlnext_handoff_wait_seconds_gcount") == 3
    assert value(samples, "hitlnext_handoff_wait_seconds_gsum") == 250
    assert value(samples, "hitlnext_webhook_deliveries_pending") == 3
    assert value(samples, "hitlnext_webhook_deliveries_failing") == 1
    assert value(samples, "hitlnext_webhook_oldest_pending_age_seconds") == 600
    assert value(samples, "hitlnext_open_sockets", kind="agent") == 0
    assert value(samples, "hitlnext_open_sockets", kind="chat") == 0
    assert (
        value(samples, "hitlnext_worker_last_pass_age_seconds", worker=worker.worker_name()) == 12
    )


@pytest.mark.django_db
def test_every_series_has_its_help_text_and_an_empty_system_reads_zero():
    response = Client().get("/metrics")
    families = list(text_string_to_metric_families(response.content.decode()))
    names = {family.name for family in families}

    assert names >= {
        "hitlnext_handoffs",
        "hitlnext_queue_length",
        "hitlnext_queue_oldest_age_seconds",
        "hitlnext_handoff_wait_seconds",
        "hitlnext_webhook_deliveries_pending",
        "hitlnext_webhook_deliveries_failing",
        "hitlnext_webhook_oldest_pending_age_seconds",
        "hitlnext_open_sockets",
        "hitlnext_worker_last_pass_age_seconds",
    }
    for family in families:
        assert len(family.documentation) > 20, family.name
        assert all(sample.value == 0 for sample in family.samples), family
    # Only ours: no process_* or python_* series describing whichever process answered.
    assert all(name.startswith("hitlnext_") for name in names)


@pytest.mark.django_db
def test_ended_counts_stay_exact_between_full_recounts(bot):
    S = Handoff.Status
    # Open before the kept counts' cutoff: it may end after the recount.
    old_open = handoff(S.ASSIGNED, created=timedelta(hours=3), waited=timedelta(minutes=1))
    handoff(S.RESOLVED, created=timedelta(hours=5))
    handoff(S.EXPIRED, created=timedelta(hours=4))
    with time_machine.travel(T, tick=False):
        first = scrape()  # counts everything once, and keeps the settled part
        Handoff.objects.filter(pk=old_open.pk).update(status=S.RESOLVED)
        handoff(S.REJECTED, created=timedelta(seconds=30))
        fresh = handoff(S.PENDING, created=timedelta(seconds=10))
    with time_machine.travel(T + timedelta(minutes=30), tick=False):
        Handoff.objects.filter(pk=fresh.pk).update(status=S.EXPIRED)
        second = scrape()
        kept = cache.get(metrics.SETTLED_KEY)

    def counts(samples):
        return {s: value(samples, "hitlnext_handoffs", status=s) for s in Handoff.Status.values}

    assert counts(first) == {
        "pending": 0,
        "assigned": 1,
        "resolved": 1,
        "rejected": 0,
        "expired": 1,
    }
    assert counts(second) == {
        "pending": 0,
        "assigned": 0,
        "resolved": 2,
        "rejected": 1,
        "expired": 2,
    }
    assert kept["cutoff"] == T - metrics.SETTLE  # the second scrape did not count them all


@pytest.mark.django_db
def test_a_scrape_reads_the_database_in_six_indexed_queries(bot, django_assert_num_queries):
    for status in Handoff.Status.values:
        handoff(status, created=timedelta(hours=2), waited=timedelta(minutes=1))
    delivery(bot, status=Delivery.Status.PENDING, attempts=1)
    worker.record_heartbeat()
    scrape()  # the hourly full count of ended handoffs, kept in the cache

    # Active counts, ended since the cutoff, oldest pending, the wait histogram, the
    # deliveries and the heartbeats: whatever the table's size.
    with django_assert_num_queries(6):
        scrape()


@pytest.mark.django_db(transaction=True)  # run_once closes connections, as a worker does
def test_the_worker_heartbeat_is_written_each_pass_and_forgotten_on_a_clean_stop():
    with time_machine.travel(T, tick=False):
        worker.run_once()
    with time_machine.travel(T + timedelta(seconds=3), tick=False):
        worker.run_once()  # within HEARTBEAT_EVERY: not written again
        assert (
            value(scrape(), "hitlnext_worker_last_pass_age_seconds", worker=worker.worker_name())
            == 3
        )
    with time_machine.travel(T + timedelta(seconds=7), tick=False):
        worker.run_once()
        assert (
            value(scrape(), "hitlnext_worker_last_pass_age_seconds", worker=worker.worker_name())
            == 0
        )

    worker.forget_heartbeat()

    assert not [key for key in scrape() if key[0] == "hitlnext_worker_last_pass_age_seconds"]


@pytest.mark.django_db
def test_a_dead_workers_heartbeat_is_forgotten_a_day_later(monkeypatch):
    from webhooks.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(worker="gone:1", last_pass_at=T - timedelta(days=1, minutes=1))
    WorkerHeartbeat.objects.create(worker="dead:2", last_pass_at=T - timedelta(hours=23))
    monkeypatch.setattr(worker, "_last_housekeeping", 0.0)

    with time_machine.travel(T, tick=False):
        worker.housekeeping()

    assert set(WorkerHeartbeat.objects.values_list("worker", flat=True)) == {"dead:2"}


@pytest.mark.django_db
def test_prometheus_gets_openmetrics_when_it_asks_for_it(bot):
    handoff(Handoff.Status.ASSIGNED, created=timedelta(minutes=5), waited=timedelta(seconds=40))

    response = Client().get(
        "/metrics", HTTP_ACCEPT="application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
    )

    assert response["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(response.content.decode())}
    assert families["hitlnext_handoff_wait_seconds"].type == "gaugehistogram"
    assert families["hitlnext_queue_length"].samples[0].value == 0


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_process_shows_its_heartbeat_until_it_stops():
    process = start_worker()
    try:
        wait_for(
            lambda: any(
                name == "hitlnext_worker_last_pass_age_seconds"
                and dict(labels)["worker"].endswith(f":{process.pid}")
                and age < 10
                for (name, labels), age in scrape().items()
            ),
            what="the worker's heartbeat",
        )
    finally:
        returncode, out, err = stop(process)
    assert returncode == 0, out + err

    # Stopped cleanly (SIGTERM): its row is gone, not left to age into an alarm.
    assert not [key for key in scrape() if key[0] == "hitlnext_worker_last_pass_age_seconds"]


# --- who may scrape ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
def test_without_a_token_loopback_clients_may_scrape(address):
    assert Client(REMOTE_ADDR=address).get("/metrics").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["203.0.113.9", "10.0.0.5", "::ffff:203.0.113.9", ""])
def test_without_a_token_other_clients_are_refused(address):
    response = Client(REMOTE_ADDR=address).get("/metrics")

    assert response.status_code == 403
    assert b"HITLNEXT_METRICS_TOKEN" in response.content
    assert b"hitlnext_" not in response.content


@pytest.mark.django_db
def test_a_clients_own_forwarded_for_does_not_make_it_loopback():
    client = Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="127.0.0.1")

    assert client.get("/metrics").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("forwarded_for", "status"),
    [
        ("203.0.113.9", 403),  # nginx on this host relaying a remote client: not loopback
        ("127.0.0.1, 203.0.113.9", 403),  # the client's own entry on the left is ignored
        ("127.0.0.1", 200),  # a scraper on the proxy's host
    ],
)
def test_behind_a_trusted_proxy_the_client_it_reports_is_judged(forwarded_for, status, settings):
    settings.HITLNEXT_TRUSTED_PROXIES = parse_trusted_proxies(["127.0.0.1"])
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded_for)

    assert client.get("/metrics").status_code == status


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
        (f"Bearer {TOKEN}x", 401),
        (f"Bearer {TOKEN[:-1]}", 401),
        ("Bearer ", 401),
        (f"Basic {TOKEN}", 401),
        (TOKEN, 401),
        (None, 401),
    ],
)
def test_with_a_token_only_the_right_bearer_token_is_answered(authorization, status, settings):
    settings.HITLNEXT_METRICS_TOKEN = TOKEN
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}

    # From loopback too: with a token set, the token is the only way in.
    response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics", **headers)

    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert b"hitlnext_" not in response.content


@pytest.mark.django_db
def test_with_a_token_any_address_may_scrape(settings):
    settings.HITLNEXT_METRICS_TOKEN = TOKEN
    client = Client(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert value(scrape(client), "hitlnext_queue_length") == 0


@pytest.mark.django_db
def test_metrics_answer_get_only():
    assert Client().post("/metrics").status_code == 405


@pytest.mark.parametrize(
    "token", ["short", "has a space in it 1234567890", "tøken-with-ünicode-123456"]
)
def test_a_token_that_cannot_be_a_bearer_token_stops_the_start(token):
    env = os.environ | {"HITLNEXT_METRICS_TOKEN": token, "DJANGO_SETTINGS_MODULE": ""}
    result = subprocess.run(
        [sys.executable, "-c", "import hitlnext_project.settings"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "HITLNEXT_METRICS_TOKEN must be at least 16 characters" in result.stderr


# --- open sockets, through the real ASGI application ---------------------------------------------


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def agent_socket(cookie: str | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def open_sockets() -> dict[str, float]:
    samples = await database_sync_to_async(scrape)()
    return {kind: value(samples, "hitlnext_open_sockets", kind=kind) for kind in ("agent", "chat")}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_open_sockets_count_each_accepted_socket_until_it_closes(agent, second_agent):
    cookies = [await database_sync_to_async(_session_cookie)(a) for a in (agent, second_agent)]
    first = await agent_socket(cookies[0])
    second = await agent_socket(cookies[1])
    visitor, connected, _ = await visitor_socket()
    assert connected
    await visitor.receive_from()  # the catch-up: the socket is open

    assert await open_sockets() == {"agent": 2, "chat": 1}

    await first.disconnect()  # the client leaves
    await visitor.disconnect()
    assert await open_sockets() == {"agent": 1, "chat": 0}

    # Accepted only to be told why (4403), then closed by the server: counted for no longer.
    anonymous = await agent_socket(None)
    assert (await anonymous.receive_output())["code"] == 4403
    assert await open_sockets() == {"agent": 1, "chat": 0}

    # Refused before the handshake (a foreign origin): never counted.
    foreign = WebsocketCommunicator(
        application, "/ws/agent/", headers=[(b"origin", b"http://evil.example")]
    )
    assert not (await foreign.connect())[0]
    assert await open_sockets() == {"agent": 1, "chat": 0}

    await second.disconnect()
    assert await open_sockets() == {"agent": 0, "chat": 0}


@pytest.mark.django_db
def test_open_sockets_are_left_out_when_redis_cannot_say_what_the_others_hold(
    settings, monkeypatch
):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def unreachable():
        raise RedisConnectionError("Connection refused")

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(sockets, "_redis", unreachable)

    samples = scrape()

    assert not [key for key in samples if key[0] == "hitlnext_open_sockets"]
    assert value(samples, "hitlnext_queue_length") == 0  # the rest is served


# --- the Grafana dashboard -------------------------------------------------------------------


def _dashboard_expressions() -> list[str]:
    def walk(panels):
        for panel in panels:
            yield from (target["expr"] for target in panel.get("targets", []))
            yield from walk(panel.get("panels", []))

    return list(walk(json.loads(DASHBOARD.read_text())["panels"]))


@pytest.mark.django_db
def test_the_dashboard_charts_exactly_the_series_served(bot):
    handoff(Handoff.Status.ASSIGNED, created=timedelta(minutes=5), waited=timedelta(seconds=40))
    worker.record_heartbeat()
    served = {name for name, _ in scrape()}
    families = {
        family.name
        for family in text_string_to_metric_families(Client().get("/metrics").content.decode())
    }
    expressions = _dashboard_expressions()
    named = {name for expr in expressions for name in re.findall(r"\bhitlnext_\w+", expr)}

    assert expressions and all(re.search(r"\bhitlnext_\w+", expr) for expr in expressions)
    assert named <= served, named - served
    # ...and every series is on it (a histogram through its buckets).
    charted = named | {re.sub(r"_bucket$", "", name) for name in named}
    assert families <= charted, families - charted


def test_the_dashboard_is_importable_json():
    dashboard = json.loads(Path(DASHBOARD).read_text())

    assert dashboard["uid"] == "hitlnext" and dashboard["title"] == "hitlnext"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource"}
