"""Pushing pre-rendered HTML to socket groups, and announcing changes to other apps.

A push is a nudge: pages and visitors re-sync from the database on (re)connect, so a push
that fails is logged and dropped, never raised into the change that caused it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from django.dispatch import Signal

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# A push waits at most this long for Redis; past it, it is dropped (logged) and the request goes
# on. The pool and the sockets have their own, longer timeouts (settings).
PUSH_TIMEOUT = 10.0


def send_to_group(group: str, html: str) -> None:
    """Every socket in the group forwards `html` as is (consumers' push_html)."""
    if html:
        send_event(group, {"type": "push.html", "html": html})


def send_event(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        run_on_layer(layer, layer.group_send(group, event))
    except Exception:  # best effort: the database already holds the truth
        logger.exception("live push to %s failed", group)


def pushes_cross_processes() -> bool:
    """Whether a push from this process reaches sockets held by others (the Redis layer).
    The in-memory layer reaches only this process's own sockets."""
    layer = get_channel_layer()
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def run_on_layer(layer: BaseChannelLayer, call: Coroutine[Any, Any, T]) -> T:
    """Run a channel-layer call from sync code and wait for its result.

    asgiref's async_to_sync, called from a thread that has no event loop behind it (a gunicorn
    thread, the worker's routing, a management command), makes a new event loop, and a new
    thread to run it, for every call; channels_redis keeps its Redis connections per loop, so
    every push also connected to Redis anew (10% of the worker's time in a profile). The Redis
    layer's calls run instead on one long-lived loop per process (SyncPushLoop), whose
    connections are reused, whichever thread pushes. The in-memory layer's queues belong to
    the loop of the sockets reading them, so its calls keep going through async_to_sync (to
    that loop under Daphne). So do calls from a thread that an event loop runs sync code in
    (Daphne's views, sync_to_async): async_to_sync hands them to that loop, whose connections
    are long-lived already (measured: no faster on the push loop).
    """
    if isinstance(layer, InMemoryChannelLayer) or _in_event_loop() or _behind_event_loop():
        try:  # (in an event loop's own thread async_to_sync refuses, as it always did)
            return async_to_sync(_awaited)(call)
        finally:
            call.close()  # no-op once awaited; else no "never awaited" warning
    return _push_loop.run(call, timeout=PUSH_TIMEOUT)


async def _awaited(call: Coroutine[Any, Any, T]) -> T:
    return await call


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _behind_event_loop() -> bool:
    """Whether this thread runs sync code for a running event loop of this process (asgiref's
    SyncToAsync), where async_to_sync would use that loop: the test asgiref makes itself."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    pid = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None)
    return loop is not None and pid == os.getpid() and loop.is_running()


class SyncPushLoop:
    """An event loop in a daemon thread of its own, started on first use in each process (a
    forked child, as gunicorn's workers are, starts its own). Any number of threads submit to
    it at once: the calls all run in its one thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def run(self, call: Coroutine[Any, Any, T], *, timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(call, self._running_loop())
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                thread = threading.Thread(
                    target=self._loop.run_forever, name="hitlnext-push-loop", daemon=True
                )
                thread.start()
            return self._loop


_push_loop = SyncPushLoop()


def best_effort(push: Callable[P, None]) -> Callable[P, None]:
    """For pushes, which run as on-commit hooks among others: a rendering failure must not
    turn a committed change into an error for the caller, nor stop the next hook."""

    @functools.wraps(push)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            push(*args, **kwargs)
        except Exception:
            logger.exception("live push %s.%s failed", push.__module__, push.__name__)

    return wrapper


def announce(signal: Signal, sender: type, **kwargs: Any) -> None:
    """Send a signal to every listener; one failing listener is logged and the others still
    run. Lower apps announce this way after commit and higher apps listen, so dependencies
    point one way: the announcer never imports its listeners."""
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            logger.error(
                "listener %s failed", getattr(receiver, "__qualname__", receiver), exc_info=result
            )
