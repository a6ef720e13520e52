"""A misbehaving server: every fault ends in a log line or an error event and a reconnection,
never a hang and never an exception in the user's event loop (``loop_errors`` stays empty)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from clientkit import Inbox

import socketeer
from socketeer import engineio
from socketeer.limits import Limits

Script = Callable[[Any, str | bytes], None]


def fake_socketio(script: Script) -> engineio.Server:
    """An Engine.IO server at the Socket.IO path that answers messages as ``script`` says."""
    eio = engineio.Server(path="/socket.io/")
    eio.on("message")(script)
    return eio


def connect_then(*packets: str | bytes) -> Script:
    """Accept the CONNECT of "/", then send ``packets`` (Engine.IO message payloads)."""
    def script(session: Any, data: str | bytes) -> None:
        if data == "0" or (isinstance(data, str) and data.startswith("0{")):
            session.send_nowait('0{"sid":"fake-sid"}')
            for packet in packets:
                session.send_nowait(packet)

    return script


async def expect_reconnection(client: socketeer.Client, reason: str) -> None:
    reasons = Inbox()
    client.on("disconnect", lambda r: reasons.put(r))
    attempts = Inbox()
    client.manager.on("reconnect_attempt", attempts)
    await client.connect(timeout=5)
    assert await reasons.get() == reason
    await attempts.get()


@pytest.mark.parametrize(
    "packet",
    [
        '2["unterminated',  # bad JSON
        "9",  # unknown packet type
        '2["connect"]',  # a reserved event name
        '5-["x",{"_placeholder":true,"num":0}]',  # no attachment count
        "511-[" + ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(11)) + "]",  # over max_attachments
        b"\x01\x02",  # binary data nobody announced
    ],
    ids=["json", "type", "reserved", "attachments-syntax", "too-many-attachments", "stray-binary"],
)
async def test_malformed_packet_is_a_parse_error(serve: Any, clients: Any, loop_errors: list[Any],
                                                 caplog: pytest.LogCaptureFixture, packet: str | bytes) -> None:
    url = await serve(fake_socketio(connect_then(packet)))
    client = clients(url, reconnection_delay=0.05, transports=["websocket"])
    await expect_reconnection(client, "parse error")
    assert "undecodable packet" in caplog.text
    assert loop_errors == []


async def test_ack_for_an_unknown_id_is_logged_and_ignored(serve: Any, clients: Any, loop_errors: list[Any],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    url = await serve(fake_socketio(connect_then("30[1]", "3999[]", '2["after",1]')))
    client = clients(url)
    after = Inbox()
    client.on("after", after)
    await client.connect(timeout=5)
    assert await after.get() == 1  # the connection went on
    assert caplog.text.count("awaits no answer") == 2
    assert client.connected and loop_errors == []


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
async def test_oversized_payload_is_a_transport_error(serve: Any, clients: Any, loop_errors: list[Any],
                                                     transports: list[str]) -> None:
    big = '2["big","' + "x" * 20_000 + '"]'

    def script(session: Any, data: str | bytes) -> None:
        if data == "0":
            session.send_nowait('0{"sid":"fake-sid"}')
        elif data == '2["go"]':
            session.send_nowait(big)

    url = await serve(fake_socketio(script))
    client = clients(url, limits=Limits(max_payload=1000), transports=transports, reconnection_delay=0.05)
    errors = Inbox()
    client.manager.on("error", errors)
    client.on("connect", lambda: client.emit("go"))
    await expect_reconnection(client, "transport error")
    error = await errors.get()
    assert isinstance(error, socketeer.ConnectionError)
    assert "too big" in str(error) or "over the limit" in str(error)
    assert loop_errors == []


async def test_oversized_payload_before_the_connect_answer(serve: Any, clients: Any, loop_errors: list[Any]) -> None:
    """The CONNECT answer is lost with the oversized frame read with it: a connect_error."""
    url = await serve(fake_socketio(connect_then('2["big","' + "x" * 20_000 + '"]')))
    client = clients(url, limits=Limits(max_payload=1000), transports=["websocket"], reconnection_delay=0.05)
    errors = Inbox()
    client.on("connect_error", errors)
    with pytest.raises(socketeer.ConnectionError, match="lost before / was joined"):
        await client.connect(timeout=5)
    assert isinstance(await errors.get(), socketeer.ConnectionError)
    assert loop_errors == []


class ScriptedPolling:
    """A bare long-polling server: handshake with short heartbeat, the CONNECT answer on the
    first poll, then ``after_connect`` bytes for every later poll (None: never answer)."""

    def __init__(self, after_connect: bytes | None, open_packet: bytes | None = None) -> None:
        self.after_connect = after_connect
        self.open_packet = open_packet or (
            b'0{"sid":"s1","upgrades":[],"pingInterval":150,"pingTimeout":100,"maxPayload":1000000}')
        self.polls = 0
        self.server: asyncio.Server | None = None
        self.connections: list[asyncio.StreamWriter] = []

    @staticmethod
    def _answer(body: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, TimeoutError, asyncio.LimitOverrunError):
            for _ in range(1000):
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                method, target = head.split(b" ", 2)[:2]
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if length:
                    await reader.readexactly(length)
                if b"sid=" not in target:
                    body: bytes | None = self.open_packet
                elif method == b"POST":
                    body = b"ok"
                else:
                    self.polls += 1
                    body = b'40{"sid":"nsp-sid"}' if self.polls == 1 else self.after_connect
                if body is None:
                    await asyncio.wait_for(reader.read(1), 10)  # hold the poll until the client leaves
                    break
                writer.write(self._answer(body))
                await writer.drain()
        writer.close()

    def crash(self) -> None:
        """Stop listening and cut every connection, as a crashing server."""
        assert self.server is not None
        self.server.close()
        for writer in self.connections:
            writer.transport.abort()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"


@pytest_asyncio.fixture
async def scripted() -> AsyncIterator[Callable[..., Any]]:
    servers: list[asyncio.Server] = []

    async def start(*args: Any) -> ScriptedPolling:
        fake = ScriptedPolling(*args)
        fake.server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
        servers.append(fake.server)
        return fake

    yield start
    for server in servers:
        server.close()


async def test_silent_server_is_a_ping_timeout(scripted: Any, clients: Any, loop_errors: list[Any]) -> None:
    fake = await scripted(None)  # never pings, never answers a poll again
    client = clients(fake.url, reconnection_delay=0.05, transports=["polling"])
    started = asyncio.get_running_loop().time()
    await expect_reconnection(client, "ping timeout")
    assert asyncio.get_running_loop().time() - started < 2.0  # pingInterval + pingTimeout = 0.25 s
    assert loop_errors == []


@pytest.mark.parametrize("garbage", [b"b!!!not base64", b"", b"\x1e\x1e"], ids=["base64", "empty", "separators"])
async def test_undecodable_polling_payload_is_a_transport_error(scripted: Any, clients: Any,
                                                               loop_errors: list[Any], garbage: bytes) -> None:
    fake = await scripted(garbage)
    client = clients(fake.url, reconnection_delay=0.05, transports=["polling"])
    await expect_reconnection(client, "transport error")
    assert loop_errors == []


@pytest.mark.parametrize(
    "open_packet", [b"not an open packet", b'0{"sid":1}', b"0{", b'4{"sid":"x"}'], ids=["text", "sid", "json", "type"]
)
async def test_bad_handshake_fails_connect(scripted: Any, clients: Any, loop_errors: list[Any],
                                           open_packet: bytes) -> None:
    fake = await scripted(None, open_packet)
    client = clients(fake.url)
    with pytest.raises(socketeer.ConnectionError):
        await client.connect(timeout=5)
    assert loop_errors == []


async def test_server_gone_mid_poll_is_a_transport_error(scripted: Any, clients: Any,
                                                         loop_errors: list[Any]) -> None:
    fake = await scripted(None, b'0{"sid":"s1","upgrades":[],"pingInterval":5000,"pingTimeout":5000}')
    client = clients(fake.url, reconnection_delay=0.05, transports=["polling"])
    reasons = Inbox()
    client.on("disconnect", lambda r: reasons.put(r))
    await client.connect(timeout=5)
    await asyncio.sleep(0.05)  # the second poll is held by now
    fake.crash()
    assert await reasons.get() == "transport error"
    assert loop_errors == []


async def test_connect_never_answered_is_bounded(serve: Any, clients: Any, loop_errors: list[Any]) -> None:
    url = await serve(fake_socketio(lambda session, data: None))  # the CONNECT goes unanswered
    client = clients(url, timeout=0.3)
    with pytest.raises(socketeer.ConnectionError, match=r"within 0\.3"):
        await client.connect()  # bounded by the client's timeout option by default
    assert not client.active and client.manager.engine is None
    assert loop_errors == []


async def test_auth_function_that_raises(serve: Any, clients: Any, loop_errors: list[Any]) -> None:
    url = await serve(fake_socketio(connect_then()))

    def broken() -> dict[str, str]:
        raise KeyError("token")

    client = clients(url, auth=broken)
    errors = Inbox()
    client.on("connect_error", errors)
    with pytest.raises(socketeer.ConnectionError, match="auth function raised"):
        await client.connect(retry=True, timeout=5)
    assert isinstance(await errors.get(), socketeer.ConnectionError)
    assert loop_errors == []


async def test_auth_that_cannot_be_sent(serve: Any, clients: Any, loop_errors: list[Any]) -> None:
    url = await serve(fake_socketio(connect_then()))
    client = clients(url, auth={"token": object()})
    with pytest.raises(socketeer.ConnectionError, match="cannot be sent"):
        await client.connect(timeout=5)
    assert loop_errors == []
