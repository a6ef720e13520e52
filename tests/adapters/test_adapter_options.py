"""The adapters refuse, at once and in words, a Redis client that would decode their msgpack
messages as text (any kind of redis-py client), and a sharded subscription mode Node has not."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from socketeer.adapters import RedisAdapter, RedisStreamsAdapter, ShardedRedisAdapter


@pytest.mark.parametrize("adapter", [RedisAdapter, ShardedRedisAdapter, RedisStreamsAdapter])
@pytest.mark.parametrize("client", [
    lambda: aioredis.Redis(decode_responses=True),
    lambda: RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", 1)], decode_responses=True),
], ids=["standalone", "cluster"])
def test_a_decoding_client_is_refused(adapter: Any, client: Any) -> None:
    with pytest.raises(ValueError, match="decode responses"):
        adapter(client())


def test_a_bytes_client_is_taken() -> None:
    client = aioredis.Redis()
    assert RedisAdapter(client).redis is client


def test_unknown_subscription_mode() -> None:
    with pytest.raises(ValueError, match="subscription_mode"):
        ShardedRedisAdapter(aioredis.Redis(), subscription_mode="sometimes")  # type: ignore[arg-type]
