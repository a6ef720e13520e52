"""Faults in a mixed cluster, each on a Redis of the test's own: Redis restarted under load (the
adapter comes back by itself, local delivery never stops, what could not cross is logged once
per message and counted), a Node node frozen then killed while requests wait for it (they end
at their timeout with what the living nodes answered; the dead node drops out of the count),
and garbage on every channel (logged, skipped, the node serves on)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import PrivateRedis
from mixed_cluster import FLAVOURS, NodeNode, connect_to, counted, emit, python_node, received

from socketeer.adapters.base import BroadcastOptions
from socketeer.adapters.cluster import (
    RequestType,
    broadcast_channel,
    encode_broadcast,
    encode_request,
    request_channel,
    response_channel,
)
from socketeer.exceptions import AckTimeout
from socketeer.socketio.packets import Packet, PacketType


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_redis_restarted_under_load(js: Any, private_redis: PrivateRedis, cluster_key: str, serve: Any,
                                          caplog: pytest.LogCaptureFixture, flavour: str) -> None:
    client = aioredis.Redis.from_url(private_redis.url)
    py = python_node(client, cluster_key, flavour, requests_timeout=1.0)
    url = await serve(py.io)
    node = await NodeNode.start(private_redis.url, cluster_key, flavour=flavour)
    try:
        await counted(py.io.sockets.adapter, 2)
        await connect_to(js, "py1", url)
        await connect_to(js, "node1", node.url)
        total = 300
        caplog.set_level(logging.ERROR, logger="socketeer.adapter")

        async def load() -> None:
            for i in range(total):
                py.io.emit("tick", i)
                await asyncio.sleep(0.005)

        loader = asyncio.create_task(load())
        await asyncio.sleep(0.3)
        private_redis.stop()  # SIGKILL: every connection drops at once
        await asyncio.sleep(0.4)
        private_redis.start()
        async with asyncio.timeout(15):
            await loader
        # Local delivery never stopped: every tick reached the client of this node, in order.
        local = [(await received(js, "py1", "tick"))[0] for _ in range(total)]
        assert local == list(range(total))
        # The adapter comes back by itself, both ways.
        async with asyncio.timeout(20):
            while True:
                py.io.emit("probe")
                await emit(js, "node1", "emit", "probe_back")
                try:
                    await js.wait_event("node1", "event", event="probe", timeout=0.5)
                    await js.wait_event("py1", "event", event="probe_back", timeout=0.5)
                    break
                except TimeoutError:
                    continue
        crossed = sum(1 for e in js.events.get("node1", []) if e.get("event") == "tick")
        lost = total - crossed
        failed = [r for r in caplog.records if "publishing" in r.getMessage() and "failed" in r.getMessage()]
        print(f"\nRedis restart under load ({flavour}): {crossed} of {total} cross-node broadcasts arrived, "
              f"{lost} lost, {len(failed)} logged publish failures")
        assert 0 < crossed < total  # some crossed before, some after; some were lost
        assert len(failed) <= lost  # at most one error per lost message, no storm
        assert py.io.sockets.adapter.pending_publishes == 0  # nothing stuck behind
    finally:
        await node.stop()
        await py.io.shutdown(timeout=1)
        await client.aclose()


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_frozen_then_killed_node(js: Any, private_redis: PrivateRedis, cluster_key: str,
                                         serve: Any, flavour: str) -> None:
    client = aioredis.Redis.from_url(private_redis.url)
    py = python_node(client, cluster_key, flavour, requests_timeout=1.5)
    url = await serve(py.io)
    alive = await NodeNode.start(private_redis.url, cluster_key, flavour=flavour)
    doomed = await NodeNode.start(private_redis.url, cluster_key, flavour=flavour)
    io = py.io
    try:
        await counted(io.sockets.adapter, 3)
        for cid, where in (("py1", url), ("alive1", alive.url), ("doomed1", doomed.url)):
            await connect_to(js, cid, where)
            assert (await js.call({"cmd": "on_ack", "id": cid, "event": "q", "reply": [cid]}))["ok"]
        os.kill(doomed.proc.pid, signal.SIGSTOP)  # frozen: still subscribed, so still counted
        assert await io.sockets.adapter.server_count() == 3
        loop = asyncio.get_running_loop()

        started = loop.time()
        with pytest.raises(AckTimeout) as caught:
            await io.server_side_emit_with_ack("question", "anyone?")
        assert 1.4 < loop.time() - started < 3
        assert str(caught.value) == "timeout reached: only 1 responses received out of 2"
        assert caught.value.responses == [{"node": "node", "args": ["anyone?"]}]

        with pytest.raises(AckTimeout) as caught:
            await io.fetch_sockets()
        assert len(caught.value.responses) == 1  # the living Node node's one socket

        with pytest.raises(AckTimeout) as caught:
            await io.timeout(0.8).emit_with_ack("q")
        assert sorted(caught.value.responses) == ["alive1", "py1"]

        # Killed while a request waits for it: the request still ends at its timeout with
        # what came, and the dead node leaves the count at once.
        pending = asyncio.create_task(io.server_side_emit_with_ack("question", "still there?"))
        await asyncio.sleep(0.2)
        doomed.kill()
        with pytest.raises(AckTimeout) as caught:
            await pending
        assert caught.value.responses == [{"node": "node", "args": ["still there?"]}]
        async with asyncio.timeout(1):
            await counted(io.sockets.adapter, 2)
        started = loop.time()
        assert await io.server_side_emit_with_ack("question", 3) == [{"node": "node", "args": [3]}]
        assert sorted(await io.timeout(3).emit_with_ack("q")) == ["alive1", "py1"]
        assert len(await io.fetch_sockets()) == 2
        assert loop.time() - started < 1
    finally:
        for node in (alive, doomed):
            if node.proc.returncode is None:
                os.kill(node.proc.pid, signal.SIGCONT)
            await node.stop()
        await io.shutdown(timeout=1)
        await client.aclose()


async def test_garbage_on_every_channel_is_logged_and_skipped(
        js: Any, private_redis: PrivateRedis, cluster_key: str, serve: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Only a socketeer node listens here: Node's adapter lets a malformed broadcast throw out
    of its Redis listener, which ends the Node process (notepack's "Could not parse")."""
    client = aioredis.Redis.from_url(private_redis.url)
    py = python_node(client, cluster_key)
    url = await serve(py.io)
    try:
        await connect_to(js, "py1", url)
        caplog.set_level(logging.WARNING, logger="socketeer.adapter.redis")
        import msgpack

        other_nsp = msgpack.packb(["N", {"type": 2, "data": ["leak"], "nsp": "/other"}, {"rooms": [], "except": []}])
        garbage = {
            broadcast_channel(cluster_key, "/"): [b"\xc1", b"not msgpack", msgpack.packb([1, 2, 3]), other_nsp],
            request_channel(cluster_key, "/"): [b"{broken", b'{"uid": "X", "type": 42}', b"\x00",
                                                 b'{"uid": "X", "type": 6, "data": "x"}'],
            response_channel(cluster_key, "/"): [b"{]", b'{"requestId": []}', b"\xff\xff"],
        }
        for channel, messages in garbage.items():
            for message in messages:
                await client.publish(channel, message)
        # Then a well-formed broadcast and server-side emit from another node: still served.
        await client.publish(broadcast_channel(cluster_key, "/"), encode_broadcast(
            "OTHER1", Packet(PacketType.EVENT, "/", ["after", 1]), BroadcastOptions()))
        await client.publish(request_channel(cluster_key, "/"), encode_request(
            "OTHER1", RequestType.SERVER_SIDE_EMIT, data=["hello", "still here"]))
        assert await received(js, "py1", "after") == [1]
        assert await received(js, "py1", "from_server_side") == ["hello", "still here"]
        assert "leak" not in {e.get("event") for e in js.events.get("py1", [])}
        dropped = [r for r in caplog.records if r.getMessage().startswith("dropped a malformed")]
        assert len(dropped) == 3 + 4 + 3  # every one but the foreign namespace's, which is skipped quietly
        assert all(r.levelno == logging.WARNING for r in dropped)
    finally:
        await py.io.shutdown(timeout=1)
        await client.aclose()
