"""What is particular to the sharded flavour (``ShardedRedisAdapter`` with Node's
``createShardedAdapter`` on a real Redis): its messages byte for byte as Node's, its three
subscription modes both ways (rooms and single sockets), a node without members of a room not
subscribed to it (so it receives nothing of it), and nothing lost once Redis counts a room's
subscription."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from mixed_cluster import Cluster, NodeNode, connect_to, counted, emit, python_node, received

from socketeer.adapters.base import BroadcastOptions
from socketeer.adapters.cluster import RequestType
from socketeer.adapters.cluster_adapter import MessageType, decode_message, request_message
from socketeer.socketio.packets import Packet, PacketType


@pytest_asyncio.fixture(params=["static", "dynamic", "dynamic-private"])
async def sharded(request: pytest.FixtureRequest, redis_url: str, cluster_key: str,
                  serve: Any) -> AsyncIterator[Cluster]:
    flavour = f"sharded:{request.param}"
    client = aioredis.Redis.from_url(redis_url)
    python = python_node(client, cluster_key, flavour)
    url = await serve(python.io)
    node = await NodeNode.start(redis_url, cluster_key, flavour=flavour)
    try:
        await counted(python.io.sockets.adapter, 2)
        yield Cluster(python, node, url, client, flavour)
    finally:
        await node.stop()
        await python.io.shutdown(timeout=1)
        await client.aclose()


async def shard_subscribers(client: Any, channel: str) -> int:
    reply = await client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
    return int(reply[1])


async def test_rooms_and_single_sockets_in_every_mode(js: Any, sharded: Cluster, cluster_key: str) -> None:
    sids = {cid: await connect_to(js, cid, url) for cid, url in (
        ("py1", sharded.python_url), ("py2", sharded.python_url), ("node1", sharded.node_url),
        ("node2", sharded.node_url))}
    for cid in ("py2", "node2"):
        await emit(js, cid, "join", "team", ack=True)
    if sharded.flavour != "sharded:static":  # both nodes hold a member: both subscribed
        async with asyncio.timeout(5):
            while await shard_subscribers(sharded.redis, f"{cluster_key}#/#team#") != 2:
                await asyncio.sleep(0.02)
    await emit(js, "py1", "emit_to", "team", "t", "from python")
    await emit(js, "node1", "emit_to", "team", "t", "from node")
    for cid in ("py2", "node2"):
        got = sorted([(await received(js, cid, "t"))[0], (await received(js, cid, "t"))[0]])
        assert got == ["from node", "from python"]
    # To one socket of the other node (a private room: its own channel only in dynamic-private).
    await emit(js, "py1", "emit_to", sids["node1"], "direct", "p")
    await emit(js, "node1", "emit_to", sids["py1"], "direct", "n")
    assert await received(js, "node1", "direct") == ["p"]
    assert await received(js, "py1", "direct") == ["n"]
    await emit(js, "py1", "emit", "marker")
    for cid in sids:
        await received(js, cid, "marker")
    for cid in ("py1", "node1"):
        assert not [e for e in js.events.get(cid, []) if e.get("event") == "t"]


DYNAMIC = pytest.mark.parametrize("cluster", ["sharded:dynamic"], indirect=True)


@DYNAMIC
async def test_a_node_without_members_is_not_subscribed(js: Any, cluster: Cluster, cluster_key: str) -> None:
    await connect_to(js, "py1", cluster.python_url)
    await connect_to(js, "node1", cluster.node_url)
    channel = f"{cluster_key}#/#lonely#"
    await emit(js, "node1", "join", "lonely", ack=True)
    async with asyncio.timeout(5):
        while await shard_subscribers(cluster.redis, channel) != 1:
            await asyncio.sleep(0.02)
    # Only the Node node is subscribed: the socketeer node receives none of the room's traffic.
    await emit(js, "py1", "emit_to", "lonely", "only_node", 1)
    assert await received(js, "node1", "only_node") == [1]
    await emit(js, "py1", "join", "lonely", ack=True)
    async with asyncio.timeout(5):
        while await shard_subscribers(cluster.redis, channel) != 2:
            await asyncio.sleep(0.02)
    # Once Redis counts the subscription, nothing published to the room is lost.
    for i in range(50):
        await emit(js, "node1", "emit_to", "lonely", "burst", i)
    assert [(await received(js, "py1", "burst"))[0] for _ in range(50)] == list(range(50))
    # Leaving the room ends the subscription.
    py_socket = next(iter(cluster.python.io.sockets.sockets.values()))
    py_socket.leave("lonely")
    async with asyncio.timeout(5):
        while await shard_subscribers(cluster.redis, channel) != 1:
            await asyncio.sleep(0.02)


@DYNAMIC
async def test_messages_are_written_as_node_writes_them(js: Any, cluster: Cluster, cluster_key: str) -> None:
    """What a Node node publishes, captured from Redis, against this side's encoding of the
    same operation with the Node node's uid."""
    pubsub = cluster.redis.pubsub()
    await pubsub.ssubscribe(f"{cluster_key}#/#", f"{cluster_key}#/#club#")
    try:
        await connect_to(js, "node1", cluster.node_url)
        await emit(js, "node1", "emit", "news", "text", {"n": 1.5, "b": b"\x00\x01"})
        await emit(js, "node1", "emit", "plain", [1, None, True])
        await emit(js, "node1", "emit_to", "club", "c", "x")
        await emit(js, "node1", "sockets_join", "club", ["a", "b"], ack=True)
        await emit(js, "node1", "disconnect_sockets", "nobody", True, ack=True)
        captured = []
        async with asyncio.timeout(5):
            while len(captured) < 5:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    captured.append(message["data"])
    finally:
        await pubsub.aclose()
    uid = decode_message(captured[0]).uid
    nsp = "/"
    expected = [
        request_message(uid, nsp, RequestType.BROADCAST, packet=Packet(
            PacketType.EVENT, nsp, ["news", "text", {"n": 1.5, "b": b"\x00\x01"}]), opts=BroadcastOptions())[1],
        request_message(uid, nsp, RequestType.BROADCAST,
                        packet=Packet(PacketType.EVENT, nsp, ["plain", [1, None, True]]), opts=BroadcastOptions())[1],
        request_message(uid, nsp, RequestType.BROADCAST, packet=Packet(PacketType.EVENT, nsp, ["c", "x"]),
                        opts=BroadcastOptions(rooms=frozenset({"club"})))[1],
        request_message(uid, nsp, RequestType.REMOTE_JOIN, opts=BroadcastOptions(rooms=frozenset({"club"})),
                        rooms=["a", "b"])[1],
        request_message(uid, nsp, RequestType.REMOTE_DISCONNECT, opts=BroadcastOptions(rooms=frozenset({"nobody"})),
                        close=True)[1],
    ]
    assert captured == expected
    assert decode_message(captured[0]).type is MessageType.BROADCAST
    assert captured[0][:1] != b"{" and captured[1][:1] == b"{"  # msgpack only when binary is inside


async def test_garbage_is_logged_and_skipped(js: Any, redis_url: str, cluster_key: str, serve: Any,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """Garbage on the namespace's channel and on this node's answer channel, then a good
    message: each bad one logged once, the good one delivered."""
    import logging

    import msgpack

    client = aioredis.Redis.from_url(redis_url)
    py = python_node(client, cluster_key, "sharded:dynamic")
    url = await serve(py.io)
    try:
        await connect_to(js, "py1", url)
        caplog.set_level(logging.WARNING, logger="socketeer.adapter.redis")
        adapter = py.io.sockets.adapter
        main, mine = f"{cluster_key}#/#", f"{cluster_key}#/#{adapter.uid}#"
        garbage = [b"", b"{", b"\xc1", b"[1]", b'{"type": 3, "uid": "X", "nsp": "/"}',
                   b'{"type": 99, "uid": "X", "nsp": "/", "data": {}}', b'{"type": 3, "uid": 5, "nsp": "/"}',
                   msgpack.packb({"type": 3, "uid": "X", "nsp": "/", "data": {"packet": "p", "opts": {}}}),
                   b'{"type": 9, "uid": "X", "nsp": "/", "data": {"packet": []}}']
        for message in garbage:
            await client.execute_command("SPUBLISH", main, message)
        for message in (b"{]", b'{"type": 8, "uid": "X", "nsp": "/", "data": {"requestId": []}}'):
            await client.execute_command("SPUBLISH", mine, message)
        # Another namespace's message on this channel: skipped quietly.
        _, foreign = request_message("X", "/other", RequestType.BROADCAST,
                                     packet=Packet(PacketType.EVENT, "/other", ["leak"]), opts=BroadcastOptions())
        await client.execute_command("SPUBLISH", main, foreign)
        _, good = request_message("X", "/", RequestType.BROADCAST, packet=Packet(PacketType.EVENT, "/", ["after", 1]),
                                  opts=BroadcastOptions())
        await client.execute_command("SPUBLISH", main, good)
        assert await received(js, "py1", "after") == [1]
        assert "leak" not in {e.get("event") for e in js.events.get("py1", [])}
        dropped = [r for r in caplog.records if r.getMessage().startswith("dropped a malformed")]
        assert len(dropped) == len(garbage) + 2
    finally:
        await py.io.shutdown(timeout=1)
        await client.aclose()
