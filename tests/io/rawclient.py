"""A minimal raw HTTP/1.1 and WebSocket client for the transport tests.

It sends exactly the bytes a test asks for (malformed requests, unmasked frames, reserved
opcodes) and parses answers independently of the server's code (no httptools, no
``socketeer.io.websocket``), so a framing bug cannot hide behind a matching bug here.
Every read is bounded in time (``TIMEOUT`` unless told) and every loop in count.
Only ever talk to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

__all__ = [
    "RS",
    "TIMEOUT",
    "Conn",
    "EchoApp",
    "EngineClient",
    "Frame",
    "Neighbour",
    "Response",
    "WebSocket",
    "http",
    "mask_bytes",
    "open_ws",
    "split_payload",
    "ws_frame",
]

TIMEOUT = 5.0
RS = "\x1e"
_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024


def _hostport(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    assert host == "127.0.0.1", "tests only talk to 127.0.0.1"
    return host, parts.port or 80


@dataclass
class Response:
    status: int
    reason: str
    #: In arrival order, names as sent.
    headers: list[tuple[str, str]]
    body: bytes = b""
    #: The bytes of the status line and headers, exactly as received.
    head: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_names(self) -> list[str]:
        return [key.lower() for key, _ in self.headers]

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return orjson.loads(self.body)


class Conn:
    """One TCP connection: write anything, read HTTP responses and raw bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str, *, rcvbuf: int | None = None, limit: int = 2**16) -> Conn:
        host, port = _hostport(url)
        if rcvbuf is None:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=limit), TIMEOUT)
            return cls(reader, writer)
        # A small receive buffer, set before connecting so the window is small from the start.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (host, port)), TIMEOUT)
        reader, writer = await asyncio.open_connection(sock=sock, limit=limit)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        """Write one request (Content-Length added when there is a body or the method posts)."""
        data = body.encode() if isinstance(body, str) else body
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if data or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(data)}")
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)

    async def read_head(self, timeout: float = TIMEOUT) -> Response:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        if len(head) > _MAX_HEAD:
            raise AssertionError("response head too large")
        lines = head.decode("latin-1").split("\r\n")
        version, status, *reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name, value.strip()))
        return Response(int(status), reason[0] if reason else "", headers, b"", head)

    async def read_response(self, timeout: float = TIMEOUT, *, head_only: bool = False) -> Response:
        """One whole response: Content-Length, chunked, or (Connection: close) until EOF."""
        response = await self.read_head(timeout)
        if head_only or response.status in (101, 204, 304) or 100 <= response.status < 200:
            return response
        length = response.header("content-length")
        if length is not None:
            assert int(length) <= _MAX_BODY
            response.body = await asyncio.wait_for(self.reader.readexactly(int(length)), timeout)
        elif (response.header("transfer-encoding") or "").lower() == "chunked":
            response.body = await asyncio.wait_for(self._read_chunked(), timeout)
        else:
            response.body = await asyncio.wait_for(self.reader.read(_MAX_BODY), timeout)
        return response

    async def _read_chunked(self) -> bytes:
        parts = []
        for _ in range(100_000):
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers expected
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        raise AssertionError("too many chunks")

    async def read_eof(self, timeout: float = TIMEOUT) -> bytes:
        """Everything until the server closes the connection (bounded in time and size)."""
        data = b""
        async with asyncio.timeout(timeout):
            for _ in range(100_000):
                chunk = await self.reader.read(65536)
                if not chunk:
                    return data
                data += chunk
                assert len(data) <= _MAX_BODY
        raise AssertionError("connection never closed")

    async def closed_by_peer(self, timeout: float = TIMEOUT) -> bool:
        """True once the server has closed (EOF or reset), after discarding what it sent."""
        try:
            await self.read_eof(timeout)
        except (ConnectionResetError, BrokenPipeError):
            pass
        return True

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    def abort(self) -> None:
        """Hang up without a FIN handshake (RST)."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


async def http(
    url: str,
    method: str,
    target: str,
    *,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> Response:
    """One request on a fresh connection; the connection is closed after the answer."""
    conn = await Conn.open(url)
    try:
        await conn.request(method, target, body=body, headers=headers)
        return await conn.read_response(timeout, head_only=method == "HEAD")
    finally:
        conn.close()


# -- WebSocket ------------------------------------------------------------------------------

def mask_bytes(data: bytes, mask: bytes) -> bytes:
    """RFC 6455 masking, written out byte by byte (independent of the server's helpers)."""
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def ws_frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = b"\x11\x22\x33\x44",
    length: int | None = None,
) -> bytes:
    """A frame as a client would send it; ``mask=None`` sends it unmasked (a protocol fault).

    ``length`` overrides the announced payload length (to announce more than is sent).
    """
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes((b0, mbit | n))
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is None:
        return head + payload
    return head + mask + mask_bytes(payload, mask)


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes

    @property
    def text(self) -> str:
        return self.payload.decode()

    @property
    def close_code(self) -> int | None:
        assert self.opcode == 0x8
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None


@dataclass
class WebSocket:
    conn: Conn
    response: Response
    #: Frames read while looking for something else, handed out first.
    backlog: list[Frame] = field(default_factory=list)

    async def send_frame(self, opcode: int, payload: bytes, **kwargs: Any) -> None:
        await self.conn.send(ws_frame(opcode, payload, **kwargs))

    async def send_text(self, text: str) -> None:
        await self.send_frame(0x1, text.encode(), mask=os.urandom(4))

    async def send_binary(self, data: bytes) -> None:
        await self.send_frame(0x2, data, mask=os.urandom(4))

    async def send_close(self, code: int | None = 1000) -> None:
        await self.send_frame(0x8, b"" if code is None else struct.pack("!H", code))

    async def recv_frame(self, timeout: float = TIMEOUT) -> Frame:
        if self.backlog:
            return self.backlog.pop(0)
        reader = self.conn.reader

        async def read() -> Frame:
            b0, b1 = await reader.readexactly(2)
            assert not b1 & 0x80, "server frames must not be masked"
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await reader.readexactly(8))
            assert n <= _MAX_BODY
            payload = await reader.readexactly(n)
            return Frame(bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0x0F, payload)

        return await asyncio.wait_for(read(), timeout)

    async def recv(self, timeout: float = TIMEOUT) -> str | bytes:
        """The next text or binary message; a close frame raises ``AssertionError``."""
        frame = await self.recv_frame(timeout)
        if frame.opcode == 0x1:
            return frame.text
        if frame.opcode == 0x2:
            return frame.payload
        raise AssertionError(f"expected a data frame, got {frame}")

    async def recv_until_close(self, timeout: float = TIMEOUT, max_frames: int = 10_000) -> tuple[list[Frame], Frame]:
        """Frames up to the close frame, and the close frame."""
        frames = []
        async with asyncio.timeout(timeout):
            for _ in range(max_frames):
                frame = await self.recv_frame(timeout)
                if frame.opcode == 0x8:
                    return frames, frame
                frames.append(frame)
        raise AssertionError("no close frame")

    def close(self) -> None:
        self.conn.close()


async def open_ws(
    url: str,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    expect: int | None = 101,
) -> WebSocket:
    """Send an upgrade request and read the answer's head (and body when it is not a 101)."""
    conn = await Conn.open(url)
    key = base64.b64encode(os.urandom(16)).decode()
    all_headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key,
        "Sec-WebSocket-Version": "13",
        **(headers or {}),
    }
    await conn.request("GET", target, headers=all_headers)
    response = await conn.read_response()
    if expect is not None:
        assert response.status == expect, (response.status, response.body)
    return WebSocket(conn, response)


# -- Engine.IO over the raw clients ---------------------------------------------------------

def split_payload(body: bytes) -> list[str]:
    return body.decode().split(RS)


class EngineClient:
    """Polling requests for one Engine.IO session, each on its own connection."""

    def __init__(self, url: str, path: str = "/engine.io/") -> None:
        self.url = url
        self.path = path
        self.sid = ""
        self.handshake: dict[str, Any] = {}

    def target(self, transport: str = "polling", sid: bool = True, extra: str = "") -> str:
        query = f"EIO=4&transport={transport}"
        if sid and self.sid:
            query += f"&sid={self.sid}"
        return f"{self.path}?{query}{extra}"

    async def open(self, headers: dict[str, str] | None = None) -> Response:
        response = await http(self.url, "GET", self.target(sid=False), headers=headers)
        assert response.status == 200, (response.status, response.body)
        assert response.body[:1] == b"0", response.body
        self.handshake = orjson.loads(response.body[1:])
        self.sid = self.handshake["sid"]
        return response

    async def get(self, timeout: float = TIMEOUT) -> Response:
        return await http(self.url, "GET", self.target(), timeout=timeout)

    async def poll(self, timeout: float = TIMEOUT) -> list[str]:
        """One GET; its packets (asserting a 200)."""
        response = await self.get(timeout)
        assert response.status == 200, (response.status, response.body)
        return split_payload(response.body)

    async def start_poll(self) -> Conn:
        """Send a GET and return the connection without waiting for the answer."""
        conn = await Conn.open(self.url)
        await conn.request("GET", self.target())
        return conn

    async def post(self, body: bytes | str, headers: dict[str, str] | None = None) -> Response:
        return await http(self.url, "POST", self.target(), body=body,
                          headers={"Content-Type": "text/plain;charset=UTF-8", **(headers or {})})

    async def upgrade_ws(self) -> WebSocket:
        return await open_ws(self.url, self.target("websocket"))


# -- the server side: an echo app that records what happened --------------------------------

class EchoApp:
    """An ``engineio.Server`` that echoes every message and records sessions and closes.

    Tests await what they expect (``wait_connect``, ``wait_disconnect``) instead of sleeping.
    """

    def __init__(self, path: str = "/engine.io/", echo: bool = True, **options: Any) -> None:
        from socketeer import engineio

        self.eio = engineio.Server(path=path, **options)
        self.sessions: dict[str, Any] = {}
        self.order: list[str] = []
        self.messages: dict[str, list[str | bytes]] = {}
        self.disconnects: dict[str, list[str]] = {}
        self._changed = asyncio.Condition()

        @self.eio.on("connect")
        async def connect(session: Any) -> None:
            self.sessions[session.sid] = session
            self.order.append(session.sid)
            self.messages[session.sid] = []
            await self._notify()

        @self.eio.on("message")
        async def message(session: Any, data: str | bytes) -> None:
            self.messages.setdefault(session.sid, []).append(data)
            if echo or (isinstance(data, str) and data.startswith("still alive")):  # the Neighbour's check
                await session.send(data)
            await self._notify()

        @self.eio.on("disconnect")
        async def disconnect(session: Any, reason: str) -> None:
            self.disconnects.setdefault(session.sid, []).append(reason)
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _wait(self, check: Any, what: str, timeout: float) -> Any:
        async def wait() -> Any:
            async with self._changed:
                for _ in range(1_000_000):
                    found = check()
                    if found is not None:
                        return found
                    await self._changed.wait()
            raise AssertionError("unreachable")

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {what} within {timeout}s; disconnects={self.disconnects}") from None

    async def wait_connect(self, index: int = 0, timeout: float = TIMEOUT) -> Any:
        """The ``index``-th session to connect."""
        return await self._wait(
            lambda: self.sessions[self.order[index]] if len(self.order) > index else None, "connect", timeout
        )

    async def wait_pending_poll(self, sid: str, timeout: float = TIMEOUT) -> None:
        """Until the session's long-poll GET has reached the engine and waits there."""
        async with asyncio.timeout(timeout):
            while not self.eio.engine.sessions[sid].poll_pending:
                await asyncio.sleep(0.002)

    async def wait_disconnect(self, sid: str, timeout: float = TIMEOUT) -> str:
        """The (first) disconnect reason of ``sid``."""
        return await self._wait(lambda: (self.disconnects.get(sid) or [None])[0], f"disconnect of {sid}",  # type: ignore[no-any-return]
                                timeout)

    async def wait_messages(self, sid: str, count: int, timeout: float = TIMEOUT) -> list[str | bytes]:
        return await self._wait(  # type: ignore[no-any-return]
            lambda: self.messages[sid][:count] if len(self.messages.get(sid, [])) >= count else None,
            f"{count} messages from {sid}", timeout,
        )


class Neighbour:
    """A healthy WebSocket session opened beside the one under test; ``check()`` proves it still echoes."""

    def __init__(self, ws: WebSocket, sid: str) -> None:
        self.ws = ws
        self.sid = sid
        self.count = 0

    @classmethod
    async def open(cls, url: str, path: str = "/engine.io/") -> Neighbour:
        ws = await open_ws(url, f"{path}?EIO=4&transport=websocket")
        first = await ws.recv()
        assert isinstance(first, str) and first[:1] == "0", first
        return cls(ws, orjson.loads(first[1:])["sid"])

    async def check(self) -> None:
        self.count += 1
        text = f"4still alive {self.count}"
        await self.ws.send_text(text)
        for _ in range(10):  # answer heartbeats met on the way
            got = await self.ws.recv()
            if got == "2":
                await self.ws.send_text("3")
                continue
            assert got == text, got
            return
        raise AssertionError("no echo")

    def close(self) -> None:
        self.ws.close()
