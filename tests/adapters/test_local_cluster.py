"""``LocalClusterAdapter``: nodes of one machine in a cluster without Redis, over a ``LocalHub``
on a Unix socket: broadcasts (rooms, except, binary), broadcasts with acks, ``fetch_sockets``
with remote socket methods, ``sockets_join``, server-side emits with acks and the server count,
between two nodes in this process and a third in a process of its own; a node that goes away
leaves the count at once; garbage on the hub ends only the connection that sent it."""

from __future__ import annotations

import asyncio
import struct
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio
from mixed_cluster import connect_to, emit, received

import socketeer
from socketeer.adapters import LocalClusterAdapter, LocalHub

NODE_SCRIPT = textwrap.dedent('''
    import asyncio, sys
    import socketeer
    from socketeer.adapters import LocalClusterAdapter

    async def main():
        io = socketeer.Server(adapter=LocalClusterAdapter(sys.argv[1]))

        @io.on("emit")
        def emit(socket, event, *args):
            io.emit(event, *args)

        @io.on("join")
        def join(socket, room):
            socket.join(room)

        @io.on_server_side("question")
        def question(*args):
            return {"node": "process", "args": list(args)}

        (host, port), *_ = await io.listen("127.0.0.1", 0)
        print(port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await io.shutdown(timeout=1)

    asyncio.run(main())
''')


def local_node(path: str, name: str) -> socketeer.Server:
    io = socketeer.Server(adapter=LocalClusterAdapter(path, requests_timeout=2.0))

    @io.on("emit")
    def emit(socket: socketeer.Socket, event: str, *args: Any) -> None:
        io.emit(event, *args)

    @io.on("join")
    def join(socket: socketeer.Socket, room: str) -> None:
        socket.join(room)

    @io.on_server_side("question")
    def question(*args: Any) -> dict[str, Any]:
        return {"node": name, "args": list(args)}

    return io


@pytest_asyncio.fixture
async def hub(tmp_path: Path) -> AsyncIterator[LocalHub]:
    hub = LocalHub(str(tmp_path / "hub.sock"))
    await hub.start()
    yield hub
    await hub.close()


async def count(io: socketeer.Server, servers: int) -> None:
    async with asyncio.timeout(5):
        while await io.sockets.adapter.server_count() != servers:
            await asyncio.sleep(0.01)


async def test_three_nodes_over_a_local_hub(js: Any, hub: LocalHub, serve: Any) -> None:
    a, b = local_node(hub.path, "a"), local_node(hub.path, "b")
    url_a, url_b = await serve(a), await serve(b)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", NODE_SCRIPT, hub.path,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        url_c = f"http://127.0.0.1:{int(await asyncio.wait_for(proc.stdout.readline(), 15))}"
        await count(a, 3)
        sids = {cid: await connect_to(js, cid, url) for cid, url in (("a1", url_a), ("b1", url_b), ("c1", url_c))}
        for cid in sids:
            assert (await js.call({"cmd": "on_ack", "id": cid, "event": "q", "reply": [cid]}))["ok"]
        a.emit("news", 1, b"\x00\x01")
        for cid in sids:
            assert await received(js, cid, "news") == [1, b"\x00\x01"]
        await emit(js, "c1", "emit", "from_c", "x")  # a broadcast made in the other process
        for cid in sids:
            assert await received(js, cid, "from_c") == ["x"]
        await emit(js, "b1", "join", "team", ack=True)
        await emit(js, "c1", "join", "team", ack=True)
        a.to("team").except_(sids["b1"]).emit("only_c")
        assert await received(js, "c1", "only_c") == []
        assert sorted(await a.timeout(3).emit_with_ack("q")) == ["a1", "b1", "c1"]
        fetched = {s.id: s for s in await a.in_("team").fetch_sockets()}
        assert set(fetched) == {sids["b1"], sids["c1"]}
        fetched[sids["c1"]].emit("direct", 7)
        assert await received(js, "c1", "direct") == [7]
        a.in_("team").sockets_join("club")
        async with asyncio.timeout(5):
            while "club" not in await b.sockets.adapter.all_rooms():
                await asyncio.sleep(0.01)
        answers = await a.server_side_emit_with_ack("question", 5)
        assert sorted(x["node"] for x in answers) == ["b", "process"]
        # The process goes: the count drops at once, and requests no longer wait for it.
        assert proc.stdin is not None
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 10)
        await count(a, 2)
        assert await a.server_side_emit_with_ack("question", 6) == [{"node": "b", "args": [6]}]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await a.shutdown(timeout=1)
        await b.shutdown(timeout=1)


async def test_garbage_ends_only_its_own_connection(hub: LocalHub, serve: Any) -> None:
    a, b = local_node(hub.path, "a"), local_node(hub.path, "b")
    await serve(a)
    await serve(b)
    await count(a, 2)
    reader, writer = await asyncio.open_unix_connection(hub.path)
    writer.write(struct.pack(">I", 5) + b"hello")  # not a hello
    await writer.drain()
    assert await reader.read() == b""  # the hub closed it
    reader, writer = await asyncio.open_unix_connection(hub.path)
    writer.write(struct.pack(">I", 2**31))  # a frame over the limit
    await writer.drain()
    assert await reader.read() == b""
    assert await a.server_side_emit_with_ack("question") == [{"node": "b", "args": []}]
    await a.shutdown(timeout=1)
    await b.shutdown(timeout=1)
