"""Disconnect reasons, as the reference names them, and what goes over the wire for each;
"disconnecting" fires before "disconnect" while the rooms are still known."""

from __future__ import annotations

from typing import Any

import pytest

import socketeer

from .raw import RawSocket
from .util import Log, Serve, connect, emit_ack, start


def tracking_app(io: socketeer.Server, log: Log, nsp_name: str = "/") -> None:
    nsp = io.of(nsp_name)

    @nsp.on("connection")
    async def on_connection(socket: socketeer.Socket) -> None:
        socket.join("room")
        log("socket", socket)

        @socket.on("disconnecting")
        def own_disconnecting(reason: str) -> None:
            log("socket_disconnecting", reason, sorted(socket.rooms), socket.connected)

        @socket.on("disconnect")
        def own_disconnect(reason: str) -> None:
            log("socket_disconnect", reason, sorted(socket.rooms), socket.connected)

    @nsp.on("disconnecting")
    async def disconnecting(socket: socketeer.Socket, reason: str) -> None:
        log("disconnecting", reason, sorted(socket.rooms), socket.connected)

    @nsp.on("disconnect")
    async def disconnect(socket: socketeer.Socket, reason: str) -> None:
        log("disconnect", reason, sorted(socket.rooms), socket.connected)

    @nsp.on("ping")
    def ping(socket: socketeer.Socket) -> str:
        return "pong"

    @nsp.on("leave_me")
    def leave_me(socket: socketeer.Socket) -> None:
        socket.disconnect()


async def test_disconnecting_before_disconnect_with_rooms(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    tracking_app(io, log)
    await connect(js, "c1", url)
    socket = await log.first("socket")
    await js.call({"cmd": "disconnect", "id": "c1"})
    await log.first("disconnect")
    rooms = sorted([socket.id, "room"])
    reason = "client namespace disconnect"
    assert log.items[1:] == [
        ("socket_disconnecting", reason, rooms, True),
        ("disconnecting", reason, rooms, True),
        ("socket_disconnect", reason, [], False),
        ("disconnect", reason, [], False),
    ]
    assert (await js.wait_event("c1", "disconnect"))["reason"] == "io client disconnect"


async def test_client_namespace_disconnect_keeps_the_connection(serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    tracking_app(io, log)
    raw = await RawSocket.open(url)
    try:
        first = (await raw.connect())["sid"]
        await raw.send("41")
        assert (await log.first("disconnect"))[0] == "client namespace disconnect"
        # The engine stays open: a new CONNECT gives a new socket.
        second = (await raw.connect())["sid"]
        assert second != first
        await raw.send('421["ping"]')
        assert await raw.recv() == '431["pong"]'
    finally:
        raw.close()


@pytest.mark.parametrize("nsp", ["/", "/ok"])
async def test_server_namespace_disconnect_wire(serve: Serve, nsp: str) -> None:
    io, url = await start(serve)
    log = Log()
    tracking_app(io, log, nsp)
    prefix = "" if nsp == "/" else nsp + ","
    raw = await RawSocket.open(url)
    try:
        await raw.connect(nsp)
        await raw.send(f"42{prefix}" + '["leave_me"]')
        assert await raw.recv() == f"41{prefix}"
        assert (await log.first("disconnect"))[0] == "server namespace disconnect"
        # Engine still open; a packet for the namespace it left is a protocol error.
        await raw.send(f"42{prefix}" + '["ping"]')
        assert await raw.until_closed() == []
    finally:
        raw.close()


async def test_server_namespace_disconnect_official_client(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    tracking_app(io, log)
    await connect(js, "c1", url)
    await js.call({"cmd": "emit", "id": "c1", "event": "leave_me"})
    assert (await js.wait_event("c1", "disconnect"))["reason"] == "io server disconnect"
    assert (await log.first("disconnect"))[:2] == ("server namespace disconnect", [])
    assert (await js.call({"cmd": "state", "id": "c1"}))["active"] is False


async def test_transport_close(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    tracking_app(io, log)
    await connect(js, "c1", url, {"transports": ["websocket"], "reconnection": False})
    await js.call({"cmd": "close_engine", "id": "c1"})
    assert (await log.first("disconnect"))[0] == "transport close"
    assert (await js.wait_event("c1", "disconnect"))["reason"] == "forced close"


async def test_transport_close_raw(serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    tracking_app(io, log)
    raw = await RawSocket.open(url)
    try:
        await raw.connect()
        await raw.send_close()
        assert (await log.first("disconnect"))[0] == "transport close"
    finally:
        raw.close()


async def test_ping_timeout(js: Any, serve: Serve) -> None:
    io, url = await start(serve, ping_interval=0.2, ping_timeout=0.2)
    log = Log()
    tracking_app(io, log)
    await connect(js, "healthy", url, {"transports": ["websocket"]})
    raw = await RawSocket.open(url, answer_pings=False)
    try:
        raw_sid = (await raw.connect())["sid"]
        assert raw.handshake["pingInterval"] == 200 and raw.handshake["pingTimeout"] == 200
        assert await raw.until_closed(timeout=3.0) == []
        assert raw.pings == 1
        gone = await log.first("disconnect")
        assert gone[0] == "ping timeout"
        assert [s.id for s in log.of("socket") if not s.connected] == [raw_sid]
        # The official client answers its pings and stays.
        assert await emit_ack(js, "healthy", "ping") == ["pong"]
        assert not [e for e in js.events["healthy"] if e["type"] == "disconnect"]
    finally:
        raw.close()


async def test_server_shutting_down(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    tracking_app(io, log)
    tracking_app(io, log, "/other")
    await connect(js, "a", url, {"reconnection": False, "transports": ["websocket"]})
    await connect(js, "b", url + "/other", {"reconnection": False, "forceNew": True})
    await js.wait_event("b", "upgrade")  # not in the middle of the upgrade: that is another story
    await io.shutdown()
    await log.count("disconnect", 2)
    assert [d[0] for d in log.of("disconnect")] == ["server shutting down"] * 2
    # The reference's clients see their transport close (no DISCONNECT packet is sent).
    assert (await js.wait_event("a", "disconnect"))["reason"] == "transport close"
    assert (await js.wait_event("b", "disconnect"))["reason"] == "transport close"


async def test_parse_error_reaches_every_namespace_of_the_connection(serve: Serve) -> None:
    """socketeer reports "parse error" where the reference says "forced close" (deliberately)."""
    io, url = await start(serve)
    log = Log()
    tracking_app(io, log)
    tracking_app(io, log, "/admin")
    raw = await RawSocket.open(url)
    try:
        await raw.connect()
        await raw.connect("/admin")
        await raw.send("42{}")
        assert await raw.until_closed() == []
        await log.count("disconnect", 2)
        assert [d[0] for d in log.of("disconnect")] == ["parse error", "parse error"]
        assert [d[0] for d in log.of("disconnecting")] == ["parse error", "parse error"]
    finally:
        raw.close()


async def test_disconnected_socket_is_inert(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    tracking_app(io, log)
    await connect(js, "c1", url)
    socket = await log.first("socket")
    await js.call({"cmd": "disconnect", "id": "c1"})
    await log.first("disconnect")
    socket.emit("late", 1)  # a no-op, as the reference
    socket.disconnect()  # twice is harmless
    socket.join("x")  # a no-op once gone, as the reference
    assert socket.rooms == set()
    assert io.sockets.adapter.rooms == {} and io.sockets.adapter.sids == {}
    with pytest.raises(socketeer.ConnectionClosed):
        await socket.emit_with_ack("late")
    assert len(log.of("disconnect")) == 1
