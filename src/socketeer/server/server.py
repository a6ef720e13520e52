"""``socketeer.Server``: the Socket.IO server, over the engine, served by either front end."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, overload

from .. import _json
from .._calls import Callback
from ..adapters.base import Adapter, InMemoryAdapter
from ..engineio.session import Outgoing
from ..io.engine import Engine, EngineOptions, EngineSocket
from ..io.serving import Servable
from ..limits import DEFAULT_LIMITS, Limits
from ..socketio import msgpack_parser, parser
from ..socketio.packets import RESERVED_EVENTS, Packet, PacketType
from .broadcast import BroadcastOperator, Done, ThreadSafeOperator, collect_acks
from .client import Client
from .namespace import Namespace, ParentNamespace

__all__ = ["RecoveryOptions", "Server"]

logger = logging.getLogger("socketeer.server")

F = TypeVar("F", bound=Callable[..., Any])

_ENGINE_OPTIONS = frozenset(EngineOptions.__dataclass_fields__) - {"path"}


@dataclass(frozen=True, slots=True)
class RecoveryOptions:
    """Connection state recovery: how long a disconnected session is kept, and whether a
    recovered socket skips the connection middleware."""

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True


class Server(Servable):
    """A Socket.IO v4 server.

    Every Engine.IO option (``ping_interval``, ``ping_timeout``, ``max_http_buffer_size``,
    ``transports``, ``cors_allowed_origins``, ``cors_credentials``, ``allow_request``,
    ``cookie``, ``http_compression``, ``per_message_deflate``, ...) is accepted as a keyword,
    beside the Socket.IO ones below. Times are in seconds.
    """

    def __init__(
        self,
        *,
        path: str = "/socket.io/",
        adapter: Callable[[Namespace], Adapter] = InMemoryAdapter,
        parser: str = "default",
        connection_state_recovery: bool | dict[str, Any] | RecoveryOptions | None = None,
        connect_timeout: float = 45.0,
        client_bundle_dir: str | Path | None = None,
        static_files: dict[str, Any] | None = None,
        limits: Limits | None = None,
        **engine_options: Any,
    ) -> None:
        unknown = set(engine_options) - _ENGINE_OPTIONS
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
        if "transports" in engine_options:
            engine_options["transports"] = tuple(engine_options["transports"])
        self.limits = limits or DEFAULT_LIMITS
        if "max_http_buffer_size" in engine_options:
            self.limits = replace(self.limits, max_payload=engine_options["max_http_buffer_size"])
        else:
            engine_options["max_http_buffer_size"] = self.limits.max_payload
        self.engine = Engine(self, EngineOptions(path=path, client_bundle_dir=client_bundle_dir, **engine_options))
        if static_files:
            self.static_files = dict(static_files)
        self.adapter_factory = adapter
        self.connect_timeout = connect_timeout
        if connection_state_recovery is True:
            self.recovery: RecoveryOptions | None = RecoveryOptions()
        elif isinstance(connection_state_recovery, dict):
            self.recovery = RecoveryOptions(**connection_state_recovery)
        elif isinstance(connection_state_recovery, RecoveryOptions):
            self.recovery = connection_state_recovery
        else:
            self.recovery = None
        if parser == "default":
            self._encode: Callable[[Packet, int], list[str | bytes]] = _default_encode
            self.new_decoder: Callable[[], Any] = lambda: _new_default_decoder(self.limits)
        elif parser == "msgpack":
            msgpack_parser._require()
            self._encode = msgpack_parser.encode
            self.new_decoder = lambda: msgpack_parser.MsgpackDecoder(self.limits)
        else:
            raise ValueError(f"unknown parser {parser!r}: use 'default' or 'msgpack'")
        self._nsps: dict[str, Namespace] = {}
        self._parents: list[ParentNamespace] = []
        self._server_side: dict[str, Callback] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.sockets = self.of("/")

    # -- namespaces --------------------------------------------------------------------------
    def of(self, name: str | re.Pattern[str] | Callable[..., Any]) -> Namespace:
        """A namespace by name (created on first use), or a dynamic one by regex or predicate."""
        if isinstance(name, str):
            if not name.startswith("/"):
                name = "/" + name
            nsp = self._nsps.get(name)
            if nsp is None:
                nsp = self._nsps[name] = Namespace(self, name)
            return nsp
        parent = ParentNamespace(self, name)
        self._parents.append(parent)
        return parent

    # -- the main namespace's API, as the reference's ``io`` -----------------------------------
    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F) -> F: ...
    def on(self, event: str, handler: F | None = None) -> Any:
        """Register a handler on the main namespace (see ``Namespace.on``)."""
        return self.sockets.on(event) if handler is None else self.sockets.on(event, handler)

    def event(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        return self.sockets.event(fn)

    def use(self, middleware: Callable[..., Any]) -> Callable[..., Any]:
        return self.sockets.use(middleware)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self.sockets.to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self.sockets.except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        return self.sockets.volatile

    @property
    def local(self) -> BroadcastOperator:
        return self.sockets.local

    def compress(self, enabled: bool) -> BroadcastOperator:
        return self.sockets.compress(enabled)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self.sockets.timeout(seconds)

    def emit(self, event: str, *args: Any) -> Done:
        return self.sockets.emit(event, *args)

    def send(self, *args: Any) -> Done:
        return self.sockets.send(*args)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self.sockets.emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list[Any]:
        return await self.sockets.fetch_sockets()

    def sockets_join(self, rooms: str | Iterable[str]) -> Done:
        return self.sockets.sockets_join(rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> Done:
        return self.sockets.sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False) -> Done:
        return self.sockets.disconnect_sockets(close)

    @property
    def threadsafe(self) -> ThreadSafeOperator:
        """The broadcast chain for threads other than the server's loop: ``io.threadsafe
        .to("room").emit("x")`` returns a ``concurrent.futures.Future``."""
        if self._loop is None:
            raise RuntimeError("the server has not started serving yet")
        return ThreadSafeOperator(BroadcastOperator(self.sockets), self._loop)

    # -- between servers -----------------------------------------------------------------------
    def on_server_side(self, event: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Handlers for ``server_side_emit`` from other nodes; the return value answers."""
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._server_side[event] = Callback(fn)
            return fn

        return register

    def server_side_emit(self, event: str, *args: Any) -> Done:
        from .broadcast import DONE

        _check_event_name(event)
        self.sockets.adapter.server_side_emit([event, *args])
        return DONE

    async def server_side_emit_with_ack(self, event: str, *args: Any, timeout: float = 5.0) -> list[Any]:
        """One answer per other node (an empty list on a single node)."""
        _check_event_name(event)
        return await collect_acks(
            lambda on_count, on_ack: self.sockets.adapter.server_side_emit([event, *args], on_count, on_ack),
            timeout, f"server-side answers to {event!r}",
        )

    # -- encoding ------------------------------------------------------------------------------
    def parser_encode(self, packet: Packet) -> list[str | bytes]:
        return self._encode(packet, self.limits.max_depth)

    def encode_for_engine(self, packet: Packet) -> list[Outgoing]:
        """A packet for one recipient: text parts get the Engine.IO MESSAGE type."""
        return _for_engine(self._encode(packet, self.limits.max_depth))

    def encode_event_for_engine(self, namespace: str, data: list[Any]) -> list[Outgoing]:
        """``socket.emit``'s hot path: no Packet object, one JSON encode."""
        if self._encode is _default_encode:
            if namespace == "/":  # S1's hot path
                try:
                    return ["42" + _json.dumps(data)]
                except TypeError:
                    pass  # bytes inside: the parser's binary form below
            parts = parser.encode_event(namespace, data)
            return ["4" + parts[0]] if len(parts) == 1 else _for_engine(parts)  # type: ignore[operator]
        return self.encode_for_engine(Packet(PacketType.EVENT, namespace, data))

    def encode_ack_for_engine(self, namespace: str, args: list[Any], ack_id: int) -> list[Outgoing]:
        if self._encode is _default_encode:
            if namespace == "/":  # S2's hot path: one JSON encode, one format, no Packet
                try:
                    return [f"43{ack_id}{_json.dumps(args)}"]
                except TypeError:
                    pass  # bytes inside: the parser's binary form below
            parts = parser.encode_ack(namespace, args, ack_id)
            return ["4" + parts[0]] if len(parts) == 1 else _for_engine(parts)  # type: ignore[operator]
        return self.encode_for_engine(Packet(PacketType.ACK, namespace, args, ack_id))

    @property
    def plain_parser(self) -> bool:
        """True with the default parser, whose main-namespace events take a decoding shortcut."""
        return self._encode is _default_encode

    # -- the engine's handler ----------------------------------------------------------------
    def on_connect(self, socket: EngineSocket) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        client = socket.data = Client(self, socket)
        socket.receive = client.on_message

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        client = socket.data
        if client is not None:
            client.on_message(data)

    def on_disconnect(self, socket: EngineSocket, reason: str, description: str | None) -> None:
        client = socket.data
        if client is not None:
            socket.data = None
            socket.receive = None
            client.on_close(reason)

    async def listen(self, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any) -> list[tuple[str, int]]:
        self._loop = asyncio.get_running_loop()
        for nsp in list(self._nsps.values()):
            await nsp.adapter.init()
        return await super().listen(host, port, **kwargs)

    async def shutdown(self, timeout: float = 5.0) -> None:
        await super().shutdown(timeout)
        for nsp in list(self._nsps.values()):
            await nsp.adapter.close()

    close = shutdown


def _check_event_name(event: str) -> None:
    if event in RESERVED_EVENTS:
        raise ValueError(f'"{event}" is a reserved event name')


def _for_engine(parts: list[str | bytes]) -> list[Outgoing]:
    return ["4" + p if isinstance(p, str) else p for p in parts]


def _default_encode(packet: Packet, max_depth: int = DEFAULT_LIMITS.max_depth) -> list[str | bytes]:
    return parser.encode(packet, max_depth)


def _new_default_decoder(limits: Limits) -> parser.Decoder:
    return parser.Decoder(limits)
