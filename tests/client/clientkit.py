"""Helpers of the client tests: a socketeer twin of ref_server.js, an inbox for what listeners
receive, and ways to cut a client's connection as a network failure would.

``reference_app()`` mirrors ``tests/interop/ref_server.js`` (events echo, ack, join, broadcast,
call_client; ``/admin`` refuses without ``auth.token == "ok"`` with "Not authorized" and
``{"reason": "token"}``; dynamic ``/dyn-N``), so a test taking the ``server`` fixture runs once
against each. Every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketeer
from socketeer.client.engine import EngineConnection
from socketeer.client.transports import PollingTransport, WebSocketTransport

TIMEOUT = 5.0


def reference_app(**options: Any) -> socketeer.Server:
    io = socketeer.Server(**options)

    def register(nsp: socketeer.Namespace) -> None:
        @nsp.on("echo")
        async def echo(socket: socketeer.Socket, *args: Any) -> None:
            await socket.emit("echo", *args)

        @nsp.on("ack")
        async def ack(socket: socketeer.Socket, *args: Any) -> tuple[Any, ...]:
            return args

        @nsp.on("join")
        async def join(socket: socketeer.Socket, room: str) -> None:
            await socket.join(room)

        @nsp.on("broadcast")
        async def broadcast(socket: socketeer.Socket, room: str | None, event: str, *args: Any) -> None:
            target = socket.nsp.to(room) if room else socket.nsp
            await target.emit(event, *args)

        @nsp.on("call_client")
        async def call_client(socket: socketeer.Socket, event: str, *args: Any) -> dict[str, Any]:
            answer: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
            socket.emit(event, *args, callback=lambda *reply: answer.done() or answer.set_result(list(reply)))
            try:
                return {"reply": await asyncio.wait_for(answer, 5)}
            except TimeoutError:
                return {"error": "operation has timed out"}

    register(io.of("/"))
    admin = io.of("/admin")

    @admin.use
    def check_token(socket: socketeer.Socket) -> None:
        if socket.handshake.auth.get("token") != "ok":
            raise socketeer.ConnectionRefused("Not authorized", {"reason": "token"})

    register(admin)
    register(io.of(re.compile(r"^/dyn-\d+$")))
    return io


@dataclass
class ServerUnderTest:
    """A running server of either kind, and how to reach it."""

    kind: str
    url: str
    #: The socketeer ``Server`` (None for Node).
    app: socketeer.Server | None = None


StartServer = Callable[..., Awaitable[ServerUnderTest]]


class Inbox:
    """Collects what listeners receive; ``await inbox.get(n)`` waits (bounded) for the next one."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._next = 0
        self._changed = asyncio.Event()

    def put(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    def __call__(self, *args: Any) -> None:
        self.put(list(args) if len(args) != 1 else args[0])

    async def get(self, timeout: float = TIMEOUT) -> Any:
        async with asyncio.timeout(timeout):
            while self._next >= len(self.items):
                self._changed.clear()
                await self._changed.wait()
        item = self.items[self._next]
        self._next += 1
        return item

    async def wait_len(self, n: int, timeout: float = TIMEOUT) -> list[Any]:
        async with asyncio.timeout(timeout):
            while len(self.items) < n:
                self._changed.clear()
                await self._changed.wait()
        return self.items


def engine_of(client: socketeer.ClientSocket) -> EngineConnection:
    engine = client.manager.engine
    assert engine is not None, "not connected"
    return engine


def drop_connection(client: socketeer.ClientSocket) -> None:
    """Cut the client's TCP connection(s) as a network failure would: no CLOSE packet, no close
    frame, nothing said to the server first."""
    transport = engine_of(client).transport
    if isinstance(transport, WebSocketTransport):
        transport._writer.transport.abort()
    elif isinstance(transport, PollingTransport):
        for conn in (*transport.http._idle, *transport.http._busy):
            conn.writer.transport.abort()
