"""A small HTTP/1.1 client over asyncio streams: what long-polling and the WebSocket handshake need.

Keep-alive connections in a small pool (a long-poll GET and a POST are in flight together, as a
browser's two XHRs are), responses framed by Content-Length, chunked encoding or the end of the
connection, parsed by ``httptools``. Bodies are bounded (``max_body``, after decompression),
so a hostile or broken server cannot make the client buffer without end. TLS goes through the
``ssl.SSLContext`` the user gives.

Every failure is raised as ``TransportError`` (or ``PayloadTooLarge`` for an oversized body),
whatever the socket or the parser raised underneath: the engine above only needs to know that
the transport is gone, and turns it into what users see.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
import zlib
from dataclasses import dataclass, field

import httptools

from ..exceptions import PayloadTooLarge, SocketeerError

__all__ = ["HttpClient", "HttpResponse", "WebSocketStream"]

_READ_SIZE = 65536
#: Idle keep-alive connections kept for reuse; polling never needs more than two at once.
_MAX_IDLE = 4


class TransportError(SocketeerError):
    """The HTTP or WebSocket transport failed (refused, reset, bad status, garbled bytes).

    Internal to the client: the engine reports it as ``socketeer.ConnectionError`` (a failed
    attempt) or as the "transport error" disconnect reason, never raises it to the user.
    """

    def __init__(self, message: str, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(slots=True)
class HttpResponse:
    status: int
    #: In arrival order, names as sent.
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass(slots=True)
class WebSocketStream:
    """A connection switched to the WebSocket protocol, and the bytes that came with the 101."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    response: HttpResponse
    leftover: bytes


class _Reader:
    """httptools callbacks for one response; the body is bounded as it arrives."""

    __slots__ = ("body", "done", "headers", "headers_done", "keep_alive", "max_body", "parser", "size", "too_large")

    def __init__(self, max_body: int | None) -> None:
        self.max_body = max_body
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.headers_done = False
        self.done = False
        self.too_large = False
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, data: bytes) -> None:
        self.size += len(data)
        if self.max_body is not None and self.size > self.max_body:
            self.too_large = True  # raising here would come out as a generic callback error
        elif not self.too_large:
            self.body.append(data)

    def on_message_complete(self) -> None:
        self.done = True
        self.keep_alive = self.parser.should_keep_alive()

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def response(self) -> HttpResponse:
        return HttpResponse(self.parser.get_status_code(), self.headers, b"".join(self.body))


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def abort(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()

    async def roundtrip(self, request: bytes, max_body: int | None) -> tuple[HttpResponse, bool, bool]:
        """Send one request, read its response: (response, keep-alive, any byte received)."""
        self.writer.write(request)
        await self.writer.drain()
        reader = _Reader(max_body)
        received = False
        while not reader.done:
            data = await self.reader.read(_READ_SIZE)
            if not data:
                close_delimited = (reader.headers_done and reader.header("content-length") is None
                                   and "chunked" not in (reader.header("transfer-encoding") or "").lower())
                if close_delimited:
                    break
                raise _Closed(received)
            received = True
            try:
                reader.parser.feed_data(data)
            except httptools.HttpParserUpgrade:
                raise TransportError("unexpected protocol switch in an HTTP response") from None
            except httptools.HttpParserError as exc:
                raise TransportError(f"malformed HTTP response: {exc}") from None
            if reader.too_large:
                raise PayloadTooLarge(f"response body over the limit of {max_body} bytes")
        return reader.response(), reader.done and reader.keep_alive, received


class _Closed(Exception):
    """The server closed the connection before a complete response."""

    def __init__(self, received: bool) -> None:
        super().__init__("connection closed before a complete response")
        self.received = received


def _decode_body(response: HttpResponse, max_body: int | None) -> bytes:
    encoding = (response.header("content-encoding") or "identity").strip().lower()
    if encoding in ("identity", ""):
        return response.body
    if encoding == "gzip":
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decompressor = zlib.decompressobj()
    else:
        raise TransportError(f"unsupported Content-Encoding {encoding!r}")
    limit = 0 if max_body is None else max_body + 1
    try:
        body = decompressor.decompress(response.body, limit)
    except zlib.error as exc:
        raise TransportError(f"invalid {encoding} body: {exc}") from None
    if max_body is not None and (len(body) > max_body or decompressor.unconsumed_tail):
        raise PayloadTooLarge(f"decompressed body over the limit of {max_body} bytes")
    return body


class HttpClient:
    """Requests to one origin over a small pool of keep-alive connections."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl: _ssl.SSLContext | None = None,
        headers: list[tuple[str, str]] | None = None,
        max_body: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl
        self.max_body = max_body
        default_port = 443 if ssl is not None else 80
        host_header = f"[{host}]" if ":" in host else host
        self.host_header = host_header if port == default_port else f"{host_header}:{port}"
        self.headers = list(headers or ())
        #: Cookies the server set (sticky sessions behind a load balancer rely on them).
        self.cookies: dict[str, str] = {}
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._closed = False

    async def _connect(self) -> _Connection:
        if self._closed:
            raise TransportError("HTTP client closed")
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl is not None else None,
                limit=_READ_SIZE,
            )
        except (OSError, _ssl.SSLError) as exc:
            raise TransportError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return _Connection(reader, writer)

    def _head(self, method: str, target: str, headers: list[tuple[str, str]], extra: list[tuple[str, str]]) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host_header}"]
        lines.extend(f"{name}: {value}" for name, value in (*self.headers, *headers, *extra))
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        for line in lines:
            if "\r" in line or "\n" in line:
                raise ValueError(f"line break in an HTTP header: {line!r}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _remember_cookies(self, response: HttpResponse) -> None:
        for name, value in response.headers:
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, sep, val = pair.partition("=")
                if sep and key.strip():
                    self.cookies[key.strip()] = val.strip()

    async def request(
        self, method: str, target: str, *, body: bytes = b"", headers: list[tuple[str, str]] | None = None
    ) -> HttpResponse:
        """One request; the body of the answer is decoded (gzip, deflate) and bounded."""
        extra = [("Accept-Encoding", "gzip, deflate")]
        if body or method in ("POST", "PUT"):
            extra.append(("Content-Length", str(len(body))))
        data = self._head(method, target, headers or [], extra) + body
        for attempt in range(2):
            reused = bool(self._idle)
            conn = self._idle.pop() if reused else await self._connect()
            self._busy.add(conn)
            try:
                response, keep_alive, _ = await conn.roundtrip(data, self._wire_limit())
            except _Closed as exc:
                conn.abort()
                if reused and not exc.received and attempt == 0:
                    continue  # a keep-alive connection the server had already closed: retry once
                raise TransportError(f"{method} {target}: {exc}") from None
            except (OSError, asyncio.IncompleteReadError) as exc:
                conn.abort()
                raise TransportError(f"{method} {target}: {exc}") from exc
            except BaseException:
                conn.abort()
                raise
            finally:
                self._busy.discard(conn)
            if keep_alive and not self._closed and len(self._idle) < _MAX_IDLE:
                self._idle.append(conn)
            else:
                conn.abort()
            self._remember_cookies(response)
            response.body = _decode_body(response, self.max_body)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _wire_limit(self) -> int | None:
        # Compressed bodies are bounded again once inflated; on the wire they are never larger
        # than the inflated limit by more than deflate's tiny overhead.
        return None if self.max_body is None else self.max_body + 1024

    async def open_websocket(self, target: str, headers: list[tuple[str, str]]) -> WebSocketStream:
        """Send an upgrade request on a fresh connection; returns it once the server says 101.

        A refusal raises ``TransportError`` carrying the status and body of the answer.
        """
        conn = await self._connect()
        self._busy.add(conn)
        try:
            conn.writer.write(self._head("GET", target, headers, []))
            reader = _Reader(self.max_body)
            leftover = b""
            while True:
                data = await conn.reader.read(_READ_SIZE)
                if not data:
                    raise TransportError("connection closed during the WebSocket handshake")
                try:
                    reader.parser.feed_data(data)
                except httptools.HttpParserUpgrade as upgrade:
                    offset = upgrade.args[0] if upgrade.args and isinstance(upgrade.args[0], int) else len(data)
                    leftover = data[offset:]
                    break
                except httptools.HttpParserError as exc:
                    raise TransportError(f"malformed handshake response: {exc}") from None
                if reader.too_large:
                    raise PayloadTooLarge("handshake response body too large")
                if reader.done:
                    break
            response = reader.response()
            if response.status != 101:
                raise TransportError(f"WebSocket handshake refused with HTTP {response.status}",
                                     response.status, response.body)
            self._remember_cookies(response)
            return WebSocketStream(conn.reader, conn.writer, response, leftover)
        except TransportError:
            conn.abort()
            raise
        except (OSError, asyncio.IncompleteReadError) as exc:
            conn.abort()
            raise TransportError(f"WebSocket handshake failed: {exc}") from exc
        except BaseException:
            conn.abort()
            raise
        finally:
            self._busy.discard(conn)

    def close(self) -> None:
        """Drop every connection, idle or busy (a pending long-poll included)."""
        self._closed = True
        for conn in (*self._idle, *self._busy):
            conn.abort()
        self._idle.clear()
        self._busy.clear()


def describe(exc: BaseException) -> str:
    """A one-line description of a transport failure, for reasons and logs."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

