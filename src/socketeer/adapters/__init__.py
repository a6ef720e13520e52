"""Adapters: who is in which room, on one node (``InMemoryAdapter``, the default) or across a
cluster, over Redis (``RedisAdapter`` and its sharded and streams flavours) or over a hub on
one machine (``LocalClusterAdapter``); and ``Emitter`` for processes that only publish.

    from socketeer.adapters import RedisAdapter
    io = socketeer.Server(adapter=RedisAdapter(redis.asyncio.Redis.from_url(url)))

Nothing here imports ``redis``: the client is the caller's (the ``redis`` extra installs it).
"""

from __future__ import annotations

from .base import Adapter, BroadcastOptions, InMemoryAdapter, RemoteSocketDetails
from .emitter import Emitter
from .local import LocalClusterAdapter, LocalHub
from .redis import RedisAdapter
from .redis_sharded import ShardedRedisAdapter
from .redis_streams import RedisStreamsAdapter

__all__ = [
    "Adapter",
    "BroadcastOptions",
    "Emitter",
    "InMemoryAdapter",
    "LocalClusterAdapter",
    "LocalHub",
    "RedisAdapter",
    "RedisStreamsAdapter",
    "RemoteSocketDetails",
    "ShardedRedisAdapter",
]
