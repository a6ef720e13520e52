"""``socketeer.Server``: the Socket.IO server, over the engine, served by either front end."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, overload

from .._calls import Callback, Label, Where, run, spawn
from ..adapters.base import Adapter, InMemoryAdapter
from ..engineio.packets import as_messages
from ..engineio.session import SharedMessage
from ..io.engine import Engine, EngineOptions, EngineSocket
from ..limits import DEFAULT_LIMITS, Limits
from ..socketio import msgpack_parser
from ..socketio import parser as parser_mod
from ..socketio.packets import RESERVED_EVENTS, Packet, PacketType
from .broadcast import BroadcastOperator, Done, ThreadSafeOperator, collect_acks
from .client import Client
from .namespace import Namespace, ParentNamespace
from .serves import Serves

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


class Server(Serves):
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
        clock: Callable[[], float] = time.monotonic,
        send_middleware_errors: bool = False,
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
        #: ``socket.emit``'s hot path (S1) and a handler's answer (S2): the parser's one-format
        #: forms themselves with the default parser (no call in between), else via a Packet.
        self.encode_event_for_engine: Callable[[str, list[Any]], list[str | bytes]]
        self.encode_ack_for_engine: Callable[[str, list[Any], int], list[str | bytes]]
        if parser == "default":
            self._encode: Callable[[Packet, int], list[str | bytes]] = _default_encode
            self.new_decoder: Callable[[], Any] = lambda: _new_default_decoder(self.limits)
            self.encode_event_for_engine = parser_mod.encode_event_message
            self.encode_ack_for_engine = parser_mod.encode_ack_message
        elif parser == "msgpack":
            msgpack_parser.require()
            self._encode = msgpack_parser.encode
            self.new_decoder = lambda: msgpack_parser.MsgpackDecoder(self.limits)
            self.encode_event_for_engine = lambda nsp, data: self.encode_for_engine(
                Packet(PacketType.EVENT, nsp, data))
            self.encode_ack_for_engine = lambda nsp, args, ack_id: self.encode_for_engine(
                Packet(PacketType.ACK, nsp, args, ack_id))
        else:
            raise ValueError(f"unknown parser {parser!r}: use 'default' or 'msgpack'")
        #: Monotonic seconds, for what the adapters keep (recovery's horizon); injectable.
        self.clock = clock
        #: Send the text of a middleware's unexpected exception (not ``ConnectionRefused``) to
        #: the client, as the reference does; off by default, the client gets "server error".
        self.send_middleware_errors = send_middleware_errors
        self._nsps: dict[str, Namespace] = {}
        self._parents: list[ParentNamespace] = []
        self._server_side: dict[str, Callback] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Every namespace's adapter, in creation order: started and closed with the server.
        self._adapters: list[Adapter] = []
        self._started = False
        self.sockets = self.of("/")

    # -- namespaces --------------------------------------------------------------------------
    def find_namespace(self, name: str) -> Namespace | None:
        """The namespace a client's CONNECT names, if it exists (dynamic children included)."""
        return self._nsps.get(name)

    @property
    def has_dynamic_namespaces(self) -> bool:
        return bool(self._parents)

    async def resolve_dynamic(self, name: str, auth: Any) -> Namespace | None:
        """The child of the first dynamic namespace that accepts ``name``, made on first use."""
        for parent in self._parents:
            if await parent.matches(name, auth):
                nsp = self._nsps.get(name)  # another client may have made it meanwhile
                if nsp is None:
                    nsp = self._nsps[name] = parent.child(name)
                return nsp
        return None

    def new_adapter(self, nsp: Namespace) -> Adapter:
        """The adapter of a new namespace. It lives as long as the server runs: started with
        it, or at once (without waiting, as the reference) when the server already runs."""
        adapter = self.adapter_factory(nsp)
        if not isinstance(nsp, ParentNamespace):  # a parent's children carry its traffic
            self._adapters.append(adapter)
            if self._started:
                spawn(adapter.init(), Where(adapter, Label("init")), logger)
        return adapter

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

    def receive_server_side(self, args: list[Any], answer: Callable[[list[Any]], None] | None) -> None:
        """Another node's ``server_side_emit`` (from an adapter's port): ``[event, *args]``,
        and ``answer`` when the sender waits for acks. Unknown events are ignored, as the
        reference ignores events without listeners."""
        if not args or not isinstance(args[0], str):
            logger.info("ignored a server-side message without an event name: %r", args[:1])
            return
        handler = self._server_side.get(args[0])
        if handler is None:
            return
        done = None if answer is None else (lambda result: answer(_as_args(result)))
        run(handler, args[1:], done, Where(self, args[0]), logger)

    def server_side_emit(self, event: str, *args: Any) -> Done:
        from .broadcast import DONE

        _check_event_name(event)
        self.sockets.adapter.server_side_emit([event, *args])
        return DONE

    async def server_side_emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> list[Any]:
        """One answer per other node (an empty list on a single node); ``AckTimeout`` with the
        answers that came (``.responses``) when ``timeout`` (by default the adapter's
        ``requests_timeout``) runs out first, as Node rejects with ``err.responses``."""
        _check_event_name(event)
        adapter = self.sockets.adapter
        wait = adapter.requests_timeout if timeout is None else timeout
        return await collect_acks(
            lambda on_count, on_ack: adapter.server_side_emit([event, *args], on_count, on_ack, timeout=wait),
            wait, f"server-side answers to {event!r}",
            message=lambda came, expected: f"timeout reached: only {came} responses received out of {expected}",
        )

    # -- encoding ------------------------------------------------------------------------------
    def parser_encode(self, packet: Packet) -> list[str | bytes]:
        return self._encode(packet, self.limits.max_depth)

    def encode_for_engine(self, packet: Packet) -> list[str | bytes]:
        """A packet for one recipient, as Engine.IO messages."""
        return as_messages(self._encode(packet, self.limits.max_depth))

    def encode_shared(self, packet: Packet) -> list[SharedMessage]:
        """A packet for many recipients: encoded once, framed once per transport."""
        return [SharedMessage(m) for m in as_messages(self._encode(packet, self.limits.max_depth))]

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

    # -- lifecycle (every front end calls these: see Servable) ----------------------------------
    async def startup(self) -> None:
        """Start every adapter (a broker's connection, subscriptions) before serving."""
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        for adapter in list(self._adapters):
            await adapter.init()

    async def teardown(self) -> None:
        """Close every adapter once; the sessions were closed before."""
        if not self._started:
            return
        self._started = False
        for adapter in list(self._adapters):
            try:
                await adapter.close()
            except Exception:
                logger.exception("closing the adapter of %s failed", adapter.nsp.name)

    async def close(self, timeout: float = 5.0) -> None:
        """The reference's name for ``shutdown``."""
        await self.shutdown(timeout)


def _as_args(result: Any) -> list[Any]:
    return [] if result is None else list(result) if isinstance(result, tuple) else [result]


def _check_event_name(event: str) -> None:
    if event in RESERVED_EVENTS:
        raise ValueError(f'"{event}" is a reserved event name')


def _default_encode(packet: Packet, max_depth: int = DEFAULT_LIMITS.max_depth) -> list[str | bytes]:
    return parser_mod.encode(packet, max_depth)


def _new_default_decoder(limits: Limits) -> parser_mod.Decoder:
    return parser_mod.Decoder(limits)
