"""``io.threadsafe``: the broadcast chain used from worker threads reaches the clients."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import pytest

import socketeer

from .util import BLOB, Serve, connect, emit_ack, start


def room_app(io: socketeer.Server) -> None:
    @io.on("join")
    async def join(socket: socketeer.Socket, room: str) -> None:
        socket.join(room)


async def test_emit_from_a_worker_thread(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    room_app(io)
    # WebSocket only: a volatile packet is dropped by design when a long-poll is not pending,
    # and this test wants it delivered.
    await connect(js, "a", url, {"forceNew": True, "transports": ["websocket"]})
    await connect(js, "b", url, {"forceNew": True, "transports": ["websocket"]})
    await emit_ack(js, "a", "join", "r")
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def work() -> None:
        threads.append(threading.get_ident())
        io.threadsafe.emit("from_thread", 1, {"b": BLOB}).result(5)
        io.threadsafe.to("r").emit("room_only", 2).result(5)
        io.threadsafe.except_("r").emit("not_room", 3).result(5)
        io.threadsafe.volatile.emit("volatile", 4).result(5)
        io.threadsafe.emit("end").result(5)

    await asyncio.wait_for(asyncio.to_thread(work), 10)
    assert threads and threads[0] != loop_thread
    for cid in ("a", "b"):
        await js.wait_event(cid, "event", "end")
    events = {cid: [(e["event"], e["args"]) for e in js.events[cid] if e["type"] == "event"] for cid in "ab"}
    assert events["a"] == [("from_thread", [1, {"b": BLOB}]), ("room_only", [2]), ("volatile", [4]), ("end", [])]
    assert events["b"] == [("from_thread", [1, {"b": BLOB}]), ("not_room", [3]), ("volatile", [4]), ("end", [])]


async def test_emit_with_ack_from_a_worker_thread(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    await connect(js, "a", url, {"forceNew": True})
    await connect(js, "b", url, {"forceNew": True})
    await js.call({"cmd": "on_ack", "id": "a", "event": "q", "reply": ["from a"]})

    def partial() -> list[Any]:
        with pytest.raises(socketeer.AckTimeout) as caught:
            io.threadsafe.timeout(0.3).emit_with_ack("q").result(5)
        return caught.value.responses

    def complete() -> list[Any]:
        return io.threadsafe.timeout(5).emit_with_ack("q").result(5)

    assert await asyncio.wait_for(asyncio.to_thread(partial), 10) == ["from a"]  # b does not answer "q"
    await js.call({"cmd": "on_ack", "id": "b", "event": "q", "reply": ["from b"]})
    assert sorted(await asyncio.wait_for(asyncio.to_thread(complete), 10)) == ["from a", "from b"]


async def test_many_threads_emitting_binary(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    await connect(js, "c1", url)
    n_threads, per_thread = 8, 20
    barrier = threading.Barrier(n_threads, timeout=5)

    def work(t: int) -> None:
        barrier.wait()
        futures = [io.threadsafe.emit("bin", t, i, bytes([t, i]) * 50, {"x": bytes([i])}) for i in range(per_thread)]
        for future in futures:
            future.result(5)

    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(max_workers=n_threads) as pool:
        await asyncio.wait_for(asyncio.gather(*(loop.run_in_executor(pool, work, t) for t in range(n_threads))), 15)
    got = [(await js.wait_event("c1", "event", "bin"))["args"] for _ in range(n_threads * per_thread)]
    expected = [[t, i, bytes([t, i]) * 50, {"x": bytes([i])}] for t in range(n_threads) for i in range(per_thread)]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    # Each thread's emits keep their order.
    for t in range(n_threads):
        assert [args[1] for args in got if args[0] == t] == list(range(per_thread))


async def test_errors_come_back_through_the_future(serve: Serve) -> None:
    io = socketeer.Server()
    with pytest.raises(RuntimeError, match="not started"):
        io.threadsafe.emit("x")
    await serve(io)

    def work() -> None:
        with pytest.raises(ValueError, match="reserved"):
            io.threadsafe.emit("connect").result(5)

    await asyncio.wait_for(asyncio.to_thread(work), 10)
