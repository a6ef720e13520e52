"""``socketeer.Emitter`` against ``@socket.io/redis-emitter`` on a real Redis: the same calls
publish the same bytes on the same channels (captured from Redis for both), and what either
emitter sends reaches the clients of both kinds of node (broadcasts with rooms, ``except_``,
binary; joins, leaves, disconnections; server-side events)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis
import redis.asyncio as aioredis
from mixed_cluster import Cluster, ask, connect_to, received

from socketeer import Emitter

INTEROP = Path(__file__).resolve().parent.parent / "interop"


class NodeEmitter:
    """tests/interop/node_emitter.js: one command per line, "ok" once published."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, redis_url: str, key: str) -> NodeEmitter:
        proc = await asyncio.create_subprocess_exec(
            "node", str(INTEROP / "node_emitter.js"), redis_url, key,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        return cls(proc)

    async def do(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None

        def to_json(value: Any) -> Any:
            if isinstance(value, bytes):
                return {"$bin": value.hex()}
            if isinstance(value, list):
                return [to_json(v) for v in value]
            if isinstance(value, dict):
                return {k: to_json(v) for k, v in value.items()}
            return value

        self.proc.stdin.write(json.dumps(to_json(cmd)).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 10)
        assert line == b"ok\n", line

    async def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


@pytest_asyncio.fixture
async def node_emitter(redis_url: str, cluster_key: str) -> AsyncIterator[NodeEmitter]:
    emitter = await NodeEmitter.start(redis_url, cluster_key)
    try:
        yield emitter
    finally:
        await emitter.stop()


# (Node emitter command, the same call on socketeer.Emitter)
CALLS: list[tuple[dict[str, Any], Any]] = [
    ({"op": "emit", "event": "news", "args": ["a", 1, {"k": [True, None]}]},
     lambda e: e.emit("news", "a", 1, {"k": [True, None]})),
    ({"op": "emit", "to": ["r1"], "event": "bin", "args": [b"\x00\xff", {"b": b"x"}]},
     lambda e: e.to("r1").emit("bin", b"\x00\xff", {"b": b"x"})),
    ({"op": "emit", "to": ["r2", "r1"], "except": ["r3"], "volatile": True, "event": "e", "args": []},
     lambda e: e.to("r2").to("r1").except_("r3").volatile.emit("e")),
    ({"op": "emit", "nsp": "/chat", "compress": False, "event": "c", "args": [1.5]},
     lambda e: e.of("/chat").compress(False).emit("c", 1.5)),
    ({"op": "sockets_join", "to": ["r1"], "rooms": ["x", "y"]}, lambda e: e.to("r1").sockets_join(["x", "y"])),
    ({"op": "sockets_leave", "except": ["r1"], "rooms": ["x"]}, lambda e: e.except_("r1").sockets_leave("x")),
    ({"op": "disconnect_sockets", "to": ["r9"], "close": True}, lambda e: e.to("r9").disconnect_sockets(True)),
    ({"op": "disconnect_sockets", "close": False}, lambda e: e.disconnect_sockets()),
    ({"op": "server_side_emit", "args": ["hello", {"n": 1}]}, lambda e: e.server_side_emit("hello", {"n": 1})),
    ({"op": "server_side_emit", "nsp": "/chat", "args": ["x"]}, lambda e: e.of("chat").server_side_emit("x")),
]


async def capture(client: Any, key: str, publish: Any) -> list[tuple[bytes, bytes]]:
    """What ``publish()`` puts on the cluster's channels, as (channel, bytes), in order."""
    pubsub = client.pubsub()
    await pubsub.psubscribe(f"{key}*")
    try:
        await publish()
        got: list[tuple[bytes, bytes]] = []
        async with asyncio.timeout(10):
            while len(got) < len(CALLS):
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    got.append((message["channel"], message["data"]))
        return got
    finally:
        await pubsub.aclose()


async def test_publishes_what_the_node_emitter_publishes(redis_url: str, cluster_key: str,
                                                         node_emitter: NodeEmitter) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        async def node_calls() -> None:
            for cmd, _ in CALLS:
                await node_emitter.do(**cmd)

        async def our_calls() -> None:
            emitter = Emitter(client, key=cluster_key)
            for _, call in CALLS:
                await call(emitter)

        theirs = await capture(client, cluster_key, node_calls)
        ours = await capture(client, cluster_key, our_calls)
        assert [c for c, _ in ours] == [c for c, _ in theirs]
        for (channel, mine), (_, node) in zip(ours, theirs, strict=True):
            assert mine == node, channel
    finally:
        await client.aclose()


def test_acks_are_refused() -> None:
    with pytest.raises(TypeError):
        Emitter(None).server_side_emit("x", lambda: None)
    with pytest.raises(ValueError):
        Emitter(None).emit("connect")


async def _rooms_of(js: Any, cid: str) -> list[str]:
    return await ask(js, cid, "rooms_of")  # type: ignore[no-any-return]


async def _until(check: Any) -> None:
    async with asyncio.timeout(5):
        while not await check():
            await asyncio.sleep(0.02)


async def exercise(js: Any, cluster: Cluster, do: Any) -> None:
    """One scenario for either emitter: ``do(op, **fields)`` performs a Node-emitter command."""
    for cid, url in (("py1", cluster.python_url), ("py2", cluster.python_url), ("node1", cluster.node_url),
                     ("node2", cluster.node_url)):
        await connect_to(js, cid, url)
    await do(op="emit", event="news", args=["all", b"\x01\x02"])
    for cid in ("py1", "py2", "node1", "node2"):
        assert await received(js, cid, "news") == ["all", b"\x01\x02"]
    await do(op="sockets_join", rooms=["team"])  # everyone
    for cid in ("py1", "node1"):
        await _until(lambda cid=cid: _has(js, cid, "team"))
    await do(op="sockets_leave", rooms=["team"], to=["team"], **{"except": []})
    await _until(lambda: _lacks(js, "py1", "team"))
    await _until(lambda: _lacks(js, "node1", "team"))
    # Rooms joined by the clients themselves, then a broadcast to one room except another.
    for cid in ("py1", "node1", "py2"):
        await js.call({"cmd": "emit", "id": cid, "event": "join", "args": ["vip"], "ack": True})
    await js.call({"cmd": "emit", "id": "py2", "event": "join", "args": ["muted"], "ack": True})
    await do(op="emit", to=["vip"], event="vip_only", args=[1], **{"except": ["muted"]})
    await do(op="emit", event="marker", args=[])
    for cid in ("py1", "py2", "node1", "node2"):
        await received(js, cid, "marker")
    got = {cid: [e for e in js.events.get(cid, []) if e.get("event") == "vip_only"] for cid in
           ("py1", "py2", "node1", "node2")}
    assert {cid: len(v) for cid, v in got.items()} == {"py1": 1, "py2": 0, "node1": 1, "node2": 0}
    await do(op="server_side_emit", args=["hello", "from an emitter"])
    for cid in ("py1", "node1"):
        assert await received(js, cid, "from_server_side") == ["hello", "from an emitter"]
    await do(op="disconnect_sockets", to=["vip"], close=False)
    for cid in ("py1", "node1", "py2"):
        assert (await js.wait_event(cid, "disconnect"))["reason"] == "io server disconnect"


async def _has(js: Any, cid: str, room: str) -> bool:
    return room in await _rooms_of(js, cid)


async def _lacks(js: Any, cid: str, room: str) -> bool:
    return room not in await _rooms_of(js, cid)


CLASSIC = pytest.mark.parametrize("cluster", ["classic"], indirect=True)  # the emitter's flavour


@CLASSIC
async def test_our_emitter_reaches_both_kinds_of_node(js: Any, cluster: Cluster, cluster_key: str) -> None:
    emitter = Emitter(cluster.redis, key=cluster_key)

    async def do(op: str, to: list[str] | None = None, **fields: Any) -> None:
        target: Any = emitter.to(to) if to else emitter
        if fields.get("except"):
            target = target.except_(fields["except"])
        if op == "emit":
            await target.emit(fields["event"], *fields["args"])
        elif op == "sockets_join":
            await target.sockets_join(fields["rooms"])
        elif op == "sockets_leave":
            await target.sockets_leave(fields["rooms"])
        elif op == "disconnect_sockets":
            await target.disconnect_sockets(fields["close"])
        elif op == "server_side_emit":
            await emitter.server_side_emit(*fields["args"])

    await exercise(js, cluster, do)


@CLASSIC
async def test_the_node_emitter_reaches_both_kinds_of_node(js: Any, cluster: Cluster,
                                                           node_emitter: NodeEmitter) -> None:
    async def do(op: str, **fields: Any) -> None:
        await node_emitter.do(op=op, **fields)

    await exercise(js, cluster, do)


def test_a_blocking_client_works_too(redis_url: str, cluster_key: str) -> None:
    """A web view or a cron job without an event loop: ``redis.Redis``, answers at once."""
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    try:
        pubsub.subscribe(f"{cluster_key}#/#")
        assert pubsub.get_message(timeout=2)["type"] == "subscribe"
        assert Emitter(client, key=cluster_key).emit("sync", 1) == 1  # one subscriber got it
        message = pubsub.get_message(timeout=2)
        assert message is not None and message["data"].startswith(b"\x93\xa7emitter")
    finally:
        pubsub.close()
        client.close()
