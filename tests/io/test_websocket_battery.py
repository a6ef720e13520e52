"""Raw frames against the built-in server's WebSocket connections (RFC 6455), on Engine.IO
sessions opened with ``GET /socket.io/?EIO=4&transport=websocket``: close codes and reasons,
frames split at every byte boundary, control-frame rules, masking. After every case a healthy
neighbour session still echoes and a fresh polling handshake is still answered.

Frames are built by ``rawclient.ws_frame`` and read by ``rawclient.WebSocket``, which share no
code with ``socketeer.io.websocket``. Every read is bounded in time, every loop in count.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from rawclient import Conn, EchoApp, Neighbour, WebSocket, open_ws, ws_frame

Serve = Callable[[Any], Awaitable[str]]
PATH = "/socket.io/"
WEBSOCKET = f"{PATH}?EIO=4&transport=websocket"
HANDSHAKE = f"GET {PATH}?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def assert_serving(url: str) -> None:
    """A normal handshake from a fresh connection is answered with an open packet."""
    conn = await Conn.open(url)
    try:
        await conn.send(HANDSHAKE)
        response = await conn.read_response()
    finally:
        conn.close()
    assert response.status == 200 and response.body[:1] == b"0", (response.status, response.body)
    assert set(orjson.loads(response.body[1:])) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


@contextlib.asynccontextmanager
async def battery(serve: Serve, **options: Any) -> AsyncIterator[tuple[EchoApp, str]]:
    app = EchoApp(path=PATH, **options)
    url = await serve(app.eio)
    neighbour = await Neighbour.open(url, PATH)
    try:
        await neighbour.check()
        yield app, url
        await assert_serving(url)
        await neighbour.check()
        assert neighbour.sid not in app.disconnects
    finally:
        neighbour.close()


async def ws_session(url: str) -> tuple[WebSocket, str]:
    ws = await open_ws(url, WEBSOCKET)
    first = await ws.recv()
    assert isinstance(first, str) and first.startswith('0{"sid":"'), first
    sid: str = orjson.loads(first[1:])["sid"]
    return ws, sid


async def expect_close(app: EchoApp, url: str, data: bytes, code: int, reason: str) -> bytes:
    """``data`` on a fresh session: nothing is delivered, the server's close frame carries
    ``code``, the TCP connection ends, and the session ends with ``reason``. Its close payload."""
    ws, sid = await ws_session(url)
    try:
        await ws.conn.send(data)
        frames, close = await ws.recv_until_close(timeout=3)
        assert frames == []
        assert close.close_code == code, close
        assert await ws.conn.read_eof(timeout=3) == b""  # the server closes TCP first (section 7.1.1)
    finally:
        ws.close()
    assert await app.wait_disconnect(sid) == reason
    assert app.messages[sid] == []
    return close.payload


# -- close codes (RFC 6455 section 7.4) --------------------------------------------------------

#: Defined (1000-1003, 1007-1011), registered with IANA since (1012-1014), and the ranges for
#: libraries and applications (3000-4999).
VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
#: Never sent (1005, 1006, 1015 are reserved for reports), unassigned, or out of range.
INVALID = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", VALID)
async def test_valid_close_code_is_echoed(serve: Serve, code: int) -> None:
    async with battery(serve) as (app, url):
        ws, sid = await ws_session(url)
        try:
            await ws.send_frame(0x8, struct.pack("!H", code) + "bye ✓".encode())
            frames, close = await ws.recv_until_close(timeout=3)
            assert frames == []
            assert close.close_code == code
            assert await ws.conn.read_eof(timeout=3) == b""
        finally:
            ws.close()
        assert await app.wait_disconnect(sid) == "transport close"


@pytest.mark.parametrize("code", INVALID)
async def test_invalid_close_code_is_1002(serve: Serve, code: int) -> None:
    async with battery(serve) as (app, url):
        await expect_close(app, url, ws_frame(0x8, struct.pack("!H", code)), 1002, "transport error")


@pytest.mark.parametrize(
    "reason",
    [b"\xff", b"ok \xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"fine, then \xe2\x82"],
    ids=["ff", "truncated", "surrogate", "overlong", "above-u10ffff", "truncated-at-the-end"],
)
async def test_close_reason_not_utf8_is_1007(serve: Serve, reason: bytes) -> None:
    async with battery(serve) as (app, url):
        await expect_close(app, url, ws_frame(0x8, struct.pack("!H", 1000) + reason), 1007, "transport error")


async def test_close_payload_of_one_byte_is_1002(serve: Serve) -> None:
    async with battery(serve) as (app, url):
        await expect_close(app, url, ws_frame(0x8, b"\x03"), 1002, "transport error")


# -- frames split at every byte boundary -------------------------------------------------------

async def test_frame_written_byte_by_byte_is_received(serve: Serve) -> None:
    """A masked text frame ("4" and a message) a byte per write, for each length encoding
    that fits a byte-wise write: 7-bit and 16-bit."""
    async with battery(serve) as (_app, url):
        ws, _ = await ws_session(url)
        try:
            for text in ("4hello", "4" + "x" * 199):
                for byte in ws_frame(0x1, text.encode(), mask=os.urandom(4)):
                    await ws.conn.send(bytes([byte]))
                    await asyncio.sleep(0.0005)  # so that each byte is its own read
                assert await ws.recv() == text
        finally:
            ws.close()


@pytest.mark.parametrize("size", [5, 200, 70_000], ids=["7-bit", "16-bit", "64-bit"])
async def test_frame_split_in_two_at_every_offset(serve: Serve, size: int) -> None:
    """The same frame written in two parts, at each offset in turn (every offset of the
    header and the mask, and the payload's first bytes and last one for the large frame)."""
    async with battery(serve) as (_app, url):
        ws, _ = await ws_session(url)
        try:
            frame = ws_frame(0x1, b"4" + b"s" * (size - 1), mask=os.urandom(4))
            cuts = list(range(1, len(frame))) if size < 1000 else [*range(1, 20), len(frame) - 1]
            for cut in cuts:
                await ws.conn.send(frame[:cut])
                await asyncio.sleep(0.0005)
                await ws.conn.send(frame[cut:])
                got = await ws.recv()
                assert got == "4" + "s" * (size - 1), cut
        finally:
            ws.close()


async def test_upgrade_and_a_first_frame_split_at_every_offset(serve: Serve) -> None:
    """The upgrade request and a frame sent right behind it, in one stream cut in two at each
    offset: the frame is read as the WebSocket's first, wherever the cut falls."""
    async with battery(serve) as (_app, url):
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {WEBSOCKET} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode() + ws_frame(0x1, b"4first")
        for cut in range(1, len(request)):
            conn = await Conn.open(url)
            try:
                await conn.send(request[:cut])
                await asyncio.sleep(0.0005)
                await conn.send(request[cut:])
                ws = WebSocket(conn, await conn.read_response())
                assert ws.response.status == 101, cut
                assert (await ws.recv())[:1] == "0"
                assert await ws.recv() == "4first", cut
            finally:
                conn.close()


# -- control frames (RFC 6455 section 5.5) -----------------------------------------------------

CONTROL_FAULTS = {
    "fragmented-ping": ws_frame(0x9, b"p", fin=False),
    "fragmented-pong": ws_frame(0xA, b"p", fin=False),
    "fragmented-close": ws_frame(0x8, struct.pack("!H", 1000), fin=False),
    "fragmented-ping-inside-a-message": ws_frame(0x1, b"4a", fin=False) + ws_frame(0x9, b"p", fin=False),
    "ping-continued": ws_frame(0x9, b"p", fin=False) + ws_frame(0x0, b"q"),
    "ping-of-126": ws_frame(0x9, b"p" * 126),
    "pong-of-126": ws_frame(0xA, b"p" * 126),
    "close-of-126": ws_frame(0x8, struct.pack("!H", 1000) + b"r" * 124),
    "ping-of-65536": ws_frame(0x9, b"p" * 65536),
    "ping-announcing-126-sending-none": ws_frame(0x9, b"", length=126),
}


@pytest.mark.parametrize("data", list(CONTROL_FAULTS.values()), ids=list(CONTROL_FAULTS))
async def test_control_frame_faults_are_1002(serve: Serve, data: bytes) -> None:
    async with battery(serve) as (app, url):
        await expect_close(app, url, data, 1002, "transport error")


async def test_close_frame_reaches_a_client_that_keeps_sending(serve: Serve) -> None:
    """The server fails the connection while the client is still writing (a fault, then
    300 kB of frames): the client reads the 1002, as the server closes in stages and drops
    what still arrives, instead of a reset that could destroy the close frame."""
    async with battery(serve) as (app, url):
        for _ in range(3):
            payload = await expect_close(app, url, ws_frame(0x1, b"4hi", mask=None) + ws_frame(0x2, b"z" * 300_000),
                                         1002, "transport error")
            assert payload[:2] == struct.pack("!H", 1002)
        http_server = app.eio.http_server
        assert http_server is not None
        async with asyncio.timeout(1):  # each client's FIN ended its staged close at once
            while len(http_server.connections) > 1:
                await asyncio.sleep(0.01)


async def test_ping_of_125_bytes_is_answered(serve: Serve) -> None:
    async with battery(serve) as (_app, url):
        ws, _ = await ws_session(url)
        try:
            payload = os.urandom(125)
            await ws.send_frame(0x9, payload)
            pong = await ws.recv_frame()
            assert (pong.fin, pong.opcode, pong.payload) == (True, 0xA, payload)
            await ws.send_text("4after the ping")
            assert await ws.recv() == "4after the ping"
        finally:
            ws.close()


# -- masking (RFC 6455 section 5.1: a server closes on an unmasked client frame) -------------------

UNMASKED = {
    "text": ws_frame(0x1, b"4hi", mask=None),
    "binary": ws_frame(0x2, b"\x01\x02", mask=None),
    "ping": ws_frame(0x9, b"p", mask=None),
    "pong": ws_frame(0xA, b"p", mask=None),
    "close": ws_frame(0x8, struct.pack("!H", 1000), mask=None),
    "continuation": ws_frame(0x1, b"4a", fin=False) + ws_frame(0x0, b"b", mask=None),
    "16-bit-length": ws_frame(0x1, b"4" + b"u" * 299, mask=None),
    "after-a-good-frame": ws_frame(0x1, b"4ok") + ws_frame(0x1, b"4bad", mask=None),
}


@pytest.mark.parametrize("data", list(UNMASKED.values()), ids=list(UNMASKED))
async def test_unmasked_client_frame_is_1002(serve: Serve, data: bytes) -> None:
    async with battery(serve) as (app, url):
        ws, sid = await ws_session(url)
        try:
            await ws.conn.send(data)
            frames, close = await ws.recv_until_close(timeout=3)
            assert close.close_code == 1002
            assert await ws.conn.read_eof(timeout=3) == b""
        finally:
            ws.close()
        assert await app.wait_disconnect(sid) == "transport error"
        # Only the whole, masked message before the fault is delivered (its echo may or may
        # not make it out before the close).
        delivered = ["ok"] if data.startswith(ws_frame(0x1, b"4ok")) else []
        assert app.messages[sid] == delivered
        assert [f.payload for f in frames] in ([], [b"4" + m.encode() for m in delivered])


async def test_session_after_the_faults_is_unaffected(serve: Serve) -> None:
    """Faults on several sessions at once leave a session opened beside them echoing."""
    async with battery(serve) as (app, url):
        bystander, _ = await ws_session(url)
        try:
            faulty = [await ws_session(url) for _ in range(5)]
            for (ws, _), data in zip(faulty, UNMASKED.values(), strict=False):
                await ws.conn.send(data)
            for ws, sid in faulty:
                await ws.recv_until_close(timeout=3)
                ws.close()
                assert await app.wait_disconnect(sid) == "transport error"
            await bystander.send_text("4still here")
            assert await bystander.recv() == "4still here"
        finally:
            bystander.close()
