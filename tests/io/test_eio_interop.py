"""The Engine.IO layer against the Node reference: the official engine.io-client, and
differential tests that send the same raw requests to socketeer and to ``ref_server.js``."""

from __future__ import annotations

import os
import re
import select
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from jsclient import HERE, node_modules_ready
from rawclient import EchoApp, EngineClient, Response, http, open_ws

from socketeer import engineio

Serve = Callable[[Any], Awaitable[str]]


def echo_server(**options: object) -> engineio.Server:
    eio = engineio.Server(path="/engine.io/", **options)

    @eio.on("message")
    async def echo(session, data):  # type: ignore[no-untyped-def]
        await session.send(data)

    return eio


@pytest.mark.parametrize(
    "opts",
    [
        {"transports": ["polling"]},
        {"transports": ["websocket"]},
        {"transports": ["polling", "websocket"]},
    ],
    ids=["polling", "websocket", "upgrade"],
)
async def test_echo_text_and_binary(js, serve, opts):  # type: ignore[no-untyped-def]
    url = await serve(echo_server())
    await js.call({"cmd": "eio_open", "id": "e1", "url": url, "opts": {"path": "/engine.io/", **opts}})
    await js.wait_event("e1", "open")
    if len(opts["transports"]) == 2:
        await js.wait_event("e1", "upgrade")
    await js.call({"cmd": "eio_send", "id": "e1", "data": "héllo €"})
    got = await js.wait_event("e1", "message")
    assert got["data"] == "héllo €"
    await js.call({"cmd": "eio_send", "id": "e1", "data": b"\x00\x01\xff"})
    got = await js.wait_event("e1", "message")
    assert got["data"] == b"\x00\x01\xff"


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]], ids=["polling", "websocket"])
async def test_official_client_sees_the_handshake_values(js: Any, serve: Serve, transports: list[str]) -> None:
    url = await serve(echo_server(ping_interval=0.3, ping_timeout=0.2, max_http_buffer_size=5000))
    await js.call({"cmd": "eio_open", "id": "h", "url": url, "opts": {"path": "/engine.io/", "transports": transports}})
    handshake = (await js.wait_event("h", "handshake"))["data"]
    assert handshake["pingInterval"] == 300
    assert handshake["pingTimeout"] == 200
    assert handshake["maxPayload"] == 5000
    assert handshake["upgrades"] == (["websocket"] if transports == ["polling"] else [])


async def test_official_client_is_refused_by_allow_request(js: Any, serve: Serve) -> None:
    url = await serve(echo_server(allow_request=lambda request: "no entry"))
    for transports in (["polling"], ["websocket"]):
        cid = transports[0]
        await js.call({"cmd": "eio_open", "id": cid, "url": url,
                       "opts": {"path": "/engine.io/", "transports": transports}})
        error = await js.wait_event(cid, "error")
        assert error is not None
        await js.wait_event(cid, "close")
        assert not [e for e in js.events[cid] if e["type"] == "open"]


async def test_official_client_large_messages_both_ways(js: Any, serve: Serve) -> None:
    url = await serve(echo_server(max_http_buffer_size=2_000_000))
    await js.call({"cmd": "eio_open", "id": "b", "url": url, "opts": {"path": "/engine.io/"}})
    await js.wait_event("b", "upgrade")
    text = "é" * 400_000
    blob = os.urandom(700_000)
    await js.call({"cmd": "eio_send", "id": "b", "data": text})
    assert (await js.wait_event("b", "message"))["data"] == text
    await js.call({"cmd": "eio_send", "id": "b", "data": blob})
    assert (await js.wait_event("b", "message"))["data"] == blob


async def test_official_polling_client_gets_binary_as_base64(js: Any, serve: Serve) -> None:
    url = await serve(echo_server())
    await js.call({"cmd": "eio_open", "id": "p", "url": url,
                   "opts": {"path": "/engine.io/", "transports": ["polling"]}})
    await js.wait_event("p", "open")
    for data in (b"", b"\x00", bytes(range(256)) * 40):
        await js.call({"cmd": "eio_send", "id": "p", "data": data})
        assert (await js.wait_event("p", "message"))["data"] == data


# -- differential: the same raw requests to socketeer and to the Node reference -------------

#: name -> (ref_server.js options, socketeer options)
CONFIGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "default": ({}, {}),
    "small": ({"maxHttpBufferSize": 1000, "pingInterval": 300, "pingTimeout": 200},
              {"max_http_buffer_size": 1000, "ping_interval": 0.3, "ping_timeout": 0.2}),
    "star": ({"cors": {"origin": "*"}}, {"cors_allowed_origins": "*"}),
    "credentials": ({"cors": {"origin": True, "credentials": True}},
                    {"cors_allowed_origins": ["http://example.com"], "cors_credentials": True}),
}
PATH = "/socket.io/"
ORIGIN = {"Origin": "http://example.com"}
SID = re.compile(rb'"sid":"[A-Za-z0-9_-]{20}"')


class RefServers:
    """One ``ref_server.js`` per option set, started on first use, for the whole module.

    Plain ``subprocess``: no event loop owns it, so it outlives each test's loop.
    """

    def __init__(self) -> None:
        self.procs: dict[str, tuple[subprocess.Popen[bytes], str]] = {}

    def url(self, config: str) -> str:
        if config not in self.procs:
            import json

            proc = subprocess.Popen(
                ["node", "ref_server.js", "--port", "0", "--options", json.dumps(CONFIGS[config][0])],
                cwd=HERE, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 10)
            line = proc.stdout.readline().decode() if ready else ""
            if not line.startswith("listening "):
                proc.kill()
                proc.wait(5)
                raise RuntimeError(f"ref_server.js did not start: {line!r}")
            self.procs[config] = (proc, f"http://127.0.0.1:{int(line.split()[1])}")
        return self.procs[config][1]

    def stop(self) -> None:
        for proc, _ in self.procs.values():
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture(scope="module")
def refs() -> Iterator[RefServers]:
    if not node_modules_ready():
        msg = "Node interop deps missing: run `npm ci` in tests/interop"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    servers = RefServers()
    try:
        yield servers
    finally:
        servers.stop()


def summary(response: Response, cors: bool = False) -> dict[str, Any]:
    """What must match: status, Content-Type, body (sids blanked), and CORS headers when asked."""
    out: dict[str, Any] = {
        "status": response.status,
        "content-type": response.header("Content-Type"),
        "body": SID.sub(b'"sid":"<sid>"', response.body),
    }
    if cors:
        out["cors"] = [(k.lower(), v) for k, v in response.headers
                       if k.lower().startswith("access-control") or k.lower() == "vary"]
    return out


@dataclass
class Case:
    name: str
    config: str
    run: Callable[[str], Awaitable[dict[str, Any]]]
    divergent: str = ""
    marks: list[Any] = field(default_factory=list)


def request(method: str, query: str, headers: dict[str, str] | None = None, body: bytes | str = b"",
            cors: bool = False) -> Callable[[str], Awaitable[dict[str, Any]]]:
    async def run(url: str) -> dict[str, Any]:
        return summary(await http(url, method, PATH + query, headers=headers, body=body), cors)

    return run


def upgrade_request(query: str) -> Callable[[str], Awaitable[dict[str, Any]]]:
    async def run(url: str) -> dict[str, Any]:
        ws = await open_ws(url, PATH + query, expect=None)
        try:
            return summary(ws.response)
        finally:
            ws.close()

    return run


async def session(url: str) -> EngineClient:
    client = EngineClient(url, PATH)
    await client.open()
    return client


async def post_noop(url: str) -> dict[str, Any]:
    client = await session(url)
    return summary(await client.post("6", headers=ORIGIN), cors=True)


async def post_over_the_limit(url: str) -> dict[str, Any]:
    client = await session(url)
    over = summary(await client.post("4" + "x" * 1000))
    after = summary(await client.post("6"))
    return {"over": over, "after": after}


async def post_undecodable(url: str) -> dict[str, Any]:
    client = await session(url)
    return summary(await client.post("zzz"))


async def post_octet_stream(url: str) -> dict[str, Any]:
    client = await session(url)
    return summary(await client.post(b"6", headers={"Content-Type": "application/octet-stream"}))


async def overlapping_gets(url: str) -> dict[str, Any]:
    client = await session(url)
    first = await client.start_poll()
    try:
        import asyncio

        await asyncio.sleep(0.1)
        second = summary(await client.get())
        released = summary(await first.read_response())
    finally:
        first.close()
    after = summary(await client.get())
    return {"second": second, "first": released, "after": after}


async def close_then_get(url: str) -> dict[str, Any]:
    client = await session(url)
    posted = summary(await client.post("1"))
    return {"post": posted, "get": summary(await client.get())}


async def polling_after_upgrade(url: str) -> dict[str, Any]:
    client = await session(url)
    ws = await client.upgrade_ws()
    try:
        await ws.send_text("2probe")
        assert await ws.recv() == "3probe"
        await ws.send_text("5")
        import asyncio

        await asyncio.sleep(0.05)
        return {"get": summary(await client.get()), "post": summary(await client.post("6"))}
    finally:
        ws.close()


ERROR_QUERIES = [
    ("transport-foo", "GET", "?EIO=4&transport=foo"),
    ("transport-missing", "GET", "?EIO=4"),
    ("eio3-transport-foo", "GET", "?EIO=3&transport=foo"),
    ("sid-unknown-get", "GET", "?EIO=4&transport=polling&sid=bogus"),
    ("sid-unknown-post", "POST", "?EIO=4&transport=polling&sid=bogus"),
    ("post-handshake", "POST", "?EIO=4&transport=polling"),
    ("put-handshake", "PUT", "?EIO=4&transport=polling"),
    ("post-eio3", "POST", "?EIO=3&transport=polling"),
    ("options-without-cors", "OPTIONS", "?EIO=4&transport=polling"),
    ("websocket-without-upgrade", "GET", "?EIO=4&transport=websocket"),
    ("eio3", "GET", "?EIO=3&transport=polling"),
    ("eio5", "GET", "?EIO=5&transport=polling"),
    ("eio-missing", "GET", "?transport=polling"),
    ("head-handshake", "HEAD", "?EIO=4&transport=polling"),
]

CASES = [
    Case("handshake", "default", request("GET", "?EIO=4&transport=polling")),
    Case("handshake-b64", "default", request("GET", "?EIO=4&transport=polling&b64=1")),
    Case("handshake-origin-no-cors", "default", request("GET", "?EIO=4&transport=polling", ORIGIN, cors=True)),
    Case("handshake-small", "small", request("GET", "?EIO=4&transport=polling")),
    *[Case(name, "default", request(method, query)) for name, method, query in ERROR_QUERIES],
    Case("ws-sid-unknown", "default", upgrade_request("?EIO=4&transport=websocket&sid=bogus")),
    Case("ws-transport-unknown", "default", upgrade_request("?EIO=4&transport=foo")),
    Case("ws-eio3", "default", upgrade_request("?EIO=3&transport=websocket"),
         divergent="the reference writes a 101, then a raw 400 inside the WebSocket stream (a garbage "
                   "frame); socketeer answers a plain 400 before upgrading"),
    Case("post-noop", "default", post_noop),
    Case("post-over-the-limit", "small", post_over_the_limit),
    Case("post-undecodable", "default", post_undecodable,
         divergent="the reference answers 200 ok and closes the session; socketeer answers 400 "
                   "(the session closes the same way, reason parse error)"),
    Case("post-octet-stream", "default", post_octet_stream),
    Case("overlapping-gets", "default", overlapping_gets),
    Case("close-then-get", "default", close_then_get),
    Case("polling-after-upgrade", "default", polling_after_upgrade),
    *[Case(f"{config}-{name}", config, run)
      for config in ("star", "credentials")
      for name, run in [
          ("handshake", request("GET", "?EIO=4&transport=polling", ORIGIN, cors=True)),
          ("handshake-no-origin", request("GET", "?EIO=4&transport=polling", cors=True)),
          ("preflight", request("OPTIONS", "?EIO=4&transport=polling",
                                {**ORIGIN, "Access-Control-Request-Method": "POST",
                                 "Access-Control-Request-Headers": "content-type"}, cors=True)),
          ("preflight-no-request-headers", request("OPTIONS", "?EIO=4&transport=polling",
                                                   {**ORIGIN, "Access-Control-Request-Method": "POST"}, cors=True)),
          ("error", request("GET", "?EIO=4&transport=foo", ORIGIN, cors=True)),
          ("post", post_noop),
      ]],
]


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.name, marks=[pytest.mark.xfail(reason=c.divergent, strict=True)] if c.divergent else [])
     for c in CASES],
)
async def test_same_answer_as_the_reference(case: Case, refs: RefServers, serve: Serve) -> None:
    ours = await serve(EchoApp(path=PATH, **CONFIGS[case.config][1]).eio)
    expected = await case.run(refs.url(case.config))
    assert await case.run(ours) == expected
