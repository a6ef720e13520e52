"""Connecting: auth reaches the connection handler, the CONNECT answer comes first, the
handshake fields, and connect_timeout for a connection that joins no namespace."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import orjson
import pytest

import socketeer

from .raw import RawSocket
from .util import Log, Serve, connect, emit_ack, start

SID = re.compile(r"^[A-Za-z0-9_-]{20}$")
TRANSPORTS = [pytest.param(["polling"], id="polling"), pytest.param(["websocket"], id="websocket")]


def welcome_app(io: socketeer.Server, log: Log) -> None:
    @io.on("connection")
    async def on_connection(socket: socketeer.Socket, auth: Any) -> None:
        log("auth", auth)
        log("socket", socket)
        socket.emit("welcome", socket.id, auth)

    @io.on("ping")
    async def ping(socket: socketeer.Socket, *args: Any) -> Any:
        return "pong"


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_auth_reaches_the_handler_and_connect_comes_first(js: Any, serve: Serve, transports: list[str]) -> None:
    io, url = await start(serve)
    log = Log()
    welcome_app(io, log)
    auth = {"token": "t", "n": 1, "nested": {"ok": True}}
    connected = await connect(js, "c1", url, {"auth": auth, "transports": transports})
    welcome = await js.wait_event("c1", "event", "welcome")
    server_socket = log.of("socket")[0]
    assert log.of("auth") == [auth]
    assert connected["sid"] == server_socket.id
    assert SID.match(server_socket.id)
    assert server_socket.id != server_socket.conn.sid  # as the reference: two different ids
    assert welcome["args"] == [server_socket.id, auth]
    types = [e["type"] for e in js.events["c1"]]
    assert types.index("connect") < types.index("event")
    assert server_socket.handshake.auth == auth
    assert server_socket.connected is True
    assert server_socket.recovered is False


async def test_connect_answer_precedes_what_the_handler_emits_on_the_wire(serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    welcome_app(io, log)
    raw = await RawSocket.open(url)
    try:
        await raw.send('40{"token":"t"}')
        first = await raw.recv_text()
        assert re.fullmatch(r'40\{"sid":"[A-Za-z0-9_-]{20}"\}', first), first
        sid = orjson.loads(first[2:])["sid"]
        assert await raw.recv_text() == f'42["welcome","{sid}",{{"token":"t"}}]'
    finally:
        raw.close()


async def test_no_auth_gives_an_empty_dict(serve: Serve) -> None:
    """The official client sends a bare ``40`` without auth; the reference's auth is then {}."""
    io, url = await start(serve)
    log = Log()
    welcome_app(io, log)
    raw = await RawSocket.open(url)
    try:
        sid = (await raw.connect())["sid"]
        assert await raw.recv_text() == f'42["welcome","{sid}",{{}}]'
        assert log.of("auth") == [{}]
        assert log.of("socket")[0].handshake.auth == {}
    finally:
        raw.close()


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_handshake_fields(js: Any, serve: Serve, transports: list[str]) -> None:
    io, url = await start(serve)
    log = Log()
    welcome_app(io, log)
    before = int(time.time() * 1000)
    await connect(js, "c1", url, {"transports": transports, "query": {"foo": "bar"},
                                  "extraHeaders": {"x-test": "yes"}, "auth": {"a": 1}})
    socket = await log.first("socket")
    hs = socket.handshake
    assert hs.headers["x-test"] == "yes"
    assert hs.headers["host"] == url.removeprefix("http://")
    assert hs.query["foo"] == "bar"
    assert hs.query["EIO"] == "4"
    assert hs.query["transport"] == transports[0]
    assert hs.auth == {"a": 1}
    assert hs.address == "127.0.0.1"
    assert hs.url.startswith("/socket.io/?") and "foo=bar" in hs.url
    assert hs.secure is False
    assert hs.xdomain is False  # no Origin header from the Node client
    assert before - 1000 <= hs.issued <= int(time.time() * 1000) + 1000
    assert isinstance(hs.time, str) and hs.time


async def test_connect_timeout_closes_a_connection_that_joins_nothing(serve: Serve) -> None:
    io, url = await start(serve, connect_timeout=0.3)
    welcome_app(io, Log())
    idle = await RawSocket.open(url)
    busy = await RawSocket.open(url)
    try:
        sid = (await busy.connect())["sid"]
        assert await busy.recv_text() == f'42["welcome","{sid}",{{}}]'
        started = time.monotonic()
        assert await idle.until_closed(timeout=3.0) == []
        assert time.monotonic() - started >= 0.2
        # The one that joined a namespace in time is not affected.
        await busy.send('421["ping"]')
        assert await busy.recv_text() == '431["pong"]'
    finally:
        idle.close()
        busy.close()


async def test_connect_timeout_official_client_stays(js: Any, serve: Serve) -> None:
    io, url = await start(serve, connect_timeout=0.3)
    log = Log()
    welcome_app(io, log)
    await connect(js, "c1", url)
    await asyncio.sleep(0.5)  # past connect_timeout: nothing to await, the point is that nothing happens
    assert await emit_ack(js, "c1", "ping") == ["pong"]
    assert not [e for e in js.events["c1"] if e["type"] == "disconnect"]
