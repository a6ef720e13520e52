"""The msgpack parser with the official client using socket.io-msgpack-parser: events, binary
(native msgpack bin, no attachments), acks both ways, namespaces and refusals, rooms."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import msgpack
import pytest

import socketeer

from .raw import RawSocket
from .util import BLOB, Log, Serve, connect, emit_ack, start

# socket.io-msgpack-parser 3.0.2 (notepack.io 2.2) encodes a CONNECT without auth as data=undefined,
# i.e. fixext1 type 0 (d4 00 00); test_official_client_without_auth covers it, the others give auth.
MSGPACK = {"parser": "msgpack", "auth": {"k": 1}}


def msgpack_app(io: socketeer.Server, log: Log) -> None:
    @io.on("connection")
    async def on_connection(socket: socketeer.Socket, auth: Any) -> None:
        log("connection", socket, auth)

    @io.on("echo")
    async def echo(socket: socketeer.Socket, *args: Any) -> None:
        log("echo", list(args))
        socket.emit("echo", *args)

    @io.on("ack")
    async def ack(socket: socketeer.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @io.on("join")
    async def join(socket: socketeer.Socket, room: str) -> None:
        socket.join(room)

    @io.on("leave_me")
    async def leave_me(socket: socketeer.Socket) -> None:
        socket.disconnect()

    admin = io.of("/admin")

    @admin.use
    def token(socket: socketeer.Socket) -> None:
        if socket.handshake.auth.get("token") != "ok":
            raise socketeer.ConnectionRefused("Not authorized", data={"reason": "token", "bin": BLOB})

    @admin.on("ack")
    async def admin_ack(socket: socketeer.Socket, *args: Any) -> tuple[Any, ...]:
        return ("admin", *args)

    dyn = io.of(re.compile(r"^/dyn-\d+$"))

    @dyn.on("where")
    async def where(socket: socketeer.Socket) -> str:
        return socket.nsp.name


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
async def test_events_binary_and_acks(js: Any, serve: Serve, transports: list[str]) -> None:
    io, url = await start(serve, parser="msgpack")
    log = Log()
    msgpack_app(io, log)
    await connect(js, "c1", url, {"parser": "msgpack", "transports": transports, "auth": {"token": "t", "bin": BLOB}})
    socket, auth = await log.first("connection")
    assert auth == {"token": "t", "bin": BLOB}
    payload = ["text", 1, 1.5, -7, 2**40, None, True, {"nested": [BLOB, {"deep": BLOB}]}, []]
    await js.call({"cmd": "emit", "id": "c1", "event": "echo", "args": payload})
    assert (await js.wait_event("c1", "event", "echo"))["args"] == payload
    assert log.of("echo") == [payload]
    assert await emit_ack(js, "c1", "ack", {"b": BLOB}, 2) == [{"b": BLOB}, 2]
    assert await emit_ack(js, "c1", "ack") == []
    # Server to client, with an ack.
    await js.call({"cmd": "on_ack", "id": "c1", "event": "question", "reply": ["answer", BLOB]})
    assert await socket.emit_with_ack("question", {"q": BLOB}, timeout=5) == ["answer", BLOB]
    asked = await js.wait_event("c1", "event", "question")
    assert asked["args"] == [{"q": BLOB}] and asked["ack"] is True
    answers = await io.timeout(5).emit_with_ack("question")
    assert answers == [["answer", BLOB]]


async def test_namespaces_and_refusals(js: Any, serve: Serve) -> None:
    io, url = await start(serve, parser="msgpack")
    msgpack_app(io, Log())
    await js.call({"cmd": "connect", "id": "refused", "url": url + "/admin", "opts": MSGPACK})
    err = await js.wait_event("refused", "connect_error")
    assert (err["message"], err["data"]) == ("Not authorized", {"reason": "token", "bin": BLOB})
    await connect(js, "admin", url + "/admin", {**MSGPACK, "auth": {"token": "ok"}, "forceNew": True})
    assert await emit_ack(js, "admin", "ack", 1) == ["admin", 1]
    await connect(js, "dyn", url + "/dyn-4", {**MSGPACK, "forceNew": True})
    assert await emit_ack(js, "dyn", "where") == ["/dyn-4"]
    await js.call({"cmd": "connect", "id": "nope", "url": url + "/nope", "opts": {**MSGPACK, "forceNew": True}})
    assert (await js.wait_event("nope", "connect_error"))["message"] == "Invalid namespace"


async def test_rooms_and_server_disconnect(js: Any, serve: Serve) -> None:
    io, url = await start(serve, parser="msgpack")
    msgpack_app(io, Log())
    for name in ("a", "b"):
        await connect(js, name, url, {**MSGPACK, "forceNew": True})
    await emit_ack(js, "a", "join", "r")
    io.to("r").emit("news", BLOB)
    io.emit("all", 1)
    assert (await js.wait_event("a", "event", "news"))["args"] == [BLOB]
    await js.wait_event("b", "event", "all")
    assert not [e for e in js.events["b"] if e.get("event") == "news"]
    await js.call({"cmd": "emit", "id": "b", "event": "leave_me"})
    assert (await js.wait_event("b", "disconnect"))["reason"] == "io server disconnect"


async def test_recovery_with_msgpack(js: Any, serve: Serve) -> None:
    io, url = await start(serve, parser="msgpack",
                          connection_state_recovery={"max_disconnection_duration": 120})
    log = Log()
    msgpack_app(io, log)

    @io.on("disconnect")
    async def gone(socket: socketeer.Socket, reason: str) -> None:
        io.emit("missed", {"b": BLOB})

    first = await connect(js, "c1", url, {**MSGPACK, "transports": ["websocket"], "reconnectionDelay": 100,
                                          "randomizationFactor": 0})
    io.emit("seen", 1)
    seen = await js.wait_event("c1", "event", "seen")
    assert seen["args"][0] == 1 and isinstance(seen["args"][1], str)
    await js.call({"cmd": "close_engine", "id": "c1"})
    again = await js.wait_event("c1", "connect")
    assert (again["recovered"], again["sid"]) == (True, first["sid"])
    missed = await js.wait_event("c1", "event", "missed")
    assert missed["args"][0] == {"b": BLOB} and isinstance(missed["args"][1], str)


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: str | bytes) -> Any:
    assert isinstance(data, bytes), data
    return msgpack.unpackb(data, raw=False)


async def test_wire(serve: Serve) -> None:
    """Each packet is one binary message holding a map; binary values are msgpack bin."""
    io, url = await start(serve, parser="msgpack")
    log = Log()
    msgpack_app(io, log)
    raw = await RawSocket.open(url)
    try:
        await raw.send(pack({"type": 0, "nsp": "/", "data": {"token": "x"}}))
        answer = unpack(await raw.recv())
        assert list(answer) == ["type", "data", "nsp"]
        assert answer["type"] == 0 and answer["nsp"] == "/" and set(answer["data"]) == {"sid"}
        socket, _ = await log.first("connection")
        socket.emit("buf", b"\x01\x02\x03", {"n": 1.5})
        event = await raw.recv()
        assert event == pack({"type": 2, "data": ["buf", b"\x01\x02\x03", {"n": 1.5}], "nsp": "/"})
        await raw.send(pack({"type": 2, "data": ["ack", b"\xff", 1], "nsp": "/", "id": 7}))
        ack = unpack(await raw.recv())
        assert (ack["type"], ack["data"], ack["nsp"], ack["id"]) == (3, [b"\xff", 1], "/", 7)
        asked = asyncio.ensure_future(socket.emit_with_ack("q"))
        question = unpack(await raw.recv())
        assert (question["type"], question["data"], question["id"]) == (2, ["q"], 0)
        await raw.send(pack({"type": 3, "data": ["yes"], "nsp": "/", "id": 0}))
        assert await asyncio.wait_for(asked, 5) == "yes"
        await raw.send(pack({"type": 0, "nsp": "/admin"}))
        refused = unpack(await raw.recv())
        assert refused == {"type": 4, "data": {"message": "Not authorized",
                                               "data": {"reason": "token", "bin": BLOB}}, "nsp": "/admin"}
        # A text frame is not a msgpack packet: the connection is closed.
        await raw.send('42["x"]')
        assert await raw.until_closed() == []
    finally:
        raw.close()


@pytest.mark.parametrize("packet", [
    pytest.param({"type": 2, "data": ["x"]}, id="no-nsp"),
    pytest.param({"type": 5, "data": ["x"], "nsp": "/"}, id="binary-event-type"),
    pytest.param({"type": 6, "data": [], "nsp": "/", "id": 1}, id="binary-ack-type"),
])
async def test_wire_packets_the_reference_refuses(serve: Serve, packet: dict[str, Any]) -> None:
    io, url = await start(serve, parser="msgpack")
    msgpack_app(io, Log())
    raw = await RawSocket.open(url)
    try:
        await raw.send(pack({"type": 0, "nsp": "/"}))
        await raw.recv()
        await raw.send(pack(packet))
        assert await raw.until_closed(timeout=1.0) == []
    finally:
        raw.close()


UNDEFINED = msgpack.ExtType(0, b"\x00")  # how notepack.io 2.2 encodes ``undefined``


async def test_official_client_without_auth(js: Any, serve: Serve) -> None:
    io, url = await start(serve, parser="msgpack")
    log = Log()
    msgpack_app(io, log)
    await connect(js, "c1", url, {"parser": "msgpack", "transports": ["websocket"], "reconnection": False},
                  timeout=2)
    assert (await log.first("connection"))[1] == {}


async def test_wire_undefined(serve: Serve) -> None:
    io, url = await start(serve, parser="msgpack")
    log = Log()
    msgpack_app(io, log)
    raw = await RawSocket.open(url)
    try:
        await raw.send(pack({"type": 0, "data": UNDEFINED, "nsp": "/"}))
        assert unpack(await raw.recv(timeout=1))["type"] == 0
        await raw.send(pack({"type": 2, "data": ["echo", UNDEFINED, 1], "nsp": "/"}))
        assert unpack(await raw.recv(timeout=1))["data"] == ["echo", None, 1]
    finally:
        raw.close()
