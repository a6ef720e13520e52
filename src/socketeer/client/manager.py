"""The manager: one Engine.IO connection, the namespace sockets multiplexed over it, reconnection.

As the reference client's ``Manager``: the connection opens when a socket first wants it and
closes when no socket wants it any more; when it drops for any other reason, it is reopened
after a delay from the backoff policy, until ``reconnection_attempts`` run out. Every socket
then asks for its namespace again (with its auth, and its recovery ``pid``/``offset``).

Events (``manager.on(...)``): ``open``, ``close(reason, description)``, ``error(exc)``,
``ping``, ``reconnect_attempt(attempt)``, ``reconnect(attempt)``, ``reconnect_error(exc)``,
``reconnect_failed``.

Bad input from a server never escapes to the user's loop: an undecodable packet is logged and
closes the connection with "parse error" (then reconnection), a transport fault (oversized
payload, broken framing, refused request) with "transport error", silence with "ping timeout".
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, replace
from typing import Any

from .._calls import Listeners
from ..exceptions import ConnectionError, DecodeError
from ..limits import Limits
from ..socketio import msgpack_parser, parser
from ..socketio.packets import Packet, PacketType
from .backoff import Backoff
from .engine import CLOSE_TIMEOUT, EngineConnection, EngineOptions
from .http import describe
from .socket import ClientSocket

__all__ = ["Manager", "ManagerOptions"]

logger = logging.getLogger("socketeer.client")

#: What a client accepts from a server by default: the server's limits, with a larger bound on
#: one message or polling response (a server may flush many queued packets in one answer).
CLIENT_LIMITS = Limits(max_payload=10_000_000)


@dataclass(frozen=True, slots=True)
class ManagerOptions:
    engine: EngineOptions
    reconnection: bool = True
    reconnection_attempts: float = math.inf
    reconnection_delay: float = 1.0
    reconnection_delay_max: float = 5.0
    randomization_factor: float = 0.5
    #: Seconds one connection attempt may take.
    timeout: float = 20.0
    parser: str = "default"
    limits: Limits = CLIENT_LIMITS


class Manager(Listeners):
    _log = logging.getLogger("socketeer.client")

    def __init__(self, options: ManagerOptions) -> None:
        self._init_listeners()
        if options.parser not in ("default", "msgpack"):
            raise ValueError(f"unknown parser {options.parser!r}: use 'default' or 'msgpack'")
        if options.parser == "msgpack":
            msgpack_parser.require()
        if options.limits.max_payload != options.engine.max_payload:
            options = replace(options, engine=replace(options.engine, max_payload=options.limits.max_payload))
        self.options = options
        self.backoff = Backoff(
            options.reconnection_delay, options.reconnection_delay_max, jitter=options.randomization_factor
        )
        #: Namespace sockets by name; each connects, fails and leaves on its own.
        self.nsps: dict[str, ClientSocket] = {}
        #: The Engine.IO connection in use (None while closed or between attempts).
        self.engine: EngineConnection | None = None
        #: "closed", "opening" or "open".
        self.state = "closed"
        self._reconnecting = False
        self._skip_reconnect = False
        self._open_task: asyncio.Task[None] | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closing_engine: EngineConnection | None = None
        self._decoder: Any = self._new_decoder()

    def __repr__(self) -> str:
        engine = self.options.engine
        return f"<Manager {engine.host}:{engine.port}{engine.path} {self.state}>"

    @property
    def reconnecting(self) -> bool:
        return self._reconnecting

    @property
    def transport(self) -> str | None:
        """The transport in use: "polling" or "websocket" (None while disconnected)."""
        return self.engine.transport_name if self.engine is not None else None

    # -- the parser ------------------------------------------------------------------------------
    def _new_decoder(self) -> Any:
        if self.options.parser == "msgpack":
            return msgpack_parser.MsgpackDecoder(self.options.limits)
        return parser.Decoder(self.options.limits)

    def _encode(self, packet: Packet) -> list[str | bytes]:
        max_depth = self.options.limits.max_depth
        if self.options.parser == "msgpack":
            return msgpack_parser.encode(packet, max_depth)
        if packet.type is PacketType.EVENT and packet.id is None:
            return parser.encode_event(packet.namespace, packet.data)
        return parser.encode(packet, max_depth)

    def check_encodable(self, packet: Packet) -> None:
        """Raise now (``TypeError``, ``ValueError``) for data that could never be sent, rather
        than when a buffered packet is flushed, far from the call that made it."""
        self._encode(packet)

    def send_packet(self, packet: Packet) -> None:
        engine = self.engine
        if engine is None or engine.closed:
            logger.debug("%r: %s packet for %s dropped: not connected", self, packet.type.name, packet.namespace)
            return
        engine.send(self._encode(packet))

    # -- sockets -------------------------------------------------------------------------------
    def socket(self, namespace: str, **options: Any) -> ClientSocket:
        """The socket of ``namespace`` on this connection (made on first use)."""
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        socket = self.nsps.get(namespace)
        if socket is None:
            socket = self.nsps[namespace] = ClientSocket(self, namespace, **options)
        return socket

    def _active_sockets(self) -> list[ClientSocket]:
        return [s for s in self.nsps.values() if s.active]

    def socket_activated(self, socket: ClientSocket) -> None:
        if self.state == "open":
            socket.handle_open()
        elif self.state == "closed" and not self._reconnecting:
            self._skip_reconnect = False
            self.state = "opening"
            self._open_task = asyncio.get_running_loop().create_task(self._first_open())

    def socket_destroyed(self, socket: ClientSocket) -> None:
        if not self._active_sockets():
            self._close()

    # -- opening -------------------------------------------------------------------------------
    async def _first_open(self) -> None:
        try:
            await self._open()
        except ConnectionError:
            # The reference retries a failed first connection too (maybeReconnectOnOpen); a
            # connect() that gives up deactivates its socket, which stops that again.
            if self.options.reconnection and not self._skip_reconnect and self.backoff.attempts == 0:
                self._reconnect()
            elif not self._reconnecting:
                self._gave_up(ConnectionError("could not connect"))

    async def _open(self) -> None:
        """One connection attempt. On failure: ``error`` to the manager and every active socket
        (their ``connect_error``), and ``ConnectionError`` raised."""
        engine = EngineConnection(self.options.engine, self)
        self.engine = engine
        self.state = "opening"
        self._decoder = self._new_decoder()  # messages may come with the open packet
        try:
            async with asyncio.timeout(self.options.timeout):
                await engine.open()
        except Exception as exc:  # ConnectionError, TimeoutError, or a bug: never out of here unreported
            engine.abort()
            if self.engine is engine:
                self.engine = None
                self.state = "closed"
            if isinstance(exc, ConnectionError):
                error = exc
            elif isinstance(exc, TimeoutError):
                error = ConnectionError(f"connection attempt timed out after {self.options.timeout} s")
            else:
                logger.exception("%r: connection attempt failed", self)
                error = ConnectionError(describe(exc))
            logger.info("%r: connection attempt failed: %s", self, error)
            self._emit_reserved("error", error)
            for socket in self._active_sockets():
                socket.handle_error(error)
            raise error from None
        self.state = "open"
        logger.info("%r: connected (session %s, %s)", self, engine.sid, engine.transport_name)
        self._emit_reserved("open")
        for socket in self._active_sockets():
            socket.handle_open()

    # -- the engine's callbacks ------------------------------------------------------------------
    def engine_message(self, engine: EngineConnection, data: str | bytes) -> None:
        if engine is not self.engine:
            return
        decoder = self._decoder
        try:
            packet = decoder.feed_text(data) if isinstance(data, str) else decoder.feed_binary(data)
        except DecodeError as exc:
            logger.warning("%r: undecodable packet from the server (%s); reconnecting", self, exc)
            self._on_close("parse error", str(exc))
            return
        if packet is None:
            return
        socket = self.nsps.get(packet.namespace)
        if socket is None or not socket.active:
            logger.debug("%r: %s packet for %s, which is not connected; ignored", self, packet.type.name,
                         packet.namespace)
            return
        socket.handle_packet(packet)

    def engine_ping(self, engine: EngineConnection) -> None:
        if engine is self.engine:
            self._emit_reserved("ping")

    def engine_closed(self, engine: EngineConnection, reason: str, description: str | None) -> None:
        if engine is not self.engine:
            return
        if reason == "transport error":
            self._emit_reserved("error", ConnectionError(description or reason))
        self._on_close(reason, description)

    # -- closing and reconnecting ----------------------------------------------------------------
    def _on_close(self, reason: str, description: str | None = None) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            self._closing_engine = engine
            engine.close()
        self._decoder.reset()
        self.backoff.reset()
        self.state = "closed"
        self._emit_reserved("close", reason, description)
        for socket in self._active_sockets():
            socket._on_close(reason, description)
        if self.options.reconnection and not self._skip_reconnect:
            self._reconnect()
        elif not self._skip_reconnect:
            self._gave_up(ConnectionError(f"disconnected ({reason}) and reconnection is off"))

    def _gave_up(self, error: ConnectionError) -> None:
        for socket in self._active_sockets():
            socket.handle_gave_up(error)

    def _reconnect(self) -> None:
        if self._reconnecting or self._skip_reconnect:
            return
        if self.backoff.attempts >= self.options.reconnection_attempts:
            logger.info("%r: reconnection failed after %d attempts", self, self.backoff.attempts)
            self.backoff.reset()
            self._reconnecting = False
            self._emit_reserved("reconnect_failed")
            self._gave_up(ConnectionError("reconnection failed"))
            return
        delay = self.backoff.duration()
        self._reconnecting = True
        logger.info("%r: reconnecting in %.2f s", self, delay)
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect_after(delay))

    async def _reconnect_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._skip_reconnect:
            return
        self._emit_reserved("reconnect_attempt", self.backoff.attempts)
        if self._closed_for_good():  # a listener closed the client
            return
        try:
            await self._open()
        except ConnectionError as exc:
            self._reconnecting = False
            self._reconnect()
            self._emit_reserved("reconnect_error", exc)
            return
        attempt = self.backoff.attempts
        self._reconnecting = False
        self.backoff.reset()
        self._emit_reserved("reconnect", attempt)

    def _closed_for_good(self) -> bool:
        return self._skip_reconnect

    def _close(self) -> None:
        """Close for good: no socket wants the connection any more."""
        self._skip_reconnect = True
        self._reconnecting = False
        current = asyncio.current_task()
        for task in (self._reconnect_task, self._open_task):
            if task is not None and not task.done() and task is not current:
                task.cancel()
        self._reconnect_task = self._open_task = None
        self._on_close("forced close")

    async def wait_closed(self) -> None:
        """Wait (bounded) until a closing connection has sent its last packets."""
        engine = self._closing_engine
        if engine is not None and self.engine is None:
            try:
                await asyncio.wait_for(engine.done.wait(), CLOSE_TIMEOUT + 1)
            except TimeoutError:  # pragma: no cover - the engine bounds its own close
                engine.abort()

    async def close(self) -> None:
        """Leave every namespace of this connection and close it."""
        for socket in list(self.nsps.values()):
            if socket.active or socket.connected:
                await socket.disconnect()
        if self.state != "closed" or self._reconnecting:
            self._close()
        await self.wait_closed()

