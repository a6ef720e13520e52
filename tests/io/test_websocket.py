"""WebSocket transport on the built-in server: websocket-only sessions, framing on the wire, limits."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from rawclient import EchoApp, EngineClient, WebSocket, open_ws, ws_frame

Serve = Callable[[Any], Awaitable[str]]
WS = "/engine.io/?EIO=4&transport=websocket"


async def start(serve: Serve, **options: Any) -> tuple[EchoApp, str]:
    app = EchoApp(**options)
    return app, await serve(app.eio)


async def connect(url: str, **kwargs: Any) -> tuple[WebSocket, dict[str, Any]]:
    ws = await open_ws(url, WS, **kwargs)
    first = await ws.recv()
    assert isinstance(first, str) and first[:1] == "0", first
    return ws, orjson.loads(first[1:])


async def test_handshake_bytes(serve: Serve) -> None:
    app, url = await start(serve)
    key = base64.b64encode(os.urandom(16)).decode()
    ws = await open_ws(url, WS, headers={"Sec-WebSocket-Key": key})
    try:
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert ws.response.head == (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        frame = await ws.recv_frame()
        assert (frame.fin, frame.rsv, frame.opcode) == (True, 0, 1)
        sid = orjson.loads(frame.payload[1:])["sid"]
        assert frame.payload == (
            b'0{"sid":"' + sid.encode() + b'","upgrades":[],"pingInterval":25000,"pingTimeout":20000,'
            b'"maxPayload":1000000}'
        )
        session = await app.wait_connect()
        assert session.sid == sid
        assert session.transport == "websocket"
    finally:
        ws.close()


@pytest.mark.parametrize("size", [0, 1, 124, 125, 126, 65534, 65535, 65536, 200_000])
async def test_text_and_binary_echo_at_length_boundaries(serve: Serve, size: int) -> None:
    _app, url = await start(serve)
    ws, _ = await connect(url)
    try:
        text = "4" + ("é" * (size // 2) + "x" * (size % 2))[: max(size - 1, 0)]
        await ws.send_text(text)
        frame = await ws.recv_frame()
        assert frame.opcode == 1
        assert frame.text == text
        blob = os.urandom(size)
        await ws.send_binary(blob)
        frame = await ws.recv_frame()
        assert frame.opcode == 2
        assert frame.payload == blob
    finally:
        ws.close()


async def test_burst_arrives_in_order(serve: Serve) -> None:
    app, url = await start(serve, echo=False)
    ws, _info = await connect(url)
    try:
        session = await app.wait_connect()
        for i in range(300):
            session.send_nowait(f"n{i}")
            if i % 7 == 0:
                session.send_nowait(i.to_bytes(2, "big"))
        got = [await ws.recv() for _ in range(300 + 43)]
        assert [g for g in got if isinstance(g, str)] == [f"4n{i}" for i in range(300)]
        assert [g for g in got if isinstance(g, bytes)] == [i.to_bytes(2, "big") for i in range(0, 300, 7)]
        assert got[:3] == ["4n0", b"\x00\x00", "4n1"]
    finally:
        ws.close()


async def test_fragmented_and_interleaved_control_frames(serve: Serve) -> None:
    _, url = await start(serve)
    ws, _ = await connect(url)
    try:
        await ws.conn.send(
            ws_frame(1, b"4hel", fin=False)
            + ws_frame(9, b"are you there")  # a ping between fragments
            + ws_frame(0, b"lo ", fin=False)
            + ws_frame(0, "wörld".encode()[:2], fin=False)  # a character split across frames
            + ws_frame(0, "wörld".encode()[2:])
        )
        pong = await ws.recv_frame()
        assert (pong.opcode, pong.payload) == (0xA, b"are you there")
        assert await ws.recv() == "4hello wörld"
    finally:
        ws.close()


async def test_message_size_limit(serve: Serve) -> None:
    app, url = await start(serve, max_http_buffer_size=1000)
    ws, info = await connect(url)
    assert info["maxPayload"] == 1000
    try:
        under = "4" + "x" * 999
        await ws.send_text(under)
        assert await ws.recv() == under
        await ws.send_binary(b"\x07" * 1000)
        assert await ws.recv() == b"\x07" * 1000
        await ws.send_text("4" + "y" * 1000)
        frames, close = await ws.recv_until_close()
        assert frames == []
        assert close.close_code == 1009
        assert await ws.conn.closed_by_peer()
    finally:
        ws.close()
    session = await app.wait_connect()
    assert await app.wait_disconnect(session.sid) == "transport error"
    assert app.messages[session.sid] == ["x" * 999, b"\x07" * 1000]


async def test_binary_over_the_limit_is_1009(serve: Serve) -> None:
    app, url = await start(serve, max_http_buffer_size=1000)
    ws, info = await connect(url)
    try:
        await ws.send_binary(b"\x00" * 1001)
        _, close = await ws.recv_until_close()
        assert close.close_code == 1009
    finally:
        ws.close()
    assert await app.wait_disconnect(info["sid"]) == "transport error"


async def test_over_the_limit_is_refused_before_the_payload_arrives(serve: Serve) -> None:
    app, url = await start(serve, max_http_buffer_size=1000)
    ws, info = await connect(url)
    try:
        # Announce 10 MB and send none of it: the header alone is enough to refuse.
        await ws.conn.send(ws_frame(2, b"", length=10_000_000))
        _, close = await ws.recv_until_close()
        assert close.close_code == 1009
    finally:
        ws.close()
    assert await app.wait_disconnect(info["sid"]) == "transport error"


# -- closing ---------------------------------------------------------------------------------

async def test_client_close_frame_is_echoed_and_reported(serve: Serve) -> None:
    app, url = await start(serve)
    ws, info = await connect(url)
    try:
        await ws.send_frame(8, struct.pack("!H", 1000) + b"bye")
        _, close = await ws.recv_until_close()
        assert close.payload == struct.pack("!H", 1000) + b"bye"  # echoed, as the reference (ws) does
        assert await ws.conn.closed_by_peer()
    finally:
        ws.close()
    assert await app.wait_disconnect(info["sid"]) == "transport close"


async def test_client_empty_close_frame_gets_an_empty_one(serve: Serve) -> None:
    app, url = await start(serve)
    ws, info = await connect(url)
    try:
        await ws.send_close(None)
        _, close = await ws.recv_until_close()
        assert close.payload == b""
    finally:
        ws.close()
    assert await app.wait_disconnect(info["sid"]) == "transport close"


async def test_client_vanishing_is_a_transport_close(serve: Serve) -> None:
    app, url = await start(serve)
    ws, info = await connect(url)
    ws.close()  # TCP FIN, no close frame
    assert await app.wait_disconnect(info["sid"]) == "transport close"
    ws2, info2 = await connect(url)
    ws2.conn.abort()  # TCP RST
    assert await app.wait_disconnect(info2["sid"]) == "transport close"


async def test_server_close_sends_an_empty_close_frame(serve: Serve) -> None:
    app, url = await start(serve)
    ws, info = await connect(url)
    try:
        session = await app.wait_connect()
        await session.send("last words")
        await session.close()
        assert await ws.recv() == "4last words"
        frame = await ws.recv_frame()
        # The reference's server-side closes are "88 00" (the client sees 1005), no CLOSE packet.
        assert (frame.opcode, frame.payload) == (8, b"")
        assert await ws.conn.closed_by_peer()
    finally:
        ws.close()
    assert await app.wait_disconnect(info["sid"]) == "forced close"
    assert info["sid"] not in app.eio.engine.sessions


@pytest.mark.parametrize(
    ("packet", "reason"),
    [("2", "transport error"), ("2probe", "transport error"), ("x", "parse error"), ("", "parse error")],
    ids=["ping", "probe-ping", "garbage", "empty"],
)
async def test_packets_that_end_the_session(serve: Serve, packet: str, reason: str) -> None:
    app, url = await start(serve)
    ws, info = await connect(url)
    try:
        await ws.send_text(packet)
        _, close = await ws.recv_until_close()
        assert close.payload == b""
    finally:
        ws.close()
    assert await app.wait_disconnect(info["sid"]) == reason


@pytest.mark.parametrize("packet", ["3", "3probe", "5", "6", "0"])
async def test_packets_ignored_over_websocket(serve: Serve, packet: str) -> None:
    app, url = await start(serve)
    ws, info = await connect(url)
    try:
        await ws.send_text(packet)
        await ws.send_text("4after")
        assert await ws.recv() == "4after"
    finally:
        ws.close()
    assert app.disconnects.get(info["sid"]) in (None, ["transport close"])


async def test_ping_frame_gets_a_pong(serve: Serve) -> None:
    _, url = await start(serve)
    ws, _ = await connect(url)
    try:
        await ws.send_frame(9, b"\x00\xffdata")
        pong = await ws.recv_frame()
        assert (pong.opcode, pong.payload) == (0xA, b"\x00\xffdata")
        await ws.send_frame(0xA, b"unsolicited pong")  # ignored
        await ws.send_text("4ok")
        assert await ws.recv() == "4ok"
    finally:
        ws.close()


async def test_second_websocket_for_an_upgraded_sid_is_accepted_then_closed(serve: Serve) -> None:
    _app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    first = await client.upgrade_ws()
    try:
        await first.send_text("2probe")
        assert await first.recv() == "3probe"
        assert await client.poll() == ["6"]
        await first.send_text("5")
        second = await client.upgrade_ws()
        try:
            assert second.response.status == 101
            frames, close = await second.recv_until_close()
            assert frames == []
            assert close.payload == b""
        finally:
            second.close()
        await first.send_text("4original")
        assert await first.recv() == "4original"
    finally:
        first.close()


async def test_websocket_for_a_websocket_only_sid_is_closed(serve: Serve) -> None:
    _app, url = await start(serve)
    ws, info = await connect(url)
    try:
        other = await open_ws(url, f"{WS}&sid={info['sid']}")
        frames, _ = await other.recv_until_close()
        assert frames == []
        other.close()
        await ws.send_text("4fine")
        assert await ws.recv() == "4fine"
    finally:
        ws.close()


# -- permessage-deflate ----------------------------------------------------------------------

def inflate(payload: bytes) -> bytes:
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


def deflate(data: bytes) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


async def test_permessage_deflate(serve: Serve) -> None:
    _app, url = await start(serve, per_message_deflate=True)
    offer = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
    ws, _ = await connect(url, headers=offer)
    try:
        assert ws.response.header("Sec-WebSocket-Extensions") == "permessage-deflate; server_no_context_takeover"
        big = "4" + "abc" * 2000
        # A compressed message from the client, echoed compressed (over the threshold).
        await ws.conn.send(ws_frame(1, deflate(big.encode()), rsv=4))
        frame = await ws.recv_frame()
        assert (frame.opcode, frame.rsv) == (1, 4)
        assert inflate(frame.payload) == big.encode()
        assert len(frame.payload) < 200
        # Below the threshold: sent as is, and an uncompressed client frame is fine too.
        await ws.send_text("4small")
        frame = await ws.recv_frame()
        assert (frame.rsv, frame.payload) == (0, b"4small")
        blob = bytes(5000)
        await ws.conn.send(ws_frame(2, deflate(blob), rsv=4))
        frame = await ws.recv_frame()
        assert (frame.opcode, frame.rsv) == (2, 4)
        assert inflate(frame.payload) == blob
    finally:
        ws.close()


async def test_permessage_deflate_off_by_default(serve: Serve) -> None:
    app, url = await start(serve)
    ws, info = await connect(url, headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
    try:
        assert ws.response.header("Sec-WebSocket-Extensions") is None
        await ws.conn.send(ws_frame(1, deflate(b"4x"), rsv=4))  # RSV1 without the extension
        _, close = await ws.recv_until_close()
        assert close.close_code == 1002
    finally:
        ws.close()
    assert await app.wait_disconnect(info["sid"]) == "transport error"


async def test_deflate_bomb_is_1009(serve: Serve) -> None:
    app, url = await start(serve, per_message_deflate=True, max_http_buffer_size=100_000)
    ws, info = await connect(url, headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
    try:
        bomb = deflate(b"4" + b"0" * 50_000_000)  # ~50 KB that inflates to 50 MB
        assert len(bomb) < 100_000
        await ws.conn.send(ws_frame(1, bomb, rsv=4))
        _, close = await ws.recv_until_close()
        assert close.close_code == 1009
    finally:
        ws.close()
    assert await app.wait_disconnect(info["sid"]) == "transport error"


async def test_official_client_with_permessage_deflate(js: Any, serve: Serve) -> None:
    _, url = await start(serve, per_message_deflate=True)
    await js.call({"cmd": "eio_open", "id": "d", "url": url,
                   "opts": {"path": "/engine.io/", "transports": ["websocket"], "perMessageDeflate": {"threshold": 0}}})
    await js.wait_event("d", "open")
    big = "z" * 10_000
    await js.call({"cmd": "eio_send", "id": "d", "data": big})
    assert (await js.wait_event("d", "message"))["data"] == big
    await js.call({"cmd": "eio_send", "id": "d", "data": b"\x01" * 5000})
    assert (await js.wait_event("d", "message"))["data"] == b"\x01" * 5000


async def test_pipelined_frames_right_after_the_upgrade_request(serve: Serve) -> None:
    """Frames sent in the same packet as the upgrade request are not lost."""
    from rawclient import Conn

    _app, url = await start(serve)
    conn = await Conn.open(url)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET {WS} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        await conn.send(head.encode() + ws_frame(1, b"4early") + ws_frame(1, b"4bird"))
        ws = WebSocket(conn, await conn.read_response())
        assert str(await ws.recv()).startswith("0{")
        assert await ws.recv() == "4early"
        assert await ws.recv() == "4bird"
    finally:
        conn.close()


async def test_many_sessions_at_once(serve: Serve) -> None:
    app, url = await start(serve)

    async def one(i: int) -> None:
        ws, _ = await connect(url)
        try:
            await ws.send_text(f"4client {i}")
            assert await ws.recv() == f"4client {i}"
        finally:
            ws.close()

    await asyncio.gather(*(one(i) for i in range(50)))
    assert len(app.order) == 50


@pytest.mark.parametrize("delay", [0.0, 0.3])
async def test_write_delay_lets_later_packets_share_the_write(serve: Serve, delay: float) -> None:
    app, url = await start(serve, echo=False, write_delay=delay)
    ws, info = await connect(url)
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[str | bytes, float]] = []

    async def read() -> None:
        for _ in range(2):
            message = await ws.recv()
            arrivals.append((message, loop.time()))

    try:
        session = await app.wait_connect()
        assert session.sid == info["sid"]
        reader = asyncio.create_task(read())
        await asyncio.sleep(0.05)
        began = loop.time()
        session.send_nowait("a")
        await asyncio.sleep(0.1)
        session.send_nowait("b")
        await asyncio.wait_for(reader, 5)
        (a, at_a), (b, at_b) = arrivals
        assert (a, b) == ("4a", "4b")
        if delay:
            # "a" is held for the delay and written together with "b".
            assert at_a - began >= delay - 0.02, at_a - began
            assert at_b - at_a < 0.02, at_b - at_a
        else:
            # Written at the end of the loop iteration that queued it, long before "b".
            assert at_a - began < 0.05, at_a - began
            assert at_b - at_a >= 0.08, at_b - at_a
    finally:
        ws.close()
