"""Scale-out proof: two Daphne processes and two workers on one PostgreSQL and one Redis.

Real processes (`daphne ... hitlnext_project.asgi:application`, `manage.py run_worker`) run
against pytest's test database with production-like settings (DEBUG off); the test talks to
them over HTTP and a websocket, as a load balancer's clients would.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.db import connection
from django.test import Client
from websockets.sync.client import ClientConnection, connect

from handoffs.models import Handoff
from tests.factories import BotFactory, UserFactory
from tests.webhooks import Reply, WebhookReceiver
from tests.workers import Process, current_database_url, free_port, wait_for
from webhooks.models import Delivery, Event

BASE_DIR = Path(__file__).resolve().parent.parent
DAPHNE = Path(sys.executable).with_name("daphne")

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not settings.REDIS_URL,
        reason="the scale-out test needs DATABASE_URL=postgres://... and REDIS_URL=redis://... "
        "(several processes share one database and one Redis channel layer)",
    ),
    pytest.mark.django_db(transaction=True),
]

# A killed worker's leased deliveries wait this long before another worker sends them again.
LEASE = "8s"
WEBHOOK_TIMEOUT = "4s"


@dataclass
class Cluster:
    """Two web processes (A and B) and two workers, as behind a load balancer."""

    env: dict[str, str]
    logs: Path
    web: dict[str, str] = field(default_factory=dict)  # name -> base URL
    processes: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)

    def _spawn(self, name: str, argv: list[str]) -> Process:
        process = Process.spawn(name, argv, env=self.env, log_dir=self.logs)
        self.processes.append(process)
        return process

    def start_web(self, name: str) -> None:
        port = free_port()
        self._spawn(
            f"daphne-{name}",
            [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "hitlnext_project.asgi:application"],
        )
        self.web[name] = f"http://127.0.0.1:{port}"

    def start_worker(self, name: str) -> None:
        argv = [sys.executable, "manage.py", "run_worker", "--interval", "0.05"]
        self.workers.append(self._spawn(f"worker-{name}", argv))

    def wait_ready(self) -> None:
        def healthy(url: str) -> bool:
            for process in self.processes:
                if process.popen.poll() is not None:
                    raise AssertionError(f"{process.name} exited:\n{process.output()}")
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        for url in self.web.values():
            wait_for(lambda url=url: healthy(url), what=f"{url}/healthz", seconds=90)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


def forget_redis_keys(prefix: str) -> None:
    """Group memberships outlive the processes by a day: drop this run's keys."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def cluster(django_db_setup) -> Iterator[Cluster]:
    """Started once for the module (processes take seconds to boot); each test uses its own
    bot, and the transactional flush between tests empties the database under them."""
    env = os.environ | {
        "DATABASE_URL": current_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        # Only this run's processes share channel-layer keys.
        "HITLNEXT_REDIS_PREFIX": f"hxscaletest-{uuid.uuid4().hex[:12]}",
        "DEBUG": "false",
        "HTTPS": "false",
        # The test's sessions are checked by the servers: same key on both sides.
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HITLNEXT_WEBHOOK_LEASE": LEASE,
        "HITLNEXT_WEBHOOK_TIMEOUT": WEBHOOK_TIMEOUT,
        "LOG_LEVEL": "WARNING",
    }
    with tempfile.TemporaryDirectory(prefix="hx-scaleout-") as logs:
        cluster = Cluster(env=env, logs=Path(logs))
        try:
            cluster.start_web("A")
            cluster.start_web("B")
            cluster.start_worker("1")
            cluster.start_worker("2")
            cluster.wait_ready()
            yield cluster
        finally:
            cluster.stop()
            forget_redis_keys(env["HITLNEXT_REDIS_PREFIX"])


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def bot_api(base_url: str, bot) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base_url}/api/v1",
        headers={"Authorization": f"Bearer {bot.api_key}"},
        timeout=30,
    )


def start_handoffs(cluster: Cluster, bot, count: int) -> list[int]:
    """Handoffs started through A and B in turn, as a balancer would spread them."""
    ids = []
    clients = [bot_api(url, bot) for url in cluster.web.values()]
    try:
        for n in range(count):
            response = clients[n % len(clients)].post(
                "/handoffs",
                json={"conversation_id": f"th-{n}", "user_id": f"u-{n}", "channel": "web"},
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    finally:
        for client in clients:
            client.close()
    return ids


def agent_socket(base_url: str, user) -> ClientConnection:
    client = Client()
    client.force_login(user)  # a real session row, read by the server's AuthMiddlewareStack
    return connect(
        base_url.replace("http://", "ws://") + "/ws/agent/",
        origin=base_url,
        additional_headers={"Cookie": f"sessionid={client.cookies['sessionid'].value}"},
        open_timeout=30,
    )


def receive_until(ws: ClientConnection, predicate: Callable[[str], bool], *, what: str) -> str:
    deadline = time.monotonic() + 30
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = ws.recv(timeout=left)
        except TimeoutError:
            break
        if predicate(frame):
            return frame
    raise AssertionError(f"the agent socket never received {what}")


def all_delivered() -> bool:
    return not Delivery.objects.exclude(status=Delivery.Status.DELIVERED).exists()


def test_an_idle_agent_on_process_a_sees_live_a_message_the_bot_posted_to_b(cluster):
    bot = BotFactory()
    agent = UserFactory(online=True)
    [handoff_id] = start_handoffs(cluster, bot, 1)
    conversation_id = Handoff.objects.get(pk=handoff_id).conversation_id
    messages_box = f'id="conversation-{conversation_id}-messages"'

    with agent_socket(cluster.web["A"], agent) as ws:
        ws.send(json.dumps({"action": "hello", "handoff": handoff_id}))
        # The head of the watched conversation comes after the page joined its group.
        receive_until(ws, lambda f: f'id="handoff-{handoff_id}-head"' in f, what="the head")
        # Idle past one blocking read of the channel layer: the socket must still be served
        # (a read timeout shorter than that read used to close idle sockets with 1011).
        time.sleep(RedisChannelLayer.brpop_timeout + 1.5)
        token = f"from-b-{uuid.uuid4().hex}"
        with bot_api(cluster.web["B"], bot) as api:
            response = api.post(
                "/messages",
                json={
                    "conversation_id": "th-0",
                    "user_id": "u-0",
                    "channel": "web",
                    "id": "m-1",
                    "direction": "incoming",
                    "text": token,
                },
            )
        assert response.status_code == 201, response.text
        assert response.json()["paused"] is True
        frame = receive_until(
            ws, lambda f: token in f and messages_box in f, what="the message pushed from B"
        )
    assert "<script" not in frame


def test_every_event_reaches_the_webhook_exactly_once_across_two_workers(cluster, receiver):
    bot = BotFactory(webhook_url=receiver.url)
    start_handoffs(cluster, bot, 30)
    events = set(Event.objects.values_list("public_id", flat=True))
    # Each handoff's handoff.created and its transfer message.created.
    assert len(events) == 60

    wait_for(all_delivered, what="every delivery", seconds=90)

    received = Counter(receiver.ids())
    assert set(received) == events
    assert set(received.values()) == {1}, "some webhook-id arrived twice"
    assert all(p["type"] in {"handoff.created", "message.created"} for p in receiver.payloads())


def test_a_worker_killed_mid_delivery_leaves_nothing_undelivered(cluster, receiver):
    # Every answer is slow, so both workers hold a full parallel batch in flight.
    receiver.respond = lambda request: Reply(200, delay=1.0)
    bot = BotFactory(webhook_url=receiver.url)
    start_handoffs(cluster, bot, 20)
    events = set(Event.objects.values_list("public_id", flat=True))
    assert len(events) == 40

    def in_flight() -> int:
        return len(receiver.ids()) - receiver.answered

    # More requests open than one worker sends at once: both are mid-delivery.
    wait_for(lambda: in_flight() > 8, what="both workers to be mid-delivery")
    doomed, survivor = cluster.workers
    try:
        doomed.popen.kill()  # SIGKILL: it records nothing of what it had in flight
        doomed.popen.wait(30)

        wait_for(all_delivered, what="the killed worker's deliveries to be taken over", seconds=90)

        received = Counter(receiver.ids())
        assert set(received) == events, "an event was never delivered"
        # At least once: what the killed worker had in flight went out again, same webhook-id.
        assert 2 in received.values(), "the killed worker had nothing in flight"
        assert max(received.values()) == 2
        assert survivor.popen.poll() is None, survivor.output()
    finally:
        # Two workers again for whichever test runs next.
        cluster.workers.remove(doomed)
        cluster.start_worker("replacement")


def test_a_burst_of_sockets_joining_at_once_waits_for_redis_connections_instead_of_failing():
    # 300 sockets arriving together (a restart, a failover) join their groups concurrently:
    # three times the per-process connection cap, which used to fail the excess with 1011.
    async def burst() -> None:
        layer = get_channel_layer()
        channels = [await layer.new_channel() for _ in range(300)]
        group = f"burst-{uuid.uuid4().hex}"
        try:
            await asyncio.gather(*(layer.group_add(group, name) for name in channels))
            await layer.group_send(group, {"type": "push.html", "html": "<p>hi</p>"})
            received = await asyncio.gather(*(layer.receive(name) for name in channels))
            await asyncio.gather(*(layer.group_discard(group, name) for name in channels))
        finally:
            await layer.close_pools()
        assert [message["html"] for message in received] == ["<p>hi</p>"] * 300

    asyncio.run(burst())
