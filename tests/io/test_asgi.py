"""The ASGI front end under real servers (uvicorn, hypercorn), driven by the official client.

Servers run in the test's own event loop on free ports of 127.0.0.1. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import hypercorn.asyncio
import hypercorn.config
import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from socketeer import ASGIApp, engineio
from socketeer.io import asgi as asgi_module
from socketeer.io.asgi import _Peer

EIO = "/engine.io/?EIO=4&transport=polling"
#: granian runs only where installed (it is not a dev dependency), in its experimental
#: embedded mode, which serves ASGI from the test's loop.
SERVERS = ["uvicorn", "hypercorn", "granian"]


def echo_server(**options: Any) -> engineio.Server:
    eio = engineio.Server(path="/engine.io/", **options)
    eio.disconnects = []  # type: ignore[attr-defined]

    @eio.on("message")
    async def echo(session, data):  # type: ignore[no-untyped-def]
        await session.send(data)

    @eio.on("disconnect")
    def gone(session, reason):  # type: ignore[no-untyped-def]
        eio.disconnects.append(reason)  # type: ignore[attr-defined]

    return eio


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(app: Any, kind: str, loop: str = "asyncio") -> AsyncIterator[str]:
    """``url`` of ``app`` served by uvicorn or hypercorn in this loop; stopped on exit."""
    if kind == "uvicorn":
        config = uvicorn.Config(app, host="127.0.0.1", port=0, loop=loop, lifespan="on", log_level="warning",
                                timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        try:
            await wait_until(lambda: server.started or task.done())
            assert server.started, "uvicorn did not start"
            port = server.servers[0].sockets[0].getsockname()[1]
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)
        return
    if kind == "granian":
        async with running_granian(app) as url:
            yield url
        return
    # Hypercorn takes a listening socket by file descriptor: no port race, and connections
    # made before it accepts wait in the backlog.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    hconfig = hypercorn.config.Config()
    hconfig.bind = [f"fd://{sock.detach()}"]
    hconfig.graceful_timeout = 1.0
    hconfig.loglevel = "WARNING"
    stop = asyncio.Event()
    task = asyncio.create_task(hypercorn.asyncio.serve(app, hconfig, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def running_granian(app: Any) -> AsyncIterator[str]:
    pytest.importorskip("granian")
    from granian.constants import Interfaces
    from granian.server.embed import Server

    for _ in range(3):  # granian binds by number: retry if another process took the free port
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        server = Server(app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_level="warning")
        task = asyncio.create_task(server.serve())
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=1) as client:
            deadline = asyncio.get_running_loop().time() + 5
            while not task.done() and asyncio.get_running_loop().time() < deadline:
                try:
                    await client.get("/__socketeer_probe__")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.02)
        if task.done():
            continue
        try:
            yield url
        finally:
            server.stop()
            await asyncio.wait_for(task, 10)
        return
    raise RuntimeError("granian did not start")


async def echo_roundtrip(js: Any, url: str, transports: list[str], cid: str) -> None:
    await js.call({"cmd": "eio_open", "id": cid, "url": url, "opts": {"path": "/engine.io/", "transports": transports}})
    opened = await js.wait_event(cid, "open")
    assert opened["transport"] == transports[0]
    if len(transports) == 2:
        await js.wait_event(cid, "upgrade")
    await js.call({"cmd": "eio_send", "id": cid, "data": "héllo €"})
    assert (await js.wait_event(cid, "message"))["data"] == "héllo €"
    await js.call({"cmd": "eio_send", "id": cid, "data": b"\x00\x01\xff"})
    assert (await js.wait_event(cid, "message"))["data"] == b"\x00\x01\xff"
    await js.call({"cmd": "eio_close", "id": cid})
    await js.wait_event(cid, "close")


TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}


@pytest.mark.parametrize("transport", list(TRANSPORTS))
@pytest.mark.parametrize("kind", SERVERS)
async def test_echo_with_official_client(js, kind, transport):  # type: ignore[no-untyped-def]
    eio = echo_server()
    async with running(ASGIApp(eio), kind) as url:
        await echo_roundtrip(js, url, TRANSPORTS[transport], "e1")
        await wait_until(lambda: not eio.engine.sessions)
    assert eio.disconnects == ["transport close"]


def test_echo_on_uvicorn_with_uvloop():
    """The same round trips with uvloop as the test's loop (uvicorn's usual production loop)."""
    uvloop = pytest.importorskip("uvloop")
    from interop_fixtures import _require_node
    from jsclient import JSDriver

    _require_node()

    async def main() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        eio = echo_server()
        js = await JSDriver.start()
        try:
            async with running(ASGIApp(eio), "uvicorn", loop="uvloop") as url:
                for name, transports in TRANSPORTS.items():
                    await echo_roundtrip(js, url, transports, name)
        finally:
            await js.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(main(), 20))


def make_other_app(events: list[str]) -> Starlette:
    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        events.append("other startup")
        yield
        events.append("other shutdown")

    return Starlette(routes=[Route("/hello", hello)], lifespan=lifespan)


@pytest.mark.parametrize("kind", SERVERS)
async def test_other_app_beside_the_engine(kind):  # type: ignore[no-untyped-def]
    events: list[str] = []
    eio = echo_server()
    eio.on("disconnect")(lambda session, reason: events.append(f"disconnect: {reason}"))
    app = ASGIApp(eio, make_other_app(events))
    async with running(app, kind) as url, httpx.AsyncClient(base_url=url, timeout=5) as client:
        hello = await client.get("/hello")
        assert (hello.status_code, hello.text) == (200, "hello")
        assert events == ["other startup"]
        handshake = await client.get(EIO)
        assert handshake.status_code == 200 and handshake.text.startswith("0{")
        assert (await client.get("/missing")).status_code == 404  # Starlette's, not ours
        assert len(eio.engine.sessions) == 1
    # Shutdown: the session is closed before the other app's shutdown runs.
    assert events == ["other startup", "disconnect: server shutting down", "other shutdown"]
    assert all(sock.closed for sock in eio.engine.sessions.values())


async def test_mounted_under_starlette_and_custom_path():
    """``root_path`` (Starlette's Mount) and ``socketio_path`` both move the engine's URL."""
    eio = echo_server()
    outer = Starlette(routes=[Mount("/rt", app=ASGIApp(eio, socketio_path="custom"))])
    async with running(outer, "uvicorn") as url, httpx.AsyncClient(base_url=url, timeout=5) as client:
        response = await client.get("/rt/custom/?EIO=4&transport=polling")
        assert response.status_code == 200 and response.text.startswith("0{")
        assert (await client.get("/rt" + EIO)).status_code == 404



@pytest.mark.parametrize("kind", SERVERS)
async def test_binary_post_body_is_400_and_closes_the_session(kind):  # type: ignore[no-untyped-def]
    eio = echo_server()
    closes = eio.disconnects  # type: ignore[attr-defined]
    async with running(ASGIApp(eio), kind) as url, httpx.AsyncClient(base_url=url, timeout=5) as client:
        opened = await client.get("/engine.io/", params={"EIO": "4", "transport": "polling"})
        sid = json.loads(opened.content[1:])["sid"]
        query = {"EIO": "4", "transport": "polling", "sid": sid}
        refused = await client.post("/engine.io/", params=query, content=b"4hello",
                                    headers={"Content-Type": "application/octet-stream"})
        assert refused.status_code == 400
        assert closes == ["transport error"]
        gone = await client.get("/engine.io/", params=query)
        assert gone.json() == {"code": 1, "message": "Session ID unknown"}

@pytest.mark.parametrize("kind", SERVERS)
async def test_body_over_the_limit_is_413(kind):  # type: ignore[no-untyped-def]
    eio = echo_server(max_http_buffer_size=1000)
    async def chunks() -> AsyncIterator[bytes]:
        # Over the limit only with the last chunk: a server that closes a connection with
        # unread request data (granian) would otherwise reset it before the 413 is read.
        for _ in range(3):
            yield b"4" + b"x" * 399

    async with running(ASGIApp(eio), kind) as url:
        # A client per request: whether a connection whose body was left unread is reused is
        # up to the server (granian closes it), and not what is tested here.
        def client() -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url=url, timeout=5)

        async with client() as c:
            sid = (await c.get(EIO)).text.split('"sid":"')[1].split('"')[0]
        post = f"{EIO}&sid={sid}"
        async with client() as c:  # declared too long: refused on the header
            assert (await c.post(post, content=b"4" + b"x" * 4999)).status_code == 413
        async with client() as c:  # chunked, no length: refused once the limit is passed
            assert (await c.post(post, content=chunks())).status_code == 413
        async with client() as c:  # the session survives, as the reference's does
            ok = await c.post(post, content=b"4small")
            assert (ok.status_code, ok.text) == (200, "ok")
            assert (await c.get(post)).text == "4small"


@pytest.mark.parametrize("kind", SERVERS)
async def test_pending_long_poll_does_not_block_a_post(kind):  # type: ignore[no-untyped-def]
    eio = echo_server()
    async with running(ASGIApp(eio), kind) as url, httpx.AsyncClient(base_url=url, timeout=5) as client:
        sid = (await client.get(EIO)).text.split('"sid":"')[1].split('"')[0]
        poll = asyncio.create_task(client.get(f"{EIO}&sid={sid}"))
        await wait_until(lambda: eio.engine.sessions[sid].poll_pending)
        post = await asyncio.wait_for(client.post(f"{EIO}&sid={sid}", content=b"4ping"), 2)
        assert (post.status_code, post.text) == (200, "ok")
        answer = await asyncio.wait_for(poll, 2)
        assert (answer.status_code, answer.text) == (200, "4ping")


@pytest.mark.parametrize("kind", SERVERS)
async def test_client_leaving_a_pending_poll_closes_the_session(kind):  # type: ignore[no-untyped-def]
    eio = echo_server()
    async with running(ASGIApp(eio), kind) as url:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            sid = (await client.get(EIO)).text.split('"sid":"')[1].split('"')[0]
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:
            poll = asyncio.create_task(client.get(f"{EIO}&sid={sid}"))
            await wait_until(lambda: eio.engine.sessions[sid].poll_pending)
            poll.cancel()  # httpx drops the connection of a cancelled request
            with contextlib.suppress(asyncio.CancelledError):
                await poll
        await wait_until(lambda: sid not in eio.engine.sessions)
    assert eio.disconnects == ["transport error"]


@pytest.mark.parametrize("kind", SERVERS)
async def test_refused_websocket_gets_the_engine_answer(kind):  # type: ignore[no-untyped-def]
    eio = echo_server()
    async with running(ASGIApp(eio), kind) as url:
        ws_url = url.replace("http", "ws") + "/engine.io/?EIO=4&transport=websocket&sid=nope"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(ws_url, open_timeout=5):
                pass
        assert refused.value.response.status_code == 400
        assert b"Session ID unknown" in refused.value.response.body


async def test_websocket_waits_for_an_async_allow_request():
    async def allow(request: Any) -> bool | str:
        await asyncio.sleep(0.01)
        return True if request.query.get("token") == "ok" else "bad token"

    eio = echo_server(allow_request=allow, transports=["websocket"])
    async with running(ASGIApp(eio), "uvicorn") as url:
        base = url.replace("http", "ws") + "/engine.io/?EIO=4&transport=websocket"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(base + "&token=no", open_timeout=5):
                pass
        assert (refused.value.response.status_code, refused.value.response.body) == (400, b"bad token")
        async with websockets.connect(base + "&token=ok", open_timeout=5) as ws:
            assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("0{")
            await ws.send("4hi")
            assert await asyncio.wait_for(ws.recv(), 5) == "4hi"


async def test_static_files_and_404_without_other_app():
    eio = echo_server()
    eio.static_files = {"/index.html": ("text/html", b"<p>hi</p>")}
    async with running(ASGIApp(eio), "uvicorn") as url, httpx.AsyncClient(base_url=url, timeout=5) as client:
        page = await client.get("/index.html")
        assert (page.status_code, page.headers["content-type"], page.content) == (200, "text/html", b"<p>hi</p>")
        assert (await client.get("/nope")).status_code == 404
        ws_url = url.replace("http", "ws") + "/elsewhere"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(ws_url, open_timeout=5):
                pass
        assert refused.value.response.status_code == 404


# -- without a server: the lifespan and the WebSocket peer alone -----------------------------

async def run_lifespan(app: ASGIApp) -> list[str]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[str] = []
    for message in ("lifespan.startup", "lifespan.shutdown"):
        inbox.put_nowait({"type": message})

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send), 5)
    return sent


async def test_lifespan_answered_without_other_app():
    eio = echo_server()
    closed: list[str] = []
    eio.engine.close_all = closed.append  # type: ignore[method-assign]
    assert await run_lifespan(ASGIApp(eio)) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert closed == ["server shutting down"]


async def test_lifespan_answered_for_an_other_app_without_lifespan():
    async def http_only(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"

    eio = echo_server()
    closed: list[str] = []
    eio.engine.close_all = closed.append  # type: ignore[method-assign]
    assert await run_lifespan(ASGIApp(eio, http_only)) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert closed == ["server shutting down"]


async def test_websocket_refusal_without_the_response_extension():
    eio = echo_server()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/engine.io/", "query_string": b"EIO=4&transport=websocket&sid=x",
             "headers": [], "scheme": "ws"}
    await asyncio.wait_for(ASGIApp(eio)(scope, receive, send), 5)
    assert [m["type"] for m in sent] == ["websocket.close"]


async def test_peer_queue_backpressure_and_close() -> None:
    gate = asyncio.Event()
    sent: list[Any] = []

    async def send(message: Any) -> None:
        await gate.wait()
        sent.append(message)

    peer = _Peer(send)
    writer = asyncio.create_task(peer.run())
    chunk = "4" + "x" * 1023
    peer.write_items([chunk] * 80)  # 80 KiB, over the high-water mark
    assert peer.buffered_amount() == 80 * 1024
    assert not peer.writable
    peer.write_text("é")  # two bytes on the wire
    assert peer.buffered_amount() == 80 * 1024 + 2
    peer.close(4000, "bye")
    peer.write_text("dropped")  # nothing is queued after close
    gate.set()
    await asyncio.wait_for(writer, 5)
    assert len(sent) == 82
    assert sent[-2] == {"type": "websocket.send", "text": "é"}
    assert sent[-1] == {"type": "websocket.close", "code": 4000, "reason": "bye"}
    assert peer.buffered_amount() == 0


async def test_peer_of_a_client_that_never_reads_is_dropped(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(asgi_module, "CLOSE_GRACE", 0.1)
    never = asyncio.Event()

    async def send(message: Any) -> None:
        await never.wait()

    peer = _Peer(send)
    writer = asyncio.create_task(peer.run())
    peer.write_items([b"\x00" * 10])
    await asyncio.sleep(0)
    peer.close()
    await asyncio.wait_for(writer, 2)  # gave up after CLOSE_GRACE instead of hanging
    assert peer.disconnected and peer.buffered_amount() == 0
