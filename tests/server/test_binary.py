"""Binary both ways: bytes anywhere in the arguments (top level, nested in dicts and lists),
the reference's wire form (placeholders, depth-first attachments), and concurrent emits that
never interleave the frames of two binary packets."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

import socketeer

from .raw import RawSocket
from .util import BLOB, Log, Serve, connect, emit_ack, start

NESTED = ["plain", BLOB, {"a": BLOB, "b": [1, {"c": b"\x00"}, b""], "d": None}, [[b"\xff" * 100_000]]]


def binary_app(io: socketeer.Server, log: Log) -> None:
    @io.on("connection")
    async def on_connection(socket: socketeer.Socket) -> None:
        log("socket", socket)

    @io.on("echo")
    async def echo(socket: socketeer.Socket, *args: Any) -> tuple[Any, ...]:
        log("echo", list(args))
        socket.emit("echo", *args)
        return args


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
async def test_bytes_anywhere_both_ways(js: Any, serve: Serve, transports: list[str]) -> None:
    io, url = await start(serve)
    log = Log()
    binary_app(io, log)
    await connect(js, "c1", url, {"transports": transports})
    assert await emit_ack(js, "c1", "echo", *NESTED) == NESTED
    assert log.of("echo") == [NESTED]
    assert (await js.wait_event("c1", "event", "echo"))["args"] == NESTED
    socket = await log.first("socket")
    # bytearray and memoryview are binary too.
    socket.emit("views", bytearray(b"\x01\x02"), {"m": memoryview(b"\x03")})
    assert (await js.wait_event("c1", "event", "views"))["args"] == [b"\x01\x02", {"m": b"\x03"}]
    io.emit("broadcast", {"deep": [[{"x": BLOB}]]})
    assert (await js.wait_event("c1", "event", "broadcast"))["args"] == [{"deep": [[{"x": BLOB}]]}]


async def test_wire_forms(serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    binary_app(io, log)
    raw = await RawSocket.open(url)
    try:
        await raw.connect()
        socket = await log.first("socket")
        socket.emit("buf", b"\x01\x02\x03")
        assert await raw.recv() == '451-["buf",{"_placeholder":true,"num":0}]'
        assert await raw.recv() == b"\x01\x02\x03"
        socket.emit("nested", {"a": b"\x04\x05", "b": [b"\x06"], "c": "x"})
        assert await raw.recv() == ('452-["nested",{"a":{"_placeholder":true,"num":0},'
                                    '"b":[{"_placeholder":true,"num":1}],"c":"x"}]')
        assert await raw.recv() == b"\x04\x05"
        assert await raw.recv() == b"\x06"
        io.of("/").emit("room", b"")
        assert await raw.recv() == '451-["room",{"_placeholder":true,"num":0}]'
        assert await raw.recv() == b""
        await raw.send('451-["echo",{"_placeholder":true,"num":0}]')
        await raw.send(b"\xde\xad")
        assert await raw.recv() == '451-["echo",{"_placeholder":true,"num":0}]'
        assert await raw.recv() == b"\xde\xad"
        assert log.of("echo") == [[b"\xde\xad"]]
    finally:
        raw.close()


async def test_binary_in_another_namespace_wire(serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    binary_app(io, log)

    @io.of("/ok").on("echo")
    async def echo(socket: socketeer.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    raw = await RawSocket.open(url)
    try:
        await raw.connect("/ok")
        await raw.send('452-/ok,3["echo",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]')
        await raw.send(b"\x01")
        await raw.send(b"\x02")
        assert await raw.recv() == '462-/ok,3[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
        assert await raw.recv() == b"\x02"
        assert await raw.recv() == b"\x01"
    finally:
        raw.close()


HEADER = re.compile(
    r'452-\["bin",(\d+),(\d+),\{"_placeholder":true,"num":0\},\{"x":\{"_placeholder":true,"num":1\}\}\]'
)


async def test_concurrent_emits_never_interleave_frames(serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    binary_app(io, log)
    raw = await RawSocket.open(url)
    tasks, rounds = 40, 5
    try:
        await raw.connect()
        socket = await log.first("socket")

        async def emitter(i: int) -> None:
            for j in range(rounds):
                payload = bytes([i]) * (j + 1) * 1000
                if (i + j) % 2:
                    socket.emit("bin", i, j, payload, {"x": bytes([j, i])})
                else:
                    io.emit("bin", i, j, payload, {"x": bytes([j, i])})  # the broadcast path too
                await asyncio.sleep(0)

        await asyncio.gather(*(emitter(i) for i in range(tasks)))
        seen = set()
        for _ in range(tasks * rounds):
            header = await raw.recv()
            assert isinstance(header, str)
            match = HEADER.fullmatch(header)
            assert match, header
            i, j = int(match.group(1)), int(match.group(2))
            assert await raw.recv() == bytes([i]) * (j + 1) * 1000
            assert await raw.recv() == bytes([j, i])
            seen.add((i, j))
        assert len(seen) == tasks * rounds
    finally:
        raw.close()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
async def test_concurrent_emits_reach_the_official_client_whole(js: Any, serve: Serve, transports: list[str]) -> None:
    io, url = await start(serve)
    log = Log()
    binary_app(io, log)
    await connect(js, "c1", url, {"transports": transports})
    socket = await log.first("socket")
    tasks = 50

    async def emitter(i: int) -> None:
        await asyncio.sleep(0)
        socket.emit("bin", i, bytes([i]) * 10, {"x": [bytes([i, i])], "n": i})
        await asyncio.sleep(0)
        io.emit("bin", -i, bytes([i]) * 3)

    await asyncio.gather(*(emitter(i) for i in range(tasks)))
    got = [(await js.wait_event("c1", "event", "bin"))["args"] for _ in range(2 * tasks)]
    expected = [[i, bytes([i]) * 10, {"x": [bytes([i, i])], "n": i}] for i in range(tasks)]
    expected += [[-i, bytes([i]) * 3] for i in range(tasks)]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
