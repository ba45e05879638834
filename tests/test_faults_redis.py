"""Redis restarted under a running process: a live push during the outage never turns a
committed change into an error (the change and its webhook outbox row are there), and the
next push after Redis is back works with the same channel layer, without a restart.

Uses a private redis-server on a free port (never the shared instance)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import override_settings

from handoffs.live import INBOX_GROUP
from handoffs.models import Handoff
from handoffs.services import start_handoff
from hitlnext_project.shared.channel_layer import RedisChannelLayer as ProjectLayer
from tests.factories import BotFactory
from webhooks.models import Delivery

pytestmark = [
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
    pytest.mark.django_db(transaction=True),
]

PREFIX = "hxhardapi-fault"
LAYER_BACKEND = f"{ProjectLayer.__module__}.{ProjectLayer.__qualname__}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:  # a deadline against hangs, not a timing assertion
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the private redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        if server.process and server.process.poll() is None:
            server.kill()


def start(bot, n: int) -> Handoff:
    handoff, _ = start_handoff(bot=bot, conversation_id=f"th-{n}", user_id=f"u-{n}", channel="web")
    return handoff


async def listen(listener: ProjectLayer) -> str:
    """Join the inbox group as an agent's socket does when it (re)connects."""
    channel = await listener.new_channel()
    await listener.group_add(INBOX_GROUP, channel)
    return channel


async def next_push(listener: ProjectLayer, channel: str) -> dict:
    return await asyncio.wait_for(listener.receive(channel), timeout=10)


def layer_config(url: str) -> dict:
    """The project's Redis layer with the connection options settings give it."""
    host = {"address": url, "socket_timeout": 30, **settings.HITLNEXT_REDIS_OPTIONS}
    return {"hosts": [host], "prefix": PREFIX}


def test_pushes_survive_a_redis_restart_and_changes_never_fail_because_of_it(redis, caplog):
    bot = BotFactory(webhook_url="https://bot.example.com/hooks")
    layers = {"default": {"BACKEND": LAYER_BACKEND, "CONFIG": layer_config(redis.url)}}

    async def scenario() -> tuple[list[dict], Handoff]:
        # One event loop throughout, as in a long-running Daphne process: the connections
        # made before a restart are the ones that break.
        listener = ProjectLayer(**layer_config(redis.url))
        pushes = []

        channel = await listen(listener)
        await sync_to_async(start)(bot, 1)  # pushes on commit, through the process's layer
        pushes.append(await next_push(listener, channel))

        # Redis down while a change is made: its push fails, the change does not.
        await sync_to_async(redis.kill)()
        with caplog.at_level(logging.ERROR, logger="handoffs.live"):
            during = await sync_to_async(start)(bot, 2)
        await sync_to_async(redis.start)()  # same port, empty: group memberships are gone
        channel = await listen(listener)  # the agent's socket reconnects and rejoins
        await sync_to_async(start)(bot, 3)
        pushes.append(await next_push(listener, channel))

        # A quick restart between two pushes: every pooled connection is stale, and the
        # first command on each must not be lost.
        await sync_to_async(redis.kill)()
        await sync_to_async(redis.start)()
        channel = await listen(listener)
        await sync_to_async(start)(bot, 4)
        pushes.append(await next_push(listener, channel))
        await listener.flush()
        return pushes, during

    with override_settings(CHANNEL_LAYERS=layers):
        layer = get_channel_layer()
        pushes, during = async_to_sync(scenario)()
        assert get_channel_layer() is layer  # the same layer object throughout

    assert [push["type"] for push in pushes] == ["push.html"] * 3
    assert all(push["html"] for push in pushes)
    # The change made during the outage is committed and its webhook is queued.
    assert Handoff.objects.filter(pk=during.pk, status=Handoff.Status.PENDING).exists()
    assert Delivery.objects.filter(event__data__handoff__id=during.pk).exists()
    assert "live push to inbox failed" in caplog.text
