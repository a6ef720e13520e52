"""One Engine.IO v4 connection, client side: the Sans-I/O ``ClientSession`` driven over asyncio.

The session decides (open packet, pings answered, heartbeat deadline, close reasons); this
module moves bytes and keeps time. Sends are batched per event-loop iteration, as the server
does, so a binary event (a text part and its attachments) goes out in one POST or one write.

The upgrade follows the reference client step by step: open a WebSocket with the sid, send
``2probe``, wait for ``3probe``, stop sending (``upgrading``), let long-polling finish the GET
and the POST in flight (the server releases the GET when it sees the probe), send ``5`` on the
WebSocket, and from then on use only it. If the probe fails, polling goes on as before.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import ssl as _ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast
from urllib.parse import urlencode

import orjson

from ..engineio.packets import Packet, PacketType, encode_ws
from ..engineio.session import ClientSession, Closed, Event, MessageReceived, PingReceived
from ..exceptions import ConnectionError, ProtocolError
from .http import HttpClient, TransportError
from .transports import PollingTransport, WebSocketTransport, open_websocket

__all__ = ["EngineConnection", "EngineHandler", "EngineOptions"]

logger = logging.getLogger("socketeer.client")

#: Seconds the server has to answer the upgrade probe (the reference server's upgrade timeout).
PROBE_TIMEOUT = 10.0
#: Seconds a deliberate close waits for what is still being sent.
CLOSE_TIMEOUT = 2.0
_cache_buster = itertools.count()


@dataclass(frozen=True, slots=True)
class EngineOptions:
    host: str
    port: int
    ssl: _ssl.SSLContext | None = None
    path: str = "/socket.io/"
    query: Mapping[str, str] = field(default_factory=dict)
    headers: tuple[tuple[str, str], ...] = ()
    transports: tuple[str, ...] = ("polling", "websocket")
    upgrade: bool = True
    per_message_deflate: bool = True
    #: Largest WebSocket message or long-polling response body accepted from the server.
    max_payload: int | None = None


class EngineHandler(Protocol):
    """The layer above (the manager). Each callback names the connection it comes from, so a
    connection the manager has already replaced can be told apart and ignored."""

    def engine_message(self, engine: EngineConnection, data: str | bytes) -> None: ...
    def engine_ping(self, engine: EngineConnection) -> None: ...
    def engine_closed(self, engine: EngineConnection, reason: str, description: str | None) -> None: ...


def _refusal(exc: TransportError) -> ConnectionError:
    """A handshake the server refused, with what it said (``{"code":..,"message":..}``)."""
    data: object = None
    message = str(exc)
    if exc.body:
        try:
            data = orjson.loads(exc.body)
        except orjson.JSONDecodeError:
            data = exc.body.decode("utf-8", "replace")[:200]
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            message = f"{message}: {data['message']}"
    return ConnectionError(message, data)


class EngineConnection:
    """One Engine.IO session. ``await open()``, then ``send()``; ``close()`` to leave."""

    def __init__(self, options: EngineOptions, handler: EngineHandler) -> None:
        self.options = options
        self.handler = handler
        self.session = ClientSession()
        self.transport: PollingTransport | WebSocketTransport | None = None
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._flush_scheduled = False
        self._upgrading = False
        self._probe_task: asyncio.Task[None] | None = None
        self._probe_ws: WebSocketTransport | None = None
        self._closing = False
        self._finished = False
        #: Set once the connection is over, whichever way it ended.
        self.done = asyncio.Event()

    # -- state ---------------------------------------------------------------------------------
    @property
    def sid(self) -> str | None:
        return self.session.sid

    @property
    def transport_name(self) -> str | None:
        return self.transport.name if self.transport is not None else None

    @property
    def closed(self) -> bool:
        return self._finished or self._closing

    @property
    def writable(self) -> bool:
        """True when a packet sent now goes out at once (what ``volatile`` emits require)."""
        transport = self.transport
        return (not self._finished and not self._closing and not self._upgrading
                and transport is not None and transport.writable)

    def _target(self, transport: str) -> str:
        query = dict(self.options.query)
        query.update(EIO="4", transport=transport, t=format(next(_cache_buster), "x"))
        if self.session.sid is not None:
            query["sid"] = self.session.sid
        return self.options.path + "?" + urlencode(query)

    def _http(self) -> HttpClient:
        opts = self.options
        return HttpClient(opts.host, opts.port, ssl=opts.ssl, headers=list(opts.headers), max_body=opts.max_payload)

    # -- opening -------------------------------------------------------------------------------
    async def open(self) -> None:
        """Handshake over the first transport; raises ``ConnectionError`` if that fails."""
        try:
            if self.options.transports[0] == "polling":
                await self._open_polling()
            else:
                await self._open_websocket()
        except TransportError as exc:
            self.abort()
            raise _refusal(exc) if exc.status is not None else ConnectionError(str(exc)) from exc
        except ProtocolError as exc:
            self.abort()
            raise ConnectionError(f"bad handshake answer: {exc}") from exc
        except BaseException:
            self.abort()
            raise
        if self._finished:  # the handshake payload itself closed the session
            raise ConnectionError(f"connection closed during the handshake: {self.session.close_reason}")
        self._rearm()
        upgrades = self.session.upgrades
        if (self.options.upgrade and self.transport_name == "polling" and "websocket" in upgrades
                and "websocket" in self.options.transports):
            self._probe_task = self._loop.create_task(self._probe())

    def _check_open(self, text: str) -> None:
        closed = self.session.receive_open(text, self._loop.time())
        if closed is not None:
            raise TransportError(closed.description or "bad open packet")

    async def _open_polling(self) -> None:
        transport = PollingTransport(
            self._http(), lambda: self._target("polling"), [], self.options.max_payload,
            self._on_packets, self._on_polling_error, self._schedule_flush,
        )
        self.transport = transport
        packets = await transport.handshake()
        first = packets[0]
        if first.type is not PacketType.OPEN or not isinstance(first.data, str):
            raise TransportError("the handshake answer does not start with an open packet")
        self._check_open("0" + first.data)
        transport.start()
        self._on_packets(packets[1:])

    async def _open_websocket(self) -> None:
        stream, deflate = await open_websocket(
            self._http(), self._target("websocket"), [], deflate=self.options.per_message_deflate
        )
        opened: asyncio.Future[None] = self._loop.create_future()

        def first_text(text: str) -> None:
            # Checked here, not after the await: what follows in the same read is ordinary
            # traffic, and the session must already be open for it.
            if opened.done():
                return
            closed = self.session.receive_open(text, self._loop.time())
            if closed is not None:
                opened.set_exception(TransportError(closed.description or "bad open packet"))
                return
            ws.on_text = self._on_ws_text
            ws.on_binary = self._on_ws_binary
            opened.set_result(None)

        lost: list[str] = []

        def early_close(reason: str, description: str | None) -> None:
            lost.append(f"WebSocket closed during the handshake: {description or reason}")
            if not opened.done():
                opened.set_exception(TransportError(lost[0]))

        ws = WebSocketTransport(stream, deflate, self.options.max_payload, first_text, _unexpected_binary, early_close)
        self.transport = ws
        ws.start()
        await opened
        if lost:  # closed right after the open packet, before this coroutine resumed
            raise TransportError(lost[0])
        ws.on_close = self._on_ws_close

    # -- receiving -----------------------------------------------------------------------------
    def _handle(self, event: Event | None) -> None:
        if event is None:
            return
        if isinstance(event, MessageReceived):
            try:
                self.handler.engine_message(self, event.data)
            except Exception:
                logger.exception("message handler failed")
        elif isinstance(event, PingReceived):
            self._rearm()
            self._schedule_flush()  # the pong
            try:
                self.handler.engine_ping(self)
            except Exception:
                logger.exception("ping handler failed")
        elif isinstance(event, Closed):
            self._finish(event.reason, event.description)

    def _on_packets(self, packets: list[Packet]) -> None:
        session = self.session
        now = self._loop.time()
        for packet in packets:
            if self._finished:
                return
            if isinstance(packet.data, bytes):
                self._handle(session.receive_binary(packet.data))
            else:
                encoded = encode_ws(packet)
                assert isinstance(encoded, str)
                self._handle(session.receive_text(encoded, now))

    def _on_ws_text(self, text: str) -> None:
        self._handle(self.session.receive_text(text, self._loop.time()))

    def _on_ws_binary(self, data: bytes) -> None:
        self._handle(self.session.receive_binary(data))

    def _on_ws_close(self, reason: str, description: str | None) -> None:
        # The server's close frame answering ours ends a deliberate close, not a lost transport.
        self._finish("forced close" if self._closing else reason, description)

    def _on_polling_error(self, description: str) -> None:
        self._finish("transport error", description)

    # -- heartbeat -------------------------------------------------------------------------------
    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        at = self.session.next_deadline()
        if at != math.inf and not self._finished:
            self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        for event in self.session.handle_timeout(self._loop.time()):
            self._handle(event)
        if not self._finished:
            self._rearm()

    # -- sending ---------------------------------------------------------------------------------
    def send(self, parts: list[str | bytes]) -> None:
        """Queue Socket.IO parts as Engine.IO messages; they leave at the end of this iteration."""
        if self._finished or self._closing:
            return
        for part in parts:
            self.session.send(part)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and not self._finished:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        outbox = self.session.outbox
        transport = self.transport
        if self._finished or self._closing or self._upgrading or not outbox or transport is None:
            return  # (a closing connection sends its last packets itself)
        if isinstance(transport, WebSocketTransport):
            transport.send_items(self._drain())
        elif transport.writable:
            count = self._polling_batch(self._queued())
            items = self._queued()[:count]
            del outbox[:count]
            transport.send_items(items)

    def _queued(self) -> list[str | bytes]:
        # The client never queues the server's shared broadcast messages: only text and bytes.
        return cast("list[str | bytes]", self.session.outbox)

    def _drain(self) -> list[str | bytes]:
        return cast("list[str | bytes]", self.session.drain())

    def _polling_batch(self, outbox: list[str | bytes]) -> int:
        """How many queued packets fit in one POST under the server's ``maxPayload``."""
        limit = self.session.max_payload
        if not limit or len(outbox) < 2:
            return len(outbox)
        size = 1
        for i, item in enumerate(outbox):
            size += (len(item) + 2) // 3 * 4 + 1 if isinstance(item, bytes) else len(item.encode())
            if i > 0 and size > limit:
                return i
            size += 2
        return len(outbox)

    # -- the upgrade ---------------------------------------------------------------------------
    async def _probe(self) -> None:
        try:
            stream, deflate = await open_websocket(
                self._http(), self._target("websocket"), [], deflate=self.options.per_message_deflate
            )
        except (TransportError, ProtocolError) as exc:
            logger.info("upgrade to WebSocket failed, staying on long-polling: %s", exc)
            return
        answer: asyncio.Future[str] = self._loop.create_future()
        failed: list[str] = []

        def probe_text(text: str) -> None:
            if not answer.done():
                answer.set_result(text)
            else:
                failed.append(f"unexpected packet during the upgrade: {text[:20]!r}")

        def probe_binary(data: bytes) -> None:
            failed.append("binary message during the upgrade")

        def probe_close(reason: str, description: str | None) -> None:
            failed.append(f"probe WebSocket closed: {description or reason}")
            if not answer.done():
                answer.set_result("")

        ws = WebSocketTransport(stream, deflate, self.options.max_payload, probe_text, probe_binary, probe_close)
        self._probe_ws = ws
        ws.start()
        ws.send_items(["2probe"])
        try:
            text = await asyncio.wait_for(answer, PROBE_TIMEOUT)
        except TimeoutError:
            text = ""
        polling = self.transport
        if text != "3probe" or failed or self._finished or self._closing or not isinstance(polling, PollingTransport):
            logger.info("upgrade to WebSocket failed, staying on long-polling: %s",
                        failed[0] if failed else f"probe answered {text[:20]!r}")
            self._drop_probe()
            return
        # Pause polling: no new GET, and wait for the one in flight. The server releases it when
        # it sees the probe, but a GET that left just after that release stays parked until the
        # server has something to send (Node re-releases every 100 ms, not every server does).
        # Until it returns we go on POSTing, so a request waiting for its answer cannot stall
        # the upgrade: the answer comes back on that very GET.
        try:
            async with asyncio.timeout(self.session.ping_interval + self.session.ping_timeout):
                await polling.pause()
                self._upgrading = True  # from here, sends wait for the WebSocket
                await polling.wait_post()
        except TimeoutError:
            self._upgrading = False
            self._drop_probe()
            self._finish("transport error", "long-polling did not pause for the upgrade")
            return
        if self.closed:  # closed while polling paused
            self._upgrading = False
            self._drop_probe()
            self._schedule_flush()
            return
        if failed:
            logger.info("upgrade to WebSocket failed, staying on long-polling: %s", failed[0])
            self._upgrading = False
            self._drop_probe()
            polling.resume()
            self._schedule_flush()
            return
        ws.on_text = self._on_ws_text
        ws.on_binary = self._on_ws_binary
        ws.on_close = self._on_ws_close
        self._probe_ws = None
        ws.send_items(["5"])
        self.transport = ws
        polling.abort()
        self._upgrading = False
        logger.debug("session %s upgraded to WebSocket", self.sid)
        self._schedule_flush()

    def _drop_probe(self) -> None:
        ws, self._probe_ws = self._probe_ws, None
        if ws is not None:
            ws.abort()

    # -- closing -------------------------------------------------------------------------------
    def close(self) -> None:
        """Leave deliberately: what is queued goes out, then a CLOSE packet, then the transport
        shuts. Completes in the background; ``done`` is set when it has."""
        if self._finished or self._closing:
            return
        self._closing = True
        self.session.close()  # queues the CLOSE packet
        self._stop_timer_and_probe()
        self._upgrading = False
        self._loop.create_task(self._close_gracefully())

    async def _close_gracefully(self) -> None:
        transport = self.transport
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                if isinstance(transport, WebSocketTransport):
                    transport.send_items(self._drain())
                    await transport.close(CLOSE_TIMEOUT / 2)
                elif isinstance(transport, PollingTransport):
                    # The long-poll in flight is left to be dropped; only what we send matters.
                    transport.stop_polling()
                    await transport.wait_post()
                    if self.session.outbox and not self._finished:
                        transport.send_items(self._drain())
                        await transport.wait_post()
        except TimeoutError:
            pass
        finally:
            self._finish("forced close", None)

    def abort(self) -> None:
        """Drop everything now and report nothing (a failed open, or a connection replaced)."""
        self.handler = _NO_HANDLER
        self._finish("forced close", None)

    def _stop_timer_and_probe(self) -> None:
        """What closing and finishing both stop: the heartbeat timer and any upgrade probe."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        task = self._probe_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._drop_probe()

    def _finish(self, reason: str, description: str | None) -> None:
        if self._finished:
            return
        self._finished = True
        self.session.transport_closed(reason)
        self._stop_timer_and_probe()
        transport = self.transport
        if transport is not None:
            transport.abort()
        self.done.set()
        if reason in ("transport error", "parse error"):
            logger.warning("Engine.IO session %s closed: %s (%s)", self.sid, reason, description)
        else:
            logger.info("Engine.IO session %s closed: %s%s", self.sid, reason,
                        f" ({description})" if description else "")
        try:
            self.handler.engine_closed(self, reason, description)
        except Exception:
            logger.exception("close handler failed")


def _unexpected_binary(data: bytes) -> None:
    logger.info("binary message before the open packet ignored")


class _NoHandler:
    def engine_message(self, engine: EngineConnection, data: str | bytes) -> None:
        pass

    def engine_ping(self, engine: EngineConnection) -> None:
        pass

    def engine_closed(self, engine: EngineConnection, reason: str, description: str | None) -> None:
        pass


_NO_HANDLER = _NoHandler()
