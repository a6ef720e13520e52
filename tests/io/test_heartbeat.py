"""Heartbeats (node-wire.md §10), a server that goes away, and graceful shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from rawclient import Conn, EchoApp, EngineClient, WebSocket, open_ws

Serve = Callable[[Any], Awaitable[str]]
WS = "/engine.io/?EIO=4&transport=websocket"
FAST = {"ping_interval": 0.2, "ping_timeout": 0.2}


async def start(serve: Serve, **options: Any) -> tuple[EchoApp, str]:
    app = EchoApp(**options)
    return app, await serve(app.eio)


async def ws_session(url: str) -> tuple[WebSocket, str]:
    ws = await open_ws(url, WS)
    first = await ws.recv()
    assert isinstance(first, str) and first.startswith('0{"sid":"')
    return ws, first[9:29]


# -- the server's pings --------------------------------------------------------------------

async def test_websocket_client_that_answers_stays_connected(serve: Serve) -> None:
    app, url = await start(serve, **FAST)
    ws, sid = await ws_session(url)
    began = time.monotonic()
    pings: list[float] = []
    try:
        for _ in range(100):
            if time.monotonic() - began > 1.2:
                break
            got = await ws.recv(timeout=1)
            assert got == "2"
            pings.append(time.monotonic() - began)
            await ws.send_text("3")
        await ws.send_text("4alive")
        assert await ws.recv() == "4alive"
    finally:
        ws.close()
    assert sid not in app.disconnects or app.disconnects[sid] == ["transport close"]
    assert 4 <= len(pings) <= 8, pings
    assert 0.15 < pings[0] < 0.6, pings  # ping_interval after the open packet


async def test_polling_client_that_answers_stays_connected(serve: Serve) -> None:
    app, url = await start(serve, **FAST)
    client = EngineClient(url)
    await client.open()
    began = time.monotonic()
    pings = 0
    for _ in range(100):
        if time.monotonic() - began > 1.2:
            break
        packets = await client.poll(timeout=1)
        if "2" in packets:
            pings += 1
            assert (await client.post("3")).body == b"ok"
    assert pings >= 4
    assert client.sid not in app.disconnects
    assert (await client.post("4alive")).body == b"ok"
    assert await client.poll() == ["4alive"]


async def test_next_ping_is_timed_from_the_pong(serve: Serve) -> None:
    _, url = await start(serve, ping_interval=0.2, ping_timeout=0.5)
    ws, _ = await ws_session(url)
    try:
        assert await ws.recv(timeout=1) == "2"
        await asyncio.sleep(0.3)  # answer late, within ping_timeout
        ponged = time.monotonic()
        await ws.send_text("3")
        assert await ws.recv(timeout=1) == "2"
        assert time.monotonic() - ponged > 0.15
    finally:
        ws.close()


async def test_websocket_client_that_does_not_answer_times_out(serve: Serve) -> None:
    app, url = await start(serve, **FAST)
    began = time.monotonic()
    ws, sid = await ws_session(url)
    try:
        assert await ws.recv(timeout=1) == "2"
        frames, close = await ws.recv_until_close(timeout=2)
        assert frames == []
        assert close.payload == b""  # close frame only, no CLOSE packet
    finally:
        ws.close()
    assert await app.wait_disconnect(sid, timeout=2) == "ping timeout"
    assert 0.3 < time.monotonic() - began < 1.5


async def test_polling_client_with_a_pending_get_times_out(serve: Serve) -> None:
    app, url = await start(serve, **FAST)
    client = EngineClient(url)
    await client.open()
    assert await client.poll(timeout=1) == ["2"]
    pinged = time.monotonic()
    response = await client.get(timeout=2)  # pending until the pong is overdue
    assert response.body == b"1"
    assert 0.1 < time.monotonic() - pinged < 1.0
    assert await app.wait_disconnect(client.sid) == "ping timeout"


async def test_polling_client_that_vanished_is_dropped(serve: Serve) -> None:
    app, url = await start(serve, **FAST)
    client = EngineClient(url)
    await client.open()
    assert await app.wait_disconnect(client.sid, timeout=2) == "ping timeout"
    response = await client.get()
    assert response.json() == {"code": 1, "message": "Session ID unknown"}


async def test_any_packet_does_not_replace_the_pong(serve: Serve) -> None:
    app, url = await start(serve, **FAST)
    ws, sid = await ws_session(url)
    try:
        assert await ws.recv(timeout=1) == "2"
        for i in range(4):  # messages, but no pong
            await ws.send_text(f"4m{i}")
            assert await ws.recv() == f"4m{i}"
            await asyncio.sleep(0.05)
    finally:
        ws.close()
    assert await app.wait_disconnect(sid, timeout=2) == "ping timeout"


async def test_official_client_keeps_a_session_alive(js: Any, serve: Serve) -> None:
    app, url = await start(serve, **FAST)
    await js.call({"cmd": "eio_open", "id": "h", "url": url, "opts": {"path": "/engine.io/"}})
    await js.wait_event("h", "open")
    await js.wait_event("h", "upgrade")
    await asyncio.sleep(1.0)  # five heartbeat periods
    await js.call({"cmd": "eio_send", "id": "h", "data": "still here"})
    assert (await js.wait_event("h", "message"))["data"] == "still here"
    assert app.disconnects == {}


# -- a server that goes away ---------------------------------------------------------------

SERVER = """
import asyncio
from socketeer import engineio

async def main():
    eio = engineio.Server(path="/engine.io/", ping_interval=0.3, ping_timeout=0.3)

    @eio.on("message")
    async def echo(session, data):
        await session.send(data)

    (host, port), *_ = await eio.listen("127.0.0.1", 0)
    print(port, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest_asyncio.fixture
async def subprocess_server() -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        yield proc, f"http://127.0.0.1:{int(line)}"
    finally:
        if proc.returncode is None:
            proc.kill()  # works on a stopped process too
        await asyncio.wait_for(proc.wait(), 10)


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
async def test_official_client_notices_a_frozen_server(
    js: Any, subprocess_server: tuple[asyncio.subprocess.Process, str], transports: list[str]
) -> None:
    proc, url = subprocess_server
    await js.call({"cmd": "eio_open", "id": "f", "url": url,
                   "opts": {"path": "/engine.io/", "transports": transports}})
    await js.wait_event("f", "open")
    await js.call({"cmd": "eio_send", "id": "f", "data": "hi"})
    assert (await js.wait_event("f", "message"))["data"] == "hi"
    os.kill(proc.pid, signal.SIGSTOP)  # alive to TCP, silent to Engine.IO
    stopped = time.monotonic()
    closed = await js.wait_event("f", "close", timeout=5)
    assert closed["reason"] == "ping timeout"
    # The client allows ping_interval + ping_timeout (0.6 s) after the last ping.
    assert time.monotonic() - stopped < 0.6 + 1.0


async def test_official_client_notices_a_killed_server(
    js: Any, subprocess_server: tuple[asyncio.subprocess.Process, str]
) -> None:
    proc, url = subprocess_server
    await js.call({"cmd": "eio_open", "id": "k", "url": url,
                   "opts": {"path": "/engine.io/", "transports": ["websocket"]}})
    await js.wait_event("k", "open")
    proc.kill()
    killed = time.monotonic()
    closed = await js.wait_event("k", "close", timeout=5)
    assert closed["reason"] in ("transport close", "transport error")
    assert time.monotonic() - killed < 0.6 + 1.0


# -- graceful shutdown -----------------------------------------------------------------------

async def test_shutdown_closes_every_session_and_stops_accepting(serve: Serve) -> None:
    app, url = await start(serve)
    ws, ws_sid = await ws_session(url)
    waiting = EngineClient(url)
    await waiting.open()
    idle = EngineClient(url)
    await idle.open()
    pending = await waiting.start_poll()
    await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(app.eio.shutdown(), 5)
        frames, close = await ws.recv_until_close()
        assert frames == []
        assert close.payload == b""
        response = await pending.read_response()
        assert response.body == b"1"
        assert response.header("Connection") == "close"
    finally:
        ws.close()
        pending.close()
    for sid in (ws_sid, waiting.sid, idle.sid):
        assert await app.wait_disconnect(sid) == "server shutting down"
        assert app.disconnects[sid] == ["server shutting down"]
    with pytest.raises(OSError):
        conn = await Conn.open(url)
        conn.close()


async def test_shutdown_is_seen_by_the_official_client(js: Any, serve: Serve) -> None:
    app, url = await start(serve)
    await js.call({"cmd": "eio_open", "id": "s", "url": url, "opts": {"path": "/engine.io/"}})
    await js.wait_event("s", "open")
    await js.wait_event("s", "upgrade")
    await js.call({"cmd": "eio_open", "id": "p", "url": url,
                   "opts": {"path": "/engine.io/", "transports": ["polling"]}})
    await js.wait_event("p", "open")
    await app.eio.shutdown()
    for cid in ("s", "p"):
        closed = await js.wait_event(cid, "close", timeout=5)
        assert closed["reason"] in ("transport close", "transport error")


async def test_shutdown_with_nothing_connected(serve: Serve) -> None:
    app, url = await start(serve)
    began = time.monotonic()
    await app.eio.shutdown()
    assert time.monotonic() - began < 1.0
    await app.eio.shutdown()  # twice is harmless
    with pytest.raises(OSError):
        (await Conn.open(url)).close()
