"""Connecting, on every transport path, to socketeer and to Node's socket.io (``server``)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from clientkit import Inbox, ServerUnderTest, engine_of, reference_app

import socketeer

TRANSPORTS = {
    "upgrade": ["polling", "websocket"],
    "websocket": ["websocket"],
    "polling": ["polling"],
}


@pytest.mark.parametrize("path", TRANSPORTS, ids=list(TRANSPORTS))
async def test_every_transport_path_text_and_binary(server: ServerUnderTest, clients: Any, path: str) -> None:
    client = clients(server.url, transports=TRANSPORTS[path])
    echoes = Inbox()
    client.on("echo", echoes)
    events: list[str] = []
    client.on("connect", lambda: events.append("connect"))
    await client.connect(timeout=5)
    assert client.connected and client.id and events == ["connect"]
    first_transport = client.transport
    # Text, unicode, nested binary both ways; acks with several values.
    assert await client.emit_with_ack("ack", "héllo €", 2, {"k": [None, True]}, timeout=5) == [
        "héllo €", 2, {"k": [None, True]}]
    assert await client.emit_with_ack("ack", b"\x00\xff" * 600, timeout=5) == b"\x00\xff" * 600
    client.emit("echo", {"nested": [b"\x01\x02", {"deep": b""}]}, "tail")
    assert await echoes.get() == [{"nested": [b"\x01\x02", {"deep": b""}]}, "tail"]
    big = "x" * 50_000  # over the permessage-deflate threshold, and several TCP segments
    client.emit("echo", big)
    assert await echoes.get() == big
    if path == "upgrade":
        assert first_transport == "polling"
        await asyncio.wait_for(_until_transport(client, "websocket"), 5)
        assert await client.emit_with_ack("ack", "after upgrade", timeout=5) == "after upgrade"
    else:
        assert client.transport == TRANSPORTS[path][0]


async def _until_transport(client: socketeer.Client, name: str) -> None:
    while client.transport != name:
        await asyncio.sleep(0.01)


async def test_upgrade_loses_nothing_in_flight(server: ServerUnderTest, clients: Any) -> None:
    """Emits made while the probe runs and polling pauses arrive once each, in order."""
    client = clients(server.url)
    echoes = Inbox()
    client.on("echo", echoes)
    await client.connect(timeout=5)
    for i in range(60):
        client.emit("echo", i)
        await asyncio.sleep(0.002)
    assert await echoes.wait_len(60) == list(range(60))
    await asyncio.wait_for(_until_transport(client, "websocket"), 5)


async def test_auth_and_refusal_with_data(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    await client.connect(timeout=5)
    refused = client.socket("/admin", auth={"token": "nope"})
    errors = Inbox()
    refused.on("connect_error", errors)
    with pytest.raises(socketeer.ConnectionError) as info:
        await refused.connect(timeout=5)
    assert info.value.message == "Not authorized"
    assert info.value.data == {"reason": "token"}
    error = await errors.get()
    assert isinstance(error, socketeer.ConnectionError) and error.data == {"reason": "token"}
    assert not refused.connected and not refused.active
    # The refusal touched only that namespace.
    assert client.connected
    assert await client.emit_with_ack("ack", 1, timeout=5) == 1
    admin = socketeer.Client(server.url + "/admin", auth={"token": "ok"})
    try:
        await admin.connect(timeout=5)
        assert await admin.emit_with_ack("ack", "admin", timeout=5) == "admin"
    finally:
        await admin.disconnect()


async def test_auth_callable_sync_and_async(serve: Any, clients: Any) -> None:
    io = reference_app()
    seen: list[Any] = []

    @io.on("connection")
    def connection(socket: socketeer.Socket, auth: Any) -> None:
        seen.append(auth)

    url = await serve(io)
    calls = 0

    def token() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"token": "ok", "n": calls}

    async def async_token() -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"token": "async"}

    client = clients(url, auth=token)
    await client.connect(timeout=5)
    other = clients(url, auth=async_token)
    await other.connect(timeout=5)
    assert seen == [{"token": "ok", "n": 1}, {"token": "async"}]


async def test_connect_error_when_nothing_listens(clients: Any) -> None:
    client = clients("http://127.0.0.1:9", reconnection_delay=0.05)
    errors = Inbox()
    client.on("connect_error", errors)
    with pytest.raises(socketeer.ConnectionError, match="cannot connect"):
        await client.connect()
    assert isinstance(await errors.get(), socketeer.ConnectionError)
    # A failed connect() leaves nothing trying in the background.
    await asyncio.sleep(0.2)
    assert not client.active and not client.manager.reconnecting and client.manager.engine is None


async def test_handshake_refused_by_the_server(serve: Any, clients: Any) -> None:
    url = await serve(reference_app(allow_request=lambda request: "go away"))
    client = clients(url)
    with pytest.raises(socketeer.ConnectionError) as info:
        await client.connect()
    assert "go away" in info.value.message
    assert info.value.data == {"code": 4, "message": "go away"}


async def test_connect_timeout(clients: Any) -> None:
    # A listener that never answers: the attempt is bounded by connect(timeout=...). (The
    # writers are kept: from 3.13 on, a StreamWriter closes its connection when collected.)
    held: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        client = clients(f"http://127.0.0.1:{port}")
        with pytest.raises(socketeer.ConnectionError, match=r"within 0\.3 s"):
            await client.connect(timeout=0.3)
        assert not client.active
    finally:
        silent.close()


async def test_query_headers_and_path(serve: Any, clients: Any) -> None:
    io = reference_app(path="/custom/")
    seen: list[socketeer.Handshake] = []

    @io.on("connection")
    def connection(socket: socketeer.Socket) -> None:
        seen.append(socket.handshake)

    url = await serve(io)
    client = clients(url + "?from=url", path="/custom", query={"room": "a b"}, headers={"X-Token": "t1"})
    await client.connect(timeout=5)
    (handshake,) = seen
    assert handshake.query["from"] == "url" and handshake.query["room"] == "a b"
    assert handshake.query["EIO"] == "4"
    assert handshake.headers["x-token"] == "t1"
    assert handshake.url.startswith("/custom/?")


async def test_msgpack_parser(start_server: Any, clients: Any) -> None:
    pytest.importorskip("msgpack")
    server = await start_server(parser="msgpack", node={"parser": "msgpack"})
    client = clients(server.url, parser="msgpack")
    await client.connect(timeout=5)
    assert await client.emit_with_ack("ack", b"\x00bin", {"a": 1}, timeout=5) == [b"\x00bin", {"a": 1}]


def _certificate(tmp: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    return key, cert


@pytest.mark.parametrize("path", ["upgrade", "websocket"])
async def test_tls_with_a_user_context(tmp_path: Path, clients: Any, path: str) -> None:
    key, cert = _certificate(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    io = reference_app()
    (host, port), *_ = await io.listen("127.0.0.1", 0, ssl=server_ctx)
    try:
        client = clients(f"https://{host}:{port}", ssl=ssl.create_default_context(cafile=str(cert)),
                         transports=TRANSPORTS[path])
        await client.connect(timeout=5)
        assert await client.emit_with_ack("ack", "secure", timeout=5) == "secure"
        untrusted = clients(f"https://{host}:{port}", reconnection=False)  # the system CAs
        with pytest.raises(socketeer.ConnectionError):
            await untrusted.connect(timeout=5)
    finally:
        await io.shutdown(1)


async def test_reserved_events_on_client_disconnect(server: ServerUnderTest, clients: Any) -> None:
    """``connect`` then ``disconnect("io client disconnect")``, and nothing after."""
    client = clients(server.url, transports=["websocket"])
    log: list[Any] = []
    client.on("connect", lambda: log.append("connect"))
    client.on("disconnect", lambda reason: log.append(("disconnect", reason)))
    client.manager.on("reconnect_attempt", lambda n: log.append("attempt"))
    await client.connect(timeout=5)
    assert engine_of(client).sid
    await client.disconnect()
    await asyncio.sleep(0.1)
    assert log == ["connect", ("disconnect", "io client disconnect")]
    assert client.manager.engine is None and not client.manager.reconnecting


async def test_upgrade_with_a_poll_parked_after_the_release(serve: Any, clients: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET sent just after the server released the poll for the probe may stay parked on a
    server that releases only once (Node and socketeer re-release every 100 ms; the test turns
    that off). Sends go on by POST meanwhile, so the answer comes back on that GET and the
    upgrade completes, without waiting for a ping."""
    from socketeer.client.transports import PollingTransport
    from socketeer.io import polling as server_polling

    monkeypatch.setattr(server_polling, "PROBE_NOOP_DELAY", 60.0)

    original = PollingTransport.pause
    go = asyncio.Event()

    async def late_pause(self: PollingTransport) -> None:
        await go.wait()  # by then the poll loop has sent its next GET: parked on the server
        await original(self)

    monkeypatch.setattr(PollingTransport, "pause", late_pause)
    url = await serve(reference_app(ping_interval=20))
    client = clients(url)
    await client.connect(timeout=5)
    await asyncio.sleep(0.1)
    go.set()
    await asyncio.sleep(0.3)
    assert client.transport == "polling"  # stuck in the pause, until...
    assert await client.emit_with_ack("ack", "answered on the parked GET", timeout=2) == "answered on the parked GET"
    await asyncio.wait_for(_until_transport(client, "websocket"), 2)


async def test_polling_posts_respect_the_servers_max_payload(start_server: Any, clients: Any) -> None:
    server = await start_server(max_http_buffer_size=3000, node={"maxHttpBufferSize": 3000})
    client = clients(server.url, transports=["polling"])
    echoes = Inbox()
    client.on("echo", echoes)
    await client.connect(timeout=5)
    assert engine_of(client).session.max_payload == 3000
    chunks = [f"{i:02d}" + "y" * 998 for i in range(12)]  # 12 kB in one loop iteration
    for chunk in chunks:
        client.emit("echo", chunk)
    assert await echoes.wait_len(12) == chunks  # split over several POSTs, none refused


async def test_permessage_deflate_both_ways(start_server: Any, clients: Any) -> None:
    server = await start_server(per_message_deflate=True, node={"perMessageDeflate": {"threshold": 1024}})
    client = clients(server.url, transports=["websocket"])
    echoes = Inbox()
    client.on("echo", echoes)
    await client.connect(timeout=5)
    transport = engine_of(client).transport
    assert transport is not None and transport._deflate is not None  # type: ignore[union-attr]
    text = "compressible " * 5000
    client.emit("echo", text, b"\x00" * 4000)
    assert await echoes.get() == [text, b"\x00" * 4000]
    for i in range(3):  # the compression contexts carry over from message to message
        client.emit("echo", f"{i} " + text)
        assert await echoes.get() == f"{i} " + text


async def test_upgrade_off_stays_on_polling(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url, upgrade=False)
    await client.connect(timeout=5)
    assert await client.emit_with_ack("ack", 1, timeout=5) == 1
    await asyncio.sleep(0.2)
    assert client.transport == "polling"


async def test_disconnect_while_connecting(clients: Any) -> None:
    held: list[asyncio.StreamWriter] = []  # kept open: see test_connect_timeout
    silent = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        client = clients(f"http://127.0.0.1:{port}")
        attempt = asyncio.ensure_future(client.connect())
        await asyncio.sleep(0.1)
        await client.disconnect()
        with pytest.raises(socketeer.ConnectionError, match="disconnected by the client"):
            await asyncio.wait_for(attempt, 2)
        assert client.manager.engine is None and client.manager.state == "closed"
    finally:
        silent.close()
