"""The Redis channel layer, with a connection pool that waits instead of failing.

redis-py 8 caps a pool at 100 connections and raises MaxConnectionsError past that: a burst
of sockets connecting or leaving at once (a Daphne restart, a balancer failover) ran more
concurrent group_add/group_discard calls than that, and each failed one closed its socket
with 1011. A blocking pool queues those calls for a free connection instead.
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class RedisChannelLayer(BaseRedisChannelLayer):
    def create_pool(self, index: int) -> BlockingConnectionPool:
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"), **host)
