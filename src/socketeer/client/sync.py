"""The blocking client: the asyncio ``Client`` run by an event loop in a background thread.

Not a second implementation: every call is handed to the loop thread and waited for, so the
blocking API behaves exactly as the asyncio one (reconnection, buffering, acks) does::

    with socketeer.connect("http://127.0.0.1:3000") as client:
        client.emit("chat", "hi")
        reply = client.emit_with_ack("add", 1, 2, timeout=5)
        event, args = client.receive(timeout=5)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..exceptions import ConnectionClosed
from .client import Client

__all__ = ["SyncClient", "connect"]

T = TypeVar("T")

_CLOSED = object()
#: Seconds ``disconnect`` waits for the loop thread to finish.
_STOP_TIMEOUT = 5.0


class SyncClient:
    """A blocking Socket.IO client. Events the server sends are queued for ``receive()``.

    Listeners added with ``on`` run in the client's own thread (the loop's): their return value
    answers the server's ack, and they must not block for long.
    """

    def __init__(self, url: str, **options: Any) -> None:
        self._events: queue.Queue[Any] = queue.Queue()
        self._stopped = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="socketeer-client", daemon=True)
        self._thread.start()

        async def make() -> Client:
            client = Client(url, **options)
            client.on_any(lambda event, *args: self._events.put((event, list(args))))
            return client

        try:
            self.client: Client = self._call(make())
        except BaseException:
            self._stop()
            raise

    # -- the loop thread -----------------------------------------------------------------------
    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._stopped:
            coro.close()
            raise ConnectionClosed("the client is closed")
        if threading.current_thread() is self._thread:
            coro.close()
            # Waiting here for the loop we are running on would never end.
            raise RuntimeError("blocking calls cannot be made from a listener; use client.client (asyncio)")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.done():
                raise  # the coroutine's own TimeoutError (an AckTimeout, say), not ours
            future.cancel()
            raise TimeoutError(f"no result within {timeout} s") from None

    def _stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(_STOP_TIMEOUT)

    # -- the API -------------------------------------------------------------------------------
    def connect(self, timeout: float | None = None, retry: bool = False) -> None:
        """Connect; raises ``socketeer.ConnectionError`` as ``Client.connect`` does."""
        self._call(self.client.connect(timeout=timeout, retry=retry))

        async def watch() -> None:
            await self.client.wait()
            self._events.put(_CLOSED)

        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(watch()))

    @property
    def sid(self) -> str | None:
        return self.client.id

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def transport(self) -> str | None:
        return self.client.transport

    def emit(self, event: str, *args: Any) -> None:
        """Send an event (buffered while disconnected, as the asyncio client does)."""
        async def emit() -> None:
            self.client.emit(event, *args)

        self._call(emit())

    def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and return the server's answer; ``AckTimeout`` after ``timeout``."""
        return self._call(self.client.emit_with_ack(event, *args, timeout=timeout))

    call = emit_with_ack

    def receive(self, timeout: float | None = None) -> tuple[str, list[Any]]:
        """The next event from the server, as ``(event, args)``, oldest first.

        Raises ``TimeoutError`` after ``timeout`` seconds, ``ConnectionClosed`` once the client
        is disconnected for good and every event received before has been returned.
        """
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event within {timeout} s") from None
        if item is _CLOSED:
            self._events.put(_CLOSED)  # every later call raises too
            raise ConnectionClosed("the client is disconnected")
        event, args = item
        return event, args

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """Add a listener, run in the client's thread (``@client.on("x")`` works too)."""
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            async def add() -> None:
                self.client.on(event, fn)

            self._call(add())
            return fn

        return register(handler) if handler is not None else register

    def disconnect(self) -> None:
        """Leave, close the connection and stop the client's thread."""
        if self._stopped:
            return
        try:
            self._call(self.client.disconnect(), timeout=_STOP_TIMEOUT)
        finally:
            self._stop()
            self._events.put(_CLOSED)

    close = disconnect

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()


def connect(url: str, *, timeout: float | None = None, retry: bool = False, **options: Any) -> SyncClient:
    """A connected blocking client (every ``Client`` option is accepted), usable as a context
    manager; raises ``socketeer.ConnectionError`` if it cannot connect."""
    client = SyncClient(url, **options)
    try:
        client.connect(timeout=timeout, retry=retry)
    except BaseException:
        client.disconnect()
        raise
    return client
