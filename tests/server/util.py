"""Shared helpers for the server tests: awaitable server-side logs, client steps, and a
socketeer app equivalent to ``tests/interop/ref_server.js``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import socketeer

__all__ = ["BLOB", "Log", "Serve", "connect", "emit_ack", "ref_equivalent_app", "start"]

Serve = Callable[[Any], Awaitable[str]]
BLOB = bytes([0, 1, 2, 253, 254, 255])


class Log:
    """What server handlers saw, in order; tests await entries instead of sleeping."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Event()

    def __call__(self, *item: Any) -> None:
        self.items.append(item[0] if len(item) == 1 else item)
        self._changed.set()

    def of(self, kind: str) -> list[Any]:
        """Entries that are tuples starting with ``kind``, without it."""
        return [i[1:] if len(i) > 2 else i[1] for i in self.items if isinstance(i, tuple) and i[0] == kind]

    async def until(self, predicate: Callable[[list[Any]], Any], timeout: float = 5.0) -> Any:
        """The first truthy ``predicate(items)``; fails after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                for _ in range(100_000):
                    result = predicate(self.items)
                    if result:
                        return result
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pass
        raise AssertionError(f"condition not met within {timeout}s; log: {self.items!r}")

    async def first(self, kind: str, timeout: float = 5.0) -> Any:
        """The first entry of ``kind`` (a tuple ``(kind, ...)``), once it exists."""
        await self.until(lambda _: len(self.of(kind)) > 0, timeout)
        return self.of(kind)[0]

    async def count(self, kind: str, n: int, timeout: float = 5.0) -> list[Any]:
        await self.until(lambda _: len(self.of(kind)) >= n, timeout)
        return self.of(kind)


async def start(serve: Serve, **options: Any) -> tuple[socketeer.Server, str]:
    io = socketeer.Server(**options)
    return io, await serve(io)


async def connect(js: Any, cid: str, url: str, opts: dict[str, Any] | None = None, *, timeout: float = 5.0,
                  **extra: Any) -> dict[str, Any]:
    """Connect an official client and return its ``connect`` event."""
    reply = await js.call({"cmd": "connect", "id": cid, "url": url, "opts": opts or {}, **extra})
    assert reply["ok"], reply
    return await js.wait_event(cid, "connect", timeout=timeout)  # type: ignore[no-any-return]


async def emit_ack(js: Any, cid: str, event: str, *args: Any, timeout: float = 5.0) -> list[Any]:
    """Emit with an ack from the official client; the ack's arguments."""
    reply = await js.call({"cmd": "emit", "id": cid, "event": event, "args": list(args), "ack": True},
                          timeout=timeout)
    assert reply["ok"], reply
    return reply["ack"]  # type: ignore[no-any-return]


def ref_equivalent_app(**options: Any) -> socketeer.Server:
    """The socketeer twin of ref_server.js: same namespaces, same handlers, same refusals."""
    io = socketeer.Server(**options)

    def register(nsp: Any) -> None:
        @nsp.on("echo")
        async def echo(socket: socketeer.Socket, *args: Any) -> None:
            socket.emit("echo", *args)

        @nsp.on("ack")
        async def ack(socket: socketeer.Socket, *args: Any) -> tuple[Any, ...]:
            return args

        @nsp.on("join")
        async def join(socket: socketeer.Socket, room: Any = None, *_: Any) -> None:
            socket.join(room)

        @nsp.on("broadcast")
        async def broadcast(socket: socketeer.Socket, room: Any, event: str, *args: Any) -> None:
            target = socket.nsp.to(room) if room else socket.nsp
            target.emit(event, *args)

        @nsp.on("call_client")
        async def call_client(socket: socketeer.Socket, event: str, *args: Any) -> Any:
            # The callback form keeps the client's answer exactly as a list of arguments.
            loop = asyncio.get_running_loop()
            answered: asyncio.Future[list[Any]] = loop.create_future()
            socket.emit(event, *args, callback=lambda *reply: answered.done() or answered.set_result(list(reply)))
            try:
                return {"reply": await asyncio.wait_for(answered, 5.0)}
            except TimeoutError:
                return {"error": "operation has timed out"}

    register(io.sockets)
    register(io.of(re.compile(r"^/dyn-\d+$")))
    admin = io.of("/admin")

    @admin.use
    async def token(socket: socketeer.Socket) -> None:
        if socket.handshake.auth.get("token") != "ok":
            raise socketeer.ConnectionRefused("Not authorized", data={"reason": "token"})

    register(admin)
    return io
