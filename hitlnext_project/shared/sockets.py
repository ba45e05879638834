"""Open websockets, counted where every process can add its own: /metrics answers the same total
whichever process it asks.

Each process counts its accepted sockets in memory (OpenSocketsMiddleware, wrapped around the
websocket routes in asgi.py) and, with REDIS_URL, publishes its counts into one Redis hash,
fields `<process>|<kind>` and `<process>|seen`: at most once a second after a change, and every
REFRESH_EVERY seconds anyway. A reader adds its own live counts to the other processes' fields
and skips (and deletes) those of a process not seen for STALE_AFTER seconds: a killed Daphne's
sockets stop counting within a minute. Without REDIS_URL there is one process, and its memory
is the truth.

Why not prometheus_client's multiprocess mode: it needs a directory shared by the processes,
so it cannot add up processes on several machines, and it must be told which processes died.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import MutableMapping
from typing import Any

from django.conf import settings
from django.core.cache import caches
from redis import Redis
from redis.exceptions import RedisError

from hitlnext_project.shared.cache import RedisCache

logger = logging.getLogger("hitlnext.metrics")

# Always reported, 0 when none is open: the agent pages' sockets (/ws/agent/) and the web chat
# visitors' (/ws/chat/). A socket's kind is its route's last path segment.
KINDS = ("agent", "chat")
KEY_NAME = "metrics:open_sockets"
REFRESH_EVERY = 15.0
STALE_AFTER = 60.0
PUBLISH_AT_MOST_EVERY = 1.0
_SEEN = "seen"


def kind_of(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or "root"


class _ProcessCounts:
    def __init__(self) -> None:
        self.pid = os.getpid()
        # The random part tells apart two processes that got the same pid on one host name
        # (containers) and a restarted process from its predecessor.
        self.process = f"{socket.gethostname()}:{self.pid}:{secrets.token_hex(3)}"
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.changed = threading.Event()
        self.publisher: threading.Thread | None = None


_state = _ProcessCounts()


def _current() -> _ProcessCounts:
    global _state
    if _state.pid != os.getpid():  # a forked child starts with none of its parent's sockets
        _state = _ProcessCounts()
    return _state


def opened(kind: str) -> None:
    _change(kind, +1)


def closed(kind: str) -> None:
    _change(kind, -1)


def _change(kind: str, delta: int) -> None:
    state = _current()
    with state.lock:
        state.counts[kind] += delta
        if not settings.REDIS_URL:
            return
        state.changed.set()
        if state.publisher is None:
            state.publisher = threading.Thread(
                target=_publish_forever, args=(state,), name="open-sockets", daemon=True
            )
            state.publisher.start()
            atexit.register(_unpublish, state)


def _redis() -> tuple[Redis, str]:
    backend = caches["default"]
    assert isinstance(backend, RedisCache), "REDIS_URL is set: the cache is Redis"
    return backend.redis(), backend.make_key(KEY_NAME)


def _publish_forever(state: _ProcessCounts) -> None:
    while True:
        state.changed.wait(REFRESH_EVERY)
        state.changed.clear()
        try:
            publish(state)
        except RedisError as error:
            logger.warning("open sockets not published (%s); retrying", error)
        time.sleep(PUBLISH_AT_MOST_EVERY)  # a burst of connections is one write


def publish(state: _ProcessCounts | None = None) -> None:
    """Write this process's counts now (the publisher thread does it by itself)."""
    state = state or _current()
    with state.lock:
        mapping: dict[str, float] = {f"{state.process}|{k}": n for k, n in state.counts.items()}
    mapping[f"{state.process}|{_SEEN}"] = time.time()
    client, key = _redis()
    pipe = client.pipeline(transaction=False)
    pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]  # redis-py accepts floats
    pipe.expire(key, 86400)  # the hash outlives no deployment by more than a day
    pipe.execute()


def _unpublish(state: _ProcessCounts) -> None:
    """At a clean exit: this process's sockets stop counting at once, not after STALE_AFTER."""
    try:
        client, key = _redis()
        client.hdel(key, *[f"{state.process}|{k}" for k in [*state.counts, _SEEN]])
    except Exception:
        pass  # best effort while the interpreter exits


def open_sockets() -> dict[str, int] | None:
    """Open sockets of every process, by kind; None when Redis cannot be read (unknown)."""
    state = _current()
    with state.lock:
        totals = Counter(state.counts)
    for kind in KINDS:
        totals.setdefault(kind, 0)
    if not settings.REDIS_URL:
        return dict(totals)
    try:
        client, key = _redis()
        fields: dict[bytes, bytes] = client.hgetall(key)  # type: ignore[assignment]
    except RedisError as error:
        logger.warning("open sockets of other processes unknown (%s)", error)
        return None
    by_process: dict[str, dict[str, bytes]] = {}
    for field, value in fields.items():
        process, _, name = field.decode().rpartition("|")
        by_process.setdefault(process, {})[name] = value
    oldest = time.time() - STALE_AFTER
    stale: list[str] = []
    for process, values in by_process.items():
        if process == state.process:
            continue  # our own counts are the live ones above
        try:
            seen = float(values.get(_SEEN, b"0"))
        except ValueError:
            seen = 0.0
        if seen < oldest:
            stale += [f"{process}|{name}" for name in values]
            continue
        for name, value in values.items():
            if name != _SEEN:
                totals[name] += int(float(value))
    if stale:
        try:
            client.hdel(key, *stale)
        except RedisError:
            pass  # the next reader tries again
    return dict(totals)


class OpenSocketsMiddleware:
    """Counts a websocket from its accept to its close (whichever side closes, or the app ends)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        kind = kind_of(scope.get("path", ""))
        counted = False

        def uncount() -> None:
            nonlocal counted
            if counted:
                counted = False
                closed(kind)

        async def counting_send(message: dict[str, Any]) -> None:
            nonlocal counted
            await send(message)
            if message["type"] == "websocket.accept" and not counted:
                counted = True
                opened(kind)
            elif message["type"] == "websocket.close":
                uncount()

        async def counting_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                uncount()
            return message

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            uncount()
