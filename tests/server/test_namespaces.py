"""Namespaces: main, static, dynamic (regex and predicate), the middleware chain and its
refusals (``connect_error`` as the reference sends it), unknown namespaces, and several
namespaces multiplexed over one connection."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

import socketeer

from .raw import RawSocket
from .util import Log, Serve, connect, emit_ack, start


def echo_handlers(nsp: Any, log: Log) -> None:
    @nsp.on("connection")
    async def on_connection(socket: socketeer.Socket) -> None:
        log("connection", socket.nsp.name, socket)

    @nsp.on("where")
    async def where(socket: socketeer.Socket, *args: Any) -> Any:
        return socket.nsp.name


async def test_static_namespace_alone(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    echo_handlers(io, log)
    echo_handlers(io.of("/admin"), log)
    await connect(js, "a", url + "/admin")
    assert await emit_ack(js, "a", "where") == ["/admin"]
    # As the reference (v3+): connecting to /admin does not join "/" too.
    assert [name for name, _ in log.of("connection")] == ["/admin"]
    socket = log.of("connection")[0][1]
    assert socket.nsp is io.of("/admin")
    assert set(io.of("/admin").sockets) == {socket.id}
    assert io.sockets.sockets == {}


async def test_dynamic_namespace_by_regex(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    parent = io.of(re.compile(r"^/dyn-\d+$"))
    echo_handlers(parent, log)
    assert parent.children == {}
    await connect(js, "a", url + "/dyn-1", {"forceNew": True})
    await connect(js, "b", url + "/dyn-1", {"forceNew": True})
    await connect(js, "c", url + "/dyn-22", {"forceNew": True})
    assert set(parent.children) == {"/dyn-1", "/dyn-22"}
    child = parent.children["/dyn-1"]
    assert child.parent is parent
    assert len(child.sockets) == 2 and len(parent.children["/dyn-22"].sockets) == 1
    assert await emit_ack(js, "a", "where") == ["/dyn-1"]
    assert await emit_ack(js, "c", "where") == ["/dyn-22"]
    # Emitting on the parent reaches every child namespace; on a child, only that one.
    parent.emit("all", 1)
    child.emit("one", 2)
    for cid in ("a", "b", "c"):
        assert (await js.wait_event(cid, "event", "all"))["args"] == [1]
    for cid in ("a", "b"):
        assert (await js.wait_event(cid, "event", "one"))["args"] == [2]
    assert await emit_ack(js, "c", "where") == ["/dyn-22"]  # sequenced after "one" would have arrived
    assert not [e for e in js.events["c"] if e.get("event") == "one"]
    # Not matching the regex: refused as an unknown namespace.
    await js.call({"cmd": "connect", "id": "d", "url": url + "/dyn-x", "opts": {"forceNew": True}})
    assert (await js.wait_event("d", "connect_error"))["message"] == "Invalid namespace"


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
async def test_dynamic_namespace_by_predicate(js: Any, serve: Serve, asynchronous: bool) -> None:
    io, url = await start(serve)
    log = Log()
    seen: list[tuple[str, Any]] = []

    def check(name: str, auth: Any) -> bool:
        seen.append((name, auth))
        return name.startswith("/team-") and auth.get("member") is True

    async def acheck(name: str, auth: Any) -> bool:
        await asyncio.sleep(0)
        return check(name, auth)

    parent = io.of(acheck if asynchronous else check)
    echo_handlers(parent, log)
    await connect(js, "a", url + "/team-blue", {"forceNew": True, "auth": {"member": True}})
    assert await emit_ack(js, "a", "where") == ["/team-blue"]
    assert set(parent.children) == {"/team-blue"}
    assert seen == [("/team-blue", {"member": True})]
    await js.call({"cmd": "connect", "id": "b", "url": url + "/team-red", "opts": {"forceNew": True}})
    assert (await js.wait_event("b", "connect_error"))["message"] == "Invalid namespace"
    assert set(parent.children) == {"/team-blue"}


async def test_refusal_and_unknown_namespace_wire_forms(serve: Serve) -> None:
    io, url = await start(serve)

    @io.of("/admin").use
    async def refuse(socket: socketeer.Socket) -> None:
        raise socketeer.ConnectionRefused("Not authorized", data={"a": 1})

    @io.of("/m1").use
    def plain(socket: socketeer.Socket) -> None:
        raise socketeer.ConnectionRefused("plain")

    @io.of("/m2").use
    def with_str(socket: socketeer.Socket) -> None:
        raise socketeer.ConnectionRefused("withstr", data="s")

    @io.on("ping")
    def ping(socket: socketeer.Socket) -> str:
        return "pong"

    raw = await RawSocket.open(url)
    try:
        await raw.connect()
        await raw.send("40/admin,")
        assert await raw.recv_text() == '44/admin,{"message":"Not authorized","data":{"a":1}}'
        await raw.send('40/admin,{"token":"x"}')
        assert await raw.recv_text() == '44/admin,{"message":"Not authorized","data":{"a":1}}'
        await raw.send("40/admin")  # no comma: still the namespace /admin
        assert await raw.recv_text() == '44/admin,{"message":"Not authorized","data":{"a":1}}'
        await raw.send("40/m1,")
        assert await raw.recv_text() == '44/m1,{"message":"plain"}'
        await raw.send("40/m2,")
        assert await raw.recv_text() == '44/m2,{"message":"withstr","data":"s"}'
        await raw.send("40/nope,")
        assert await raw.recv_text() == '44/nope,{"message":"Invalid namespace"}'
        # CONNECT_ERROR closes nothing: "/" still answers.
        await raw.send('421["ping"]')
        assert await raw.recv_text() == '431["pong"]'
    finally:
        raw.close()


async def test_refused_first_then_main(serve: Serve) -> None:
    io, url = await start(serve)

    @io.of("/admin").use
    def refuse(socket: socketeer.Socket) -> None:
        raise socketeer.ConnectionRefused("Not authorized", data={"a": 1})

    raw = await RawSocket.open(url)
    try:
        await raw.send("40/admin,")
        assert await raw.recv_text() == '44/admin,{"message":"Not authorized","data":{"a":1}}'
        assert set(await raw.connect()) == {"sid"}
    finally:
        raw.close()


async def test_unknown_namespace_with_dynamic_parents(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    io.of(re.compile(r"^/dyn-\d+$"))
    io.of(lambda name: name == "/exact")
    await js.call({"cmd": "connect", "id": "a", "url": url + "/nope"})
    err = await js.wait_event("a", "connect_error")
    assert err["message"] == "Invalid namespace"
    assert "data" not in err
    raw = await RawSocket.open(url)
    try:
        await raw.send("40/nope,")
        assert await raw.recv_text() == '44/nope,{"message":"Invalid namespace"}'
    finally:
        raw.close()


async def test_several_namespaces_over_one_connection(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    echo_handlers(io, log)
    echo_handlers(io.of("/admin"), log)
    dyn = io.of(re.compile(r"^/dyn-\d+$"))
    echo_handlers(dyn, log)

    @io.of("/admin").use
    def token(socket: socketeer.Socket) -> None:
        if socket.handshake.auth.get("token") != "ok":
            raise socketeer.ConnectionRefused("Not authorized")

    @io.of("/locked").use
    def locked(socket: socketeer.Socket) -> None:
        raise socketeer.ConnectionRefused("Locked", data={"why": "always"})

    await connect(js, "root", url + "/", manager="m1")
    await connect(js, "admin", url + "/admin", {"auth": {"token": "ok"}}, manager="m1")
    await connect(js, "dyn", url + "/dyn-3", manager="m1")
    # A refusal on the shared connection concerns that namespace only.
    await js.call({"cmd": "connect", "id": "refused", "url": url + "/locked", "manager": "m1"})
    err = await js.wait_event("refused", "connect_error")
    assert (err["message"], err["data"]) == ("Locked", {"why": "always"})
    sockets = {name: socket for name, socket in log.of("connection")}
    assert set(sockets) == {"/", "/admin", "/dyn-3"}
    conns = {id(s.conn) for s in sockets.values()}
    assert len(conns) == 1  # one Engine.IO connection carries all three
    assert len({s.id for s in sockets.values()}) == 3
    assert await emit_ack(js, "root", "where") == ["/"]
    assert await emit_ack(js, "admin", "where") == ["/admin"]
    assert await emit_ack(js, "dyn", "where") == ["/dyn-3"]
    io.of("/admin").emit("only_admin", 1)
    assert (await js.wait_event("admin", "event", "only_admin"))["args"] == [1]
    assert await emit_ack(js, "root", "where") == ["/"]
    assert not [e for e in js.events["root"] + js.events["dyn"] if e.get("event") == "only_admin"]
    # Leaving one namespace leaves the others connected.
    await js.call({"cmd": "disconnect", "id": "admin"})
    await js.wait_event("admin", "disconnect")
    assert await emit_ack(js, "root", "where") == ["/"]
    assert await emit_ack(js, "dyn", "where") == ["/dyn-3"]
    assert io.of("/admin").sockets == {}
