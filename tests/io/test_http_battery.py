"""Raw bytes against the built-in HTTP/1.1 front end, each case asserting what RFC 9112 (and
RFC 9110, RFC 6455 for the upgrade) says, and that the server keeps serving everyone else:
a healthy WebSocket neighbour echoes before and after every case, and a normal Engine.IO
handshake on a fresh connection is answered with an open packet afterwards.

Requests are written as bytes (``raw``), never through an HTTP library, so that malformed
framing reaches the server as sent; answers are read by ``rawclient``, which shares no code
with the server. Every read is bounded in time, every loop in count. A few cases run again
through ``ASGIApp`` under uvicorn, where the answer is socketeer's (its 413s, its reading of
a chunked body) rather than uvicorn's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
import uvicorn
from rawclient import Conn, EchoApp, EngineClient, Neighbour, Response, WebSocket, ws_frame

from socketeer import ASGIApp
from socketeer.limits import Limits

Serve = Callable[[Any], Awaitable[str]]
PATH = "/socket.io/"
POLLING = f"{PATH}?EIO=4&transport=polling"
WEBSOCKET = f"{PATH}?EIO=4&transport=websocket"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's sample key
UPGRADE = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", KEY),
           ("Sec-WebSocket-Version", "13")]


def raw(method: str, target: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"",
        version: str = "1.1") -> bytes:
    """One request exactly as given: no header is added but ``Host``."""
    lines = [f"{method} {target} HTTP/{version}", "Host: 127.0.0.1"]
    lines.extend(f"{name}: {value}" for name, value in headers or [])
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


HANDSHAKE = raw("GET", POLLING)


def chunked(*parts: bytes) -> bytes:
    """A chunked body of ``parts``, with its last chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def assert_open_packet(response: Response) -> str:
    """A 200 carrying an Engine.IO open packet; its sid."""
    assert response.status == 200, (response.status, response.body)
    assert response.body[:1] == b"0", response.body
    opened = orjson.loads(response.body[1:])
    assert set(opened) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}, opened
    sid: str = opened["sid"]
    return sid


async def assert_serving(url: str) -> None:
    """A normal handshake from a fresh connection is answered with an open packet."""
    conn = await Conn.open(url)
    try:
        await conn.send(HANDSHAKE)
        assert_open_packet(await conn.read_response())
    finally:
        conn.close()


async def assert_refused(conn: Conn, status: int = 400) -> Response:
    """One answer with ``status`` and ``Connection: close``, then the end: nothing that came
    after the refused request is answered (a smuggled request stays unanswered)."""
    response = await conn.read_response()
    assert response.status == status, (response.status, response.body)
    assert (response.header("Connection") or "").lower() == "close"
    assert await conn.read_eof(timeout=3) == b""
    return response


@contextlib.asynccontextmanager
async def battery(serve: Serve, limits: Limits | None = None, **options: Any) -> AsyncIterator[tuple[EchoApp, str]]:
    """An echo server whose neighbour session must echo before and after the case, and which
    must still answer a handshake after it."""
    app = EchoApp(path=PATH, **options)
    if limits is not None:
        app.eio.limits = limits
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


async def wait_let_go(app: EchoApp, remaining: int, timeout: float = 1.0) -> None:
    """Until the server holds only ``remaining`` connections (it has let the others go)."""
    http_server = app.eio.http_server
    assert http_server is not None
    async with asyncio.timeout(timeout):
        while len(http_server.connections) > remaining:
            await asyncio.sleep(0.01)


async def session(app: EchoApp, url: str) -> tuple[EngineClient, Any]:
    index = len(app.order)
    client = EngineClient(url, PATH)
    await client.open()
    return client, await app.wait_connect(index)


# -- pipelining (RFC 9112 section 9.3.2: answers in the order of the requests) ----------------

async def test_three_requests_in_one_write_are_answered_in_order(serve: Serve) -> None:
    async with battery(serve) as (_app, url):
        conn = await Conn.open(url)
        try:
            await conn.send(HANDSHAKE + raw("GET", f"{POLLING}&sid=AAAAAAAAAAAAAAAAAAAA") + HANDSHAKE)
            first, unknown, third = [await conn.read_response() for _ in range(3)]
            assert assert_open_packet(first) != assert_open_packet(third)
            assert unknown.status == 400
            assert unknown.json() == {"code": 1, "message": "Session ID unknown"}
            assert all(r.header("Connection") is None for r in (first, unknown, third))  # kept alive
        finally:
            conn.close()


async def test_pipelined_behind_a_long_poll(serve: Serve) -> None:
    """A POST behind a pending GET of the same session waits for the GET's answer (here the
    ping, at ``ping_interval``), and is then answered: it carries the pong."""
    async with battery(serve, ping_interval=0.3) as (app, url):
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            began = time.monotonic()
            await conn.send(raw("GET", client.target()) + raw("POST", client.target(), [("Content-Length", "1")], b"3"))
            assert (await conn.read_response()).body == b"2"
            assert time.monotonic() - began > 0.2
            assert (await conn.read_response()).body == b"ok"
        finally:
            conn.close()
        assert client.sid not in app.disconnects


async def test_pipelined_upgrade_waits_for_the_long_poll(serve: Serve) -> None:
    """An upgrade pipelined behind a pending long-poll: its 101 comes after the poll's answer
    (it once overtook it, and the poll's HTTP answer was then written into the WebSocket)."""
    async with battery(serve, ping_interval=0.3) as (app, url):
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            await conn.send(raw("GET", client.target()) + raw("GET", WEBSOCKET, UPGRADE) + ws_frame(1, b"4early"))
            poll = await conn.read_response()
            assert poll.status == 200 and poll.body == b"2"
            switched = await conn.read_response()
            assert switched.status == 101
            assert switched.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
            ws = WebSocket(conn, switched)
            opened = await ws.recv()
            assert isinstance(opened, str) and opened.startswith('0{"sid":"')
            for _ in range(5):  # the echo of the frame sent behind the request, after pings maybe
                echo = await ws.recv()
                if echo != "2":
                    break
            assert echo == "4early"
        finally:
            conn.close()


# -- persistence (RFC 9112 section 9.3) --------------------------------------------------------

@pytest.mark.parametrize(
    ("version", "connection", "persists", "says"),
    [
        ("1.1", None, True, None),
        ("1.1", "keep-alive", True, None),
        ("1.1", "close", False, "close"),
        ("1.1", "keep-alive, close", False, "close"),
        ("1.0", None, False, "close"),
        ("1.0", "close", False, "close"),
        # An HTTP/1.0 client assumes a close unless the answer says keep-alive (was missing).
        ("1.0", "keep-alive", True, "keep-alive"),
        ("1.0", "Keep-Alive", True, "keep-alive"),
    ],
)
async def test_persistence(serve: Serve, version: str, connection: str | None, persists: bool,
                           says: str | None) -> None:
    async with battery(serve) as (_app, url):
        request = raw("GET", POLLING, [("Connection", connection)] if connection else [], version=version)
        conn = await Conn.open(url)
        try:
            for _ in range(2 if persists else 1):
                await conn.send(request)
                response = await conn.read_response()
                assert_open_packet(response)
                assert response.header("Connection") == says
            if not persists:
                assert await conn.read_eof(timeout=3) == b""
        finally:
            conn.close()


@pytest.mark.parametrize("version", ["1.1", "1.0"])
async def test_requests_behind_a_close_are_not_processed(serve: Serve, version: str) -> None:
    """RFC 9112 section 9.6: after the request that asked for the close, the server "MUST NOT
    process any further requests received on that connection" (the second POST was delivered)."""
    async with battery(serve, echo=False) as (app, url):
        client, _ = await session(app, url)
        close = [("Connection", "close")] if version == "1.1" else []
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", client.target(), [*close, ("Content-Length", "3")], b"4hi", version)
                            + raw("POST", client.target(), [("Content-Length", "5")], b"4late"))
            response = await conn.read_response()
            assert response.body == b"ok" and response.header("Connection") == "close"
            assert await conn.read_eof(timeout=3) == b""
        finally:
            conn.close()
        assert await app.wait_messages(client.sid, 1) == ["hi"]
        await asyncio.sleep(0.05)
        assert app.messages[client.sid] == ["hi"]


# -- chunked bodies (RFC 9112 section 7.1) -----------------------------------------------------

async def test_chunked_post_split_at_every_offset(serve: Serve) -> None:
    """The same chunked POST, written in two parts at each offset in turn on one connection:
    every split is reassembled into the same message."""
    async with battery(serve, echo=False) as (app, url):
        client, _ = await session(app, url)
        request = raw("POST", client.target(), [("Content-Type", "text/plain;charset=UTF-8"),
                                                ("Transfer-Encoding", "chunked")], chunked(b"4h", b"i"))
        conn = await Conn.open(url)
        try:
            for cut in range(1, len(request)):
                await conn.send(request[:cut])
                await asyncio.sleep(0.001)  # the server reads the first part on its own
                await conn.send(request[cut:])
                response = await conn.read_response()
                assert (response.status, response.body) == (200, b"ok"), cut
        finally:
            conn.close()
        count = len(request) - 1
        assert await app.wait_messages(client.sid, count) == ["hi"] * count


async def test_chunk_extensions_and_trailers(serve: Serve) -> None:
    async with battery(serve, echo=False) as (app, url):
        client, _ = await session(app, url)
        body = b"2;name=value\r\n4h\r\n3;x\r\nell\r\n1\r\no\r\n0\r\nX-Trailer: yes\r\n\r\n"
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", client.target(), [("Transfer-Encoding", "chunked")], body))
            assert (await conn.read_response()).body == b"ok"
        finally:
            conn.close()
        assert await app.wait_messages(client.sid, 1) == ["hello"]


@pytest.mark.parametrize(
    "body",
    [b"zz\r\n4hi\r\n0\r\n\r\n", b"3\r\n4hiXX\r\n0\r\n\r\n", b"1" * 40 + b"\r\n", b"-3\r\n4hi\r\n0\r\n\r\n",
     b"3 \x00\r\n4hi\r\n0\r\n\r\n"],
    ids=["size-not-hex", "data-longer-than-size", "size-overflow", "negative-size", "nul-after-size"],
)
async def test_malformed_chunks_are_400(serve: Serve, body: bytes) -> None:
    async with battery(serve, echo=False) as (app, url):
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", client.target(), [("Transfer-Encoding", "chunked")], body) + HANDSHAKE)
            await assert_refused(conn)
        finally:
            conn.close()
        assert app.messages[client.sid] == []


async def test_chunked_body_over_the_limit_is_413(serve: Serve) -> None:
    async with battery(serve, echo=False, max_http_buffer_size=100) as (app, url):
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", client.target(), [("Transfer-Encoding", "chunked")]))
            await conn.send(b"%x\r\n4%s\r\n" % (60, b"a" * 59))
            await conn.send(b"%x\r\n%s\r\n" % (41, b"b" * 41))  # 101 bytes: one over
            await assert_refused(conn, 413)
        finally:
            conn.close()
        assert app.messages[client.sid] == []


# -- Expect: 100-continue (RFC 9110 section 10.1.1) --------------------------------------------

@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_expect_100_continue(serve: Serve, framing: str) -> None:
    """The client holds its body back until the 100 (the server used to stay silent, and
    clients waited out their own timeout, curl's 1 s, before sending it anyway)."""
    async with battery(serve, echo=False) as (app, url):
        client, _ = await session(app, url)
        body = b"4hi" if framing == "content-length" else chunked(b"4hi")
        length = ("Content-Length", "3") if framing == "content-length" else ("Transfer-Encoding", "chunked")
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", client.target(), [("Expect", "100-continue"), length]))
            interim = await conn.read_response(timeout=1)
            assert (interim.status, interim.headers, interim.head) == (100, [], b"HTTP/1.1 100 Continue\r\n\r\n")
            await conn.send(body)
            assert (await conn.read_response()).body == b"ok"
        finally:
            conn.close()
        assert await app.wait_messages(client.sid, 1) == ["hi"]


async def test_expect_with_a_body_over_the_limit_is_413_at_once(serve: Serve) -> None:
    async with battery(serve, max_http_buffer_size=100) as (_app, url):
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", POLLING, [("Expect", "100-continue"), ("Content-Length", "101")]))
            await assert_refused(conn, 413)  # the final status instead of a 100
        finally:
            conn.close()


async def test_expect_without_a_body_gets_the_answer(serve: Serve) -> None:
    async with battery(serve) as (_app, url):
        conn = await Conn.open(url)
        try:
            await conn.send(raw("GET", POLLING, [("Expect", "100-continue")]))
            assert_open_packet(await conn.read_response())
        finally:
            conn.close()


async def test_expect_on_http10_is_ignored(serve: Serve) -> None:
    async with battery(serve, echo=False) as (app, url):
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", client.target(), [("Expect", "100-continue"), ("Content-Length", "3")],
                                version="1.0"))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(conn.reader.read(1), 0.3)  # no 100 for HTTP/1.0
            await conn.send(b"4hi")
            assert (await conn.read_response()).body == b"ok"
            assert await conn.read_eof(timeout=3) == b""
        finally:
            conn.close()


async def test_expect_100_waits_for_the_answers_before_it(serve: Serve) -> None:
    """A 100 is part of its request's answer: behind a pending long-poll it comes after the
    poll's answer, never before it (a client would take it for the poll's)."""
    async with battery(serve, echo=False, ping_interval=0.3) as (app, url):
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            await conn.send(raw("GET", client.target())
                            + raw("POST", client.target(), [("Expect", "100-continue"), ("Content-Length", "1")]))
            assert (await conn.read_response()).body == b"2"
            assert (await conn.read_response(timeout=1)).status == 100
            await conn.send(b"3")
            assert (await conn.read_response()).body == b"ok"
        finally:
            conn.close()
        assert client.sid not in app.disconnects


# -- framing conflicts: no request smuggling (RFC 9112 sections 6.1, 6.3; RFC 9110 section 8.6) --

SMUGGLING = {
    "cl-then-te": [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
    "te-then-cl": [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
    "te-and-cl-zero": [("Transfer-Encoding", "chunked"), ("Content-Length", "0")],
    "cl-twice-same": [("Content-Length", "5"), ("Content-Length", "5")],
    "cl-twice-differing": [("Content-Length", "5"), ("Content-Length", "0")],
    "cl-list-same": [("Content-Length", "5, 5")],
    "cl-list-differing": [("Content-Length", "5, 0")],
    "cl-signed": [("Content-Length", "+5")],
    "cl-hex": [("Content-Length", "0x5")],
    "cl-space-inside": [("Content-Length", "5 0")],
    "cl-space-before-colon": [("Content-Length ", "5")],
    "te-chunked-not-last": [("Transfer-Encoding", "chunked, gzip")],
    "te-unknown": [("Transfer-Encoding", "gzip")],
    "te-chunked-twice": [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
    "te-lookalike": [("Transfer-Encoding", "xchunked")],
    "te-space-before-colon": [("Transfer-Encoding ", "chunked")],
    "te-obs-folded": [("Transfer-Encoding", "\r\n chunked"), ("Content-Length", "5")],
    "te-vertical-tab": [("Transfer-Encoding", "\x0bchunked"), ("Content-Length", "5")],
}


@pytest.mark.parametrize("headers", list(SMUGGLING.values()), ids=list(SMUGGLING))
async def test_conflicting_framing_is_400_and_closes(serve: Serve, headers: list[tuple[str, str]]) -> None:
    """Refused and closed, so the handshake hidden behind (as a body by one reading, as the
    next request by another) is never answered."""
    async with battery(serve) as (app, url):
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", POLLING, headers, b"0\r\n\r\n") + HANDSHAKE)
            await assert_refused(conn)
        finally:
            conn.close()
        assert len(app.order) == 1  # only the neighbour: no session from the hidden handshake


async def test_transfer_encoding_in_http10_is_answered_then_closed(serve: Serve) -> None:
    """RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing;
    it is processed, then the connection closed, so what follows it is never read."""
    async with battery(serve) as (app, url):
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", POLLING, [("Transfer-Encoding", "chunked")], chunked(b"x"), "1.0") + HANDSHAKE)
            await assert_refused(conn)  # 400: a POST is no handshake
        finally:
            conn.close()
        assert len(app.order) == 1


# -- obs-fold, bare LF, bare CR (RFC 9112 sections 2.2, 5.2) -------------------------------------

FOLDING = {
    "obs-fold": b"GET " + POLLING.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n",
    "obs-fold-tab": b"GET " + POLLING.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n",
    "space-before-first-header": b"GET " + POLLING.encode() + b" HTTP/1.1\r\n X-Lead: a\r\nHost: x\r\n\r\n",
    "bare-lf": b"GET " + POLLING.encode() + b" HTTP/1.1\nHost: x\n\n",
    "bare-lf-ending-the-head": b"GET " + POLLING.encode() + b" HTTP/1.1\r\nHost: x\r\n\n",
    "bare-lf-in-request-line": b"GET " + POLLING.encode() + b" HTTP/1.1\nHost: x\r\n\r\n",
    "bare-cr-in-value": b"GET " + POLLING.encode() + b" HTTP/1.1\r\nHost: x\rX-Evil: y\r\n\r\n",
    "nul-in-value": b"GET " + POLLING.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
    "bare-lf-in-chunks": b"POST " + POLLING.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"3\n4hi\n0\n\n",
}


@pytest.mark.parametrize("data", list(FOLDING.values()), ids=list(FOLDING))
async def test_folding_and_bare_line_ends_end_cleanly(serve: Serve, data: bytes) -> None:
    """Either a clean 400 and a close, or the right answer; never a hang or a crash.
    (httptools refuses every one of these with 400 today.)"""
    async with battery(serve) as (_app, url):
        conn = await Conn.open(url)
        try:
            await conn.send(data)
            response = await conn.read_response(timeout=3)
            if response.status == 400:
                assert (response.header("Connection") or "").lower() == "close"
                assert await conn.read_eof(timeout=3) == b""
            else:
                assert_open_packet(response)
        finally:
            conn.close()


# -- limits: the head (Limits.max_header_size), the body (max_http_buffer_size) ----------------

@pytest.mark.parametrize("over", [0, 1])
async def test_head_at_the_limit_is_served_and_over_it_is_431(serve: Serve, over: int) -> None:
    limit = 1024
    async with battery(serve, limits=Limits(max_header_size=limit)) as (_app, url):
        start = raw("GET", POLLING)[:-2]
        pad = limit - len(start) - len(b"X-Pad: \r\n\r\n") + over
        head = start + b"X-Pad: " + b"p" * pad + b"\r\n\r\n"
        assert len(head) == limit + over
        conn = await Conn.open(url)
        try:
            await conn.send(head)
            if over:
                await assert_refused(conn, 431)
            else:
                assert_open_packet(await conn.read_response())
        finally:
            conn.close()


async def test_head_over_the_limit_in_small_writes_is_431(serve: Serve) -> None:
    limit = 1024
    async with battery(serve, limits=Limits(max_header_size=limit)) as (_app, url):
        conn = await Conn.open(url)
        try:
            pieces = [raw("GET", POLLING)[:-2]] + [b"X-%03d: %08d\r\n" % (i, i) for i in range(2 * limit // 16)]
            response = await send_until_answered(conn, pieces, 0.001, 3.0)
            assert response.status == 431
            assert (response.header("Connection") or "").lower() == "close"
            assert await conn.closed_by_peer()
        finally:
            conn.close()


@pytest.mark.parametrize(("options", "length"), [({"max_http_buffer_size": 1000}, 1001), ({}, 1_000_001)],
                         ids=["configured", "default"])
async def test_body_over_the_limit_is_413_before_it_is_sent(serve: Serve, options: dict[str, Any],
                                                            length: int) -> None:
    async with battery(serve, **options) as (app, url):
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            began = time.monotonic()
            await conn.send(raw("POST", client.target(), [("Content-Length", str(length))]))
            await assert_refused(conn, 413)  # without a byte of the body sent
            assert time.monotonic() - began < 2
        finally:
            conn.close()


async def test_body_over_the_limit_sent_anyway_still_gets_the_413(serve: Serve) -> None:
    """A client that sends its whole body before reading (urllib, requests) reads the 413: the
    server closes in stages (RFC 9112 section 9.6), its FIN after the answer, and drops what
    still comes, instead of a reset that destroys the answer (every try was reset before)."""
    async with battery(serve, max_http_buffer_size=1000) as (app, url):
        client, _ = await session(app, url)
        for _ in range(3):
            conn = await Conn.open(url)
            try:
                await conn.send(raw("POST", client.target(), [("Content-Length", "300000")], b"4" + b"a" * 299_999))
                await assert_refused(conn, 413)
            finally:
                conn.close()
            await wait_let_go(app, 1)  # the client's FIN ends the staged close at once


async def test_body_at_the_limit_is_read(serve: Serve) -> None:
    async with battery(serve, echo=False, max_http_buffer_size=1000) as (app, url):
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", client.target(), [("Content-Length", "1000")]))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(conn.reader.read(1), 0.2)  # waiting for the body
            await conn.send(b"4" + b"a" * 999)
            assert (await conn.read_response()).body == b"ok"
        finally:
            conn.close()
        assert await app.wait_messages(client.sid, 1) == ["a" * 999]


# -- slow peers: Limits.header_timeout ---------------------------------------------------------

async def send_until_answered(conn: Conn, pieces: list[bytes], pause: float, limit: float) -> Response:
    """Write ``pieces`` ``pause`` seconds apart until the server answers (or ``limit`` seconds
    pass, or it hangs up), then that answer."""
    answer = asyncio.ensure_future(conn.read_response(timeout=limit))
    began = time.monotonic()
    try:
        for piece in pieces:
            if answer.done() or time.monotonic() - began > limit:
                break
            try:
                await conn.send(piece)
            except (ConnectionResetError, BrokenPipeError):
                break
            await asyncio.sleep(pause)
        return await answer
    finally:
        answer.cancel()


@pytest.mark.parametrize("kept_alive", [False, True], ids=["first-request", "after-an-answer"])
async def test_slow_loris_head_is_408_at_the_header_timeout(serve: Serve, kept_alive: bool) -> None:
    async with battery(serve, limits=Limits(header_timeout=0.3)) as (_app, url):
        conn = await Conn.open(url)
        try:
            if kept_alive:
                await conn.send(HANDSHAKE)
                assert_open_packet(await conn.read_response())
            began = time.monotonic()
            response = await send_until_answered(conn, [bytes([b]) for b in HANDSHAKE], 0.05, 2.0)
            assert 0.25 < time.monotonic() - began < 1.5
            assert response.status == 408
            assert (response.header("Connection") or "").lower() == "close"
            assert await conn.closed_by_peer()
        finally:
            conn.close()


@pytest.mark.xfail(strict=True, reason="no limit bounds the time a request body may take: header_timeout stops "
                                       "at the end of the head, and no other option exists (reported)")
async def test_slow_body_is_closed_at_a_timeout(serve: Serve) -> None:
    async with battery(serve, limits=Limits(header_timeout=0.3)) as (app, url):
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", client.target(), [("Content-Length", "10")], b"4"))
            closed = asyncio.ensure_future(conn.read_eof(timeout=2.0))  # TimeoutError: never closed
            for byte in b"abcdefghi":  # 1.35 s for 9 bytes, 4.5 times the timeout
                if closed.done():
                    break
                with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                    await conn.send(bytes([byte]))
                await asyncio.sleep(0.15)
            assert b" 408 " in await closed
        finally:
            conn.close()


# -- half-close: the answers to what arrived are still owed -----------------------------------

@pytest.mark.parametrize("case", ["handshake", "post", "pipelined", "async-allow-request"])
async def test_half_close_after_complete_requests_still_gets_the_answers(serve: Serve, case: str) -> None:
    async def allow(_request: Any) -> bool:
        await asyncio.sleep(0.1)
        return True

    options: dict[str, Any] = {"allow_request": allow} if case == "async-allow-request" else {}
    async with battery(serve, echo=False, **options) as (app, url):
        client, _ = await session(app, url)
        post = raw("POST", client.target(), [("Content-Length", "3")], b"4hi")
        requests = {"handshake": [HANDSHAKE], "post": [post], "pipelined": [post, post, HANDSHAKE],
                    "async-allow-request": [HANDSHAKE]}[case]
        conn = await Conn.open(url)
        try:
            await conn.send(b"".join(requests))
            conn.writer.write_eof()  # shutdown(SHUT_WR)
            answers = [await conn.read_response() for _ in requests]
            for request, answer in zip(requests, answers, strict=True):
                if request == HANDSHAKE:
                    assert_open_packet(answer)
                else:
                    assert answer.body == b"ok"
            if case == "async-allow-request":  # answered after the FIN: says it closes
                assert answers[-1].header("Connection") == "close"
            assert await conn.read_eof(timeout=3) == b""
            await wait_let_go(app, 1)  # at once: nothing more can come to wait for
        finally:
            conn.close()


async def test_half_close_during_a_long_poll_ends_the_session(serve: Serve) -> None:
    """A FIN while a long-poll waits is how a vanished client shows: the session ends at once
    (the reference's "poll connection closed prematurely"), it is not kept for ping_interval."""
    async with battery(serve) as (app, url):
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            await conn.send(raw("GET", client.target()))
            await app.wait_pending_poll(client.sid)
            conn.writer.write_eof()
            assert await app.wait_disconnect(client.sid, timeout=2) == "transport error"
        finally:
            conn.close()


async def test_half_close_inside_a_head_closes(serve: Serve) -> None:
    async with battery(serve) as (_app, url):
        conn = await Conn.open(url)
        try:
            await conn.send(HANDSHAKE[:20])
            conn.writer.write_eof()
            assert await conn.read_eof(timeout=3) == b""
        finally:
            conn.close()


# -- upgrade requests that are no RFC 6455 handshake: 400 and closed ------------------------------

def _without(name: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in UPGRADE if k != name]


INVALID_UPGRADES: dict[str, tuple[str, str, list[tuple[str, str]], bytes]] = {
    "no-key": ("GET", "1.1", _without("Sec-WebSocket-Key"), b""),
    "short-key": ("GET", "1.1", [*_without("Sec-WebSocket-Key"), ("Sec-WebSocket-Key", "abc")], b""),
    "key-not-base64": ("GET", "1.1", [*_without("Sec-WebSocket-Key"), ("Sec-WebSocket-Key", "!" * 22 + "==")], b""),
    "key-of-15-bytes": ("GET", "1.1", [*_without("Sec-WebSocket-Key"), ("Sec-WebSocket-Key", "A" * 20)], b""),
    "key-of-17-bytes": ("GET", "1.1", [*_without("Sec-WebSocket-Key"), ("Sec-WebSocket-Key", "A" * 23 + "=")], b""),
    "two-keys": ("GET", "1.1", [*UPGRADE, ("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA==")], b""),
    "with-a-body": ("GET", "1.1", [*UPGRADE, ("Content-Length", "5")], b"hello"),
    "with-a-chunked-body": ("GET", "1.1", [*UPGRADE, ("Transfer-Encoding", "chunked")], chunked(b"hello")),
    "with-frames-as-a-body": ("GET", "1.1", [*UPGRADE, ("Content-Length", "9")], ws_frame(1, b"4hi")),
    "http10": ("GET", "1.0", UPGRADE, b""),
    "post": ("POST", "1.1", [*UPGRADE, ("Content-Length", "0")], b""),
}


@pytest.mark.parametrize(("method", "version", "headers", "body"), list(INVALID_UPGRADES.values()),
                         ids=list(INVALID_UPGRADES))
async def test_invalid_upgrade_is_400_and_closes(serve: Serve, method: str, version: str,
                                                 headers: list[tuple[str, str]], body: bytes) -> None:
    async with battery(serve) as (app, url):
        conn = await Conn.open(url)
        try:
            await conn.send(raw(method, WEBSOCKET, headers, body, version))
            response = await assert_refused(conn)
            assert response.header("Sec-WebSocket-Accept") is None
        finally:
            conn.close()
        assert len(app.order) == 1  # no session was opened


async def test_unsupported_websocket_version_names_ours(serve: Serve) -> None:
    """RFC 6455 section 4.4: the refusal names the version the server speaks."""
    async with battery(serve) as (_app, url):
        conn = await Conn.open(url)
        try:
            await conn.send(raw("GET", WEBSOCKET, [*_without("Sec-WebSocket-Version"), ("Sec-WebSocket-Version", "8")]))
            response = await assert_refused(conn)
            assert response.header("Sec-WebSocket-Version") == "13"
        finally:
            conn.close()


# -- the same requests through ASGIApp under uvicorn, where the answer is socketeer's ---------

@contextlib.asynccontextmanager
async def under_uvicorn(app: EchoApp) -> AsyncIterator[str]:
    config = uvicorn.Config(ASGIApp(app.eio), host="127.0.0.1", port=0, lifespan="on", log_level="warning",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(5):
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        yield url
        await assert_serving(url)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_asgi_body_over_the_limit_is_413_before_it_is_sent() -> None:
    app = EchoApp(path=PATH, max_http_buffer_size=1000)
    async with under_uvicorn(app) as url:
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", client.target(), [("Content-Length", "1001")]))
            assert (await conn.read_response(timeout=2)).status == 413
        finally:
            conn.close()


async def test_asgi_chunked_body_over_the_limit_is_413() -> None:
    app = EchoApp(path=PATH, echo=False, max_http_buffer_size=100)
    async with under_uvicorn(app) as url:
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            body = chunked(b"4" + b"a" * 100)
            await conn.send(raw("POST", client.target(), [("Transfer-Encoding", "chunked")], body))
            assert (await conn.read_response(timeout=2)).status == 413
        finally:
            conn.close()
        assert app.messages[client.sid] == []


async def test_asgi_chunked_post_split_at_every_offset() -> None:
    app = EchoApp(path=PATH, echo=False)
    async with under_uvicorn(app) as url:
        client, _ = await session(app, url)
        request = raw("POST", client.target(), [("Transfer-Encoding", "chunked")], chunked(b"4h", b"i"))
        conn = await Conn.open(url)
        try:
            for cut in range(1, len(request)):
                await conn.send(request[:cut])
                await asyncio.sleep(0.001)
                await conn.send(request[cut:])
                assert (await conn.read_response()).body == b"ok", cut
        finally:
            conn.close()
        count = len(request) - 1
        assert await app.wait_messages(client.sid, count) == ["hi"] * count


async def test_asgi_expect_100_continue() -> None:
    app = EchoApp(path=PATH, echo=False)
    async with under_uvicorn(app) as url:
        client, _ = await session(app, url)
        conn = await Conn.open(url)
        try:
            await conn.send(raw("POST", client.target(), [("Expect", "100-continue"), ("Content-Length", "3")]))
            assert (await conn.read_response(timeout=2)).status == 100
            await conn.send(b"4hi")
            assert (await conn.read_response()).body == b"ok"
        finally:
            conn.close()
        assert await app.wait_messages(client.sid, 1) == ["hi"]
