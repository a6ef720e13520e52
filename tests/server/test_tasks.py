"""User code on the server runs as asyncio code: every handler, middleware, listener and ack
callback socketeer calls runs in a task of its own with its own copy of the context, as if
started with ``asyncio.create_task``; a failure is logged with the event and the socket, and
the socket lives on. Driven by the official client over WebSocket and over polling."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import pytest

import socketeer

from .util import Log, Serve, connect, emit_ack, start

#: Set by every probe; a probe that finds it set saw another call's context.
REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar("REQUEST", default=None)

TRANSPORTS = pytest.mark.parametrize("transport", ["websocket", "polling"])


async def probe(log: Log, where: str) -> None:
    """What a real handler does: a timeout, a task group, the current task, a ContextVar."""
    task = asyncio.current_task()
    inherited = REQUEST.get()
    REQUEST.set(where)
    async with asyncio.timeout(2):
        await asyncio.sleep(0)
    async with asyncio.TaskGroup() as group:
        child = group.create_task(asyncio.sleep(0, result=REQUEST.get()))
    log("probe", where, task, inherited, child.result())


def sync_probe(log: Log, where: str) -> None:
    """A plain ``def`` handler runs in a task too."""
    inherited = REQUEST.get()
    REQUEST.set(where)
    log("probe", where, asyncio.current_task(), inherited, where)


def assert_probes_ran_as_tasks(log: Log, expected: set[str]) -> None:
    probes = log.of("probe")
    assert {where for where, *_ in probes} >= expected, probes
    tasks = []
    for where, task, inherited, child_saw in probes:
        # (On 3.11 the eager task is asyncio's pure-Python Task: a future, not the C class.)
        assert task is not None and asyncio.isfuture(task) and task.get_name(), (where, task)
        assert inherited is None, f"{where} saw the context of {inherited}"
        assert child_saw == where  # the task group's child inherits the probe's own context
        tasks.append(task)
    assert len({id(t) for t in tasks}) == len(tasks), "two calls shared one task"


@TRANSPORTS
async def test_every_kind_of_user_code_runs_in_its_own_task(js: Any, serve: Serve, transport: str) -> None:
    io, url = await start(serve)
    log = Log()

    @io.use
    async def namespace_middleware(socket: socketeer.Socket) -> None:
        await probe(log, "namespace middleware")

    @io.on("connection")
    async def on_connection(socket: socketeer.Socket) -> None:
        await probe(log, "connection")

        @socket.use
        async def packet_middleware(event: str, args: list[Any]) -> None:
            await probe(log, f"packet middleware {event}")

        @socket.on_any
        async def catch_all(event: str, *args: Any) -> None:
            await probe(log, f"catch-all {event}")

        @socket.on_any_outgoing
        async def outgoing(event: str, *args: Any) -> None:
            await probe(log, f"outgoing {event}")

        @socket.on("disconnecting")
        async def disconnecting(reason: str) -> None:
            await probe(log, "disconnecting")

        @socket.on("disconnect")
        async def disconnect(reason: str) -> None:
            await probe(log, "disconnect")

    @io.on("ask")
    async def ask(socket: socketeer.Socket, n: int) -> int:
        await probe(log, f"handler {n}")
        return n

    @io.on("ask_me")
    def ask_me(socket: socketeer.Socket) -> None:
        async def answered(*reply: Any) -> None:
            await probe(log, "ack callback")

        socket.emit("question", callback=answered)

    @io.on("plain")
    def plain(socket: socketeer.Socket) -> str:
        sync_probe(log, "plain def handler")
        return "plain"

    await connect(js, "c1", url, {"transports": [transport]})
    await js.call({"cmd": "on_ack", "id": "c1", "event": "question", "reply": ["answer"]})
    await js.call({"cmd": "emit", "id": "c1", "event": "ask_me", "args": []})
    assert await emit_ack(js, "c1", "ask", 1) == [1]
    assert await emit_ack(js, "c1", "ask", 2) == [2]
    assert await emit_ack(js, "c1", "plain") == ["plain"]
    await log.until(lambda _: any(p[0] == "ack callback" for p in log.of("probe")))
    await js.call({"cmd": "disconnect", "id": "c1"})
    await log.until(lambda _: any(p[0] == "disconnect" for p in log.of("probe")))
    assert_probes_ran_as_tasks(log, {
        "namespace middleware", "connection", "outgoing question", "ack callback",
        "packet middleware ask", "catch-all ask", "handler 1", "handler 2", "plain def handler",
        "disconnecting", "disconnect",
    })


@TRANSPORTS
async def test_a_context_var_does_not_leak_between_clients(js: Any, serve: Serve, transport: str) -> None:
    io, url = await start(serve)
    user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="nobody")

    @io.on("whoami")
    async def whoami(socket: socketeer.Socket, name: str) -> str:
        before = user.get()
        user.set(name)
        await asyncio.sleep(0.01)  # the other client's call runs meanwhile
        return f"{before}->{user.get()}"

    await connect(js, "a", url, {"transports": [transport]})
    await connect(js, "b", url, {"transports": [transport]})
    answers = await asyncio.gather(*(emit_ack(js, cid, "whoami", cid) for cid in ("a", "b", "a", "b")))
    assert answers == [["nobody->a"], ["nobody->b"], ["nobody->a"], ["nobody->b"]]


@TRANSPORTS
async def test_a_failing_handler_is_logged_with_event_and_socket_and_the_socket_lives_on(
        js: Any, serve: Serve, transport: str, caplog: pytest.LogCaptureFixture) -> None:
    io, url = await start(serve)

    @io.on("boom")
    async def boom(socket: socketeer.Socket) -> None:
        async with asyncio.timeout(1):
            await asyncio.sleep(0)
            raise LookupError("no such thing")

    @io.on("sync_boom")
    def sync_boom(socket: socketeer.Socket) -> None:
        raise ValueError("sync failure")

    @io.on("echo")
    async def echo(socket: socketeer.Socket, x: Any) -> Any:
        return x

    sid = (await connect(js, "c", url, {"transports": [transport]}))["sid"]
    with caplog.at_level(logging.ERROR, logger="socketeer"):
        await js.call({"cmd": "emit", "id": "c", "event": "boom", "args": []})
        await js.call({"cmd": "emit", "id": "c", "event": "sync_boom", "args": []})
        assert await emit_ack(js, "c", "echo", "still here") == ["still here"]
        for _ in range(100):
            if len([r for r in caplog.records if r.exc_info]) >= 2:
                break
            await asyncio.sleep(0.01)
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 2, [r.getMessage() for r in caplog.records]
    messages = [r.getMessage() for r in failures]
    assert "'boom'" in messages[0] and sid in messages[0]
    assert "'sync_boom'" in messages[1] and sid in messages[1]
    assert [type(r.exc_info[1]) for r in failures if r.exc_info] == [LookupError, ValueError]
    assert (await js.call({"cmd": "state", "id": "c"}))["connected"] is True


async def test_a_handler_that_never_waits_answers_before_the_next_packet_is_handled(
        js: Any, serve: Serve) -> None:
    """Order within one socket is the reference's: a handler that does not await has finished
    (and its ack is written) before the next packet of the same read reaches the next handler."""
    io, url = await start(serve)
    order: list[Any] = []

    @io.on("step")
    def step(socket: socketeer.Socket, n: int) -> int:
        order.append(n)
        assert order == list(range(1, n + 1))
        return n

    await connect(js, "c", url, {"transports": ["websocket"]})
    answers = await asyncio.gather(*(emit_ack(js, "c", "step", n) for n in range(1, 51)))
    assert answers == [[n] for n in range(1, 51)]
    assert order == list(range(1, 51))


async def test_disconnecting_handler_still_sees_the_rooms(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    log = Log()

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        socket.join("lobby")

        @socket.on("disconnecting")
        async def disconnecting(reason: str) -> None:
            log("rooms", set(socket.rooms))  # read before any await: still in them
            await asyncio.sleep(0)

    sid = (await connect(js, "c", url))["sid"]
    await js.call({"cmd": "disconnect", "id": "c"})
    assert await log.first("rooms") == {sid, "lobby"}


async def test_a_return_value_that_cannot_be_sent_is_one_clear_error(
        js: Any, serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    """Logged at ERROR once, naming the event and the socket, with one traceback (not the
    encoder's chain of attempts); the ack stays unanswered and the socket lives on."""
    io, url = await start(serve)

    @io.on("bad")
    async def bad(socket: socketeer.Socket) -> object:
        return {"not json": object()}

    @io.on("echo")
    async def echo(socket: socketeer.Socket, x: Any) -> Any:
        return x

    sid = (await connect(js, "c", url))["sid"]
    with caplog.at_level(logging.ERROR, logger="socketeer"):
        await js.call({"cmd": "emit", "id": "c", "event": "bad", "args": [], "ack": True, "timeout": 300})
        assert await emit_ack(js, "c", "echo", "alive") == ["alive"]
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 1 and failures[0].levelno == logging.ERROR
    message = failures[0].getMessage()
    assert "'bad'" in message and sid in message
    exc = failures[0].exc_info[1] if failures[0].exc_info else None
    assert isinstance(exc, TypeError) and "object" in str(exc)
    assert exc.__cause__ is None and exc.__suppress_context__
