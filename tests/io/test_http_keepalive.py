"""``Connection: close`` is honoured per request, whenever the answer is written: at once
(the handshake, a POST) or later (a long-poll answered by a message or by the ping timer,
after the parser may have moved on). node-fetch and other clients that always send
``Connection: close`` must keep a polling session alive through many heartbeats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from rawclient import Conn, EchoApp, Response

Serve = Callable[[Any], Awaitable[str]]
PATH = "/engine.io/"
CLOSE = {"Connection": "close"}
INTEROP = Path(__file__).resolve().parent.parent / "interop"


async def closing_request(url: str, method: str, target: str, body: str = "") -> Response:
    """One request with ``Connection: close``; the answer must say so and the server hang up."""
    conn = await Conn.open(url)
    try:
        await conn.request(method, target, body=body, headers=CLOSE)
        response = await conn.read_response()
        assert (response.header("Connection") or "").lower() == "close", (method, target, response.headers)
        assert await conn.closed_by_peer()
        return response
    finally:
        conn.close()


async def handshake(url: str) -> str:
    response = await closing_request(url, "GET", f"{PATH}?EIO=4&transport=polling")
    assert response.status == 200
    sid: str = orjson.loads(response.body[1:])["sid"]
    return sid


async def test_answered_at_once(serve: Serve) -> None:
    app = EchoApp()
    url = await serve(app.eio)
    sid = await handshake(url)
    await app.wait_connect()
    post = await closing_request(url, "POST", f"{PATH}?EIO=4&transport=polling&sid={sid}", "4hello")
    assert post.status == 200 and post.body == b"ok"
    # The echo is queued: this GET is answered at once.
    get = await closing_request(url, "GET", f"{PATH}?EIO=4&transport=polling&sid={sid}")
    assert get.body == b"4hello"


async def test_long_poll_answered_later_by_a_message(serve: Serve) -> None:
    app = EchoApp()
    url = await serve(app.eio)
    sid = await handshake(url)
    session = await app.wait_connect()
    conn = await Conn.open(url)
    try:
        await conn.request("GET", f"{PATH}?EIO=4&transport=polling&sid={sid}", headers=CLOSE)
        await app.wait_pending_poll(sid)
        await session.send("later")
        response = await conn.read_response()
        assert response.body == b"4later"
        assert (response.header("Connection") or "").lower() == "close"
        assert await conn.closed_by_peer()
    finally:
        conn.close()


@pytest.mark.parametrize("beats", [6])
async def test_polling_with_connection_close_through_many_heartbeats(serve: Serve, beats: int) -> None:
    """Each long-poll is answered by the ping timer (long after its request was parsed);
    the pong goes back on a new connection, as node-fetch does it. The session lives on."""
    app = EchoApp(ping_interval=0.1, ping_timeout=1.0)
    url = await serve(app.eio)
    sid = await handshake(url)
    await app.wait_connect()
    target = f"{PATH}?EIO=4&transport=polling&sid={sid}"
    for _ in range(beats):
        ping = await closing_request(url, "GET", target)
        assert ping.body == b"2"
        pong = await closing_request(url, "POST", target, "3")
        assert pong.status == 200
    assert app.disconnects.get(sid) is None
    assert sid in app.eio.engine.sessions


async def test_node_fetch_keeps_a_polling_session_through_many_heartbeats(serve: Serve) -> None:
    """node-fetch, which sends ``Connection: close`` and opens a connection per request,
    keeps a polling session through many heartbeats. (Here it passed before the keep-alive
    fix too: node-fetch never reuses the connection; the raw tests above are the ones the
    defect failed.)"""
    if not (INTEROP / "node_modules" / "node-fetch").is_dir():
        pytest.fail("node-fetch is missing: run tools/bootstrap.sh all")
    app = EchoApp(ping_interval=0.15, ping_timeout=1.0)
    url = await serve(app.eio)
    beats = 8
    proc = await asyncio.create_subprocess_exec(
        "node", str(INTEROP / "fetch_poller.js"), url + PATH, str(beats),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    result = json.loads(out)
    assert result["error"] is None, (result, err.decode())
    assert result["heartbeats"] == beats
    assert set(result["statuses"]) == {200}
    sid = app.order[0]
    assert app.disconnects.get(sid) is None and sid in app.eio.engine.sessions
