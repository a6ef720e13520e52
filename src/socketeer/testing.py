"""Helpers for testing a socketeer application: its server on a free port, in the test's own
event loop, and clients that record every event they receive, for assertions::

    import socketeer, socketeer.testing

    io = socketeer.Server()

    @io.on("chat")
    async def chat(socket, text):
        await io.emit("news", text.upper())
        return "ok"

    async def test_chat():                      # with pytest-asyncio (or anyio) in auto mode
        async with socketeer.testing.serve(io) as url:
            async with socketeer.testing.client(url) as alice, socketeer.testing.client(url) as bob:
                assert await alice.emit_with_ack("chat", "hi") == "ok"
                await bob.wait_for("news")
                assert bob.received("news") == [["HI"]]

Every wait is bounded (``timeout``, 5 seconds unless told), so a missing event fails the test
with what did arrive instead of hanging it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .client.client import Client
from .client.socket import ClientSocket
from .io.serving import BuiltinServer, Servable

__all__ = ["Recorder", "RecordingClient", "client", "record", "serve"]

#: Seconds every helper waits unless told otherwise.
TIMEOUT = 5.0


@asynccontextmanager
async def serve(app: Servable, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Run ``app`` (a ``socketeer.Server``) on a free port; yields its URL, shuts it down after."""
    front = BuiltinServer(app)
    (bound_host, bound_port, *_), *_ = await front.listen(host, port)
    try:
        yield f"http://{bound_host}:{bound_port}"
    finally:
        await front.close(timeout=1.0)


class Recorder:
    """Records what one socket receives: every event, and each disconnection's reason."""

    def __init__(self, socket: ClientSocket) -> None:
        self.socket = socket
        #: ``(event, args)`` in arrival order.
        self.events: list[tuple[str, list[Any]]] = []
        #: The reason of each disconnection, in order.
        self.disconnects: list[str] = []
        self._changed = asyncio.Event()
        socket.on_any(self._record)
        socket.on("disconnect", self._disconnected)

    def _record(self, event: str, *args: Any) -> None:
        self.events.append((event, list(args)))
        self._changed.set()

    def _disconnected(self, reason: str) -> None:
        self.disconnects.append(reason)
        self._changed.set()

    def received(self, event: str | None = None) -> list[Any]:
        """The argument lists of every ``event`` received, oldest first; without ``event``,
        every event as ``[name, *args]``."""
        if event is None:
            return [[name, *args] for name, args in self.events]
        return [args for name, args in self.events if name == event]

    def clear(self) -> None:
        self.events.clear()
        self.disconnects.clear()

    async def _until(self, ready: Any, timeout: float, what: str) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not ready():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            got = [name for name, _ in self.events]
            raise TimeoutError(f"{what} not received within {timeout} s; received so far: {got}") from None

    async def wait_for(self, event: str, count: int = 1, timeout: float = TIMEOUT) -> list[Any]:
        """Wait until ``event`` has been received ``count`` times; returns the arguments of the
        ``count``-th."""
        await self._until(lambda: len(self.received(event)) >= count, timeout, f"{count} x {event!r}")
        args: list[Any] = self.received(event)[count - 1]
        return args

    async def wait_disconnect(self, timeout: float = TIMEOUT) -> str:
        """Wait for the next disconnection (or return the last one seen); returns its reason."""
        seen = len(self.disconnects)
        if seen and not self.socket.connected:
            return self.disconnects[-1]
        await self._until(lambda: len(self.disconnects) > seen, timeout, "a disconnection")
        return self.disconnects[-1]


class RecordingClient(Client):
    """A ``Client`` that records the events of its namespace (see ``Recorder``)."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.recorder = Recorder(self)

    @property
    def events(self) -> list[tuple[str, list[Any]]]:
        return self.recorder.events

    def received(self, event: str | None = None) -> list[Any]:
        return self.recorder.received(event)

    async def wait_for(self, event: str, count: int = 1, timeout: float = TIMEOUT) -> list[Any]:
        return await self.recorder.wait_for(event, count, timeout)

    async def wait_disconnect(self, timeout: float = TIMEOUT) -> str:
        return await self.recorder.wait_disconnect(timeout)


def record(socket: ClientSocket) -> Recorder:
    """Record what another namespace socket receives: ``admin = record(c.socket("/admin"))``."""
    return Recorder(socket)


@asynccontextmanager
async def client(url: str, *, connect: bool = True, timeout: float = TIMEOUT,
                 **options: Any) -> AsyncIterator[RecordingClient]:
    """A ``RecordingClient`` (any ``Client`` option), connected unless ``connect=False``, and
    disconnected when the block ends."""
    instance = RecordingClient(url, **options)
    try:
        if connect:
            await instance.connect(timeout=timeout)
        yield instance
    finally:
        await instance.disconnect()
