"""What the Redis transports need of redis-py beyond plain commands, for its three kinds of
client alike: a standalone ``redis.asyncio.Redis`` (also what ``Sentinel.master_for`` returns)
and a ``redis.asyncio.RedisCluster``.

On a Redis Cluster each node counts only its own subscribers, so a subscriber count is the sum
over the primaries, as Node's adapters compute it; a sharded message goes to the shard that
owns its channel, and sharded subscriptions are read with ``get_sharded_message``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["Subscription", "check_client", "count_subscribers", "is_cluster", "next_message", "ready", "spublish"]

logger = logging.getLogger("socketeer.adapter.redis")


def check_client(redis: Any) -> Any:
    """``redis``, if it hands back bytes: cluster messages are msgpack, which a client made
    with ``decode_responses=True`` would try to read as text."""
    pool = getattr(redis, "connection_pool", None)
    if pool is not None:
        kwargs = pool.connection_kwargs
    elif hasattr(redis, "get_connection_kwargs"):  # RedisCluster
        kwargs = redis.get_connection_kwargs()
    else:
        kwargs = {}
    if kwargs.get("decode_responses"):
        raise ValueError("the Redis client must not decode responses: cluster messages are msgpack bytes")
    return redis


def is_cluster(redis: Any) -> bool:
    return hasattr(redis, "get_primaries") and hasattr(redis, "get_node_from_key")


async def ready(redis: Any) -> None:
    """A cluster client learns the slots before its first subscription (redis-py's
    ``ClusterPubSub`` needs them; commands would learn them by themselves)."""
    if is_cluster(redis):
        await redis.initialize()


def _count(reply: Any) -> int:
    return int(reply[1]) if isinstance(reply, list | tuple) and len(reply) > 1 else 0


async def count_subscribers(redis: Any, kind: str, channel: str) -> int:
    """``PUBSUB NUMSUB`` or ``PUBSUB SHARDNUMSUB`` of ``channel``, cluster-wide."""
    if not is_cluster(redis):
        return _count(await redis.execute_command("PUBSUB", kind, channel))
    total = 0
    for node in redis.get_primaries():
        total += _count(await redis.execute_command("PUBSUB", kind, channel, target_nodes=node))
    return total


async def spublish(redis: Any, channel: str, data: bytes) -> None:
    if is_cluster(redis):
        await redis.execute_command("SPUBLISH", channel, data, target_nodes=redis.get_node_from_key(channel))
    else:
        await redis.execute_command("SPUBLISH", channel, data)


async def next_message(pubsub: Any, sharded: bool) -> Any:
    """The next message of a subscription, or ``None`` after a second without one."""
    if sharded and hasattr(pubsub, "get_sharded_message"):
        # A cluster's subscriptions, one connection per shard: redis-py waits out the timeout on
        # each in turn, so a blocking read would make a burst on one shard wait for the others'
        # timeouts between every message. Polled without waiting instead, 100 times a second
        # while idle (at most 10 ms more latency).
        loop = asyncio.get_running_loop()
        until = loop.time() + 1.0
        while True:
            message = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=0.0)
            if message is not None or loop.time() >= until:
                return message
            await asyncio.sleep(0.01)
    return await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)


class Subscription:
    """One redis-py subscription (``pubsub``: subscribe on it first), read by one task until
    closed: each message goes to ``handle``; a broken connection is logged and retried (redis-py
    reconnects and subscribes again by itself), and a bug in ``handle`` never ends the reading."""

    def __init__(self, redis: Any, *, sharded: bool = False) -> None:
        self.pubsub = redis.pubsub()
        self.sharded = sharded

    async def read(self, handle: Callable[[dict[str, Any]], None]) -> None:
        while True:
            try:
                message = await next_message(self.pubsub, self.sharded)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.error("reading from Redis failed (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            if message is None:
                continue
            try:
                handle(message)
            except Exception:
                logger.exception("handling a cluster message failed")

    async def close(self) -> None:
        try:
            await self.pubsub.aclose()
        except Exception:
            logger.debug("closing a subscription failed", exc_info=True)
