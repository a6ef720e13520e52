"""The client's HTTP/1.1 layer against a scripted raw server: framing, keep-alive, bounds."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from socketeer.client.http import HttpClient, TransportError
from socketeer.exceptions import PayloadTooLarge

Answer = Callable[[bytes], bytes | None]


class RawServer:
    """Answers each request with ``answer(request_head)``'s bytes (None: close the connection;
    an answer saying ``Connection: close`` closes it once written)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            for _ in range(100):
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                self.requests.append(head)
                data = self.answer(head)
                if data is None:
                    break
                writer.write(data)
                await writer.drain()
                if b"Connection: close" in data:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest_asyncio.fixture
async def raw() -> AsyncIterator[Callable[[Answer], asyncio.Future[RawServer]]]:
    servers: list[RawServer] = []

    async def start(answer: Answer) -> RawServer:
        srv = RawServer(answer)
        srv.server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
        servers.append(srv)
        return srv

    yield start  # type: ignore[misc]
    for srv in servers:
        assert srv.server is not None
        srv.server.close()


def ok(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_content_length_and_keep_alive(raw) -> None:  # type: ignore[no-untyped-def]
    srv = await raw(lambda head: ok(b"hello"))
    http = HttpClient("127.0.0.1", srv.port)
    for _ in range(3):
        response = await http.request("GET", "/x")
        assert (response.status, response.body) == (200, b"hello")
    assert srv.connections == 1  # one connection, reused
    assert srv.requests[0].startswith(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:")
    http.close()


async def test_chunked_body(raw) -> None:  # type: ignore[no-untyped-def]
    body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    srv = await raw(lambda head: body)
    http = HttpClient("127.0.0.1", srv.port)
    assert (await http.request("GET", "/")).body == b"abcdefg"
    assert (await http.request("GET", "/")).body == b"abcdefg"
    assert srv.connections == 1
    http.close()


async def test_body_delimited_by_close(raw) -> None:  # type: ignore[no-untyped-def]
    srv = await raw(lambda head: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
    http = HttpClient("127.0.0.1", srv.port)
    assert (await http.request("GET", "/")).body == b"until the end"
    # Not reusable: the next request goes on a new connection.
    assert (await http.request("GET", "/")).body == b"until the end"
    assert srv.connections == 2
    http.close()


async def test_gzip_body_is_inflated_and_bounded(raw) -> None:  # type: ignore[no-untyped-def]
    srv = await raw(lambda head: ok(gzip.compress(b"x" * 5000), "Content-Encoding: gzip"))
    http = HttpClient("127.0.0.1", srv.port, max_body=10_000)
    assert (await http.request("GET", "/")).body == b"x" * 5000
    small = HttpClient("127.0.0.1", srv.port, max_body=1000)
    with pytest.raises(PayloadTooLarge):
        await small.request("GET", "/")  # 5000 bytes once inflated
    http.close()
    small.close()


async def test_oversized_body_is_refused(raw) -> None:  # type: ignore[no-untyped-def]
    srv = await raw(lambda head: ok(b"y" * 100_000))
    http = HttpClient("127.0.0.1", srv.port, max_body=1000)
    with pytest.raises(PayloadTooLarge):
        await http.request("GET", "/")
    http.close()


async def test_stale_keep_alive_connection_is_retried_once(raw) -> None:  # type: ignore[no-untyped-def]
    answers = iter([ok(b"first"), None, ok(b"second")])
    srv = await raw(lambda head: next(answers))
    http = HttpClient("127.0.0.1", srv.port)
    assert (await http.request("GET", "/")).body == b"first"
    # The server drops the idle connection as the second request arrives: retried on a new one.
    assert (await http.request("GET", "/")).body == b"second"
    assert srv.connections == 2
    http.close()


async def test_refused_connection_and_garbage(raw) -> None:  # type: ignore[no-untyped-def]
    srv = await raw(lambda head: b"this is not HTTP\r\n\r\n")
    http = HttpClient("127.0.0.1", srv.port)
    with pytest.raises(TransportError, match="malformed"):
        await http.request("GET", "/")
    http.close()
    port = srv.port
    assert srv.server is not None
    srv.server.close()
    with pytest.raises(TransportError, match="cannot connect"):
        await HttpClient("127.0.0.1", port).request("GET", "/")


async def test_cookies_are_sent_back(raw) -> None:  # type: ignore[no-untyped-def]
    srv = await raw(lambda head: ok(b"", "Set-Cookie: io=abc123; Path=/; HttpOnly"))
    http = HttpClient("127.0.0.1", srv.port)
    await http.request("GET", "/")
    await http.request("GET", "/")
    assert b"Cookie: io=abc123" in srv.requests[1]
    http.close()


def test_header_injection_is_refused() -> None:
    http = HttpClient("127.0.0.1", 1, headers=[("X-Evil", "a\r\nInjected: 1")])
    with pytest.raises(ValueError):
        http._head("GET", "/", [], [])


def test_permessage_deflate_answer_seen_from_the_client() -> None:
    from socketeer.client.transports import _client_deflate

    assert _client_deflate(None, 1024) is None
    deflate = _client_deflate("permessage-deflate; server_no_context_takeover; client_max_window_bits=10", 1024)
    assert deflate is not None
    # Roles swapped: we compress as the client is told, we inflate as the server said it sends.
    assert (deflate.server_max_window_bits, deflate.server_no_context_takeover) == (10, False)
    assert (deflate.client_max_window_bits, deflate.client_no_context_takeover) == (15, True)
    text = b"abc" * 1000
    assert zlib_roundtrip(deflate, text) == text
    for bad in ("x-webkit-deflate-frame", "permessage-deflate; bogus", "permessage-deflate; server_max_window_bits=99",
                "permessage-deflate; client_max_window_bits=8"):
        with pytest.raises(TransportError):
            _client_deflate(bad, 1024)


def zlib_roundtrip(deflate: object, data: bytes) -> bytes:
    """What we compress, inflated as a server with the same parameters would."""
    import zlib

    compressed = deflate.compress(data)  # type: ignore[attr-defined]
    return zlib.decompressobj(-deflate.server_max_window_bits).decompress(compressed + b"\x00\x00\xff\xff")  # type: ignore[attr-defined,no-any-return]
