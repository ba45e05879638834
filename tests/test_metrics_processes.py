"""GET /metrics with several real processes (two Daphne processes and a worker on PostgreSQL and
Redis): whichever process answers, the figures are the deployment's, open sockets included."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from hitlnext_project.shared import sockets
from tests.factories import BotFactory, UserFactory
from tests.test_metrics import Samples, parse, value
from tests.test_scaleout import Cluster, agent_socket, bot_api, forget_redis_keys, wait_for
from tests.workers import current_database_url

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not settings.REDIS_URL,
        reason="needs DATABASE_URL=postgres://... and REDIS_URL=redis://... (several processes)",
    ),
    pytest.mark.django_db(transaction=True),
]

TOKEN = "scrape-token-" + uuid.uuid4().hex


@pytest.fixture
def cluster(django_db_setup) -> Iterator[Cluster]:
    env = os.environ | {
        "DATABASE_URL": current_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "HITLNEXT_REDIS_PREFIX": f"hxmetricstest-{uuid.uuid4().hex[:12]}",
        "DEBUG": "false",
        "HTTPS": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HITLNEXT_METRICS_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
    }
    with tempfile.TemporaryDirectory(prefix="hx-metrics-") as logs:
        cluster = Cluster(env=env, logs=Path(logs))
        try:
            cluster.start_web("A")
            cluster.start_web("B")
            cluster.start_worker("1")
            cluster.wait_ready()
            yield cluster
        finally:
            cluster.stop()
            forget_redis_keys(env["HITLNEXT_REDIS_PREFIX"])


def scrape(base_url: str) -> Samples:
    response = httpx.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return parse(response.text)


def agents_open(base_url: str) -> float:
    return value(scrape(base_url), "hitlnext_open_sockets", kind="agent")


def every_process_says(cluster: Cluster, expected: float, *, names=("A", "B")) -> None:
    wait_for(
        lambda: all(agents_open(cluster.web[name]) == expected for name in names),
        what=f"{expected} open agent sockets from {names}",
        seconds=30,
    )


def test_every_process_answers_the_deployments_figures(cluster):
    bot = BotFactory()
    agents = [UserFactory(online=True) for _ in range(3)]
    with bot_api(cluster.web["B"], bot) as api:
        response = api.post(
            "/handoffs", json={"conversation_id": "th-1", "user_id": "u-1", "channel": "web"}
        )
        assert response.status_code == 201, response.text

    on_a = [agent_socket(cluster.web["A"], agents[0]), agent_socket(cluster.web["A"], agents[1])]
    on_b = agent_socket(cluster.web["B"], agents[2])
    try:
        # Two sockets on A and one on B, asked of either process.
        every_process_says(cluster, 3)
        for name in ("A", "B"):
            samples = scrape(cluster.web[name])
            assert value(samples, "hitlnext_queue_length") == 1
            workers = {
                dict(labels)["worker"]: age
                for (metric, labels), age in samples.items()
                if metric == "hitlnext_worker_last_pass_age_seconds"
            }
            worker_pid = cluster.workers[0].popen.pid
            assert [w for w in workers if w.endswith(f":{worker_pid}")], workers
            assert all(age < 10 for age in workers.values()), workers

        on_a.pop().close()
        every_process_says(cluster, 2)

        # A server stopped with a socket still open: its count leaves with it.
        next(p for p in cluster.processes if p.name == "daphne-B").stop()
        every_process_says(cluster, 1, names=("A",))
    finally:
        for ws in [*on_a, on_b]:
            ws.close()


@pytest.fixture
def own_key(monkeypatch):
    monkeypatch.setattr(sockets, "KEY_NAME", f"test-open-sockets-{uuid.uuid4().hex}")
    client, key = sockets._redis()
    yield client, key
    client.delete(key)


def test_a_process_not_seen_for_a_minute_stops_counting_and_is_cleared(own_key):
    client, key = own_key
    now = time.time()
    client.hset(
        key,
        mapping={
            "alive:1:aa|agent": 4,
            "alive:1:aa|chat": 2,
            "alive:1:aa|seen": now - 20,
            "killed:2:bb|agent": 7,
            "killed:2:bb|seen": now - sockets.STALE_AFTER - 1,
        },
    )

    counts = sockets.open_sockets()

    assert counts == {"agent": 4, "chat": 2}
    assert set(client.hkeys(key)) == {b"alive:1:aa|agent", b"alive:1:aa|chat", b"alive:1:aa|seen"}


def test_a_process_publishes_its_counts_and_reads_its_own_live(own_key):
    client, key = own_key
    sockets.opened("agent")
    try:
        sockets.publish()
        state = sockets._current()
        assert int(client.hget(key, f"{state.process}|agent")) >= 1
        # Its own figure is read from memory, not from what it last published.
        before = sockets.open_sockets()
        sockets.opened("agent")
        assert sockets.open_sockets() == before | {"agent": before["agent"] + 1}
        sockets.closed("agent")
    finally:
        sockets.closed("agent")
