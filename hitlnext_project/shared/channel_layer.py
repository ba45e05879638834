"""The Redis channel layer, with a connection pool that waits instead of failing, and open
sockets that outlive a Redis restart.

redis-py 8 caps a pool at 100 connections and raises MaxConnectionsError past that: a burst
of sockets connecting or leaving at once (a Daphne restart, a balancer failover) ran more
concurrent group_add/group_discard calls than that, and each failed one closed its socket
with 1011. A blocking pool queues those calls for a free connection instead.

A Redis restart without persistence (or a failover, or a flush) costs open sockets two things:
- the connection a process blocks on to read its sockets' messages (BZPOPMIN) breaks, and
  channels_redis raises that into whichever consumer was reading: one after the other, every
  socket of the process was closed with 1011 while Redis was down;
- group memberships, sorted sets in Redis ("<prefix>:group:<name>"), are gone: a socket that
  stayed open got no push again until it joined anew (its page's hello, every 30 minutes).
So while Redis is unreachable the reading loop here waits for it instead of failing (the
sockets stay open, pushes resume when it is back), and the layer remembers which groups this
process's channels are in and joins them again when Redis may have lost them: after an error,
or when a marker key it keeps there is missing (checked by the reading loop, at most every
CHECK_EVERY seconds while busy, every few seconds while idle). One command per check; a
rejoin is one ZADD per group for all of the process's sockets in it.

What the layer keeps per socket lives as long as the socket's consumer (the task that made its
channel). channels_redis left a closed socket's receive queue behind when its consumer was the
one reading Redis for the others as it closed (about one socket in five under churn, measured
with tracemalloc: bench/socket_churn.py), and queued forever a message that arrived for a
socket already closed; both are dropped here. A consumer that fails instead of closing never
leaves its groups: the layer takes its channel out of them when its task ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer
from redis import exceptions as redis_exceptions
from redis.asyncio import BlockingConnectionPool

logger = logging.getLogger(__name__)

# What a restarting or unreachable Redis raises (redis-py wraps socket errors in these).
UNAVAILABLE = (redis_exceptions.ConnectionError, redis_exceptions.TimeoutError, OSError)
# While Redis is unreachable the reading loop tries again this often.
RETRY_EVERY = 0.5
CHECK_EVERY = 1.0


# channels_redis 4.3's, unchanged: queue the message for each channel key below its capacity.
GROUP_SEND_LUA = """
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
for i=1,#KEYS do
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


class RedisChannelLayer(BaseRedisChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # This process's open channels -> the groups each is in. A channel is open from
        # new_channel() until the task that made it ends: a consumer's task, which ends when
        # its socket closes, cleanly or not.
        self._open: dict[str, set[str]] = {}
        self._leaving: set[asyncio.Future] = set()
        # True until a check finds the marker in place and every membership joined again.
        self._may_have_lost = True
        self._checked_at = 0.0
        self._marker = f"{self.prefix}:layer:{self.client_prefix}"
        # Renewing the marker at half the membership lifetime rejoins everything as often, so
        # an open socket's memberships never expire either (channels' group_expiry, a day).
        self._marker_ttl = max(60, self.group_expiry // 2)

    def create_pool(self, index: int) -> BlockingConnectionPool:
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"), **host)

    # --- Open channels and their memberships ------------------------------------------------

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = await super().new_channel(prefix)
        task = asyncio.current_task()
        if task is not None:
            self._open[channel] = set()
            task.add_done_callback(lambda _: self._close(channel))
        return channel

    def _close(self, channel: str) -> None:
        groups = self._open.pop(channel, None)
        self.receive_buffer.pop(channel, None)  # what nobody will read any more
        if groups:
            # Its consumer ended without leaving them: it failed (e.g. a push raced the socket
            # closing). Left in, the channel would get every push to them for a day.
            leaving = asyncio.ensure_future(self._leave(channel, groups))
            self._leaving.add(leaving)
            leaving.add_done_callback(self._leaving.discard)

    async def _leave(self, channel: str, groups: set[str]) -> None:
        for group in groups:
            try:
                await self.group_discard(group, channel)
            except UNAVAILABLE:
                return  # they expire (group_expiry)

    async def group_add(self, group: str, channel: str) -> None:
        await super().group_add(group, channel)
        groups = self._open.get(channel)
        if groups is not None:  # one of this process's sockets
            groups.add(group)

    async def group_discard(self, group: str, channel: str) -> None:
        groups = self._open.get(channel)
        if groups is not None:
            groups.discard(group)
        await super().group_discard(group, channel)

    async def flush(self) -> None:
        for groups in self._open.values():
            groups.clear()  # deleted on purpose: not to be joined again
        await super().flush()

    async def _check_memberships(self) -> None:
        self._checked_at = time.monotonic()
        lost = self._may_have_lost
        for index in range(self.ring_size):
            # Set only if missing: then whatever this process wrote before may be gone too.
            if await self.connection(index).set(self._marker, 1, nx=True, ex=self._marker_ttl):
                lost = True
        if lost and any(self._open.values()):
            await self._rejoin()
        self._may_have_lost = False

    async def _rejoin(self) -> None:
        by_group: dict[str, list[str]] = defaultdict(list)
        for channel, groups in list(self._open.items()):
            for group in groups:
                by_group[group].append(channel)
        by_shard: dict[int, list[str]] = defaultdict(list)
        for group in by_group:
            by_shard[self.consistent_hash(group)].append(group)
        now = time.time()
        for index, shard_groups in by_shard.items():
            pipe = self.connection(index).pipeline(transaction=False)
            for group in shard_groups:
                key = self._group_key(group)
                pipe.zadd(key, dict.fromkeys(by_group[group], now))
                pipe.expire(key, self.group_expiry)
            await pipe.execute()
        logger.info("joined %d groups again for %d sockets", len(by_group), len(self._open))

    # --- Sending -----------------------------------------------------------------------------

    async def group_send(self, group: str, message: dict) -> None:
        """channels_redis's group_send (4.3) in two round trips instead of four, and in one
        when nobody is in the group (a conversation no agent watches): the expired members'
        cleanup goes with the members' read, and each shard's expired messages' cleanup with
        its delivery script. Every push from a request waits for these round trips."""
        assert self.require_valid_group_name(group), "Group name not valid"
        key = self._group_key(group)
        pipe = self.connection(self.consistent_hash(group)).pipeline(transaction=False)
        pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
        pipe.zrange(key, 0, -1)
        _, members = await pipe.execute()
        if not members:
            return
        channels = [member.decode("utf8") for member in members]
        by_shard, messages, capacities = self._map_channel_keys_to_connection(channels, message)
        for index, keys in by_shard.items():
            pipe = self.connection(index).pipeline(transaction=False)
            for channel_key in keys:
                pipe.zremrangebyscore(channel_key, min=0, max=int(time.time()) - int(self.expiry))
            pipe.eval(
                GROUP_SEND_LUA,
                len(keys),
                *keys,
                *(messages[k] for k in keys),
                *(capacities[k] for k in keys),
                time.time(),
                self.expiry,
            )
            *_, over_capacity = await pipe.execute()
            if over_capacity > 0:
                logger.info(
                    "%s of %s channels over capacity in group %s",
                    over_capacity,
                    len(channels),
                    group,
                )

    # --- Reading -----------------------------------------------------------------------------
    # Overrides of channels_redis internals (4.3). receive() has one task at a time read the
    # process's messages from Redis with receive_single(), which calls _brpop_with_clean() in
    # a loop until it returns a message (None: nothing yet, read again); the message is then
    # queued in receive_buffer for the channel(s) it names.

    async def receive_single(self, channel: str) -> tuple[Any, dict]:
        while True:
            to, message = await super().receive_single(channel)
            if "!" not in channel:  # a named channel: not this process's sockets
                return to, message
            if isinstance(to, list):  # one message for several sockets of this process
                to = [name for name in to if name in self._open]
                if to:
                    return to, message
            elif to in self._open:
                return to, message
            # For sockets already closed: queued, nobody would ever read it.

    async def _brpop_with_clean(self, index: int, channel: str, timeout: int) -> Any:
        try:
            if self._may_have_lost or time.monotonic() - self._checked_at >= CHECK_EVERY:
                await self._check_memberships()
            return await super()._brpop_with_clean(index, channel, timeout)
        except UNAVAILABLE as error:
            if not self._may_have_lost:
                logger.warning("Redis unavailable, open sockets wait for it: %s", error)
            self._may_have_lost = True
            await asyncio.sleep(RETRY_EVERY)
            return None

    async def _clean_receive_backup(self, index: int, channel: str) -> None:
        try:
            await super()._clean_receive_backup(index, channel)
        except UNAVAILABLE:
            # The message stays in its backup queue: the next read puts it back, so it may
            # arrive twice (pushes are idempotent); after a restart the queue is gone anyway.
            self._may_have_lost = True
