"""Reconnection: the manager's backoff, offline buffering across a server restart, and when
it must not reconnect."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from clientkit import Inbox, ServerUnderTest, drop_connection, reference_app
from jsclient import RefServer, node_modules_ready

import socketeer
from socketeer.client.backoff import Backoff


class Restartable:
    """A server of either kind that can be stopped and started again on the same port."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.app: socketeer.Server | None = None
        self.node: RefServer | None = None
        self.port = 0

    async def start(self) -> str:
        if self.kind == "socketeer":
            self.app = reference_app()
            (_, self.port), *_ = await self.app.listen("127.0.0.1", self.port)
        else:
            self.node = await RefServer.start(port=self.port)
            self.port = self.node.port
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.app is not None:
            app, self.app = self.app, None
            await app.shutdown(1)
        if self.node is not None:
            node, self.node = self.node, None
            await node.stop()


@pytest.mark.parametrize("kind", ["socketeer", "node"])
async def test_offline_buffering_across_a_server_restart(clients: Any, kind: str) -> None:
    if kind == "node" and not node_modules_ready():
        pytest.skip("Node interop deps missing")
    server = Restartable(kind)
    url = await server.start()
    try:
        client = clients(url, reconnection_delay=0.05, reconnection_delay_max=0.2)
        echoes = Inbox()
        client.on("echo", echoes)
        reasons = Inbox()
        client.on("disconnect", lambda reason: reasons.put(reason))
        reconnected = Inbox()
        client.manager.on("reconnect", reconnected)
        await client.connect(timeout=5)
        client.emit("echo", "before")
        assert await echoes.get() == "before"
        await server.stop()
        assert await reasons.get() == "transport close"
        for i in range(20):
            client.emit("echo", i, b"\x00" if i % 5 == 0 else "")
        pending_ack = asyncio.ensure_future(client.emit_with_ack("ack", "acked across", timeout=10))
        await server.start()
        assert isinstance(await reconnected.get(timeout=10), int)
        items = await echoes.wait_len(21, timeout=10)
        assert items[1:] == [[i, b"\x00" if i % 5 == 0 else ""] for i in range(20)]  # in order, once
        assert await asyncio.wait_for(pending_ack, 5) == "acked across"
    finally:
        await server.stop()


async def test_reconnection_delays_follow_the_backoff(serve: Any, clients: Any) -> None:
    io = reference_app()
    url = await serve(io)
    loop = asyncio.get_running_loop()
    client = clients(url, transports=["websocket"], reconnection_delay=0.1, reconnection_delay_max=0.4,
                     randomization_factor=0.5)
    stamps: list[tuple[str, float]] = []
    client.manager.on("close", lambda reason: stamps.append(("close", loop.time())))
    client.manager.on("reconnect_attempt", lambda n: stamps.append((f"attempt {n}", loop.time())))
    errors = Inbox()
    client.manager.on("reconnect_error", errors)
    await client.connect(timeout=5)
    await io.shutdown(1)  # nothing listens any more: every attempt fails at once
    await errors.wait_len(4, timeout=5)
    await client.disconnect()
    names = [name for name, _ in stamps]
    assert names[:5] == ["close", "attempt 1", "attempt 2", "attempt 3", "attempt 4"]
    policy = Backoff(0.1, 0.4, jitter=0.5)
    for attempt in range(4):
        low, high = policy.bounds(attempt)
        gap = stamps[attempt + 1][1] - stamps[attempt][1]
        # A refused connection takes a few milliseconds; timers fire a little late, never early.
        assert low - 0.005 <= gap <= high + 0.15, (attempt, gap, low, high)


async def test_reconnect_events_and_auth_on_every_attempt(serve: Any, clients: Any) -> None:
    io = reference_app()
    auths: list[Any] = []
    io.on("connection", lambda socket, auth: auths.append(auth))
    url = await serve(io)
    attempts = 0

    async def auth() -> dict[str, int]:
        nonlocal attempts
        attempts += 1
        return {"attempt": attempts}

    client = clients(url, auth=auth, transports=["websocket"], reconnection_delay=0.05, randomization_factor=0)
    log = Inbox()
    for name in ("reconnect_attempt", "reconnect", "reconnect_error", "open", "close"):
        client.manager.on(name, lambda *args, name=name: log.put(name))
    client.on("connect", lambda: log.put("connect"))
    client.on("disconnect", lambda reason: log.put(f"disconnect: {reason}"))
    await client.connect(timeout=5)
    drop_connection(client)
    await log.wait_len(7)
    assert log.items[:7] == ["open", "connect", "close", "disconnect: transport close", "reconnect_attempt",
                             "open", "reconnect"]
    await asyncio.wait_for(_connected(client), 5)
    assert auths == [{"attempt": 1}, {"attempt": 2}]


async def _connected(client: socketeer.ClientSocket) -> None:
    while not client.connected:
        await asyncio.sleep(0.01)


async def test_reconnect_failed_after_the_last_attempt(serve: Any, clients: Any) -> None:
    io = reference_app()
    url = await serve(io)
    client = clients(url, reconnection_attempts=2, reconnection_delay=0.02, randomization_factor=0)
    failed = Inbox()
    client.manager.on("reconnect_failed", lambda: failed.put("failed"))
    errors = Inbox()
    client.on("connect_error", errors)
    await client.connect(timeout=5)
    await io.shutdown(1)
    assert await failed.get() == "failed"
    assert len(errors.items) == 2  # each attempt told the socket
    await asyncio.wait_for(client.wait(), 1)
    assert not client.connected and not client.manager.reconnecting


async def test_no_reconnection_when_turned_off(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url, reconnection=False, transports=["websocket"])
    attempts = Inbox()
    client.manager.on("reconnect_attempt", attempts)
    await client.connect(timeout=5)
    drop_connection(client)
    await asyncio.wait_for(client.wait(), 5)
    await asyncio.sleep(0.1)
    assert attempts.items == [] and client.manager.engine is None


async def test_no_reconnection_after_client_disconnect(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url, reconnection_delay=0.01)
    attempts = Inbox()
    client.manager.on("reconnect_attempt", attempts)
    await client.connect(timeout=5)
    await client.disconnect()
    await asyncio.sleep(0.15)
    assert attempts.items == [] and not client.manager.reconnecting
    # ... and connect() after a disconnect() works again.
    await client.connect(timeout=5)
    assert await client.emit_with_ack("ack", "again", timeout=5) == "again"


async def test_connect_with_retry_waits_for_the_server(clients: Any) -> None:
    server = Restartable("socketeer")
    url = await server.start()
    await server.stop()
    client = clients(url, reconnection_delay=0.05, reconnection_delay_max=0.1)
    try:
        attempt = asyncio.ensure_future(client.connect(retry=True, timeout=5))
        await asyncio.sleep(0.2)
        assert not attempt.done()
        await server.start()
        await asyncio.wait_for(attempt, 5)
        assert client.connected
    finally:
        await server.stop()


async def test_ping_events(start_server: Any, clients: Any) -> None:
    server = await start_server(ping_interval=0.1, ping_timeout=1.0, node={"pingInterval": 100, "pingTimeout": 1000})
    client = clients(server.url)
    pings = Inbox()
    client.manager.on("ping", lambda: pings.put("ping"))
    await client.connect(timeout=5)
    await pings.wait_len(2, timeout=3)
    assert client.connected
