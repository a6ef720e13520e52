"""The two Engine.IO transports of the client: HTTP long-polling and WebSocket.

Each moves packets and reports what happened through callbacks; neither knows the Engine.IO
session rules (heartbeat, upgrade order, closing), which live in ``engine.py`` over the
Sans-I/O ``ClientSession``. Long-polling keeps at most one GET and one POST in flight, as the
reference client's two XHRs; WebSocket frames are masked (RFC 6455 5.3) and may be
compressed with permessage-deflate when the server agrees.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import Callable
from typing import Final

from ..engineio.packets import Packet
from ..engineio.payload import decode_payload, encode_payload
from ..exceptions import ProtocolError
from ..io.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Deflate,
    FrameReader,
    WebSocketError,
    accept_key,
    build_frame,
    close_payload,
    parse_extension,
)
from .http import HttpClient, TransportError, WebSocketStream, describe

__all__ = ["PollingTransport", "WebSocketTransport", "open_websocket"]

logger = logging.getLogger("socketeer.client")

_READ_SIZE: Final = 65536
#: Bytes queued in the socket buffer past which a WebSocket is "not writable" (volatile drops).
_WS_HIGH_WATER: Final = 1 << 20
_DEFLATE_OFFER: Final = "permessage-deflate; client_max_window_bits"


# -- WebSocket ---------------------------------------------------------------------------------


def _client_deflate(header: str | None, threshold: int) -> Deflate | None:
    """The server's answer to our permessage-deflate offer, as a ``Deflate`` seen from our side.

    ``Deflate`` is written for a server: it compresses with the ``server_*`` parameters and
    inflates with the ``client_*`` ones. A client swaps the two roles.
    """
    if not header:
        return None
    extension, params = parse_extension(header)
    if extension != "permessage-deflate":
        raise TransportError(f"server accepted an extension we did not offer: {header!r}")
    ours = {"no_context_takeover": False, "max_window_bits": 15}
    theirs = {"no_context_takeover": False, "max_window_bits": 15}
    for name, value in params:
        side, _, key = name.partition("_")
        target = {"client": ours, "server": theirs}.get(side)
        if target is None or key not in target:
            raise TransportError(f"unknown permessage-deflate parameter {name!r}")
        if key == "max_window_bits":
            if not value.isdigit() or not 8 <= int(value) <= 15:
                raise TransportError(f"invalid {name}={value!r}")
            target[key] = int(value)
        else:
            target[key] = True
    if ours["max_window_bits"] < 9:
        # zlib cannot write a raw deflate stream with a 256-byte window.
        raise TransportError("server asked for client_max_window_bits=8, which zlib cannot honour")
    return Deflate(
        server_no_context_takeover=bool(ours["no_context_takeover"]),
        server_max_window_bits=int(ours["max_window_bits"]),
        client_no_context_takeover=bool(theirs["no_context_takeover"]),
        client_max_window_bits=max(9, int(theirs["max_window_bits"])),
        threshold=threshold,
    )


async def open_websocket(
    http: HttpClient, target: str, headers: list[tuple[str, str]], *, deflate: bool
) -> tuple[WebSocketStream, Deflate | None]:
    """The opening handshake of RFC 6455 4.1, checked as a client must."""
    key = base64.b64encode(os.urandom(16)).decode()
    request_headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
        *headers,
    ]
    if deflate:
        request_headers.append(("Sec-WebSocket-Extensions", _DEFLATE_OFFER))
    stream = await http.open_websocket(target, request_headers)
    try:
        response = stream.response
        if (response.header("upgrade") or "").lower() != "websocket":
            raise TransportError("101 answer without Upgrade: websocket")
        if response.header("sec-websocket-accept") != accept_key(key):
            raise TransportError("wrong Sec-WebSocket-Accept in the handshake answer")
        negotiated = _client_deflate(response.header("sec-websocket-extensions"), 1024) if deflate else None
        if not deflate and response.header("sec-websocket-extensions"):
            raise TransportError("server accepted an extension we did not offer")
    except TransportError:
        stream.writer.transport.abort()
        raise
    return stream, negotiated


class WebSocketTransport:
    """One WebSocket: send Engine.IO packets as frames, deliver the ones that arrive.

    ``on_text``/``on_binary`` get each message; ``on_close(reason, description)`` is called
    once, when the connection ends for any reason: "transport close" when the peer closed it
    (cleanly or not), "transport error" when it broke the protocol.
    """

    name = "websocket"

    def __init__(
        self,
        stream: WebSocketStream,
        deflate: Deflate | None,
        max_size: int | None,
        on_text: Callable[[str], None],
        on_binary: Callable[[bytes], None],
        on_close: Callable[[str, str | None], None],
    ) -> None:
        self._reader = stream.reader
        self._writer = stream.writer
        self._leftover = stream.leftover
        self._deflate = deflate
        self._frames = FrameReader(max_size=max_size, server=False, deflate=deflate)
        self.on_text = on_text
        self.on_binary = on_binary
        self.on_close = on_close
        self._task: asyncio.Task[None] | None = None
        self._close_sent = False
        self._ended = False
        self._peer_closed = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def writable(self) -> bool:
        transport = self._writer.transport
        return not self._ended and not transport.is_closing() and transport.get_write_buffer_size() < _WS_HIGH_WATER

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        deflate = self._deflate
        if deflate is not None and opcode in (OP_TEXT, OP_BINARY) and len(payload) >= deflate.threshold:
            return build_frame(opcode, deflate.compress(payload), rsv1=True, mask=os.urandom(4))
        return build_frame(opcode, payload, mask=os.urandom(4))

    def send_items(self, items: list[str | bytes]) -> None:
        if self._ended or self._close_sent:
            return
        frames = [self._frame(OP_BINARY, i) if isinstance(i, bytes) else self._frame(OP_TEXT, i.encode())
                  for i in items]
        self._writer.write(b"".join(frames))

    async def _read_loop(self) -> None:
        description: str | None = None
        reason = "transport close"
        try:
            data = self._leftover
            self._leftover = b""
            while not self._ended:
                if data:
                    for opcode, payload in self._frames.feed(data):
                        if opcode == OP_TEXT:
                            assert isinstance(payload, str)
                            self.on_text(payload)
                        elif opcode == OP_BINARY:
                            assert isinstance(payload, bytes)
                            self.on_binary(payload)
                        elif opcode == OP_PING:
                            assert isinstance(payload, bytes)
                            if not self._close_sent:
                                self._writer.write(build_frame(OP_PONG, payload, mask=os.urandom(4)))
                        elif opcode == OP_CLOSE:
                            self._peer_closed.set()
                            if not self._close_sent:
                                self._send_close(1000)
                            return
                        if self.ended:  # a callback closed the connection
                            return
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    description = "connection closed without a close frame"
                    return
        except WebSocketError as exc:
            reason, description = "transport error", f"WebSocket protocol error: {exc}"
            self._send_close(exc.code)
        except (OSError, asyncio.IncompleteReadError) as exc:
            description = describe(exc)
        finally:
            self._end(reason, description)

    def _send_close(self, code: int) -> None:
        if not self._close_sent and not self._writer.transport.is_closing():
            self._close_sent = True
            self._writer.write(build_frame(OP_CLOSE, close_payload(code), mask=os.urandom(4)))

    def _end(self, reason: str, description: str | None) -> None:
        if self._ended:
            return
        self._ended = True
        self._peer_closed.set()
        if self._close_sent:
            self._writer.close()  # lets our close frame (or the echo of theirs) go out first
        else:
            self._writer.transport.abort()
        try:
            self.on_close(reason, description)
        except Exception:  # pragma: no cover - the engine's callback does not raise
            logger.exception("WebSocket close callback failed")

    async def close(self, timeout: float = 1.0) -> None:
        """The closing handshake: our close frame, then the server's (bounded), then the socket."""
        if self._ended:
            return
        self._send_close(1000)
        try:
            await asyncio.wait_for(self._peer_closed.wait(), timeout)
        except TimeoutError:
            pass
        self.abort()

    def abort(self) -> None:
        """Drop the connection now, reporting nothing."""
        self.on_close = _ignore_close
        self.on_text = _ignore
        self.on_binary = _ignore
        if not self._ended:
            self._ended = True
            self._peer_closed.set()
            self._writer.transport.abort()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()


def _ignore(_: object) -> None:
    pass


def _ignore_close(_: str, __: str | None) -> None:
    pass


# -- long-polling ------------------------------------------------------------------------------


class PollingTransport:
    """HTTP long-polling: a loop of GETs, and one POST at a time for what we send.

    ``on_packets`` gets each decoded payload, ``on_error(description)`` the first failure
    (after which the transport does nothing more), ``on_drain`` each completed POST.
    """

    name = "polling"

    def __init__(
        self,
        http: HttpClient,
        target: Callable[[], str],
        headers: list[tuple[str, str]],
        max_payload: int | None,
        on_packets: Callable[[list[Packet]], None],
        on_error: Callable[[str], None],
        on_drain: Callable[[], None],
    ) -> None:
        self.http = http
        self._target = target
        self._headers = headers
        self._max_payload = max_payload
        self.on_packets = on_packets
        self.on_error = on_error
        self.on_drain = on_drain
        self._poll_task: asyncio.Task[None] | None = None
        self._post_task: asyncio.Task[None] | None = None
        self._pausing = False
        self._ended = False

    async def handshake(self) -> list[Packet]:
        """The opening GET; its payload starts with the open packet."""
        response = await self.http.request("GET", self._target(), headers=self._headers)
        if response.status != 200:
            raise TransportError(f"handshake refused with HTTP {response.status}", response.status, response.body)
        return decode_payload(response.body, self._max_payload)

    def start(self) -> None:
        self._poll_task = asyncio.get_running_loop().create_task(self._poll_loop())

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def writable(self) -> bool:
        return not self._ended and self._post_task is None

    async def _poll_loop(self) -> None:
        try:
            while not self._ended and not self._pausing:
                response = await self.http.request("GET", self._target(), headers=self._headers)
                if response.status != 200:
                    raise TransportError(f"poll answered with HTTP {response.status}", response.status)
                packets = decode_payload(response.body, self._max_payload)
                if self.ended:  # aborted while the GET was in flight
                    return
                self.on_packets(packets)
        except (TransportError, ProtocolError) as exc:
            self._fail(f"poll error: {exc}")

    def send_items(self, items: list[str | bytes]) -> None:
        """POST one payload; the caller waits for ``on_drain`` before the next."""
        if self._ended:
            return
        assert self._post_task is None, "one POST at a time"
        body = encode_payload(items).encode()
        self._post_task = asyncio.get_running_loop().create_task(self._post(body))

    async def _post(self, body: bytes) -> None:
        headers = [*self._headers, ("Content-Type", "text/plain;charset=UTF-8")]
        try:
            response = await self.http.request("POST", self._target(), body=body, headers=headers)
            if response.status != 200:
                raise TransportError(f"POST answered with HTTP {response.status}", response.status)
        except (TransportError, ProtocolError) as exc:
            self._post_task = None
            self._fail(f"post error: {exc}")
            return
        self._post_task = None
        if not self._ended:
            self.on_drain()

    def _fail(self, description: str) -> None:
        if self._ended:
            return
        self._ended = True
        self.on_error(description)

    async def pause(self) -> None:
        """Issue no new GET, and wait for the one in flight to return (a POST may still go).

        The upgrade needs it: nothing may be lost or duplicated between the two transports.
        """
        self._pausing = True
        task = self._poll_task
        if task is not None and task is not asyncio.current_task():
            await asyncio.wait([task])

    def stop_polling(self) -> None:
        """Issue no new GET (the one in flight, if any, is left to return or be dropped)."""
        self._pausing = True

    def resume(self) -> None:
        """Poll again after a ``pause()`` whose upgrade failed."""
        if self._ended or not self._pausing:
            return
        self._pausing = False
        self.start()

    async def wait_post(self) -> None:
        """Wait for the POST in flight, if any, to be answered."""
        task = self._post_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            await asyncio.wait([task])

    def abort(self) -> None:
        self._ended = True
        self.on_packets = _ignore_packets
        self.on_error = _ignore_error
        self.on_drain = _ignore_drain
        for task in (self._poll_task, self._post_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self.http.close()


def _ignore_packets(_: list[Packet]) -> None:
    pass


def _ignore_error(_: str) -> None:
    pass


def _ignore_drain() -> None:
    pass
