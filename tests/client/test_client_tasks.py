"""User code on the client runs as asyncio code: every listener (events, catch-all, outgoing,
connect, disconnect, the manager's), ack callback and auth function runs in a task of its own
with its own copy of the context; a failing listener is logged with the event and the socket,
and the client lives on. Against socketeer and Node, over WebSocket and over polling."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import pytest
from clientkit import Inbox, ServerUnderTest

REQUEST: contextvars.ContextVar[str | None] = contextvars.ContextVar("REQUEST", default=None)

TRANSPORTS = pytest.mark.parametrize("transport", ["websocket", "polling"])


class Probes:
    """What each listener saw: its task, whether it inherited another call's context."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any, str | None, Any]] = []
        self.changed = asyncio.Event()

    async def probe(self, where: str) -> None:
        task = asyncio.current_task()
        inherited = REQUEST.get()
        REQUEST.set(where)
        async with asyncio.timeout(2):
            await asyncio.sleep(0)
        async with asyncio.TaskGroup() as group:
            child = group.create_task(asyncio.sleep(0, result=REQUEST.get()))
        self.seen.append((where, task, inherited, child.result()))
        self.changed.set()

    def sync_probe(self, where: str) -> None:
        inherited = REQUEST.get()
        REQUEST.set(where)
        self.seen.append((where, asyncio.current_task(), inherited, where))
        self.changed.set()

    async def until(self, where: str, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while where not in {w for w, *_ in self.seen}:
                self.changed.clear()
                await self.changed.wait()

    def check(self, expected: set[str]) -> None:
        assert {w for w, *_ in self.seen} >= expected, self.seen
        for where, task, inherited, child_saw in self.seen:
            assert task is not None and asyncio.isfuture(task), (where, task)
            assert inherited is None, f"{where} saw the context of {inherited}"
            assert child_saw == where
        assert len({id(t) for _, t, *_ in self.seen}) == len(self.seen), "two calls shared one task"


@TRANSPORTS
async def test_every_client_listener_runs_in_its_own_task(
        server: ServerUnderTest, clients: Any, transport: str) -> None:
    probes = Probes()

    async def auth() -> dict[str, str]:
        await probes.probe("auth")
        return {"token": "ok"}

    client = clients(server.url, transports=[transport], auth=auth)

    @client.on("connect")
    async def connected() -> None:
        await probes.probe("connect")

    @client.on("echo")
    async def echo(*args: Any) -> None:
        await probes.probe(f"echo {args[0]}")

    @client.on("plain")
    def plain(*args: Any) -> None:
        probes.sync_probe("plain def listener")

    @client.on("question")
    async def question(text: str) -> str:
        await probes.probe("question")
        return text.upper()

    @client.on_any
    async def any_event(event: str, *args: Any) -> None:
        await probes.probe(f"catch-all {event} {args[0] if args else ''}")

    @client.on_any_outgoing
    async def outgoing(event: str, *args: Any) -> None:
        await probes.probe(f"outgoing {event} {args[0] if args else ''}")

    @client.on("disconnect")
    async def disconnected(reason: str, *details: Any) -> None:
        await probes.probe("disconnect")

    @client.manager.on("open")
    async def opened() -> None:
        await probes.probe("manager open")

    await client.connect(timeout=5)
    answers = Inbox()

    async def answered(*reply: Any) -> None:
        await probes.probe("ack callback")
        answers(*reply)

    client.emit("ack", "x", callback=answered)
    assert await answers.get() == "x"
    client.emit("echo", 1)
    client.emit("echo", 2)
    client.emit("echo", "plain")
    await probes.until("echo 2")
    # The server asks, the client's listener answers with its return value.
    assert await client.emit_with_ack("call_client", "question", "abc", timeout=5) == {"reply": ["ABC"]}
    await client.disconnect()
    await probes.until("disconnect")
    probes.check({
        "auth", "manager open", "connect", "ack callback", "echo 1", "echo 2", "catch-all echo 1",
        "outgoing echo 1", "outgoing ack x", "question", "disconnect",
    })


@TRANSPORTS
async def test_a_failing_listener_is_logged_and_the_client_lives_on(
        server: ServerUnderTest, clients: Any, transport: str, caplog: pytest.LogCaptureFixture) -> None:
    client = clients(server.url, transports=[transport])
    echoes = Inbox()

    @client.on("echo")
    async def failing(*args: Any) -> None:
        await asyncio.sleep(0)
        if args[0] == "bad":
            raise LookupError("listener failure")
        echoes(*args)

    @client.on("echo")
    def also(*args: Any) -> None:
        if args[0] == "bad":
            raise ValueError("sync listener failure")

    await client.connect(timeout=5)
    with caplog.at_level(logging.ERROR, logger="socketeer"):
        client.emit("echo", "bad")
        client.emit("echo", "good")
        assert await echoes.get() == "good"
        async with asyncio.timeout(5):
            while len([r for r in caplog.records if r.exc_info]) < 2:
                await asyncio.sleep(0.01)
    failures = [r for r in caplog.records if r.exc_info]
    assert sorted(type(r.exc_info[1]).__name__ for r in failures if r.exc_info) == ["LookupError", "ValueError"]
    for record in failures:
        assert "'echo'" in record.getMessage() and str(client.id) in record.getMessage()
    assert client.connected
    assert await client.emit_with_ack("ack", "alive", timeout=5) == "alive"


async def test_listeners_of_two_clients_do_not_share_a_context(server: ServerUnderTest, clients: Any) -> None:
    user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="nobody")
    seen = Inbox()

    def listener_for(name: str) -> Any:
        async def listener(*args: Any) -> None:
            before = user.get()
            user.set(name)
            await asyncio.sleep(0.01)
            seen((name, before, user.get()))
        return listener

    a, b = clients(server.url), clients(server.url)
    a.on("echo", listener_for("a"))
    b.on("echo", listener_for("b"))
    await a.connect(timeout=5)
    await b.connect(timeout=5)
    for _ in range(2):
        a.emit("echo", 1)
        b.emit("echo", 1)
    got = await seen.wait_len(4)
    assert sorted(got) == [("a", "nobody", "a")] * 2 + [("b", "nobody", "b")] * 2
