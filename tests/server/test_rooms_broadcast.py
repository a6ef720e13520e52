"""Rooms and broadcasting: a socket's own room, join/leave, rooms left on disconnect, and
every broadcast operator (to/in_, except_, socket.broadcast, socket.to, volatile, local),
fetch_sockets, sockets_join/leave and disconnect_sockets, seen by official clients."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

import socketeer

from .util import Log, Serve, connect, emit_ack, start


def room_app(io: socketeer.Server, log: Log) -> dict[str, socketeer.Socket]:
    """Handlers that let a client manage its rooms; returns sockets by the client's "name"."""
    by_name: dict[str, socketeer.Socket] = {}

    @io.on("connection")
    async def on_connection(socket: socketeer.Socket, auth: Any) -> None:
        by_name[auth.get("name", socket.id)] = socket
        log("connection", socket.id)

    @io.on("join")
    async def join(socket: socketeer.Socket, rooms: Any) -> list[str]:
        socket.join(rooms)
        return sorted(socket.rooms)

    @io.on("leave")
    async def leave(socket: socketeer.Socket, room: str) -> list[str]:
        socket.leave(room)
        return sorted(socket.rooms)

    @io.on("rooms")
    async def rooms(socket: socketeer.Socket) -> list[str]:
        return sorted(socket.rooms)

    @io.on("disconnecting")
    async def disconnecting(socket: socketeer.Socket, reason: str) -> None:
        log("disconnecting", socket.id, sorted(socket.rooms))

    @io.on("disconnect")
    async def disconnect(socket: socketeer.Socket, reason: str) -> None:
        log("disconnect", socket.id, reason, sorted(socket.rooms))

    return by_name


async def three_clients(js: Any, url: str) -> None:
    """a in r1, b in r1 and r2, c in none."""
    for name in ("a", "b", "c"):
        await connect(js, name, url, {"forceNew": True, "transports": ["websocket"], "auth": {"name": name}})
    await emit_ack(js, "a", "join", "r1")
    await emit_ack(js, "b", "join", ["r1", "r2"])


async def received(js: Any, names: str = "abc") -> dict[str, list[tuple[str, list[Any]]]]:
    """Each client's events up to the "end" marker (which every client gets last)."""
    out = {}
    for name in names:
        await js.wait_event(name, "event", "end")
        events = [(e["event"], e["args"]) for e in js.events[name] if e["type"] == "event"]
        out[name] = events[: events.index(("end", []))]
    return out


async def test_own_room_join_leave_and_rooms_left_on_disconnect(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    sockets = room_app(io, log)
    await connect(js, "a", url, {"auth": {"name": "a"}})
    sid = sockets["a"].id
    assert await emit_ack(js, "a", "rooms") == [[sid]]
    assert await emit_ack(js, "a", "join", "x") == [sorted([sid, "x"])]
    assert await emit_ack(js, "a", "join", ["y", "z"]) == [sorted([sid, "x", "y", "z"])]
    assert await emit_ack(js, "a", "leave", "y") == [sorted([sid, "x", "z"])]
    assert await emit_ack(js, "a", "leave", "not-a-member") == [sorted([sid, "x", "z"])]
    adapter = io.sockets.adapter
    assert adapter.rooms.keys() == {sid, "x", "z"}
    await js.call({"cmd": "disconnect", "id": "a"})
    await log.first("disconnect")
    assert log.of("disconnecting") == [(sid, sorted([sid, "x", "z"]))]
    assert log.of("disconnect") == [(sid, "client namespace disconnect", [])]
    assert adapter.rooms == {} and adapter.sids == {}
    assert sockets["a"].rooms == set()


async def test_broadcast_operators(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    sockets = room_app(io, Log())
    await three_clients(js, url)
    a, b = sockets["a"], sockets["b"]
    io.emit("all", 1)
    io.to("r1").emit("to_r1", 2)
    io.in_("r2").emit("in_r2", 3)
    io.to(["r1", "r2"]).emit("r1_or_r2", 4)  # b is in both rooms and gets it once
    io.to("r1").to("r2").emit("chained", 5)
    io.except_("r1").emit("except_r1", 6)
    io.to("r1").except_("r2").emit("r1_not_r2", 7)
    io.local.emit("local", 8)
    io.compress(False).emit("uncompressed", 9)
    a.broadcast.emit("from_a", 10)  # everyone but a
    a.to("r1").emit("a_to_r1", 11)  # r1 but not a, although a is in r1
    b.except_("r1").emit("b_except_r1", 12)  # everyone but b and r1
    a.to(b.id).emit("a_to_b", 13)  # a socket's own room
    io.except_(a.id).emit("all_but_a", 14)
    io.emit("end")
    got = await received(js)
    assert got["a"] == [("all", [1]), ("to_r1", [2]), ("r1_or_r2", [4]), ("chained", [5]),
                        ("r1_not_r2", [7]), ("local", [8]), ("uncompressed", [9])]
    assert got["b"] == [("all", [1]), ("to_r1", [2]), ("in_r2", [3]), ("r1_or_r2", [4]), ("chained", [5]),
                        ("local", [8]), ("uncompressed", [9]), ("from_a", [10]), ("a_to_r1", [11]),
                        ("a_to_b", [13]), ("all_but_a", [14])]
    assert got["c"] == [("all", [1]), ("except_r1", [6]), ("local", [8]), ("uncompressed", [9]),
                        ("from_a", [10]), ("b_except_r1", [12]), ("all_but_a", [14])]


async def test_operators_are_immutable(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    room_app(io, Log())
    await three_clients(js, url)
    to_r1 = io.to("r1")
    to_r1.except_("r2").emit("narrowed", 1)
    to_r1.emit("still_r1", 2)  # the stored operator was not changed by the chain above
    io.emit("end")
    got = await received(js)
    assert got["a"] == [("narrowed", [1]), ("still_r1", [2])]
    assert got["b"] == [("still_r1", [2])]
    assert got["c"] == []


async def test_volatile_over_websocket_is_delivered(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    sockets = room_app(io, Log())
    await three_clients(js, url)
    io.volatile.emit("v", 1)
    io.to("r2").volatile.emit("v_r2", 2)
    sockets["c"].volatile.emit("v_c", 3)
    io.emit("end")
    got = await received(js)
    assert got == {"a": [("v", [1])], "b": [("v", [1]), ("v_r2", [2])], "c": [("v", [1]), ("v_c", [3])]}


async def _wait_writable(conn: Any, writable: bool) -> None:
    """The engine offers no event for "a GET is pending"; look at it, bounded in count and time."""
    for _ in range(500):
        if conn.writable is writable:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"writable never became {writable}")


async def test_volatile_is_dropped_when_not_writable(serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    sockets = room_app(io, log)
    base = f"{url}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient(timeout=5.0) as http:
        opened = await http.get(base)
        sid = orjson.loads(opened.content[1:])["sid"]
        poll = f"{base}&sid={sid}"
        assert (await http.post(poll, content=b"40")).text == "ok"
        assert (await http.get(poll)).text.startswith('40{"sid":"')
        socket = next(iter(sockets.values()))
        # No GET pending: the polling transport is not writable, volatile packets are dropped.
        await _wait_writable(socket.conn, False)
        io.volatile.emit("dropped", 1)
        socket.volatile.emit("dropped_too", 2)
        io.emit("kept", 3)
        assert (await http.get(poll)).text == '42["kept",3]'
        # With a GET waiting, a volatile packet goes out.
        pending = asyncio.ensure_future(http.get(poll))
        await _wait_writable(socket.conn, True)
        io.volatile.emit("delivered", 4)
        assert (await asyncio.wait_for(pending, 5.0)).text == '42["delivered",4]'


async def test_fetch_sockets(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    sockets = room_app(io, Log())
    await three_clients(js, url)
    sockets["a"].data["role"] = "admin"
    everyone = await io.fetch_sockets()
    assert {s.id for s in everyone} == {s.id for s in sockets.values()}
    in_r1 = await io.in_("r1").fetch_sockets()
    assert {s.id for s in in_r1} == {sockets["a"].id, sockets["b"].id}
    assert {s.id for s in await io.except_("r1").fetch_sockets()} == {sockets["c"].id}
    assert {s.id for s in await io.to("r1").except_("r2").fetch_sockets()} == {sockets["a"].id}
    assert await io.in_("nobody").fetch_sockets() == []
    fetched_a = next(s for s in in_r1 if s.id == sockets["a"].id)
    assert fetched_a.data == {"role": "admin"}
    assert fetched_a.rooms == {fetched_a.id, "r1"}
    assert fetched_a.handshake.auth == {"name": "a"}
    # What is fetched can be acted upon.
    fetched_a.emit("direct", 1)
    fetched_a.join("late")
    io.to("late").emit("late_room", 2)
    io.emit("end")
    got = await received(js)
    assert got["a"] == [("direct", [1]), ("late_room", [2])]
    assert got["b"] == got["c"] == []


async def test_sockets_join_and_leave(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    sockets = room_app(io, Log())
    await three_clients(js, url)
    a, b, c = sockets["a"], sockets["b"], sockets["c"]
    io.in_(a.id).sockets_join("x")
    io.sockets_join(["y", "z"])
    io.in_("r1").sockets_leave("r1")
    io.in_("r2").sockets_leave(["y", "r2"])
    assert a.rooms == {a.id, "x", "y", "z"}
    assert b.rooms == {b.id, "z"}
    assert c.rooms == {c.id, "y", "z"}
    io.to("x").emit("x", 1)
    io.to("y").emit("y", 2)
    io.to("r1").emit("r1", 3)
    io.emit("end")
    got = await received(js)
    assert got == {"a": [("x", [1]), ("y", [2])], "b": [], "c": [("y", [2])]}
    assert await emit_ack(js, "b", "rooms") == [sorted([b.id, "z"])]


async def test_disconnect_sockets(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    sockets = room_app(io, log)
    await three_clients(js, url)
    io.in_("r2").disconnect_sockets()
    gone = await js.wait_event("b", "disconnect")
    assert gone["reason"] == "io server disconnect"
    assert (await log.first("disconnect"))[1:] == ("server namespace disconnect", [])
    assert set(io.sockets.sockets) == {sockets["a"].id, sockets["c"].id}
    # The others stay connected; with close=True the whole connection goes too.
    assert await emit_ack(js, "a", "rooms") == [sorted([sockets["a"].id, "r1"])]
    io.except_("r1").disconnect_sockets(close=True)
    assert (await js.wait_event("c", "disconnect"))["reason"] == "io server disconnect"
    await log.count("disconnect", 2)
    assert sockets["c"].conn.closed
    assert set(io.sockets.sockets) == {sockets["a"].id}
    io.disconnect_sockets()
    assert (await js.wait_event("a", "disconnect"))["reason"] == "io server disconnect"
    assert io.sockets.sockets == {}
    # "io server disconnect" means the client does not try again.
    for name in "abc":
        state = await js.call({"cmd": "state", "id": name})
        assert state["active"] is False


async def test_disconnect_with_close_tells_every_namespace_of_the_connection(js: Any, serve: Serve) -> None:
    """As the reference's ``socket.disconnect(true)``: each namespace on the connection gets its
    DISCONNECT (so none of them reconnects), then the connection closes."""
    io, url = await start(serve)
    log = Log()
    room_app(io, log)

    @io.of("/other").on("disconnect")
    async def other_gone(socket: socketeer.Socket, reason: str) -> None:
        log("other_disconnect", reason)

    await connect(js, "root", url, manager="m")
    await connect(js, "other", url + "/other", manager="m")
    (root_socket,) = io.sockets.sockets.values()
    root_socket.disconnect(close=True)
    assert (await js.wait_event("root", "disconnect"))["reason"] == "io server disconnect"
    assert (await js.wait_event("other", "disconnect"))["reason"] == "io server disconnect"
    assert (await log.first("other_disconnect")) == "server namespace disconnect"
    assert (await log.first("disconnect"))[1] == "server namespace disconnect"
    for name in ("root", "other"):
        assert (await js.call({"cmd": "state", "id": name}))["active"] is False


async def test_server_side_emit_on_a_single_node(js: Any, serve: Serve) -> None:
    """One node: no other server hears it, and no client ever does."""
    io, url = await start(serve)
    room_app(io, Log())
    heard: list[Any] = []
    io.on_server_side("hello")(lambda *args: heard.append(args))
    await connect(js, "a", url)
    await io.server_side_emit("hello", 1)
    assert await io.server_side_emit_with_ack("hello", 2, timeout=1) == []
    with pytest.raises(ValueError, match="reserved"):
        io.server_side_emit("connect")
    with pytest.raises(ValueError, match="reserved"):
        await io.server_side_emit_with_ack("disconnect")
    with pytest.raises(ValueError, match="reserved"):
        io.emit("disconnecting")
    io.emit("end")
    got = await received(js, "a")
    assert got == {"a": []}
    assert heard == []
