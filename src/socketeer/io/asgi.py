"""The ASGI front end: the same Engine as the built-in server, behind uvicorn, hypercorn or granian.

ASGI messages are translated straight into the engine's ``HttpRequest``/``HttpResponse`` and
a ``WebSocketPeer``; there is no WSGI-style environ in between, so a message costs one
``receive()`` and one engine call, as on the built-in server.

Everything outside the engine's path (and the lifespan protocol) goes to ``other_app``, so a
FastAPI or Starlette application and the Socket.IO server share one process and one port.

Differences from the built-in server that follow from ASGI itself:

* permessage-deflate, WebSocket ping/pong and the WebSocket message size limit belong to the
  ASGI server (``--ws-max-size`` and friends); the engine only sees whole messages.
* ``buffered_amount`` counts what this module has queued and the server has not yet taken.
  Servers that apply backpressure in ``send`` (uvicorn, hypercorn) make that an honest
  measure; one that buffers without limit makes it an underestimate.
* Servers run the lifespan shutdown only after their connections are closed (uvicorn closes
  WebSockets with 1012) and the requests in flight are answered: a pending long-poll holds
  that wait for up to ``ping_interval``, so give the server a short graceful-shutdown timeout
  (uvicorn ``--timeout-graceful-shutdown``, hypercorn ``graceful_timeout``).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..engineio.session import Outgoing, SharedMessage
from .engine import Engine, HttpRequest, HttpResponse, WebSocketReceiver, parse_query
from .serving import Servable
from .websocket import Deflate

__all__ = ["ASGIApp"]

logger = logging.getLogger("socketeer.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGI3App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Above this many queued bytes a WebSocket stops being ``writable`` (what ``volatile`` drops
#: on). It is asyncio's default write-buffer high-water mark, so volatile emits behave as on
#: the built-in server, whose ``writable`` follows the transport's pause_writing.
HIGH_WATER = 64 * 1024

#: Seconds a closing WebSocket may take to hand its last messages and its close frame to the
#: server, and then to see the client's disconnect, before the connection is dropped: a client
#: that stopped reading must not keep the connection's coroutines alive.
CLOSE_GRACE = 5.0

def _not_found() -> HttpResponse:
    return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")


def _too_large() -> HttpResponse:
    # No "Connection: close": with it uvicorn closes at once, and the client, still sending
    # the rest of its body, gets a reset instead of the 413. What becomes of a connection
    # whose request body was left unread is the server's business (uvicorn and hypercorn
    # read and discard the rest; granian closes it).
    return HttpResponse(413, [("Content-Type", "text/plain")], b"")


def _size(data: str | bytes) -> int:
    """Bytes on the wire; ``isascii`` is O(1) on str, so only non-ASCII text is encoded."""
    if isinstance(data, str) and not data.isascii():
        return len(data.encode())
    return len(data)


class _Peer:
    """The engine's handle on one ASGI WebSocket.

    The engine writes synchronously (from its flush callback) but ASGI sends are awaited, so
    writes go to a queue that ``run`` drains: one coroutine per connection, not a task per
    message, and the queue length is the backpressure the engine sees.
    """

    __slots__ = (
        "_deadline",
        "_queue",
        "_queued",
        "_send",
        "_wakeup",
        "close_code",
        "close_reason",
        "closing",
        "deflate",
        "disconnected",
    )

    def __init__(self, send: Send) -> None:
        self._send = send
        self._queue: collections.deque[str | bytes] = collections.deque()
        self._queued = 0
        self._wakeup: asyncio.Future[None] | None = None
        self._deadline: asyncio.Timeout | None = None
        #: The ASGI server negotiates compression; the engine must not compress again.
        self.deflate: Deflate | None = None
        self.closing = False
        self.close_code = 1000
        self.close_reason = ""
        self.disconnected = False

    # -- WebSocketPeer ----------------------------------------------------------------------
    @property
    def writable(self) -> bool:
        return not self.closing and self._queued <= HIGH_WATER

    def buffered_amount(self) -> int:
        return self._queued

    def write_items(self, items: list[Outgoing]) -> int:
        if self.closing:
            return 0
        queue = self._queue
        for item in items:
            data = item.data if isinstance(item, SharedMessage) else item
            queue.append(data)
            self._queued += _size(data)
        self._wake()
        return self._queued

    def write_text(self, text: str) -> None:
        if not self.closing:
            self._queue.append(text)
            self._queued += _size(text)
            self._wake()

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        self.close_reason = reason
        if self._deadline is not None:
            self._deadline.reschedule(asyncio.get_running_loop().time() + CLOSE_GRACE)
        self._wake()

    # -- the writer -------------------------------------------------------------------------
    def lost(self) -> None:
        """Nothing more can be sent (the client is gone, or the close frame is out)."""
        self.disconnected = True
        self.closing = True
        self._queue.clear()
        self._queued = 0
        self._wake()

    def _wake(self) -> None:
        waiter = self._wakeup
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def run(self) -> None:
        """Send what is queued, in order; then the close frame once ``close`` was called."""
        loop = asyncio.get_running_loop()
        queue = self._queue
        try:
            async with asyncio.timeout(None) as deadline:
                self._deadline = deadline
                if self.closing:  # closed before the writer started (a refused upgrade)
                    deadline.reschedule(loop.time() + CLOSE_GRACE)
                while not self.disconnected:
                    if queue:
                        data = queue.popleft()
                        message: Message = (
                            {"type": "websocket.send", "text": data}
                            if type(data) is str
                            else {"type": "websocket.send", "bytes": data}
                        )
                        try:
                            await self._send(message)
                        finally:
                            self._queued -= _size(data)
                    elif self.closing:
                        await self._send({"type": "websocket.close", "code": self.close_code,
                                          "reason": self.close_reason})
                        return
                    else:
                        self._wakeup = loop.create_future()
                        await self._wakeup
                        self._wakeup = None
        except TimeoutError:
            logger.info("dropping a WebSocket whose client does not read (close not sent in %.0fs)", CLOSE_GRACE)
        except Exception as exc:  # the server refuses sends once the client is gone; which error varies
            logger.debug("WebSocket send failed: %r", exc)
        finally:
            self._deadline = None
            self.lost()


class ASGIApp:
    """Serve a socketeer server (``socketeer.Server``, ``socketeer.engineio.Server``) over ASGI 3.

    Requests under the engine's path (or ``socketio_path``, which then replaces it for this
    front end) reach the engine; everything else, lifespan included, goes to ``other_app``.
    Without ``other_app`` the server's ``static_files`` are served, and the lifespan is
    answered here; either way the shutdown closes every session with "server shutting down"
    before ``other_app`` hears of it, so disconnect handlers still find its resources.

    Paths are matched relative to ``root_path`` (as Starlette's ``Mount`` sets it).
    """

    def __init__(self, app: Servable, other_app: ASGI3App | None = None, *, socketio_path: str | None = None) -> None:
        self.app = app
        self.engine: Engine = app.engine
        self.other_app = other_app
        if socketio_path is None:
            self.path = self.engine.path
        else:
            self.path = "/" + socketio_path.strip("/") + "/" if socketio_path.strip("/") else "/"
        #: What is still being answered or closed, so a shutdown can wait for it.
        self._inflight: set[asyncio.Future[None]] = set()
        self._started = False
        self._starting: asyncio.Lock | None = None

    async def _start(self) -> None:
        """``app.startup()`` once, whoever comes first: the lifespan or the first request."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if not self._started:
                await self.app.startup()
                self._started = True

    async def _stop(self) -> None:
        await self.close_sessions()
        if self._started:
            self._started = False
            await self.app.teardown()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            if not self._started:
                await self._start()  # no lifespan reached this app (mounted, or lifespan off)
            path = _route_path(scope)
            if path.startswith(self.path):
                if self.path != self.engine.path:
                    path = self.engine.path + path[len(self.path):]
                if kind == "http":
                    await self._http(scope, receive, send, path, engine=True)
                else:
                    await self._websocket(scope, receive, send, path)
                return
            if self.other_app is None:
                if kind == "http":
                    await self._http(scope, receive, send, path, engine=False)
                else:
                    await receive()  # websocket.connect
                    await self._refuse(scope, send, _not_found())
                return
        elif kind == "lifespan":
            if self.other_app is None:
                await self._lifespan(receive, send)
            else:
                await self._other_lifespan(self.other_app, scope, receive, send)
            return
        if self.other_app is not None:
            await self.other_app(scope, receive, send)

    # -- requests ---------------------------------------------------------------------------
    def _request(self, scope: Scope, path: str, method: str) -> HttpRequest:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = headers[name] + ", " + value if name in headers else value
        raw_query = scope.get("query_string", b"").decode("latin-1")
        client = scope.get("client")
        scheme = scope.get("scheme", "http")
        return HttpRequest(
            method=method,
            path=path,
            query=parse_query(raw_query),
            headers=headers,
            client=(client[0], client[1]) if client else None,
            scheme="https" if scheme in ("https", "wss") else "http",
            raw_query=raw_query,
        )

    async def _http(self, scope: Scope, receive: Receive, send: Send, path: str, *, engine: bool) -> None:
        request = self._request(scope, path, scope["method"])
        limit = self.engine.options.max_http_buffer_size
        declared = request.headers.get("content-length", "")
        if limit is not None and declared.isdigit() and int(declared) > limit:
            # Refused on the declared length, before a byte of the body is read.
            logger.info("refused %s %s from %s: body over %d bytes", request.method, request.url, request.client, limit)
            await _respond(send, _too_large())
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:  # bounded by the body's size: the server sends it in chunks, then more_body=False
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:  # chunked, or a lying Content-Length
                logger.info("refused %s %s from %s: body over %d bytes", request.method, request.url,
                            request.client, limit)
                await _respond(send, _too_large())
                return
            if chunk:
                chunks.append(chunk)
            more = message.get("more_body", False)
        request.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)

        result: HttpResponse | Awaitable[HttpResponse] | None
        try:
            if engine:
                result = self.engine.handle_http(request)
            else:
                result = self.app.serve_extra(request)
                if result is None:
                    result = _not_found()
        except Exception:
            logger.exception("request handler failed for %s %s", request.method, request.url)
            result = HttpResponse(500)
        if isinstance(result, HttpResponse):
            await _respond(send, result)
            return
        if not inspect.isawaitable(result):  # pragma: no cover - a serve_extra override gone wrong
            raise TypeError(f"expected an HttpResponse or an awaitable, got {result!r}")
        await self._wait_and_respond(request, result, receive, send)

    async def _wait_and_respond(self, request: HttpRequest, result: Awaitable[HttpResponse],
                                receive: Receive, send: Send) -> None:
        """A long-poll: wait for the engine while listening for the client hanging up.

        Each ASGI request is its own task, so waiting here blocks nobody else; the listener
        is needed because only ``receive()`` tells that the client is gone, and then the
        engine must learn it at once (``poll_abandoned``), not when it next writes.
        """
        loop = asyncio.get_running_loop()
        future = asyncio.ensure_future(result)
        done_marker = loop.create_future()
        self._inflight.add(done_marker)
        listener = asyncio.ensure_future(receive())
        answered = False
        try:
            while True:  # bounded: only the server's messages (in practice one http.disconnect) loop
                await asyncio.wait((future, listener), return_when=asyncio.FIRST_COMPLETED)
                if future.done():
                    break
                if listener.result()["type"] == "http.disconnect":
                    return
                listener = asyncio.ensure_future(receive())
            answered = True
            if future.cancelled() or future.exception() is not None:
                logger.error("request handler failed for %s %s", request.method, request.url,
                             exc_info=None if future.cancelled() else future.exception())
                response = HttpResponse(500)
            else:
                response = future.result()
            try:
                await _respond(send, response)
            except OSError:  # the client left as the answer was ready; the server says so variously
                logger.debug("client of %s %s left before its answer", request.method, request.url)
        finally:
            listener.cancel()
            if not answered:
                self.engine.poll_abandoned(request)  # before cancelling: it ignores a finished poll
                future.cancel()
            self._inflight.discard(done_marker)
            done_marker.set_result(None)

    # -- WebSocket --------------------------------------------------------------------------
    async def _refuse(self, scope: Scope, send: Send, response: HttpResponse) -> None:
        """Refuse a WebSocket with the engine's HTTP answer where the server lets us say it."""
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": response.status,
                        "headers": _encode_headers(response)})
            await send({"type": "websocket.http.response.body", "body": response.body})
        else:
            await send({"type": "websocket.close", "code": 1008})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        engine = self.engine
        request = self._request(scope, path, "GET")
        # authorize_websocket, not check_websocket: this front end can wait for an async
        # allow_request (the connection simply stays in its handshake meanwhile).
        verdict = engine.authorize_websocket(request)
        if verdict is not None and not isinstance(verdict, HttpResponse):
            try:
                verdict = await verdict
            except Exception:
                logger.exception("allow_request failed for %s", request.url)
                verdict = HttpResponse(500, [("Content-Type", "text/plain")], b"")
        if verdict is not None:
            await self._refuse(scope, send, verdict)
            return
        await send({"type": "websocket.accept",
                    "headers": [(n.lower().encode("latin-1"), v.encode("latin-1"))
                                for n, v in engine.websocket_headers(request)]})
        peer = _Peer(send)
        receiver = engine.open_websocket(request, peer)
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._read(receive, receiver, peer))
        done_marker = loop.create_future()
        self._inflight.add(done_marker)
        try:
            await peer.run()
            if not reader.done():
                # The close frame is out: the server reports the client's answer as a disconnect.
                await asyncio.wait((reader,), timeout=CLOSE_GRACE)
        finally:
            if not reader.done():
                reader.cancel()
            elif not reader.cancelled() and reader.exception() is not None:
                logger.error("WebSocket reader failed for %s", request.url, exc_info=reader.exception())
            # Idempotent; here for a connection dropped without a disconnect message.
            receiver.on_close("transport closed")
            self._inflight.discard(done_marker)
            done_marker.set_result(None)

    async def _read(self, receive: Receive, receiver: WebSocketReceiver, peer: _Peer) -> None:
        """Hand each message to the engine as it arrives, until the client disconnects."""
        limit = self.engine.options.max_http_buffer_size
        active: WebSocketReceiver | None = receiver
        while True:  # bounded by the connection: it ends with websocket.disconnect
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                if active is None:
                    continue  # closing: what the client still sends is dropped
                text: str | None = message.get("text")
                data: str | bytes = text if text is not None else message.get("bytes") or b""
                if limit is not None and len(data) > limit // 4 and _size(data) > limit:
                    peer.close(1009, "message too big")
                    active.on_close("websocket error 1009: message too big")
                    active = None
                elif text is not None:
                    active.on_text(text)
                else:
                    active.on_binary(data)  # type: ignore[arg-type]
            elif kind == "websocket.disconnect":
                peer.lost()
                if active is not None:
                    # Always "transport close", as the reference reports any WebSocket close:
                    # the code cannot tell an abrupt loss apart on every server (hypercorn
                    # reports 1006 even for a clean close by the client).
                    active.on_close()
                return

    # -- lifespan ---------------------------------------------------------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:  # bounded: the server sends startup once, then shutdown once
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._start()
                except Exception as exc:
                    logger.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _other_lifespan(self, other: ASGI3App, scope: Scope, receive: Receive, send: Send) -> None:
        """Give the lifespan to ``other_app``, closing the sessions before its shutdown runs.

        An application that does not speak lifespan (it raises or returns before its first
        ``receive``) is answered here instead, so the sessions are still closed at shutdown.
        """
        started = False

        async def receive_for_other() -> Message:
            nonlocal started
            message = await receive()
            started = True
            if message["type"] == "lifespan.startup":
                await self._start()  # before the other app starts: its startup may emit
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
            return message

        try:
            await other(scope, receive_for_other, send)
        except Exception:
            if started:
                raise
            logger.debug("other_app does not support lifespan; socketeer answers it", exc_info=True)
        if not started:
            await self._lifespan(receive, send)

    async def close_sessions(self, timeout: float = CLOSE_GRACE) -> None:
        """Close every session with "server shutting down" and give the goodbyes time to leave."""
        self.engine.close_all("server shutting down")
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=timeout)


def _route_path(scope: Scope) -> str:
    """The path below ``root_path``, as Starlette routes (servers differ on including it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] in ("/", ""):
        return path[len(root):] or "/"
    return path


def _encode_headers(response: HttpResponse) -> list[tuple[bytes, bytes]]:
    """Lower-case byte pairs, with a Content-Length so servers need not chunk the body."""
    headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in response.headers]
    if response.status not in (204, 304) and not any(n == b"content-length" for n, _ in headers):
        headers.append((b"content-length", str(len(response.body)).encode()))
    return headers


async def _respond(send: Send, response: HttpResponse) -> None:
    await send({"type": "http.response.start", "status": response.status, "headers": _encode_headers(response)})
    await send({"type": "http.response.body", "body": response.body})
