"""Agent sockets connecting and leaving do not grow a Daphne process's memory: the churn
benchmark (bench/socket_churn.py, 10,000 cycles, figures in the README) in a shorter form.
Channels' Redis layer has leaked there before, and the project's layer keeps per-socket state
of its own. A leak check, not a timing assertion: the bound is far above the noise (well under
1 MiB over 9,000 cycles in the benchmark) and far below a leak of a consumer per socket (tens
of KiB each)."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection
from django.test import Client

from bench.procs import APP, Server, start_daphne, wait_ready
from bench.socket_churn import churn, leftovers
from handoffs.inbox_groups import INBOX_GROUP
from handoffs.services import start_handoff
from hitlnext_project.asgi import application
from tests.factories import BotFactory, UserFactory
from tests.workers import current_database_url

pytestmark = pytest.mark.django_db(transaction=True)

CYCLES = 1_400
WARMUP = 400
MAX_GROWTH = 6 * 2**20


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[Server, str]]:
    prefix = f"hxchurntest-{uuid.uuid4().hex[:10]}"
    env = os.environ | {
        "DATABASE_URL": current_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "HITLNEXT_REDIS_PREFIX": prefix,
        "DEBUG": "false",
        "HTTPS": "false",
        "SECRET_KEY": settings.SECRET_KEY,  # the test's sessions are read by the server
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
    }
    daphne = start_daphne("churn", APP, env=env, logs=tmp_path)
    try:
        wait_ready([daphne])
        yield daphne, prefix
    finally:
        daphne.stop()
        from bench.run import flush_redis

        flush_redis(settings.REDIS_URL, prefix)


@pytest.mark.skipif(
    connection.vendor != "postgresql" or not settings.REDIS_URL,
    reason="needs DATABASE_URL=postgres://... and REDIS_URL=redis://... (a real Daphne process "
    "on the deployment's database and channel layer)",
)
@pytest.mark.timeout(480)  # 1,400 real socket cycles: a minute on a quiet 2-core machine
def test_agent_sockets_connecting_and_leaving_leave_memory_flat(server):
    daphne, prefix = server
    sessions = []
    for _ in range(10):
        client = Client()
        client.force_login(UserFactory())
        sessions.append({"Cookie": f"sessionid={client.cookies['sessionid'].value}"})
    handoff, _ = start_handoff(
        bot=BotFactory(), conversation_id="th-churn", user_id="u-churn", channel="web"
    )

    result = asyncio.run(
        churn(
            base_url=daphne.url,
            pid=daphne.pid,
            sessions=sessions,
            handoff=handoff.pk,
            cycles=CYCLES,
            batch=50,
            warmup=WARMUP,
            every=250,
        )
    )
    left = leftovers(settings.REDIS_URL, prefix)

    assert result.failures == 0, daphne.tail()
    assert result.growth < MAX_GROWTH, f"{result.points} (cycles, RSS bytes)"
    # Every socket left its groups, the abruptly closed ones too.
    assert left["group members"] == 0, left


# --- What RSS cannot see: a few hundred bytes per closed socket --------------------------------


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL=redis://...")
@pytest.mark.asyncio
async def test_closed_sockets_leave_nothing_queued_in_the_channel_layer():
    """channels_redis kept a receive queue for a closed socket when its consumer was the one
    reading Redis for the others as it closed (about one socket in five in the churn), and
    queued for ever a message that arrived for a socket already closed; a consumer that failed
    instead of closing stayed in its groups for a day."""
    layer = get_channel_layer()
    cookie = await database_sync_to_async(session_cookie)(
        await database_sync_to_async(UserFactory)()
    )
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    headers.append((b"cookie", f"sessionid={cookie}".encode()))
    sockets = [WebsocketCommunicator(application, "/ws/agent/", headers=headers) for _ in range(20)]
    for socket in sockets:
        assert (await socket.connect())[0]
        await socket.send_to(text_data=json.dumps({"action": "hello"}))
        await socket.receive_from()  # the header's state: the socket reads its channel
    await layer.group_send(INBOX_GROUP, {"type": "push.html", "html": "<p>to all</p>"})
    for socket in sockets:
        assert "to all" in await socket.receive_from()
    for socket in sockets:
        await socket.disconnect()

    async def closed_without_leaving() -> str:  # as a consumer that crashed
        channel = await layer.new_channel()
        await layer.group_add("churn-test", channel)
        return channel

    async def reader_gets_a_push() -> dict:
        channel = await layer.new_channel()
        await layer.group_add("churn-test", channel)
        await layer.group_send("churn-test", {"type": "push.html", "html": "<p>hi</p>"})
        message = await asyncio.wait_for(layer.receive(channel), timeout=10)
        await layer.group_discard("churn-test", channel)
        return message

    await asyncio.create_task(closed_without_leaving())
    assert (await asyncio.create_task(reader_gets_a_push()))["html"] == "<p>hi</p>"

    assert dict(layer.receive_buffer) == {}
    # The failed consumer's channel is out of its group too (it would get every push to it).
    members = f"{layer.prefix}:group:churn-test"  # channels_redis's sorted set
    for _ in range(50):
        if not await layer.connection(0).zcard(members):
            break
        await asyncio.sleep(0.1)
    assert await layer.connection(0).zcard(members) == 0
