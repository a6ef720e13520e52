"""The sharded flavour on a real Redis Cluster (three primaries started for the suite): a
socketeer node on redis-py's ``RedisCluster`` and a Node node on node-redis's ``createCluster``,
with rooms whose channels live on different shards; broadcasts, rooms, the server count
(summed over the primaries, as Node sums it), server-side emits with acks and
``fetch_sockets``, both ways; and the classic flavour through a Redis Sentinel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from mixed_cluster import Cluster, NodeNode, ask, connect_to, counted, emit, python_node, received
from redis.asyncio.cluster import ClusterNode, RedisCluster


@pytest_asyncio.fixture
async def on_redis_cluster(redis_cluster: list[int], cluster_key: str, serve: Any) -> AsyncIterator[Cluster]:
    client = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", port) for port in redis_cluster])
    python = python_node(client, cluster_key, "sharded:dynamic", requests_timeout=2.0)
    url = await serve(python.io)
    seeds = ",".join(f"redis://127.0.0.1:{port}" for port in redis_cluster)
    node = await NodeNode.start(f"cluster:{seeds}", cluster_key, flavour="sharded:dynamic")
    try:
        await counted(python.io.sockets.adapter, 2)
        yield Cluster(python, node, url, client, "sharded:dynamic")
    finally:
        await node.stop()
        await python.io.shutdown(timeout=1)
        await client.aclose()


async def test_everything_crosses_on_a_redis_cluster(js: Any, on_redis_cluster: Cluster) -> None:
    cluster = on_redis_cluster
    for cid, url in (("py1", cluster.python_url), ("py2", cluster.python_url), ("node1", cluster.node_url),
                     ("node2", cluster.node_url)):
        await connect_to(js, cid, url)
    await emit(js, "py1", "emit", "news", 1, b"\x01")
    await emit(js, "node1", "emit", "news", 2)
    for cid in ("py1", "py2", "node1", "node2"):
        got = sorted([(await received(js, cid, "news"))[0], (await received(js, cid, "news"))[0]])
        assert got == [1, 2]
    # Rooms whose channels hash to different slots, so most likely to different shards.
    rooms = [f"room-{i}" for i in range(6)]
    for room in rooms:
        await emit(js, "py2", "join", room, ack=True)
        await emit(js, "node2", "join", room, ack=True)
    client = cluster.redis
    key = cluster.python.io.sockets.adapter.config.channel_prefix
    slots = {client.keyslot(f"{key}#/#{room}#") for room in rooms}
    assert len(slots) > 1
    async with asyncio.timeout(5):
        for room in rooms:
            while await cluster.python.io.sockets.adapter.server_count() != 2 or not await _both_subscribed(
                    client, f"{key}#/#{room}#"):
                await asyncio.sleep(0.02)
    for room in rooms:
        await emit(js, "py1", "emit_to", room, "to_room", room, "p")
        await emit(js, "node1", "emit_to", room, "to_room", room, "n")
    for cid in ("py2", "node2"):
        got = sorted([tuple(await received(js, cid, "to_room")) for _ in range(2 * len(rooms))])
        assert got == sorted((room, who) for room in rooms for who in ("n", "p"))
    assert await ask(js, "py1", "ss_ack", "question", 1) == {
        "err": None, "responses": [{"node": "node", "args": [1]}]}
    assert await ask(js, "node1", "ss_ack", "question", 2) == {
        "err": None, "responses": [{"node": "python", "args": [2]}]}
    fetched = await ask(js, "py1", "fetch", rooms[0])
    assert len(fetched) == 2 and sum(f["remote"] for f in fetched) == 1
    fetched = await ask(js, "node1", "fetch", rooms[0])
    assert len(fetched) == 2 and sum(f["remote"] for f in fetched) == 1


async def _both_subscribed(client: Any, channel: str) -> bool:
    node = client.get_node_from_key(channel)
    reply = await client.execute_command("PUBSUB", "SHARDNUMSUB", channel, target_nodes=node)
    return int(reply[1]) == 2


async def test_through_a_sentinel(js: Any, private_redis: Any, sentinel: int, cluster_key: str, serve: Any) -> None:
    """``Sentinel.master_for`` gives the client; a Node node on the same master by URL."""
    from redis.asyncio.sentinel import Sentinel

    client = Sentinel([("127.0.0.1", sentinel)]).master_for("mymaster")
    python = python_node(client, cluster_key)
    url = await serve(python.io)
    node = await NodeNode.start(private_redis.url, cluster_key)
    try:
        await counted(python.io.sockets.adapter, 2)
        await connect_to(js, "py1", url)
        await connect_to(js, "node1", node.url)
        await emit(js, "py1", "emit", "hello", "p")
        await emit(js, "node1", "emit", "hello", "n")
        for cid in ("py1", "node1"):
            assert sorted([(await received(js, cid, "hello"))[0], (await received(js, cid, "hello"))[0]]) == ["n", "p"]
    finally:
        await node.stop()
        await python.io.shutdown(timeout=1)
        await client.aclose()
