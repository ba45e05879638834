"""Django's Redis cache with one client per process instead of one per request.

Django keeps cache handles per thread and, under ASGI, per request context: each request got
a fresh RedisCache, so a fresh redis-py pool, so a new connection (connect, CLIENT SETINFO,
a package version lookup) for every rate-limited API call. The client and its pool are
thread-safe, so every handle of the process shares one per configuration.

incr() is one round trip (a script) instead of Django's two (EXISTS, then INCRBY), and so is
a whole rate-limit hit (count_hit: read the window's slices and count the hit in the current
one, or refuse), which the API does on every request.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from redis import Redis

_clients: dict[tuple, RedisCacheClient] = {}
_lock = threading.Lock()


class RedisCache(DjangoRedisCache):
    # Set by Django's RedisCache.__init__; django-stubs leaves these private attributes out.
    _servers: list[str]
    _options: dict[str, Any]
    _class: type[RedisCacheClient]

    @property
    def _cache(self) -> RedisCacheClient:
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        client = _clients.get(key)
        if client is None:
            with _lock:
                client = _clients.get(key)
                if client is None:
                    client = _clients[key] = self._class(self._servers, **self._options)
        return client

    def redis(self) -> Redis:
        """The process's client, for what the cache API cannot say (hashes: shared/sockets.py)."""
        return self._cache.get_client(None, write=True)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        client = self._cache.get_client(key, write=True)
        # Like Django's: a missing key raises ValueError rather than starting at 0.
        value = client.eval(_INCR_IF_EXISTS, 1, key, delta)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return int(value)

    def count_hit(self, keys: list[str], *, limit: int, timeout: int) -> tuple[bool, list[int]]:
        """(allowed, the slices' counts, the current one last) of one rate-limit hit
        (shared/ratelimit.py): the slices are read and, when they hold fewer than `limit`
        hits, the last one counts this hit, in one round trip and atomically (no other hit
        comes between the read and the count, so none has to be given back)."""
        full = [self.make_and_validate_key(key) for key in keys]
        client = self._cache.get_client(full[-1], write=True)
        allowed, *counts = client.eval(_COUNT_HIT, len(full), *full, limit, timeout)
        return bool(allowed), [int(c) for c in counts]


# The slices hold plain integers, as Django's RedisSerializer stores an int (cache.get reads
# them back as ints).
_COUNT_HIT = """
local counts, total = {}, 0
for i, key in ipairs(KEYS) do
  counts[i] = tonumber(redis.call('get', key)) or 0
  total = total + counts[i]
end
if total >= tonumber(ARGV[1]) then
  table.insert(counts, 1, 0)
  return counts
end
local last = #KEYS
counts[last] = redis.call('incr', KEYS[last])
if counts[last] == 1 then
  redis.call('expire', KEYS[last], ARGV[2])
end
table.insert(counts, 1, 1)
return counts
"""

_INCR_IF_EXISTS = """
if redis.call('exists', KEYS[1]) == 1 then
  return redis.call('incrby', KEYS[1], ARGV[1])
end
return false
"""
