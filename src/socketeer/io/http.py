"""The built-in HTTP/1.1 and WebSocket server: asyncio protocols, httptools, uvloop.

One ``HttpProtocol`` per TCP connection. It parses requests with httptools (keep-alive,
pipelining answered in order), hands them to the engine, and, after a WebSocket upgrade,
switches the same connection to frame parsing (``websocket.FrameReader``). Each limit is
named: request head size and time (``Limits.max_header_size``, ``Limits.header_timeout``),
body size (``max_http_buffer_size``: 413 before the body is read), message size (1009).
A client that half-closes after its requests still gets their answers, then the close.
Connections are closed in stages (the answer, a FIN, then what still arrives is dropped),
so a client still sending never has the answer destroyed by a reset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httptools

from ..engineio.session import Outgoing, SharedMessage
from ..limits import DEFAULT_LIMITS, Limits
from .engine import Engine, HttpRequest, HttpResponse, WebSocketReceiver, parse_query
from .websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Deflate,
    FrameReader,
    WebSocketError,
    accept_key,
    build_frame,
    close_payload,
    negotiate_deflate,
    valid_key,
)

__all__ = ["HttpServer"]

logger = logging.getLogger("socketeer.http")

_REASONS = {
    101: "Switching Protocols", 200: "OK", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    413: "Payload Too Large", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    503: "Service Unavailable",
}

ExtraHandler = Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse] | None]

#: What follows an answer: the connection is closed, kept, or kept and the answer says so
#: (an HTTP/1.0 client that asked for keep-alive assumes a close unless the answer carries
#: ``Connection: keep-alive``: ApacheBench -k would wait for an end that never comes).
_CLOSE, _KEEP, _KEEP_SAID = 0, 1, 2

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


#: The two header bytes of an unmasked, whole text frame of each length under 126.
_SMALL_TEXT_HEADERS = [bytes((0x80 | OP_TEXT, n)) for n in range(126)]


def _frame_text(text: str, deflate: Deflate | None) -> bytes:
    payload = text.encode()
    if deflate is not None and len(payload) >= deflate.threshold:
        return build_frame(OP_TEXT, deflate.compress(payload), rsv1=True)
    return build_frame(OP_TEXT, payload)


def _frame_binary(data: bytes, deflate: Deflate | None) -> bytes:
    if deflate is not None and len(data) >= deflate.threshold:
        return build_frame(OP_BINARY, deflate.compress(data), rsv1=True)
    return build_frame(OP_BINARY, data)


def _frame_shared(item: SharedMessage, deflate: Deflate | None) -> bytes:
    """The frame of a broadcast packet, built for the first recipient and reused after."""
    data = item.data
    size = len(data)
    if deflate is not None and size >= deflate.threshold:
        if deflate.server_max_window_bits != 15:  # this peer's window differs: its own copy
            return _frame_text(data, deflate) if isinstance(data, str) else _frame_binary(data, deflate)
        frame = item.framed_deflate
        if frame is None:
            frame = _frame_text(data, deflate) if isinstance(data, str) else _frame_binary(data, deflate)
            item.framed_deflate = frame
        return frame  # type: ignore[no-any-return]
    frame = item.framed
    if frame is None:
        frame = build_frame(OP_TEXT, data.encode()) if isinstance(data, str) else build_frame(OP_BINARY, data)
        item.framed = frame
    return frame  # type: ignore[no-any-return]


class _Peer:
    """The engine's handle on one WebSocket of the built-in server."""

    __slots__ = ("closing", "deflate", "protocol", "transport")

    def __init__(self, protocol: HttpProtocol, deflate: Deflate | None) -> None:
        self.protocol = protocol
        self.transport = protocol.transport
        self.deflate = deflate
        self.closing = False

    @property
    def writable(self) -> bool:
        return not self.closing and not self.protocol.write_paused

    def buffered_amount(self) -> int:
        return self.transport.get_write_buffer_size()  # type: ignore[no-any-return]

    def write_items(self, items: list[Outgoing]) -> int:
        if self.closing:
            return 0
        deflate = self.deflate
        transport = self.transport
        if deflate is None and len(items) == 1 and type(items[0]) is SharedMessage:
            # One broadcast for this recipient (S3R's every delivery): the frame built for the
            # first recipient, written as it is.
            frame = items[0].framed
            transport.write(frame if frame is not None else _frame_shared(items[0], None))
            return transport.get_write_buffer_size()  # type: ignore[no-any-return]
        frames: list[bytes] = []
        if deflate is None:
            # The hot path (every echo and ack): a small text message's header comes from a
            # table and is joined with the payload in the one write, without a frame object.
            for item in items:
                if type(item) is str:
                    payload = item.encode()
                    if len(payload) < 126:
                        frames.append(_SMALL_TEXT_HEADERS[len(payload)])
                        frames.append(payload)
                    else:
                        frames.append(build_frame(OP_TEXT, payload))
                elif type(item) is SharedMessage:
                    frames.append(_frame_shared(item, None))
                else:
                    frames.append(build_frame(OP_BINARY, item))  # type: ignore[arg-type]
        else:
            for item in items:
                if type(item) is str:
                    frames.append(_frame_text(item, deflate))
                elif type(item) is SharedMessage:
                    frames.append(_frame_shared(item, deflate))
                else:
                    frames.append(_frame_binary(item, deflate))  # type: ignore[arg-type]
        transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
        return transport.get_write_buffer_size()  # type: ignore[no-any-return]

    def write_text(self, text: str) -> None:
        if not self.closing:
            self.transport.write(_frame_text(text, self.deflate))

    def close(self, code: int = 1000, reason: str = "", *, payload: bytes | None = None) -> None:
        """Send a close frame and hang up. A normal close is the reference's empty frame (``88 00``)."""
        if self.closing:
            return
        self.closing = True
        if payload is None:
            payload = b"" if code == 1000 and not reason else close_payload(code, reason)
        self.transport.write(build_frame(OP_CLOSE, payload))
        self.protocol.close_soon()


class _Lingering(asyncio.Protocol):
    """What reads a connection once it is closing: everything that still arrives is dropped,
    the client's FIN ends it, and the loss is reported to the connection's own protocol."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: HttpProtocol) -> None:
        self.protocol = protocol

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> None:
        return None  # the transport closes itself

    def pause_writing(self) -> None:
        self.protocol.pause_writing()

    def resume_writing(self) -> None:
        self.protocol.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.connection_lost(exc)


class HttpProtocol(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_busy",
        "_busy_keep_alive",
        "_deadline",
        "_deferred",
        "_ending",
        "_eof",
        "_head_bytes",
        "_header_size",
        "_headers",
        "_in_head",
        "_queue",
        "_served",
        "_timer",
        "_too_large",
        "_upgrade_http11",
        "_upgrade_request",
        "_url",
        "_ws_buffer",
        "parser",
        "receiver",
        "server",
        "transport",
        "write_paused",
        "ws_peer",
        "ws_reader",
    )

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.transport: Any = None
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_size = 0
        self._body: list[bytes] = []
        self._too_large = 0
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None  # when the current head must be complete
        self._busy: HttpRequest | None = None  # the request being answered (for pipelining order)
        #: Pipelined requests waiting for the one being answered, each with its keep-alive.
        self._queue: list[tuple[HttpRequest, int]] = []
        self._busy_keep_alive = _KEEP
        #: What waits for the answers still owed to earlier requests: the ``100 Continue`` of
        #: the head being read, or a pipelined upgrade (answers go out in request order).
        self._deferred: Callable[[], None] | None = None
        self._upgrade_request: HttpRequest | None = None
        self._upgrade_http11 = False
        #: True while a request head is (or may start) arriving; its raw bytes so far.
        self._in_head = True
        self._head_bytes = 0
        #: Responses written on this connection (an idle keep-alive connection is closed quietly).
        self._served = 0
        #: Bytes received while an upgrade waits for ``allow_request``.
        self._ws_buffer: bytes | None = None
        self.ws_reader: FrameReader | None = None
        self.ws_peer: _Peer | None = None
        self.receiver: WebSocketReceiver | None = None
        self.write_paused = False
        #: Set once the connection is closing: nothing more is read, answered or written.
        self._ending = False
        #: The client has half-closed: the connection closes after the answers it is owed.
        self._eof = False

    # -- connection -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.server.connections.add(self)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._ending = True
        self.server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        if self.receiver is not None:
            receiver, self.receiver = self.receiver, None
            # The reference reports any loss of a WebSocket as "transport close", reset or not.
            if exc is not None:
                logger.debug("WebSocket from %s lost: %s", self._peer_name(), exc)
            receiver.on_close()
        elif self._busy is not None:
            self.server.engine.poll_abandoned(self._busy)

    def eof_received(self) -> bool | None:
        """The client has half-closed (``shutdown(SHUT_WR)``, as ``nc -N`` does after its
        request): nothing more will arrive, but the answers to what did are still owed. While
        one is being prepared (an async ``allow_request``), the connection stays open for
        writing and closes after the last answer. Otherwise it closes now: idle, half a head, a
        WebSocket, TLS (which cannot half-close), and a pending long-poll, which may wait a
        whole ping interval: a FIN there is how a vanished client shows (a closed tab), and
        the reference, nginx and Go all take it for an abort (the session ends at once,
        "transport error")."""
        busy = self._busy
        if busy is None or self.ws_reader is not None or self.server.ssl is not None or (
            busy.method == "GET" and "sid" in busy.query
        ):
            return None
        if self._queue:
            request, _ = self._queue[-1]
            self._queue[-1] = (request, _CLOSE)
        else:
            self._busy_keep_alive = _CLOSE
        self._eof = True
        return True

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False

    def close_soon(self) -> None:
        """Close in stages (RFC 9112 section 9.6; RFC 6455 section 7.1.1 wants the server's FIN
        first too): what was written goes out followed by a FIN, and what the client still sends
        (the rest of a body over the limit, frames behind a fault, requests pipelined behind a
        refusal) is read and dropped until its own FIN. Closed at once, the socket would answer
        those unread bytes with a reset, which can destroy the answer before the client reads
        it. Bounded by ``close_timeout``: then the connection is closed, or dropped if its
        unsent data is not being read. Closed at once after the client's own FIN (nothing more
        can come), and under TLS, which cannot half-close."""
        transport = self.transport
        if self._ending or transport is None or transport.is_closing():
            return
        self._ending = True
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.server.loop.call_later(self.server.engine.options.close_timeout, self._linger_over)
        if transport.can_write_eof() and not self._eof:
            transport.set_protocol(_Lingering(self))
            try:
                transport.write_eof()
            except OSError:  # the peer is already gone (asyncio's write_eof lets ENOTCONN out)
                transport.abort()
                return
            transport.resume_reading()  # paused for a pipelined queue: drained all the same
        else:
            transport.close()

    def _linger_over(self) -> None:
        self._timer = None
        if self not in self.server.connections:
            return
        if self.transport.get_write_buffer_size():
            logger.info("dropping connection from %s: closed, but its unsent data is not being read",
                        self._peer_name())
            self.transport.abort()
        else:
            self.transport.close()

    def _arm_header_timer(self) -> None:
        """The head must be complete ``header_timeout`` from now. Armed for every request, so
        lazily: a pending timer is left alone and, when it fires early, re-arms itself for the
        rest (a timer created and cancelled per request was 5% of the long-polling profile)."""
        loop = self.server.loop
        deadline = loop.time() + self.server.limits.header_timeout
        self._deadline = deadline
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._header_timeout)

    def _header_timeout(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return  # disarmed since
        loop = self.server.loop
        if loop.time() < deadline - 0.001:  # re-armed since: wait for the rest
            self._timer = loop.call_at(deadline, self._header_timeout)
            return
        self._deadline = None
        if self.ws_reader is not None or self._busy is not None or self._ws_buffer is not None:
            return
        if self._served and self._in_head and not self._head_bytes:
            self.close_soon()  # an idle keep-alive connection: nothing to answer
            return
        logger.info("closing connection from %s: request head not received in time", self._peer_name())
        self._fail(408)

    def _peer_name(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        return f"{peer[0]}:{peer[1]}" if peer else "?"

    def _fail(self, status: int) -> None:
        if self._ending:
            return
        self.transport.write(
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".encode()
        )
        self.close_soon()

    # -- bytes in ---------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        limit = self.server.limits.max_header_size
        for _ in range(len(data) // max(limit, 1) + 2):  # each turn feeds a whole head's worth at least
            if self.ws_reader is not None:
                self._ws_data(data)
                return
            if self._ws_buffer is not None:  # an upgrade is waiting for allow_request
                self._ws_buffer += data
                return
            if not self._in_head or self._head_bytes + len(data) <= limit:
                if self._in_head:
                    self._head_bytes += len(data)
                self._feed(data)
                return
            # httptools keeps an unfinished header line without bound: a head may take only
            # what is left of its limit, and must be complete within it.
            room = limit - self._head_bytes
            part, data = data[:room], data[room:]
            self._head_bytes = limit
            self._feed(part)
            if self._ending:
                return
            if self._in_head and self._head_bytes >= limit:
                logger.info("refused request from %s: head over its limit", self._peer_name())
                self._fail(431)
                return

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            request = self._upgrade_request
            self._upgrade_request = None
            if request is None:
                self._fail(400)
            elif self._busy is not None:
                # Pipelined behind a request still being answered (a long-poll): its 101 must
                # not overtake that answer, nor its frames be read before. Held until then.
                self._ws_buffer = data[exc.args[0]:]
                self.transport.pause_reading()
                self._deferred = lambda: self._upgrade_after_answers(request)
            else:
                self._upgrade(request, data[exc.args[0]:])
        except httptools.HttpParserError as exc:
            if self._too_large:
                logger.info("refused request from %s: %s over its limit", self._peer_name(),
                            "head" if self._too_large == 431 else "body")
                self._fail(self._too_large)
            else:
                logger.info("refused request from %s: malformed HTTP (%s)", self._peer_name(), exc)
                self._fail(400)

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._header_size = 0
        self._body = []
        self._arm_header_timer()  # the head has header_timeout from its first byte

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_size += len(url)
        if self._header_size > self.server.limits.max_header_size:
            self._too_large = 431
            raise ValueError("request head too large")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_size += len(name) + len(value) + 4
        if self._header_size > self.server.limits.max_header_size:
            self._too_large = 431
            raise ValueError("request head too large")
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._deadline = None  # the head is in; a pending timer will find nothing to do
        limit = self.server.engine.options.max_http_buffer_size
        expect = False
        for name, value in self._headers:
            lower = name.lower()
            if lower == b"content-length":
                if limit is not None and value.isdigit() and int(value) > limit:
                    self._too_large = 413
                    raise ValueError("body too large")
            elif lower == b"expect":
                expect = value.strip().lower() == b"100-continue"
        if expect:
            self._expect_continue()

    def _expect_continue(self) -> None:
        """``Expect: 100-continue``: the client waits for a go-ahead before its body (RFC 9110
        section 10.1.1: an HTTP/1.1 server answers 100, or the final status at once, as the
        413 above does; an HTTP/1.0 request's expectation is ignored). A 100 is an answer to
        this request, so it waits for the answers to the ones before it."""
        if self._ending or self.parser.should_upgrade() or self.parser.get_http_version() != "1.1":
            return
        if not any(name.lower() == b"transfer-encoding" or (name.lower() == b"content-length" and value != b"0")
                   for name, value in self._headers):
            return  # no body follows: nothing to wait for
        if self._busy is None:
            self.transport.write(_CONTINUE)
        else:
            self._deferred = self._write_continue

    def _write_continue(self) -> None:
        self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        limit = self.server.engine.options.max_http_buffer_size
        if limit is not None and sum(map(len, self._body)) > limit:
            self._too_large = 413
            raise ValueError("body too large")

    def on_message_complete(self) -> None:
        self._in_head = True
        self._deferred = None  # the body came without its 100 (clients stop waiting after a while)
        if self._ending:
            return  # behind a request that closed the connection: never processed (RFC 9112 9.6)
        parsed = httptools.parse_url(self._url)
        headers: dict[str, str] = {}
        for name, value in self._headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = headers[key] + ", " + text if key in headers else text
        raw_query = parsed.query.decode("latin-1") if parsed.query else ""
        request = HttpRequest(
            method=self.parser.get_method().decode(),
            path=parsed.path.decode("latin-1"),
            query=parse_query(raw_query),
            headers=headers,
            body=b"".join(self._body),
            client=self.server.client_of(self.transport),
            scheme=self.server.scheme,
            raw_query=raw_query,
        )
        if self.parser.should_upgrade():
            self._upgrade_request = request
            self._upgrade_http11 = self.parser.get_http_version() == "1.1"
            return
        # Decided now, while the parser still holds this request: a long-poll is answered
        # later, when the parser may already be reading the next one (or has been reset).
        keep_alive = _KEEP if self.parser.should_keep_alive() else _CLOSE
        if keep_alive and "connection" in headers and self.parser.get_http_version() == "1.0":
            keep_alive = _KEEP_SAID
        if self._busy is not None:
            self._queue.append((request, keep_alive))
            self.transport.pause_reading()
            return
        self._handle(request, keep_alive)

    # -- answering --------------------------------------------------------------------------
    def _handle(self, request: HttpRequest, keep_alive: int) -> None:
        self._busy = request
        self._busy_keep_alive = keep_alive
        result: Any = None
        try:
            if request.path.startswith(self.server.engine.path) or self.server.extra is None:
                result = self.server.engine.handle_http(request)
            else:
                result = self.server.extra(request)
                if result is None:
                    result = self.server.engine.handle_http(request)
        except Exception:
            logger.exception("request handler failed for %s %s", request.method, request.url)
            result = HttpResponse(500)
        if isinstance(result, HttpResponse):
            self._respond(request, result)
            return
        future = asyncio.ensure_future(result)
        future.add_done_callback(lambda f: self._respond_future(request, f))

    def _respond_future(self, request: HttpRequest, future: asyncio.Future[HttpResponse]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            logger.error("request handler failed for %s %s", request.method, request.url, exc_info=exc)
            self._respond(request, HttpResponse(500))
        else:
            self._respond(request, future.result())

    def _respond(self, request: HttpRequest, response: HttpResponse) -> None:
        if self._busy is not request or self._ending or self.transport.is_closing():
            return
        keep_alive = _CLOSE if self.server.closing else self._busy_keep_alive
        head = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, '')}"]
        has_length = False
        for name, value in response.headers:
            head.append(f"{name}: {value}")
            has_length = has_length or name.lower() == "content-length"
        if not has_length and response.status not in (204, 304):
            head.append(f"Content-Length: {len(response.body)}")
        if not keep_alive:
            head.append("Connection: close")
        elif keep_alive == _KEEP_SAID:
            head.append("Connection: keep-alive")
        head.append("\r\n")
        body = b"" if request.method == "HEAD" else response.body  # HEAD: the length, never the bytes
        self.transport.write("\r\n".join(head).encode("latin-1") + body)
        self._busy = None
        self._served += 1
        if not keep_alive:
            self.close_soon()
        elif self._queue:
            self._handle(*self._queue.pop(0))
            if not self._queue and self._ws_buffer is None:
                self.transport.resume_reading()
        elif self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            deferred()
        elif self._in_head and self.ws_reader is None:
            self._arm_header_timer()  # idle keep-alive: closed after header_timeout

    # -- WebSocket --------------------------------------------------------------------------
    def _refuse(self, request: HttpRequest, response: HttpResponse) -> None:
        """Answer an upgrade request without upgrading, and close."""
        self._busy = request
        self._busy_keep_alive = _CLOSE
        self._respond(request, response)
        self.close_soon()

    def _upgrade(self, request: HttpRequest, rest: bytes) -> None:
        engine = self.server.engine
        headers = request.headers
        version = headers.get("sec-websocket-version")
        if (
            request.method != "GET"
            or not self._upgrade_http11  # RFC 6455 section 4.1: HTTP/1.1 or later
            or "websocket" not in headers.get("upgrade", "").lower()
            or not valid_key(headers.get("sec-websocket-key"))
            or version != "13"
            # A body: httptools hands its bytes over as the first frames; refused (RFC 9110
            # section 9.3.1: content in a GET is a smuggling risk) rather than misread.
            or headers.get("content-length", "0") != "0"
            or "transfer-encoding" in headers
        ):
            logger.info("refused WebSocket from %s: not a valid RFC 6455 upgrade", self._peer_name())
            # RFC 6455 section 4.4: a version we do not speak is answered with the one we do.
            self._refuse(request, HttpResponse(400, [] if version == "13" else [("Sec-WebSocket-Version", "13")]))
            return
        verdict = engine.authorize_websocket(request)
        if verdict is None or isinstance(verdict, HttpResponse):
            self._accept_upgrade(request, verdict, rest)
            return
        # allow_request answers later: hold what arrives meanwhile.
        self._ws_buffer = rest
        self.transport.pause_reading()
        future = asyncio.ensure_future(verdict)
        future.add_done_callback(lambda f: self._upgrade_decided(request, f))

    def _upgrade_after_answers(self, request: HttpRequest) -> None:
        rest, self._ws_buffer = self._ws_buffer or b"", None
        self._upgrade(request, rest)
        if self._ws_buffer is None and not self._ending:  # else allow_request pending
            self.transport.resume_reading()

    def _upgrade_decided(self, request: HttpRequest, future: asyncio.Future[HttpResponse | None]) -> None:
        rest, self._ws_buffer = self._ws_buffer or b"", None
        if future.cancelled() or self._ending or self.transport.is_closing():
            return
        exc = future.exception()
        if exc is not None:
            logger.error("allow_request failed for %s", request.url, exc_info=exc)
            self._accept_upgrade(request, HttpResponse(500, [("Content-type", "text/html")], b""), b"")
            return
        self._accept_upgrade(request, future.result(), rest)
        if not self._ending:
            self.transport.resume_reading()

    def _accept_upgrade(self, request: HttpRequest, refusal: HttpResponse | None, rest: bytes) -> None:
        engine = self.server.engine
        headers = request.headers
        key = headers.get("sec-websocket-key", "")
        if refusal is not None:
            self._refuse(request, refusal)
            return
        deflate = None
        if engine.options.per_message_deflate:
            deflate = negotiate_deflate(headers.get("sec-websocket-extensions"), engine.options.compression_threshold)
        lines = [
            "HTTP/1.1 101 Switching Protocols",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Accept: {accept_key(key)}",
        ]
        if deflate is not None:
            lines.append(f"Sec-WebSocket-Extensions: {deflate.response_header()}")
        lines.extend(f"{name}: {value}" for name, value in engine.websocket_headers(request))
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._deadline = None
        if self._timer is not None:  # a WebSocket: no more HTTP heads to wait for
            self._timer.cancel()
            self._timer = None
        self.ws_reader = FrameReader(max_size=engine.options.max_http_buffer_size, deflate=deflate)
        self.ws_peer = _Peer(self, deflate)
        self.receiver = engine.open_websocket(request, self.ws_peer)
        if rest:
            self._ws_data(rest)

    def _ws_data(self, data: bytes) -> None:
        reader = self.ws_reader
        peer = self.ws_peer
        assert reader is not None and peer is not None
        try:
            frames = reader.feed(data)
        except WebSocketError as exc:
            self._ws_frames(exc.frames, peer)  # what came whole before the fault still counts
            if self.receiver is None:
                return
            logger.info("closing WebSocket from %s: %s", self._peer_name(), exc)
            receiver, self.receiver = self.receiver, None
            peer.close(exc.code, exc.reason)
            receiver.on_close(f"websocket error {exc.code}: {exc.reason}")
            return
        self._ws_frames(frames, peer)

    def _ws_frames(self, frames: list[tuple[int, str | bytes]], peer: _Peer) -> None:
        receiver = self.receiver
        for opcode, payload in frames:
            if receiver is None:
                return
            if opcode == OP_TEXT:
                receiver.on_text(payload)  # type: ignore[arg-type]
            elif opcode == OP_BINARY:
                receiver.on_binary(payload)  # type: ignore[arg-type]
            elif opcode == OP_PING:
                if not peer.closing:
                    self.transport.write(build_frame(OP_PONG, payload))  # type: ignore[arg-type]
            elif opcode == OP_CLOSE:
                self.receiver = None
                peer.close(payload=payload)  # type: ignore[arg-type]  # echoed, as ws does
                receiver.on_close()
                return
            receiver = self.receiver


class HttpServer:
    """The listening side: accepts connections, and shuts down gracefully."""

    def __init__(
        self,
        engine: Engine,
        *,
        extra: ExtraHandler | None = None,
        limits: Limits = DEFAULT_LIMITS,
        ssl: Any = None,
    ) -> None:
        self.engine = engine
        self.extra = extra
        self.limits = limits
        self.ssl = ssl
        self.scheme = "https" if ssl else "http"
        self.connections: set[HttpProtocol] = set()
        self.closing = False
        self._servers: list[asyncio.AbstractServer] = []
        self.loop = asyncio.get_event_loop()

    @staticmethod
    def client_of(transport: Any) -> tuple[str, int] | None:
        peer = transport.get_extra_info("peername") if transport else None
        return (peer[0], peer[1]) if peer else None

    async def listen(self, host: str = "127.0.0.1", port: int = 8000, *, sock: Any = None) -> list[tuple[str, int]]:
        self.loop = asyncio.get_running_loop()
        if sock is not None:
            server = await self.loop.create_server(lambda: HttpProtocol(self), sock=sock, ssl=self.ssl, backlog=2048)
        else:
            server = await self.loop.create_server(
                lambda: HttpProtocol(self), host, port, ssl=self.ssl, backlog=2048, reuse_address=True
            )
        self._servers.append(server)
        return [s.getsockname()[:2] for s in server.sockets]

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every session with "server shutting down", flush, disconnect."""
        self.closing = True
        for server in self._servers:
            server.close()
        self.engine.close_all("server shutting down")
        await asyncio.sleep(0)
        deadline = self.loop.time() + timeout
        while any(c.transport.get_write_buffer_size() for c in self.connections if c.transport) and (
            self.loop.time() < deadline
        ):
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            if conn.transport is not None:
                if conn.transport.get_write_buffer_size():
                    conn.transport.abort()  # the drain time is over: this peer is not reading
                else:
                    conn.transport.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
