"""``write_delay`` end to end: packets wait, share writes, and nothing is lost on the way out."""

from __future__ import annotations

import asyncio
from typing import Any

import socketeer
import socketeer.testing


def _app(delay: float) -> socketeer.Server:
    io = socketeer.Server(write_delay=delay)

    @io.on("burst")
    async def burst(socket: Any, n: int) -> str:
        for i in range(n):
            await socket.emit("item", i)
        await io.emit("everyone", n)
        return "sent"

    @io.on("leave")
    async def leave(socket: Any) -> None:
        await socket.emit("last", "words")
        socket.disconnect()

    return io


async def test_events_and_acks_arrive_whole_and_in_order() -> None:
    async with socketeer.testing.serve(_app(0.05)) as url, socketeer.testing.client(url) as alice:
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert await alice.emit_with_ack("burst", 50, timeout=5) == "sent"
        assert loop.time() - began >= 0.04  # the answer waited for the delay
        await alice.wait_for("everyone")
        assert alice.received("item") == [[i] for i in range(50)]
        assert alice.received("everyone") == [[50]]


async def test_a_server_disconnect_still_delivers_what_was_queued() -> None:
    async with socketeer.testing.serve(_app(0.05)) as url, socketeer.testing.client(url) as bob:
        await bob.emit("leave")
        assert await bob.wait_disconnect() == "io server disconnect"
        assert bob.received("last") == [["words"]]


async def test_shutdown_flushes_what_waits() -> None:
    io = _app(0.5)
    async with socketeer.testing.serve(io) as url, \
            socketeer.testing.client(url, transports=["websocket"], reconnection=False) as carol:
        io.emit("news", "before the end")
        await asyncio.sleep(0.1)
        assert carol.received("news") == []  # still held: the delay is 0.5 s
        await io.shutdown()
        assert await carol.wait_disconnect() == "transport close"  # what a shutdown looks like
        assert carol.received("news") == [["before the end"]]
