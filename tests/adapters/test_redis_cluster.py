"""A mixed cluster on a real Redis: a socketeer node (``RedisAdapter``) and a Node.js node
(``@socket.io/redis-adapter``), official clients on both; what one node broadcasts reaches the
other node's clients, rooms and ``except_`` are honoured on both, ``local`` stays local, and
server-side events cross in both directions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
import redis.asyncio as aioredis

import socketeer
from socketeer.adapters.redis import RedisAdapter

INTEROP = Path(__file__).resolve().parent.parent / "interop"


class NodeNode:
    """tests/interop/cluster_node.js, running."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"

    @classmethod
    async def start(cls, redis_url: str, key: str) -> NodeNode:
        proc = await asyncio.create_subprocess_exec(
            "node", str(INTEROP / "cluster_node.js"), redis_url, key,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        if not line:
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"cluster_node.js did not start: {err.decode()}")
        return cls(proc, json.loads(line)["port"])

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def python_node(client: Any, key: str) -> socketeer.Server:
    io = socketeer.Server(adapter=RedisAdapter(client, key=key))

    @io.on("emit")
    def emit(socket: socketeer.Socket, event: str, *args: Any) -> None:
        io.emit(event, *args)

    @io.on("emit_to")
    def emit_to(socket: socketeer.Socket, room: str, event: str, *args: Any) -> None:
        io.to(room).emit(event, *args)

    @io.on("emit_except")
    def emit_except(socket: socketeer.Socket, room: str, event: str, *args: Any) -> None:
        io.except_(room).emit(event, *args)

    @io.on("emit_local")
    def emit_local(socket: socketeer.Socket, event: str, *args: Any) -> None:
        io.local.emit(event, *args)

    @io.on("join")
    def join(socket: socketeer.Socket, room: str) -> None:
        socket.join(room)

    @io.on("server_side")
    def server_side(socket: socketeer.Socket, event: str, *args: Any) -> None:
        io.server_side_emit(event, *args)

    @io.on("server_count")
    async def server_count(socket: socketeer.Socket) -> int:
        return await io.sockets.adapter.server_count()

    for event in ("hello", "question"):
        def handler(*args: Any, _event: str = event) -> dict[str, Any]:
            io.local.emit("from_server_side", _event, *args)
            return {"node": "python", "args": list(args)}

        io.on_server_side(event)(handler)
    return io


@pytest_asyncio.fixture
async def cluster(redis_url: str, cluster_key: str, serve: Any) -> AsyncIterator[tuple[str, str]]:
    """``(python_url, node_url)``: one node of each kind on the same Redis and key."""
    client = aioredis.Redis.from_url(redis_url)
    io = python_node(client, cluster_key)
    python_url = await serve(io)
    node = await NodeNode.start(redis_url, cluster_key)
    try:
        # Both nodes subscribed: each counts two servers.
        async with asyncio.timeout(10):
            while await io.sockets.adapter.server_count() < 2:
                await asyncio.sleep(0.02)
        yield python_url, node.url
    finally:
        await node.stop()
        await io.shutdown(timeout=1)
        await client.aclose()


async def connect_to(js: Any, cid: str, url: str) -> None:
    reply = await js.call({"cmd": "connect", "id": cid, "url": url, "opts": {"transports": ["websocket"]}})
    assert reply["ok"], reply
    await js.wait_event(cid, "connect")


async def emit(js: Any, cid: str, event: str, *args: Any, ack: bool = False) -> Any:
    reply = await js.call({"cmd": "emit", "id": cid, "event": event, "args": list(args), "ack": ack})
    assert reply["ok"], reply
    return reply.get("ack")


async def received(js: Any, cid: str, event: str) -> list[Any]:
    got = await js.wait_event(cid, "event", event=event)
    return got["args"]  # type: ignore[no-any-return]


async def test_broadcasts_cross_both_ways(js: Any, cluster: tuple[str, str]) -> None:
    py, node = cluster
    for cid, url in (("py1", py), ("py2", py), ("node1", node), ("node2", node)):
        await connect_to(js, cid, url)
    # From the Python node to everyone, binary included.
    await emit(js, "py1", "emit", "news", "from python", {"n": 1}, b"\x00\x01\xff")
    for cid in ("py1", "py2", "node1", "node2"):
        assert await received(js, cid, "news") == ["from python", {"n": 1}, b"\x00\x01\xff"]
    # From the Node node to everyone.
    await emit(js, "node1", "emit", "news2", "from node", [1, 2])
    for cid in ("py1", "py2", "node1", "node2"):
        assert await received(js, cid, "news2") == ["from node", [1, 2]]


async def test_rooms_and_except_on_both_nodes(js: Any, cluster: tuple[str, str]) -> None:
    py, node = cluster
    for cid, url in (("py1", py), ("py2", py), ("node1", node), ("node2", node)):
        await connect_to(js, cid, url)
    await emit(js, "py2", "join", "team", ack=True)
    await emit(js, "node2", "join", "team", ack=True)
    await emit(js, "node1", "emit_to", "team", "for_team", "n")  # Node node, one room
    await emit(js, "py1", "emit_to", "team", "for_team", "p")  # Python node, one room
    for cid in ("py2", "node2"):  # no order between two nodes' broadcasts
        got = [await received(js, cid, "for_team"), await received(js, cid, "for_team")]
        assert sorted(x[0] for x in got) == ["n", "p"]
    await emit(js, "py1", "emit_except", "team", "not_team", 1)
    await emit(js, "node1", "emit_except", "team", "not_team", 2)
    for cid in ("py1", "node1"):
        got = [await received(js, cid, "not_team"), await received(js, cid, "not_team")]
        assert sorted(x[0] for x in got) == [1, 2]
    # A marker broadcast to all, after the others: a wrong delivery would have arrived first.
    await emit(js, "py1", "emit", "marker")
    for cid in ("py1", "py2", "node1", "node2"):
        await received(js, cid, "marker")
    assert names(js, "py2") == names(js, "node2") == {"for_team": 2, "marker": 1}
    assert names(js, "py1") == names(js, "node1") == {"not_team": 2, "marker": 1}


def names(js: Any, cid: str) -> dict[str, int]:
    """How many times each event reached ``cid``."""
    counts: dict[str, int] = {}
    for event in js.events.get(cid, []):
        if event.get("type") == "event":
            counts[event["event"]] = counts.get(event["event"], 0) + 1
    return counts


async def test_local_stays_local(js: Any, cluster: tuple[str, str]) -> None:
    py, node = cluster
    for cid, url in (("py1", py), ("node1", node)):
        await connect_to(js, cid, url)
    await emit(js, "py1", "emit_local", "only_python")
    await emit(js, "node1", "emit_local", "only_node")
    assert await received(js, "py1", "only_python") == []
    assert await received(js, "node1", "only_node") == []
    # Then something both see, so that a leaked local emit would have arrived by now.
    await emit(js, "py1", "emit", "after")
    await received(js, "node1", "after")
    await received(js, "py1", "after")
    assert names(js, "py1") == {"only_python": 1, "after": 1}
    assert names(js, "node1") == {"only_node": 1, "after": 1}


async def test_server_side_events_cross_both_ways(js: Any, cluster: tuple[str, str]) -> None:
    py, node = cluster
    for cid, url in (("py1", py), ("node1", node)):
        await connect_to(js, cid, url)
    await emit(js, "py1", "server_side", "hello", "from python", 1)
    assert await received(js, "node1", "from_server_side") == ["hello", "from python", 1]
    await emit(js, "node1", "server_side", "hello", "from node", 2)
    assert await received(js, "py1", "from_server_side") == ["hello", "from node", 2]
    assert await emit(js, "py1", "server_count", ack=True) == [2]
    assert await emit(js, "node1", "server_count", ack=True) == [2]
