"""Pushes from sync code (gunicorn threads, Daphne's sync threads, the worker) on the Redis layer
run on one long-lived event loop per process, reusing its Redis connections, instead of a new
loop, thread and connection per push (asgiref's async_to_sync outside an event loop)."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from hitlnext_project.shared import push
from hitlnext_project.shared.push import SyncPushLoop


async def where() -> tuple[int, int]:
    await asyncio.sleep(0)
    return id(asyncio.get_running_loop()), threading.get_ident()


def test_calls_from_many_threads_all_run_on_one_loop_in_one_thread():
    loop = SyncPushLoop()
    with ThreadPoolExecutor(8) as pool:
        seen = set(pool.map(lambda _: loop.run(where(), timeout=5), range(64)))
    assert len(seen) == 1
    [(_, thread)] = seen
    assert thread != threading.get_ident()


def test_a_call_past_its_timeout_is_cancelled_and_raised():
    loop = SyncPushLoop()
    cancelled = threading.Event()

    async def stuck() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(FutureTimeout):
        loop.run(stuck(), timeout=0.1)
    assert cancelled.wait(5)
    assert loop.run(where(), timeout=5)  # still serving


def _child(loop: SyncPushLoop, parent: tuple[int, int], queue) -> None:
    queue.put(loop.run(where(), timeout=5) != parent)


def test_a_forked_child_gets_a_loop_of_its_own():
    # gunicorn forks its workers: a loop thread does not survive a fork.
    loop = SyncPushLoop()
    parent = loop.run(where(), timeout=5)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(loop, parent, queue))
    child.start()
    child.join(30)
    assert queue.get(timeout=5) is True


def test_the_in_memory_layer_keeps_async_to_sync(monkeypatch):
    # Its queues belong to the loop its sockets read on: the push loop would be another one.
    monkeypatch.setattr(push._push_loop, "run", None)  # would raise if called
    layer = InMemoryChannelLayer()

    async def member() -> str:
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        return channel

    from asgiref.sync import async_to_sync

    channel = async_to_sync(member)()
    push.run_on_layer(layer, layer.group_send("g", {"type": "push.html", "html": "x"}))
    assert async_to_sync(layer.receive)(channel)["html"] == "x"


@pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (the Redis channel layer)")
def test_sync_pushes_from_threads_reach_a_socket_over_redis_on_one_connection_pool():
    layer = get_channel_layer()
    assert not isinstance(layer, InMemoryChannelLayer)
    group = f"push-loop-{uuid.uuid4().hex}"
    received: list[str] = []

    async def listen(ready: threading.Event, count: int) -> None:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        ready.set()
        try:
            while len(received) < count:
                received.append((await asyncio.wait_for(layer.receive(channel), 20))["html"])
        finally:
            await layer.group_discard(group, channel)

    ready = threading.Event()
    listener = threading.Thread(target=lambda: asyncio.run(listen(ready, 80)))
    listener.start()
    assert ready.wait(20)
    pools_before = len(layer._layers)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: push.send_to_group(group, f"<p>{n}</p>"), range(80)))
    listener.join(30)
    assert sorted(received) == sorted(f"<p>{n}</p>" for n in range(80))
    # One loop for all 80 pushes from 8 threads: one more set of connections, not 80.
    assert len(layer._layers) - pools_before <= 1


def test_sync_code_run_for_an_event_loop_pushes_through_that_loop(monkeypatch):
    # Daphne runs views in threads for its loop: async_to_sync hands their pushes to it, as
    # before (its Redis connections are long-lived already).
    monkeypatch.setattr(push._push_loop, "run", None)  # would raise if called
    from asgiref.sync import sync_to_async

    async def main() -> bool:
        loop_id = id(asyncio.get_running_loop())
        layer = get_channel_layer()
        seen = await sync_to_async(lambda: push.run_on_layer(layer, where()))()
        return seen[0] == loop_id

    monkeypatch.setattr(push, "InMemoryChannelLayer", type(None))  # as if Redis
    assert asyncio.run(main())
