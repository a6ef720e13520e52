"""The parts of a mixed cluster for the Redis tests: a Node.js node (``tests/interop/cluster_node.js``,
``@socket.io/redis-adapter``), a socketeer node that answers the same commands, the
``cluster`` fixture that starts one of each on one Redis and key, and helpers that drive the
official clients connected to them (the ``js`` fixture).

Both kinds of node take the same commands from their clients (listed in ``cluster_node.js``),
so each test can run one scenario from either side and compare."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

import socketeer
from socketeer.adapters.redis import RedisAdapter
from socketeer.adapters.redis_sharded import ShardedRedisAdapter
from socketeer.adapters.redis_streams import RedisStreamsAdapter
from socketeer.exceptions import AckTimeout
from socketeer.server.remote import RemoteSocket

__all__ = ["Cluster", "NodeNode", "cluster", "connect_to", "emit", "names", "python_node", "received"]

INTEROP = Path(__file__).resolve().parent.parent / "interop"


class NodeNode:
    """tests/interop/cluster_node.js, running; ``disconnects`` collects what it printed."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        self.disconnects: list[tuple[str, str]] = []
        self.stderr = bytearray()
        self._readers = [asyncio.get_running_loop().create_task(self._read_stdout()),
                         asyncio.get_running_loop().create_task(self._read_stderr())]

    @classmethod
    async def start(cls, redis_url: str, key: str, requests_timeout_ms: int = 5000,
                    flavour: str = "classic") -> NodeNode:
        proc = await asyncio.create_subprocess_exec(
            "node", str(INTEROP / "cluster_node.js"), redis_url, key, str(requests_timeout_ms), flavour,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        if not line:
            err = await proc.stderr.read() if proc.stderr else b""
            raise AssertionError(f"cluster_node.js did not start: {err.decode()}")
        return cls(proc, json.loads(line)["port"])

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            event = json.loads(line)
            if "disconnect" in event:
                self.disconnects.append((event["disconnect"], event["reason"]))

    async def _read_stderr(self) -> None:  # drained, so that Node never blocks on a full pipe
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.stderr += line

    def kill(self) -> None:
        """SIGKILL: the node vanishes without unsubscribing."""
        self.proc.kill()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
        await self.proc.wait()
        for reader in self._readers:
            reader.cancel()


class JsonParser:
    """A parser as a user may pass one (Node's ``parser`` option), JSON here: no binary."""

    def encode(self, value: Any) -> bytes:
        return orjson.dumps(value)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def _details(sock: Any) -> dict[str, Any]:
    return {"id": sock.id, "rooms": sorted(sock.rooms), "data": sock.data, "auth": sock.handshake.auth,
            "query": sock.handshake.query, "address": sock.handshake.address,
            "remote": isinstance(sock, RemoteSocket)}


@dataclass
class PythonNode:
    io: socketeer.Server
    disconnects: list[tuple[str, str]] = field(default_factory=list)


def python_node(client: Any, key: str, flavour: str = "classic", **options: Any) -> PythonNode:
    """A socketeer node with the commands of ``cluster_node.js`` (``flavour`` as there)."""
    server_options: dict[str, Any] = {}
    if flavour.startswith("sharded:"):
        mode = flavour.removeprefix("sharded:")
        adapter: Any = ShardedRedisAdapter(client, channel_prefix=key, subscription_mode=mode, **options)  # type: ignore[arg-type]
    elif flavour.startswith("streams"):
        adapter = RedisStreamsAdapter(client, stream_name=key, channel_prefix=key, session_key_prefix=f"{key}:session:",
                                      **options)
        if flavour == "streams+recovery":
            server_options["connection_state_recovery"] = {"max_disconnection_duration": 60.0}
    else:
        if flavour == "classic+json":
            options["parser"] = JsonParser()
        adapter = RedisAdapter(client, key=key, **options)
    io = socketeer.Server(adapter=adapter, **server_options)

    @io.of("/chat").on("emit")
    def chat_emit(socket: socketeer.Socket, event: str, *args: Any) -> None:
        io.of("/chat").emit(event, *args)
    node = PythonNode(io)

    def target(room: str | None) -> Any:
        return io if room is None else io.in_(room)

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

    @io.on("emit_ack")
    async def emit_ack(socket: socketeer.Socket, room: str | None, ms: int, event: str, *args: Any) -> Any:
        try:
            responses = await target(room).timeout(ms / 1000).emit_with_ack(event, *args)
        except AckTimeout as exc:
            return {"err": str(exc), "responses": exc.responses}
        return {"err": None, "responses": responses}

    @io.on("fetch")
    async def fetch(socket: socketeer.Socket, room: str | None) -> list[dict[str, Any]]:
        return sorted((_details(s) for s in await target(room).fetch_sockets()), key=lambda d: d["id"])

    @io.on("remote")
    async def remote(socket: socketeer.Socket, sid: str, op: str, *args: Any) -> bool:
        found = [s for s in await io.fetch_sockets() if s.id == sid]
        if not found:
            return False
        sock = found[0]
        if op == "emit":
            sock.emit(*args)
        elif op == "join":
            sock.join(args[0])
        elif op == "leave":
            sock.leave(args[0])
        elif op == "disconnect":
            sock.disconnect(args[0] is True if args else False)
        return True

    @io.on("sockets_join")
    def sockets_join(socket: socketeer.Socket, room: str | None, rooms: list[str]) -> None:
        target(room).sockets_join(rooms)

    @io.on("sockets_leave")
    def sockets_leave(socket: socketeer.Socket, room: str | None, rooms: list[str]) -> None:
        target(room).sockets_leave(rooms)

    @io.on("disconnect_sockets")
    def disconnect_sockets(socket: socketeer.Socket, room: str | None, close: bool) -> None:
        target(room).disconnect_sockets(close)

    @io.on("set_data")
    def set_data(socket: socketeer.Socket, data: Any) -> None:
        socket.data = data

    @io.on("rooms_of")
    def rooms_of(socket: socketeer.Socket) -> list[str]:
        return sorted(socket.rooms)

    @io.on("all_rooms")
    async def all_rooms(socket: socketeer.Socket) -> list[str]:
        return sorted(await io.sockets.adapter.all_rooms())

    @io.on("ss_ack")
    async def ss_ack(socket: socketeer.Socket, event: str, *args: Any) -> Any:
        try:
            return {"err": None, "responses": await io.server_side_emit_with_ack(event, *args)}
        except AckTimeout as exc:
            return {"err": str(exc), "responses": exc.responses}

    @io.on("disconnect")
    def disconnect(socket: socketeer.Socket, reason: str) -> None:
        node.disconnects.append((socket.id, reason))

    for event in ("hello", "question"):
        def handler(*args: Any, _event: str = event) -> dict[str, Any]:
            io.local.emit("from_server_side", _event, *args)
            return {"node": "python", "args": list(args)}

        io.on_server_side(event)(handler)
    return node


@dataclass
class Cluster:
    python: PythonNode
    node: NodeNode
    python_url: str
    redis: Any
    flavour: str

    @property
    def node_url(self) -> str:
        return self.node.url


async def counted(adapter: Any, servers: int) -> None:
    async with asyncio.timeout(10):
        while await adapter.server_count() != servers:
            await asyncio.sleep(0.02)


#: The flavours every mixed-cluster test runs in.
FLAVOURS = ["classic", "sharded:dynamic", "streams"]


@pytest_asyncio.fixture(params=FLAVOURS)
async def cluster(request: pytest.FixtureRequest, redis_url: str, cluster_key: str,
                  serve: Any) -> AsyncIterator[Cluster]:
    """One node of each kind on the same Redis and key, each counting both, for each flavour."""
    flavour: str = request.param
    client = aioredis.Redis.from_url(redis_url)
    python = python_node(client, cluster_key, flavour, requests_timeout=2.0)
    python_url = await serve(python.io)
    node = await NodeNode.start(redis_url, cluster_key, requests_timeout_ms=2000, flavour=flavour)
    try:
        await counted(python.io.sockets.adapter, 2)
        yield Cluster(python, node, python_url, client, flavour)
    finally:
        await node.stop()
        await python.io.shutdown(timeout=1)
        await client.aclose()


async def connect_to(js: Any, cid: str, url: str, **opts: Any) -> str:
    """Connects client ``cid``; returns its socket id."""
    reply = await js.call({"cmd": "connect", "id": cid, "url": url, "opts": {"transports": ["websocket"], **opts}})
    assert reply["ok"], reply
    got = await js.wait_event(cid, "connect")
    return str(got.get("sid") or got.get("id"))


async def emit(js: Any, cid: str, event: str, *args: Any, ack: bool = False) -> Any:
    reply = await js.call({"cmd": "emit", "id": cid, "event": event, "args": list(args), "ack": ack})
    assert reply["ok"], reply
    return reply.get("ack")


async def ask(js: Any, cid: str, event: str, *args: Any) -> Any:
    """Emit with an ack and return the node's one answer."""
    answer = await emit(js, cid, event, *args, ack=True)
    assert isinstance(answer, list) and len(answer) == 1, answer
    return answer[0]


async def received(js: Any, cid: str, event: str) -> list[Any]:
    got = await js.wait_event(cid, "event", event=event)
    return got["args"]  # type: ignore[no-any-return]


def names(js: Any, cid: str) -> dict[str, int]:
    """How many times each event reached ``cid``."""
    counts: dict[str, int] = {}
    for event in js.events.get(cid, []):
        if event.get("type") == "event":
            counts[event["event"]] = counts.get(event["event"], 0) + 1
    return counts
