"""Connection state recovery across nodes with ``RedisStreamsAdapter`` and Node's
``@socket.io/redis-streams-adapter``: an official client behind one address (a TCP relay the
test re-points, as a load balancer would send a reconnection elsewhere) drops on one node and
comes back on the other, gets ``recovered == True``, the same socket id, and every packet it
missed, with its offset; in both directions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from mixed_cluster import NodeNode, PythonNode, counted, python_node


class Relay:
    """127.0.0.1:<port> -> the current target; ``switch`` drops every open connection."""

    def __init__(self) -> None:
        self.target: tuple[str, int] = ("127.0.0.1", 0)
        self.server: asyncio.Server | None = None
        self.pairs: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.pairs.add(task)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            self.pairs.discard(task)
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self.pairs.discard(task)
            writer.close()
            up_writer.close()

    def switch(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.target = (host, int(port))
        for task in list(self.pairs):
            task.cancel()

    async def stop(self) -> None:
        for task in list(self.pairs):
            task.cancel()
        if self.server is not None:
            self.server.close()


@pytest_asyncio.fixture
async def two_nodes(redis_url: str, cluster_key: str, serve: Any) -> AsyncIterator[tuple[PythonNode, str, NodeNode]]:
    client = aioredis.Redis.from_url(redis_url)
    python = python_node(client, cluster_key, "streams+recovery")
    url = await serve(python.io)
    node = await NodeNode.start(redis_url, cluster_key, flavour="streams+recovery")
    try:
        await counted(python.io.sockets.adapter, 2)
        yield python, url, node
    finally:
        await node.stop()
        await python.io.shutdown(timeout=1)
        await client.aclose()


def offsets(js: Any, cid: str, event: str) -> list[list[Any]]:
    return [e["args"] for e in js.events.get(cid, []) if e.get("type") == "event" and e.get("event") == event]


@pytest.mark.parametrize("first", ["python", "node"])
async def test_a_client_recovers_on_the_other_node(js: Any, two_nodes: tuple[PythonNode, str, NodeNode],
                                                   first: str) -> None:
    python, python_url, node = two_nodes
    start, then = (python_url, node.url) if first == "python" else (node.url, python_url)
    relay = Relay()
    await relay.start()
    relay.switch(start)
    try:
        opts = {"transports": ["websocket"], "reconnectionDelay": 300, "randomizationFactor": 0}
        reply = await js.call({"cmd": "connect", "id": "c", "url": f"http://127.0.0.1:{relay.port}", "opts": opts})
        assert reply["ok"], reply
        first_connect = await js.wait_event("c", "connect")
        assert first_connect["recovered"] is False
        await js.call({"cmd": "emit", "id": "c", "event": "join", "args": ["team"], "ack": True})
        python.io.emit("before", 1)  # gives the client an offset
        got = await js.wait_event("c", "event", event="before")
        assert got["args"][0] == 1 and "-" in got["args"][1]

        relay.switch(then)  # the connection drops; the next one lands on the other node
        await js.wait_event("c", "disconnect")
        python.io.emit("missed", 1)
        python.io.to("team").emit("missed", 2)
        python.io.to("elsewhere").emit("not_for_you", 3)
        python.io.except_("team").emit("not_for_you", 4)
        await asyncio.sleep(0.1)  # in the stream before the client is back (300 ms)

        again = await js.wait_event("c", "connect", timeout=10)
        assert again["recovered"] is True
        assert again["sid"] == first_connect["sid"]
        missed = offsets(js, "c", "missed")
        assert [m[0] for m in missed] == [1, 2]
        assert all(isinstance(m[1], str) and "-" in m[1] for m in missed)
        # Still in its room on the new node, and served there.
        assert "team" in (await js.call({"cmd": "emit", "id": "c", "event": "rooms_of", "args": [], "ack": True}))[
            "ack"][0]
        python.io.to("team").emit("after", 5)
        assert (await js.wait_event("c", "event", event="after"))["args"][0] == 5
        assert not offsets(js, "c", "not_for_you")
    finally:
        await js.call({"cmd": "disconnect", "id": "c"})
        await relay.stop()


async def test_stream_entries_written_as_node_writes_them(js: Any, two_nodes: tuple[PythonNode, str, NodeNode],
                                                          cluster_key: str) -> None:
    """What a Node node adds to the stream for a broadcast (plain, binary) and a room
    operation, against this side's fields for the same operations with the Node node's uid."""
    from mixed_cluster import connect_to, emit

    from socketeer.adapters.base import BroadcastOptions
    from socketeer.adapters.cluster import RequestType
    from socketeer.adapters.cluster_adapter import decode_stream_entry, request_body, stream_fields
    from socketeer.socketio.packets import Packet, PacketType

    python, _, node = two_nodes
    client = python.io.sockets.adapter.config.redis
    await connect_to(js, "n", node.url)
    before = await client.xrevrange(cluster_key, "+", "-", count=1)
    await emit(js, "n", "emit_to", "club", "news", "text", 1.5)
    await emit(js, "n", "emit", "bin", b"\x00\xff", {"k": [None, True]})
    await emit(js, "n", "sockets_join", "club", ["a"], ack=True)
    start = before[0][0].decode() if before else "-"
    async with asyncio.timeout(5):
        while len(entries := [e for e in await client.xrange(cluster_key, start, "+") if
                              not before or e[0] != before[0][0]]) < 3:
            await asyncio.sleep(0.02)
    got = [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries[:3]]
    uid = decode_stream_entry(entries[0][1]).uid
    ops = [
        (RequestType.BROADCAST, {"packet": Packet(PacketType.EVENT, "/", ["news", "text", 1.5]),
                                 "opts": BroadcastOptions(rooms=frozenset({"club"}))}),
        (RequestType.BROADCAST, {"packet": Packet(PacketType.EVENT, "/", ["bin", b"\x00\xff", {"k": [None, True]}]),
                                 "opts": BroadcastOptions()}),
        (RequestType.REMOTE_JOIN, {"opts": BroadcastOptions(rooms=frozenset({"club"})), "rooms": ["a"]}),
    ]
    expected = []
    for kind, fields in ops:
        mtype, body = request_body(kind, **fields)
        expected.append(stream_fields(uid, "/", mtype, body))
    assert got == expected
