"""A client that stops reading: its volatile packets are dropped, the others keep getting
theirs, and once its send buffer passes ``max_send_buffer`` it is disconnected, with a log line."""

from __future__ import annotations

import asyncio
import logging
import socket as pysocket
from typing import Any

import pytest

import socketeer
import socketeer.testing

from .raw import RawSocket
from .util import Serve

CHUNK = "x" * 65_536


async def test_a_stalled_client_loses_volatile_packets_then_its_connection(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    io = socketeer.Server(max_send_buffer=1_000_000)
    sockets: dict[str, Any] = {}
    reasons: dict[str, str] = {}

    @io.on("connection")
    async def connected(socket: Any) -> None:
        sockets[socket.id] = socket

    @io.on("echo")
    async def echo(socket: Any, text: str) -> str:
        return text

    @io.on("disconnect")
    async def gone(socket: Any, reason: str) -> None:
        reasons[socket.id] = reason

    url = await serve(io)
    stalled = await RawSocket.open(url)
    try:
        raw = stalled.writer.get_extra_info("socket")
        raw.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_RCVBUF, 4096)  # and it never reads again
        stalled_sid = (await stalled.connect())["sid"]
        async with socketeer.testing.client(url, transports=["websocket"]) as reader:
            slow = sockets[stalled_sid]
            # Fill everything between the server and the stalled client (socket buffers, then the
            # transport's), directly to that one socket, until the transport stops taking more.
            for _ in range(400):
                if not slow.conn.writable:
                    break
                slow.emit("bulk", CHUNK)
                await asyncio.sleep(0.005)
            assert not slow.conn.writable, "the transport never reported back-pressure"
            buffered = slow.conn.ws.buffered_amount()
            assert 0 < buffered <= 1_000_000

            for i in range(100):
                io.volatile.emit("tick", i)
            await reader.wait_for("tick", count=100)
            assert reader.received("tick") == [[i] for i in range(100)]  # the reading client got all
            assert slow.conn.ws.buffered_amount() == buffered  # the stalled one: dropped, not queued
            assert stalled_sid not in reasons

            caplog.set_level(logging.WARNING, logger="socketeer")
            for _ in range(100):  # ordinary packets do queue, up to the limit
                if stalled_sid in reasons:
                    break
                slow.emit("bulk", CHUNK)
                await asyncio.sleep(0.005)
            assert reasons.get(stalled_sid) == "transport error"
            assert any("not reading" in r.getMessage() for r in caplog.records)
            # Everyone else is untouched.
            assert await reader.emit_with_ack("echo", "still here", timeout=2) == "still here"
    finally:
        stalled.writer.close()
