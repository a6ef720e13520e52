"""CORS (as the reference's ``cors`` middleware answers), preflights, cookies, allow_request, transports."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from rawclient import Conn, EchoApp, EngineClient, Response, http, open_ws

Serve = Callable[[Any], Awaitable[str]]
HANDSHAKE = "/engine.io/?EIO=4&transport=polling"
ORIGIN = {"Origin": "http://example.com"}
PREFLIGHT = {
    "Origin": "http://example.com",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


async def start(serve: Serve, **options: Any) -> tuple[EchoApp, str]:
    app = EchoApp(**options)
    return app, await serve(app.eio)


def cors_headers(response: Response) -> list[tuple[str, str]]:
    """The CORS-related headers, in order (Vary included)."""
    return [(k, v) for k, v in response.headers if k.lower().startswith("access-control") or k.lower() == "vary"]


def app_headers(response: Response) -> list[str]:
    """Header names the application wrote, in order (without transport framing ones)."""
    skip = {"content-length", "date", "connection", "keep-alive", "transfer-encoding"}
    return [k for k, _ in response.headers if k.lower() not in skip]


# -- no CORS by default ------------------------------------------------------------------------

async def test_no_cors_headers_by_default(serve: Serve) -> None:
    _, url = await start(serve)
    response = await http(url, "GET", HANDSHAKE, headers=ORIGIN)
    assert response.status == 200
    assert cors_headers(response) == []
    assert app_headers(response) == ["Content-Type", "cache-control"]


async def test_options_without_cors_is_a_bad_handshake_method(serve: Serve) -> None:
    _, url = await start(serve)
    response = await http(url, "OPTIONS", HANDSHAKE, headers=PREFLIGHT)
    assert response.status == 400
    assert response.header("Content-Type") == "application/json"
    assert response.json() == {"code": 2, "message": "Bad handshake method"}
    assert cors_headers(response) == []


# -- cors_allowed_origins="*" ----------------------------------------------------------------

@pytest.mark.parametrize("headers", [ORIGIN, {}], ids=["with-origin", "without-origin"])
async def test_star_handshake(serve: Serve, headers: dict[str, str]) -> None:
    _, url = await start(serve, cors_allowed_origins="*")
    response = await http(url, "GET", HANDSHAKE, headers=headers)
    assert response.status == 200
    # node-wire.md §1 (B): the one header, inserted first.
    assert app_headers(response) == ["Access-Control-Allow-Origin", "Content-Type", "cache-control"]
    assert response.header("Access-Control-Allow-Origin") == "*"


async def test_star_preflight(serve: Serve) -> None:
    _, url = await start(serve, cors_allowed_origins="*")
    response = await http(url, "OPTIONS", HANDSHAKE, headers=PREFLIGHT)
    assert response.status == 204
    assert response.body == b""
    assert [(k, v) for k, v in response.headers if k.lower() not in ("date", "connection", "keep-alive")] == [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE"),
        ("Vary", "Access-Control-Request-Headers"),
        ("Access-Control-Allow-Headers", "content-type"),
        ("Content-Length", "0"),
    ]


async def test_star_on_errors_posts_and_the_101(serve: Serve) -> None:
    _, url = await start(serve, cors_allowed_origins="*")
    error = await http(url, "GET", "/engine.io/?EIO=4&transport=foo", headers=ORIGIN)
    assert error.status == 400
    assert cors_headers(error) == [("Access-Control-Allow-Origin", "*")]
    assert app_headers(error)[0] == "Access-Control-Allow-Origin"
    client = EngineClient(url)
    await client.open()
    ok = await client.post("4x", headers=ORIGIN)
    assert ok.body == b"ok"
    assert cors_headers(ok) == [("Access-Control-Allow-Origin", "*")]
    ws = await open_ws(url, "/engine.io/?EIO=4&transport=websocket", headers=ORIGIN)
    try:
        assert cors_headers(ws.response) == [("Access-Control-Allow-Origin", "*")]
        # After Sec-WebSocket-Accept, as the reference appends them.
        names = ws.response.header_names()
        assert names.index("access-control-allow-origin") > names.index("sec-websocket-accept")
    finally:
        ws.close()


# -- a list of origins with credentials ---------------------------------------------------

LISTED = {"cors_allowed_origins": ["http://example.com", "http://other.test"], "cors_credentials": True}
CREDENTIALED = [
    ("Access-Control-Allow-Origin", "http://example.com"),
    ("Vary", "Origin"),
    ("Access-Control-Allow-Credentials", "true"),
]


async def test_list_with_credentials_handshake(serve: Serve) -> None:
    _, url = await start(serve, **LISTED)
    response = await http(url, "GET", HANDSHAKE, headers=ORIGIN)
    assert response.status == 200
    assert cors_headers(response) == CREDENTIALED
    assert app_headers(response) == [
        "Access-Control-Allow-Origin", "Vary", "Access-Control-Allow-Credentials", "Content-Type", "cache-control",
    ]


async def test_list_with_credentials_without_origin(serve: Serve) -> None:
    _, url = await start(serve, **LISTED)
    response = await http(url, "GET", HANDSHAKE)
    assert cors_headers(response) == [("Vary", "Origin"), ("Access-Control-Allow-Credentials", "true")]


async def test_list_refuses_an_unlisted_origin(serve: Serve) -> None:
    _, url = await start(serve, **LISTED)
    response = await http(url, "GET", HANDSHAKE, headers={"Origin": "http://evil.test"})
    # The reference's cors middleware: no Allow-Origin, the rest as usual (the browser refuses).
    assert cors_headers(response) == [("Vary", "Origin"), ("Access-Control-Allow-Credentials", "true")]


async def test_list_with_credentials_preflight(serve: Serve) -> None:
    _, url = await start(serve, **LISTED)
    response = await http(url, "OPTIONS", HANDSHAKE, headers=PREFLIGHT)
    assert response.status == 204
    assert [(k, v) for k, v in response.headers if k.lower() not in ("date", "connection", "keep-alive")] == [
        ("Access-Control-Allow-Origin", "http://example.com"),
        ("Vary", "Origin, Access-Control-Request-Headers"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE"),
        ("Access-Control-Allow-Headers", "content-type"),
        ("Content-Length", "0"),
    ]


async def test_preflight_without_request_headers_and_verbatim_echo(serve: Serve) -> None:
    _, url = await start(serve, **LISTED)
    bare = await http(url, "OPTIONS", HANDSHAKE, headers={**ORIGIN, "Access-Control-Request-Method": "POST"})
    assert bare.status == 204
    assert bare.header("Access-Control-Allow-Headers") is None
    assert bare.header("Vary") == "Origin, Access-Control-Request-Headers"
    echoed = await http(url, "OPTIONS", HANDSHAKE,
                        headers={**ORIGIN, "Access-Control-Request-Headers": "X-Custom,  content-type"})
    assert echoed.header("Access-Control-Allow-Headers") == "X-Custom,  content-type"


async def test_list_with_credentials_on_post_error_and_101(serve: Serve) -> None:
    _, url = await start(serve, **LISTED)
    client = EngineClient(url)
    await client.open(headers=ORIGIN)
    ok = await client.post("4x", headers=ORIGIN)
    assert cors_headers(ok) == CREDENTIALED
    assert app_headers(ok) == [
        "Access-Control-Allow-Origin", "Vary", "Access-Control-Allow-Credentials", "Content-Type", "cache-control",
    ]
    error = await http(url, "GET", "/engine.io/?EIO=4&transport=polling&sid=nope", headers=ORIGIN)
    assert cors_headers(error) == CREDENTIALED
    ws = await open_ws(url, "/engine.io/?EIO=4&transport=websocket", headers=ORIGIN)
    try:
        assert cors_headers(ws.response) == CREDENTIALED
    finally:
        ws.close()


async def test_callable_origins(serve: Serve) -> None:
    _, url = await start(serve, cors_allowed_origins=lambda origin: origin.endswith(".example.com"))
    yes = await http(url, "GET", HANDSHAKE, headers={"Origin": "https://app.example.com"})
    assert cors_headers(yes) == [("Access-Control-Allow-Origin", "https://app.example.com"), ("Vary", "Origin")]
    no = await http(url, "GET", HANDSHAKE, headers={"Origin": "https://example.org"})
    assert cors_headers(no) == [("Vary", "Origin")]


# -- cookie ------------------------------------------------------------------------------------

async def test_cookie_option_sets_the_sid_cookie(serve: Serve) -> None:
    _, url = await start(serve, cookie="io")
    client = EngineClient(url)
    response = await client.open()
    assert response.header("Set-Cookie") == f"io={client.sid}; Path=/; HttpOnly; SameSite=Lax"
    # Only the handshake sets it.
    await client.post("4x")
    assert (await client.get()).header("Set-Cookie") is None


async def test_cookie_option_as_a_dict(serve: Serve) -> None:
    _, url = await start(serve, cookie={"name": "sticky", "path": "/app", "httpOnly": False, "sameSite": "Strict"})
    client = EngineClient(url)
    response = await client.open()
    assert response.header("Set-Cookie") == f"sticky={client.sid}; Path=/app; SameSite=Strict"


# -- allow_request -----------------------------------------------------------------------------

def deny(answer: bool | str) -> Callable[[Any], bool | str]:
    return lambda request: answer


def deny_later(answer: bool | str) -> Callable[[Any], Awaitable[bool | str]]:
    async def check(request: Any) -> bool | str:
        await asyncio.sleep(0.01)
        return answer

    return check


VERDICTS = [
    (deny(False), "Forbidden"),
    (deny("nope"), "nope"),
    (deny(""), "Forbidden"),
    (deny_later(False), "Forbidden"),
    (deny_later("not today"), "not today"),
]
VERDICT_IDS = ["false", "message", "empty-message", "async-false", "async-message"]


@pytest.mark.parametrize(("check", "message"), VERDICTS, ids=VERDICT_IDS)
async def test_allow_request_refuses_a_polling_handshake(serve: Serve, check: Any, message: str) -> None:
    app, url = await start(serve, allow_request=check)
    response = await http(url, "GET", HANDSHAKE)
    assert response.status == 403
    assert response.header("Content-Type") == "application/json"
    assert response.json() == {"code": 4, "message": message}
    assert app.order == []


@pytest.mark.parametrize(("check", "message"), VERDICTS, ids=VERDICT_IDS)
async def test_allow_request_refuses_a_websocket_handshake(serve: Serve, check: Any, message: str) -> None:
    app, url = await start(serve, allow_request=check)
    ws = await open_ws(url, "/engine.io/?EIO=4&transport=websocket", expect=None)
    try:
        # The reference's abortUpgrade: 400, the message as text/html, then the socket is gone.
        assert ws.response.status == 400
        assert ws.response.body == message.encode()
        assert (ws.response.header("Content-type") or "").startswith("text/html")
        assert await ws.conn.closed_by_peer()
    finally:
        ws.close()
    assert app.order == []


@pytest.mark.parametrize("check", [deny(True), deny_later(True)], ids=["sync", "async"])
async def test_allow_request_accepts(serve: Serve, check: Any) -> None:
    seen: list[str] = []

    def record(request: Any) -> Any:
        seen.append(request.url)
        return check(request)

    _app, url = await start(serve, allow_request=record)
    client = EngineClient(url)
    await client.open()
    await client.post("4hi")  # requests of an existing session are not checked again
    assert await client.poll() == ["4hi"]
    ws = await open_ws(url, "/engine.io/?EIO=4&transport=websocket")
    try:
        assert str(await ws.recv()).startswith("0{")
        await ws.send_text("4over ws")
        assert await ws.recv() == "4over ws"
    finally:
        ws.close()
    assert len(seen) == 2


async def test_allow_request_is_asked_before_the_protocol_version(serve: Serve) -> None:
    # The reference's verify() runs allowRequest before handshake() checks EIO.
    _, url = await start(serve, allow_request=deny("nope"))
    response = await http(url, "GET", "/engine.io/?EIO=3&transport=polling")
    assert response.status == 403
    assert response.json() == {"code": 4, "message": "nope"}
    allowed_url = await serve(EchoApp(allow_request=deny(True)).eio)
    response = await http(allowed_url, "GET", "/engine.io/?EIO=3&transport=polling")
    assert response.json() == {"code": 5, "message": "Unsupported protocol version"}


# -- transports ------------------------------------------------------------------------------

async def test_websocket_only_server_refuses_polling(serve: Serve) -> None:
    _, url = await start(serve, transports=["websocket"])
    response = await http(url, "GET", HANDSHAKE)
    assert response.status == 400
    assert response.json() == {"code": 0, "message": "Transport unknown"}
    ws = await open_ws(url, "/engine.io/?EIO=4&transport=websocket")
    try:
        opened = str(await ws.recv())
        assert orjson.loads(opened[1:])["upgrades"] == []
    finally:
        ws.close()


async def test_polling_only_server_refuses_websocket(serve: Serve) -> None:
    _, url = await start(serve, transports=["polling"])
    client = EngineClient(url)
    await client.open()
    for target in ("/engine.io/?EIO=4&transport=websocket", client.target("websocket")):
        ws = await open_ws(url, target, expect=400)
        assert ws.response.body == b"Transport unknown"
        ws.close()
    assert await client.post("4still") == await client.post("4ok")  # both "ok"
    assert await client.poll() == ["4still", "4ok"]


async def test_upgrades_disabled_refuses_an_upgrade_but_keeps_polling(serve: Serve) -> None:
    app, url = await start(serve, allow_upgrades=False)
    client = EngineClient(url)
    await client.open()
    assert client.handshake["upgrades"] == []
    ws = await client.upgrade_ws()
    try:
        frames, _close = await ws.recv_until_close()
        assert frames == []
    finally:
        ws.close()
    assert (await client.post("4x")).body == b"ok"
    assert await client.poll() == ["4x"]
    assert app.disconnects == {}


async def test_unknown_options_are_refused() -> None:
    from socketeer import engineio

    with pytest.raises(TypeError, match="pingInterval"):
        engineio.Server(pingInterval=1)


async def test_keep_alive_and_connection_close(serve: Serve) -> None:
    _, url = await start(serve)
    conn = await Conn.open(url)
    try:
        await conn.request("GET", HANDSHAKE, headers={"Connection": "close"})
        response = await conn.read_response()
        assert response.status == 200
        assert response.header("Connection") == "close"
        assert await conn.closed_by_peer()
    finally:
        conn.close()
