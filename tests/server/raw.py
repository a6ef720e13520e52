"""A tiny raw WebSocket client for the Socket.IO server tests, where the bytes are the point.

It speaks RFC 6455 by itself (no socketeer code, no websocket library), so what a test
asserts is exactly what crossed the wire. Messages are Engine.IO level: ``send("42[...]")``
sends that text frame, ``send(b"...")`` a binary frame. Every read is bounded in time and
every loop in count. Only ever talks to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from typing import Any
from urllib.parse import urlsplit

import orjson

__all__ = ["TIMEOUT", "Closed", "RawSocket"]

TIMEOUT = 5.0
_MAX_FRAME = 16 * 1024 * 1024


class Closed(Exception):
    """The server closed the WebSocket (close frame or EOF)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed by the server (code {code})")
        self.code = code


def _frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawSocket:
    """One Engine.IO session over a raw WebSocket (``transport=websocket`` from the start)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, answer_pings: bool) -> None:
        self.reader = reader
        self.writer = writer
        self.answer_pings = answer_pings
        self.handshake: dict[str, Any] = {}
        #: Engine.IO pings seen (answered or not).
        self.pings = 0

    @classmethod
    async def open(cls, url: str, *, path: str = "/socket.io/", query: str = "",
                   answer_pings: bool = True) -> RawSocket:
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1", "tests only talk to 127.0.0.1"
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", parts.port), TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        target = f"{path}?EIO=4&transport=websocket{query}"
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{parts.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101 "), head
        sock = cls(reader, writer, answer_pings)
        first = await sock.recv()
        assert isinstance(first, str) and first.startswith("0{"), first
        sock.handshake = orjson.loads(first[1:])
        return sock

    # -- frames ------------------------------------------------------------------------------
    async def send(self, data: str | bytes) -> None:
        """One Engine.IO message: text as a text frame, bytes as a binary frame."""
        if isinstance(data, str):
            self.writer.write(_frame(0x1, data.encode()))
        else:
            self.writer.write(_frame(0x2, data))
        await self.writer.drain()

    async def _read_frame(self, timeout: float) -> tuple[int, bytes]:
        async def read() -> tuple[int, bytes]:
            b0, b1 = await self.reader.readexactly(2)
            assert not b1 & 0x80, "server frames are never masked"
            assert b0 & 0x80, "the server does not fragment these messages"
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            assert n <= _MAX_FRAME
            return b0 & 0x0F, await self.reader.readexactly(n)

        try:
            return await asyncio.wait_for(read(), timeout)
        except asyncio.IncompleteReadError:
            raise Closed(None) from None

    async def recv(self, timeout: float = TIMEOUT) -> str | bytes:
        """The next message (Engine.IO pings are answered and skipped); ``Closed`` at the end."""
        for _ in range(1000):
            opcode, payload = await self._read_frame(timeout)
            if opcode == 0x8:
                raise Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
            if opcode == 0x2:
                return payload
            assert opcode == 0x1, f"unexpected opcode {opcode}"
            text = payload.decode()
            if text == "2":
                self.pings += 1
                if self.answer_pings:
                    await self.send("3")
                continue
            return text
        raise AssertionError("too many pings")

    async def recv_text(self, timeout: float = TIMEOUT) -> str:
        got = await self.recv(timeout)
        assert isinstance(got, str), got
        return got

    async def until_closed(self, timeout: float = TIMEOUT, max_messages: int = 10_000) -> list[str | bytes]:
        """Every message up to the server's close (close frame or EOF); fails if it stays open."""
        seen: list[str | bytes] = []
        async with asyncio.timeout(timeout):
            for _ in range(max_messages):
                try:
                    seen.append(await self.recv(timeout))
                except Closed:
                    return seen
        raise AssertionError(f"the server did not close the connection; got {seen}")

    # -- Socket.IO helpers -----------------------------------------------------------------------
    async def connect(self, nsp: str = "/", auth: Any = None) -> dict[str, Any]:
        """Send CONNECT and return the CONNECT answer's payload (asserting it is one)."""
        await self.send(self.connect_packet(nsp, auth))
        answer = await self.recv_text()
        prefix = "40" if nsp == "/" else f"40{nsp},"
        assert answer.startswith(prefix + "{"), answer
        return orjson.loads(answer[len(prefix):])  # type: ignore[no-any-return]

    @staticmethod
    def connect_packet(nsp: str = "/", auth: Any = None) -> str:
        text = "40" if nsp == "/" else f"40{nsp},"
        if auth is not None:
            text += orjson.dumps(auth).decode()
        return text

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    async def send_close(self) -> None:
        """A clean close frame (code 1000)."""
        self.writer.write(_frame(0x8, struct.pack("!H", 1000)))
        await self.writer.drain()
