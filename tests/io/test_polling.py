"""Long-polling on the built-in server: the handshake bytes, error answers, GET/POST rules."""

from __future__ import annotations

import asyncio
import base64
import gzip
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from rawclient import RS, Conn, EchoApp, EngineClient, http, split_payload

Serve = Callable[[Any], Awaitable[str]]
SID = re.compile(r"^[A-Za-z0-9_-]{20}$")


async def start(serve: Serve, **options: Any) -> tuple[EchoApp, str]:
    app = EchoApp(**options)
    return app, await serve(app.eio)


# -- the handshake ---------------------------------------------------------------------------

async def test_open_packet_bytes_and_headers(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    response = await client.open()
    assert response.status == 200
    assert response.header("Content-Type") == "text/plain; charset=UTF-8"
    assert response.header("cache-control") == "no-store"
    assert int(response.header("Content-Length") or -1) == len(response.body)
    assert response.header("Set-Cookie") is None
    assert not [h for h in response.header_names() if h.startswith("access-control")]
    sid = client.sid
    assert SID.match(sid), sid
    # The reference's exact bytes, keys in its order.
    assert response.body == (
        b'0{"sid":"' + sid.encode() + b'","upgrades":["websocket"],"pingInterval":25000,'
        b'"pingTimeout":20000,"maxPayload":1000000}'
    )
    session = await app.wait_connect()
    assert session.sid == sid
    assert session.transport == "polling"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"ping_interval": 0.3, "ping_timeout": 0.2}, {"pingInterval": 300, "pingTimeout": 200}),
        ({"ping_interval": 0.1 + 0.2, "ping_timeout": 1.001}, {"pingInterval": 300, "pingTimeout": 1001}),
        ({"max_http_buffer_size": 1000}, {"maxPayload": 1000}),
        ({"transports": ["polling"]}, {"upgrades": []}),
        ({"allow_upgrades": False}, {"upgrades": []}),
    ],
    ids=["ms-300", "ms-rounded", "max-payload", "polling-only", "no-upgrades"],
)
async def test_open_packet_values(serve: Serve, options: dict[str, Any], expected: dict[str, Any]) -> None:
    _, url = await start(serve, **options)
    client = EngineClient(url)
    response = await client.open()
    assert list(client.handshake) == ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]
    for key, value in expected.items():
        assert client.handshake[key] == value
    assert f'"{next(iter(expected))}":'.encode() in response.body


async def test_b64_query_is_ignored(serve: Serve) -> None:
    _, url = await start(serve)
    response = await http(url, "GET", "/engine.io/?EIO=4&transport=polling&b64=1")
    assert response.status == 200
    assert response.body.startswith(b'0{"sid":"')


# -- error answers -----------------------------------------------------------------------------

ERRORS = [
    ("GET", "?EIO=4&transport=foo", 400, 0, "Transport unknown"),
    ("GET", "?EIO=4", 400, 0, "Transport unknown"),
    ("GET", "?EIO=3&transport=foo", 400, 0, "Transport unknown"),
    ("GET", "?EIO=4&transport=polling&sid=bogus", 400, 1, "Session ID unknown"),
    ("POST", "?EIO=4&transport=polling&sid=bogus", 400, 1, "Session ID unknown"),
    ("POST", "?EIO=4&transport=polling", 400, 2, "Bad handshake method"),
    ("PUT", "?EIO=4&transport=polling", 400, 2, "Bad handshake method"),
    ("DELETE", "?EIO=4&transport=polling", 400, 2, "Bad handshake method"),
    ("POST", "?EIO=3&transport=polling", 400, 2, "Bad handshake method"),
    ("OPTIONS", "?EIO=4&transport=polling", 400, 2, "Bad handshake method"),
    ("GET", "?EIO=4&transport=websocket", 400, 3, "Bad request"),
    ("GET", "?EIO=3&transport=polling", 400, 5, "Unsupported protocol version"),
    ("GET", "?EIO=5&transport=polling", 400, 5, "Unsupported protocol version"),
    ("GET", "?transport=polling", 400, 5, "Unsupported protocol version"),
    ("GET", "?EIO=&transport=polling", 400, 5, "Unsupported protocol version"),
]


@pytest.mark.parametrize(("method", "query", "status", "code", "message"), ERRORS,
                         ids=[f"{m}{q}" for m, q, *_ in ERRORS])
async def test_error_answers(serve: Serve, method: str, query: str, status: int, code: int, message: str) -> None:
    app, url = await start(serve)
    response = await http(url, method, "/engine.io/" + query)
    assert response.status == status
    assert response.header("Content-Type") == "application/json"
    assert response.body == orjson.dumps({"code": code, "message": message})
    assert app.order == []  # no session was made


async def test_head_error_has_no_body_and_keeps_the_connection(serve: Serve) -> None:
    _, url = await start(serve)
    conn = await Conn.open(url)
    try:
        await conn.request("HEAD", "/engine.io/?EIO=4&transport=polling")
        head = await conn.read_response(head_only=True)
        assert head.status == 400
        assert head.header("Content-Type") == "application/json"
        # The next response on the same connection must start right here (no stray body).
        await conn.request("GET", "/engine.io/?EIO=4&transport=polling")
        response = await conn.read_response()
        assert response.status == 200, (response.head, response.body)
        assert response.body.startswith(b"0{")
    finally:
        conn.close()


async def test_path_outside_the_engine_is_404(serve: Serve) -> None:
    _, url = await start(serve)
    response = await http(url, "GET", "/elsewhere?EIO=4&transport=polling")
    assert response.status == 404


# -- GET and POST ----------------------------------------------------------------------------

async def test_get_returns_every_queued_packet_in_one_payload(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    for i in range(5):
        await session.send(f"m{i}")
    await session.send(b"\x00\x01\xfe\xff")
    await session.send("é😀\u2028")
    await asyncio.sleep(0)  # the sends are flushed at the end of the iteration
    response = await client.get()
    assert response.status == 200
    assert response.header("Content-Type") == "text/plain; charset=UTF-8"
    assert response.header("cache-control") == "no-store"
    assert response.body.decode() == RS.join(
        [*(f"4m{i}" for i in range(5)), "b" + base64.b64encode(b"\x00\x01\xfe\xff").decode(), "4é😀\u2028"]
    )


async def test_post_ok_and_echo(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    response = await client.post("4hello" + RS + "4é😀" + RS + "bAQID" + RS + "b")
    assert response.status == 200
    assert response.body == b"ok"
    assert response.header("Content-Type") == "text/html"
    assert response.header("cache-control") == "no-store"
    assert await app.wait_messages(client.sid, 4) == ["hello", "é😀", b"\x01\x02\x03", b""]
    assert await client.poll() == ["4hello", "4é😀", "bAQID", "b"]


async def test_binary_both_ways_as_base64(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    blob = bytes(range(256)) * 8
    assert (await client.post("b" + base64.b64encode(blob).decode())).status == 200
    assert await app.wait_messages(client.sid, 1) == [blob]
    packets = await client.poll()
    assert packets == ["b" + base64.b64encode(blob).decode()]


async def test_pending_get_is_answered_by_a_send(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    conn = await client.start_poll()
    try:
        await app.wait_pending_poll(client.sid)
        await session.send("late")
        response = await conn.read_response()
        assert response.status == 200
        assert response.body == b"4late"
    finally:
        conn.close()


async def test_undecodable_post_is_400_and_closes_the_session(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    conn = await client.start_poll()
    try:
        response = await client.post("zzz")
        assert response.status == 400
        assert await app.wait_disconnect(client.sid) == "parse error"
        released = await conn.read_response()
        assert released.status == 200
        assert released.body == b"1"
    finally:
        conn.close()
    gone = await client.get()
    assert gone.status == 400
    assert gone.json() == {"code": 1, "message": "Session ID unknown"}


async def test_binary_post_body_is_400_and_closes_the_session(serve: Serve) -> None:
    """Engine.IO v4 polling carries binary as base64 text: an ``application/octet-stream``
    body is refused as the reference refuses it (400, session ended with a transport error)."""
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    conn = await Conn.open(url)
    try:
        await conn.request("POST", client.target(), body=b"4hello",
                           headers={"Content-Type": "application/octet-stream"})
        response = await conn.read_response()
    finally:
        conn.close()
    assert response.status == 400
    assert await app.wait_disconnect(client.sid) == "transport error"
    assert app.messages[client.sid] == []  # nothing of the body was delivered
    gone = await client.get()
    assert gone.json() == {"code": 1, "message": "Session ID unknown"}


@pytest.mark.parametrize("body", ["", "\x1e", "7", "x4hi", "b!!!"], ids=["empty", "separator", "type7", "x", "b64"])
async def test_undecodable_bodies_close_with_parse_error(serve: Serve, body: str) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    response = await client.post(body)
    assert response.status == 400
    assert await app.wait_disconnect(client.sid) == "parse error"
    assert app.messages[client.sid] == []


async def test_invalid_utf8_post_is_a_parse_error(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    response = await client.post(b"4\xff\xfe")
    assert response.status == 400
    assert await app.wait_disconnect(client.sid) == "parse error"


async def test_post_over_max_http_buffer_size_is_413_and_the_session_survives(serve: Serve) -> None:
    app, url = await start(serve, max_http_buffer_size=1000)
    client = EngineClient(url)
    await client.open()
    exact = "4" + "x" * 999
    assert (await client.post(exact)).status == 200
    over = "4" + "y" * 1000
    response = await client.post(over)
    assert response.status == 413
    assert (await client.post("4after")).status == 200
    assert await app.wait_messages(client.sid, 2) == ["x" * 999, "after"]
    assert app.disconnects == {}
    assert await client.poll() == [exact, "4after"]


async def test_post_over_the_limit_counts_utf8_bytes(serve: Serve) -> None:
    app, url = await start(serve, max_http_buffer_size=1000)
    client = EngineClient(url)
    await client.open()
    response = await client.post("4" + "é" * 500)  # 1001 bytes, 501 characters
    assert response.status == 413
    assert app.disconnects == {}


async def test_chunked_post_over_the_limit_is_413(serve: Serve) -> None:
    app, url = await start(serve, max_http_buffer_size=1000)
    client = EngineClient(url)
    await client.open()
    conn = await Conn.open(url)
    try:
        head = (f"POST {client.target()} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                "Content-Type: text/plain\r\n\r\n")
        chunk = b"4" + b"z" * 1100
        await conn.send(head.encode() + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n0\r\n\r\n")
        response = await conn.read_response()
        assert response.status == 413
    finally:
        conn.close()
    assert (await client.post("4fine")).status == 200
    assert await app.wait_messages(client.sid, 1) == ["fine"]


async def test_two_concurrent_gets_close_the_session(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    first = await client.start_poll()
    try:
        await app.wait_pending_poll(client.sid)  # the first GET must be the pending one
        second = await client.get()
        assert second.status == 400
        assert second.body == b""
        released = await first.read_response()
        assert released.status == 200
        assert released.body == b"1"
    finally:
        first.close()
    assert await app.wait_disconnect(client.sid) == "transport error"


async def test_close_packet_releases_the_pending_get(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    conn = await client.start_poll()
    try:
        await app.wait_pending_poll(client.sid)
        response = await client.post("1")
        assert response.status == 200
        assert response.body == b"ok"
        released = await conn.read_response()
        assert released.status == 200
        assert released.body == b"6"  # the reference answers the pending poll with a NOOP
    finally:
        conn.close()
    assert await app.wait_disconnect(client.sid) == "transport close"
    assert (await client.get()).json()["code"] == 1


async def test_messages_before_a_close_in_one_payload_are_delivered(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    assert (await client.post("4one" + RS + "4two" + RS + "1" + RS + "4three")).status == 200
    assert await app.wait_disconnect(client.sid) == "transport close"
    assert app.messages[client.sid] == ["one", "two"]


@pytest.mark.parametrize("body", ["5", "6", "0", "3"], ids=["upgrade", "noop", "open", "pong"])
async def test_ignored_packets_keep_the_session(serve: Serve, body: str) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    assert (await client.post(body)).status == 200
    assert (await client.post("4still")).status == 200
    assert await app.wait_messages(client.sid, 1) == ["still"]
    assert app.disconnects == {}


async def test_client_ping_is_a_transport_error(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    await client.post("2")
    assert await app.wait_disconnect(client.sid) == "transport error"


async def test_client_hanging_up_during_a_pending_get_closes_the_session(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    conn = await client.start_poll()
    await app.wait_pending_poll(client.sid)
    conn.close()
    assert await app.wait_disconnect(client.sid) == "transport error"


async def test_server_close_releases_the_pending_get(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    conn = await client.start_poll()
    try:
        await app.wait_pending_poll(client.sid)
        await session.send("bye")
        await session.close()
        response = await conn.read_response()
        assert split_payload(response.body)[-1] == "1"
    finally:
        conn.close()
    assert await app.wait_disconnect(client.sid) == "forced close"


async def test_server_close_without_a_pending_get_is_told_on_the_next_get(serve: Serve) -> None:
    app, url = await start(serve, ping_interval=0.2, ping_timeout=0.2)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    await session.close()
    assert await app.wait_disconnect(client.sid) == "forced close"
    assert await client.poll() == ["1"]
    # Closing must not also time out later: the handler hears of it exactly once.
    await asyncio.sleep(0.6)
    assert app.disconnects[client.sid] == ["forced close"]
    assert (await client.get()).json()["code"] == 1


async def test_server_close_without_any_get_reports_once(serve: Serve) -> None:
    app, url = await start(serve, ping_interval=0.1, ping_timeout=0.1)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    await session.close()
    assert await app.wait_disconnect(client.sid) == "forced close"
    await asyncio.sleep(0.5)  # several heartbeat periods: no "ping timeout" may follow
    assert app.disconnects[client.sid] == ["forced close"]


async def test_post_to_a_closing_session_does_not_report_twice(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    await session.close()
    assert await app.wait_disconnect(client.sid) == "forced close"
    for body in ("4late", "zzz", "2", "1"):
        await client.post(body)
    assert await client.poll() == ["1"]
    await asyncio.sleep(0.05)
    assert app.disconnects[client.sid] == ["forced close"]
    assert app.messages[client.sid] == []


async def test_keep_alive_connection_serves_several_requests(serve: Serve) -> None:
    _app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    conn = await Conn.open(url)
    try:
        for i in range(3):
            await conn.request("POST", client.target(), body=f"4n{i}")
            assert (await conn.read_response()).body == b"ok"
            await conn.request("GET", client.target())
            assert (await conn.read_response()).body == f"4n{i}".encode()
    finally:
        conn.close()


# -- compression -------------------------------------------------------------------------------

async def test_gzip_above_the_threshold_when_accepted(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    big = "x" * 5000
    for accept, expected in (("gzip, deflate, br", "gzip"), ("deflate", "deflate"), (None, None), ("br", None)):
        await session.send(big)
        await asyncio.sleep(0)
        headers = {"Accept-Encoding": accept} if accept else None
        response = await http(url, "GET", client.target(), headers=headers)
        assert response.header("Content-Encoding") == expected
        if expected == "gzip":
            body = gzip.decompress(response.body)
        elif expected == "deflate":
            import zlib

            body = zlib.decompress(response.body)
        else:
            body = response.body
        assert body == ("4" + big).encode()
        assert int(response.header("Content-Length") or -1) == len(response.body)
    # Below the threshold: never compressed.
    await session.send("small")
    await asyncio.sleep(0)
    response = await http(url, "GET", client.target(), headers={"Accept-Encoding": "gzip"})
    assert response.header("Content-Encoding") is None
    assert response.body == b"4small"


async def test_http_compression_off(serve: Serve) -> None:
    app, url = await start(serve, http_compression=False)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    await session.send("x" * 5000)
    await asyncio.sleep(0)
    response = await http(url, "GET", client.target(), headers={"Accept-Encoding": "gzip"})
    assert response.header("Content-Encoding") is None
    assert response.body == b"4" + b"x" * 5000
