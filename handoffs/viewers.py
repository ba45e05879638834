"""Who is viewing a conversation: the avatars in its header ("Also viewing"), live.

Each agent page's socket (handoffs.consumers) records itself as a viewer of the conversation it
watches, keyed by its channel name, and removes itself when it watches another one or closes;
either change pushes the list to the conversation's group, rendered once for every watcher.
The page hides its own agent (base.html's per-agent CSS), so one fragment serves them all.

Where the records live: with REDIS_URL, one Redis hash per conversation (field: channel name,
value: "<user id> <expiry>"), which every Daphne process reads and writes; without it, the
embedded single process's memory. A record expires VIEWER_TTL after the socket last renewed it
(the page's hello, every 30 min, and its activity): a process killed without closing its
sockets leaves its viewers shown until then at most.
"""

from __future__ import annotations

import threading
import time

from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.template.loader import render_to_string
from redis import Redis

from agents.models import display_name
from handoffs.live import conversation_group
from hitlnext_project.shared.cache import RedisCache
from hitlnext_project.shared.push import best_effort, send_to_group

VIEWER_TTL = 40 * 60.0

# The embedded single process: {conversation id: {channel name: (user id, expiry)}}.
_local: dict[int, dict[str, tuple[int, float]]] = {}
_lock = threading.Lock()


def _redis_key(conversation_id: int) -> tuple[Redis, str] | None:
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend.redis(), backend.make_key(f"viewers:{conversation_id}")


def _record(conversation_id: int, channel: str, user_id: int | None) -> None:
    """Add or renew (user_id) or remove (None) one socket's record."""
    redis = _redis_key(conversation_id)
    expiry = time.time() + VIEWER_TTL
    if redis is None:
        with _lock:
            viewers = _local.setdefault(conversation_id, {})
            if user_id is None:
                viewers.pop(channel, None)
                if not viewers:
                    _local.pop(conversation_id, None)
            else:
                viewers[channel] = (user_id, expiry)
        return
    client, key = redis
    if user_id is None:
        client.hdel(key, channel)
        return
    pipe = client.pipeline(transaction=False)
    pipe.hset(key, channel, f"{user_id} {expiry}")
    pipe.expire(key, int(VIEWER_TTL) + 60)
    pipe.execute()


def viewer_ids(conversation_id: int) -> list[int]:
    """The agents whose pages show the conversation now, each once."""
    now = time.time()
    redis = _redis_key(conversation_id)
    if redis is None:
        with _lock:
            records = list(_local.get(conversation_id, {}).items())
    else:
        client, key = redis
        raw: dict[bytes, bytes] = client.hgetall(key)  # type: ignore[assignment]
        records = []
        for field, value in raw.items():
            user, _, expires = value.decode().partition(" ")
            try:
                records.append((field.decode(), (int(user), float(expires))))
            except ValueError:
                continue
    stale = [channel for channel, (_, expiry) in records if expiry <= now]
    if stale and redis is not None:
        redis[0].hdel(redis[1], *stale)
    ids: list[int] = []
    for _, (user_id, expiry) in records:
        if expiry > now and user_id not in ids:
            ids.append(user_id)
    return ids


def render_viewers(conversation_id: int) -> str:
    ids = viewer_ids(conversation_id)
    users = {
        user.pk: user
        for user in get_user_model().objects.select_related("agent_profile").filter(pk__in=ids)
    }
    # By name: the same order whichever process renders (a Redis hash has none).
    listed = sorted(users.values(), key=lambda user: (display_name(user).lower(), user.pk))
    return render_to_string(
        "handoffs/viewers.html", {"conversation_id": conversation_id, "viewers": listed}
    )


@best_effort
def start_viewing(conversation_id: int, channel: str, user_id: int) -> None:
    """A socket now shows the conversation: its watchers see the agent among the viewers."""
    _record(conversation_id, channel, user_id)
    send_to_group(conversation_group(conversation_id), render_viewers(conversation_id))


@best_effort
def renew(conversation_id: int, channel: str, user_id: int) -> None:
    """The socket is still there: its record lives VIEWER_TTL more (no push)."""
    _record(conversation_id, channel, user_id)


@best_effort
def stop_viewing(conversation_id: int, channel: str) -> None:
    """The socket shows another conversation, or closed."""
    _record(conversation_id, channel, None)
    send_to_group(conversation_group(conversation_id), render_viewers(conversation_id))
