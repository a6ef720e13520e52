"""Middleware: the namespace chain (order, refusal with message and data, plain exceptions,
dynamic namespaces), per-packet ``socket.use``, and the per-socket listener API
(on/once/off/on_any/prepend_any/off_any/on_any_outgoing)."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest

import socketeer

from .util import Log, Serve, connect, emit_ack, start


def echo_handlers(nsp: Any, log: Log) -> None:
    @nsp.on("connection")
    async def on_connection(socket: socketeer.Socket) -> None:
        log("connection", socket.nsp.name, socket)

    @nsp.on("where")
    async def where(socket: socketeer.Socket, *args: Any) -> Any:
        return socket.nsp.name


async def test_middleware_chain_order_and_socket_data(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    admin = io.of("/admin")

    @admin.use
    def first(socket: socketeer.Socket) -> None:
        log("mw", 1)
        socket.data["user"] = socket.handshake.auth.get("user")

    @admin.use
    async def second(socket: socketeer.Socket) -> None:
        await asyncio.sleep(0.01)  # a middleware that really waits
        log("mw", 2)

    @admin.use
    async def third(socket: socketeer.Socket) -> None:
        log("mw", 3)
        assert socket.connected is False  # not yet joined while middleware runs

    @admin.on("connection")
    async def on_connection(socket: socketeer.Socket) -> None:
        log("connection", socket.data["user"])

    await connect(js, "a", url + "/admin", {"auth": {"user": "ann"}})
    await log.first("connection")
    assert log.items == [("mw", 1), ("mw", 2), ("mw", 3), ("connection", "ann")]


async def test_middleware_refusal_reaches_the_official_client(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    admin = io.of("/admin")
    echo_handlers(admin, log)

    @admin.use
    async def first(socket: socketeer.Socket) -> None:
        log("mw", 1)

    @admin.use
    async def refuse(socket: socketeer.Socket) -> None:
        log("mw", 2)
        if socket.handshake.auth.get("token") != "ok":
            raise socketeer.ConnectionRefused("Not authorized", data={"a": 1})

    @admin.use
    async def never(socket: socketeer.Socket) -> None:
        log("mw", 3)

    await js.call({"cmd": "connect", "id": "a", "url": url + "/admin"})
    err = await js.wait_event("a", "connect_error")
    assert err["message"] == "Not authorized"
    assert err["data"] == {"a": 1}
    assert log.items == [("mw", 1), ("mw", 2)]
    state = await js.call({"cmd": "state", "id": "a"})
    assert state["connected"] is False and state["active"] is False
    assert admin.sockets == {}
    # The same client with the right token gets through the whole chain.
    await connect(js, "b", url + "/admin", {"auth": {"token": "ok"}, "forceNew": True})
    assert await emit_ack(js, "b", "where") == ["/admin"]
    assert log.of("mw")[2:] == [1, 2, 3]


async def test_main_namespace_middleware_refuses(js: Any, serve: Serve) -> None:
    io, url = await start(serve)

    @io.use
    def gate(socket: socketeer.Socket) -> None:
        if socket.handshake.query.get("key") != "k":
            raise socketeer.ConnectionRefused("bad key", data={"hint": ["key"]})

    @io.on("where")
    def where(socket: socketeer.Socket) -> str:
        return socket.nsp.name

    await js.call({"cmd": "connect", "id": "a", "url": url})
    err = await js.wait_event("a", "connect_error")
    assert (err["message"], err["data"]) == ("bad key", {"hint": ["key"]})
    await connect(js, "b", url, {"query": {"key": "k"}, "forceNew": True})
    assert await emit_ack(js, "b", "where") == ["/"]


@pytest.mark.parametrize("send", [False, True], ids=["default", "send_middleware_errors"])
async def test_plain_exception_in_middleware(js: Any, serve: Serve, send: bool,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """A middleware that raises something other than ``ConnectionRefused`` has a bug (or a
    resource is down): it is logged at ERROR with its traceback, the namespace and the
    socket, and the client gets "server error". With ``send_middleware_errors`` the client
    gets what the reference sends: ``err.message`` and ``err.data``."""
    io, url = await start(serve, send_middleware_errors=send)

    class WithData(Exception):
        data = {"code": 42}

    @io.of("/plain").use
    async def plain(socket: socketeer.Socket) -> None:
        raise RuntimeError("boom: password=hunter2")

    @io.of("/data").use
    async def with_data(socket: socketeer.Socket) -> None:
        raise WithData("with data")

    with caplog.at_level(logging.ERROR, logger="socketeer"):
        await js.call({"cmd": "connect", "id": "a", "url": url + "/plain"})
        err = await js.wait_event("a", "connect_error")
        await js.call({"cmd": "connect", "id": "b", "url": url + "/data", "opts": {"forceNew": True}})
        err_b = await js.wait_event("b", "connect_error")
    if send:
        assert err["message"] == "boom: password=hunter2" and "data" not in err
        assert (err_b["message"], err_b["data"]) == ("with data", {"code": 42})
    else:
        assert err["message"] == "server error" and "data" not in err
        assert err_b["message"] == "server error" and "data" not in err_b
    failures = [r for r in caplog.records if r.exc_info]
    assert [type(r.exc_info[1]).__name__ for r in failures if r.exc_info] == ["RuntimeError", "WithData"]
    assert "/plain" in failures[0].getMessage() and "/data" in failures[1].getMessage()
    assert all(r.levelno == logging.ERROR for r in failures)


async def test_middleware_of_a_dynamic_namespace_runs_for_each_child(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()
    parent = io.of(re.compile(r"^/room-\w+$"))
    echo_handlers(parent, log)

    @parent.use
    def only_members(socket: socketeer.Socket) -> None:
        log("mw", socket.nsp.name)
        if socket.nsp.name != "/room-open":
            raise socketeer.ConnectionRefused("closed room")

    await connect(js, "a", url + "/room-open", {"forceNew": True})
    assert await emit_ack(js, "a", "where") == ["/room-open"]
    await js.call({"cmd": "connect", "id": "b", "url": url + "/room-shut", "opts": {"forceNew": True}})
    assert (await js.wait_event("b", "connect_error"))["message"] == "closed room"
    assert log.of("mw") == ["/room-open", "/room-shut"]


async def test_socket_use_filters_packets(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()

    @io.on("connection")
    async def on_connection(socket: socketeer.Socket) -> None:
        @socket.use
        def first(event: str, args: list[Any]) -> None:
            log("mw1", event, args)
            if event == "forbidden":
                raise PermissionError("not allowed")

        @socket.use
        async def second(event: str, args: list[Any]) -> None:
            await asyncio.sleep(0)
            log("mw2", event)

        @socket.on("error")
        def on_error(exc: Exception) -> None:
            log("error", repr(exc))

    @io.on("allowed")
    async def allowed(socket: socketeer.Socket, *args: Any) -> Any:
        log("handled", "allowed")
        return list(args)

    @io.on("forbidden")
    async def forbidden(socket: socketeer.Socket, *args: Any) -> str:
        log("handled", "forbidden")
        return "should not run"

    await connect(js, "c1", url)
    assert await emit_ack(js, "c1", "allowed", 1, "a") == [[1, "a"]]
    refused = await js.call({"cmd": "emit", "id": "c1", "event": "forbidden", "args": [2], "ack": True,
                             "timeout": 200})
    assert refused["error"] == "timeout"
    await log.first("error")
    assert log.of("handled") == ["allowed"]
    assert log.of("mw1") == [("allowed", [1, "a"]), ("forbidden", [2])]
    assert log.of("mw2") == ["allowed"]
    assert log.of("error") == ["PermissionError('not allowed')"]
    assert await emit_ack(js, "c1", "allowed") == [[]]


async def test_socket_listeners(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()

    @io.on("connection")
    async def on_connection(socket: socketeer.Socket) -> None:
        def any_listener(event: str, *args: Any) -> None:
            log("any", event, list(args))

        def first_listener(event: str, *args: Any) -> None:
            log("prepended", event)

        socket.on_any(any_listener)
        socket.prepend_any(first_listener)

        @socket.on_any_outgoing
        def outgoing(event: str, *args: Any) -> None:
            log("out", event, list(args))

        @socket.on("tell")
        def tell(*args: Any) -> str:
            log("tell", list(args))
            return "told"

        @socket.once("once")
        def once(*args: Any) -> str:
            log("once", list(args))
            return "first time"

        @socket.on("stop")
        def stop() -> str:
            socket.off("tell")
            socket.off_any(any_listener)
            socket.off_any()
            return "stopped"

        @socket.on("reply")
        def reply(*args: Any) -> None:
            socket.emit("answer", *args)

    await connect(js, "c1", url)
    assert await emit_ack(js, "c1", "tell", 1) == ["told"]
    assert await emit_ack(js, "c1", "once", 2) == ["first time"]
    second = await js.call({"cmd": "emit", "id": "c1", "event": "once", "args": [3], "ack": True, "timeout": 200})
    assert second["error"] == "timeout"  # the once listener is gone
    await js.call({"cmd": "emit", "id": "c1", "event": "reply", "args": ["x", 4]})
    assert (await js.wait_event("c1", "event", "answer"))["args"] == ["x", 4]
    assert log.of("out") == [("answer", ["x", 4])]
    assert await emit_ack(js, "c1", "stop") == ["stopped"]
    unheard = await js.call({"cmd": "emit", "id": "c1", "event": "tell", "args": [5], "ack": True, "timeout": 200})
    assert unheard["error"] == "timeout"
    heard = [item[:2] for item in log.items if item[0] in ("any", "prepended")]
    # prepend_any runs first; after off_any() nothing more is heard (the last "tell" is not).
    assert heard == [("prepended", "tell"), ("any", "tell"), ("prepended", "once"), ("any", "once"),
                     ("prepended", "once"), ("any", "once"), ("prepended", "reply"), ("any", "reply"),
                     ("prepended", "stop"), ("any", "stop")]
    assert log.of("tell") == [[1]]
    assert log.of("once") == [[2]]


async def test_rooms_joined_by_a_refusing_middleware_are_left(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    admin = io.of("/admin")

    @admin.use
    def joins(socket: socketeer.Socket) -> None:
        socket.join("early")

    @admin.use
    def refuses(socket: socketeer.Socket) -> None:
        if socket.handshake.auth.get("token") != "ok":
            raise socketeer.ConnectionRefused("no")

    await js.call({"cmd": "connect", "id": "a", "url": url + "/admin"})
    await js.wait_event("a", "connect_error")
    assert admin.adapter.rooms == {} and admin.adapter.sids == {}
    await connect(js, "b", url + "/admin", {"auth": {"token": "ok"}, "forceNew": True})
    (socket,) = admin.sockets.values()
    assert socket.rooms == {socket.id, "early"}
