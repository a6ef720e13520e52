"""Namespaces: their handlers, middleware chain, sockets and adapter."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .._calls import Callback, Label, Where, call, run, spawn
from ..engineio.handshake import new_sid
from ..exceptions import ConnectionRefused
from ..socketio.packets import Packet, PacketType
from . import socket as _sockets
from .broadcast import DONE, BroadcastOperator, Done
from .socket import Socket

if TYPE_CHECKING:
    from ..adapters.base import RestoredSession
    from ..engineio.session import SharedMessage
    from .client import Client
    from .server import RecoveryOptions, Server

__all__ = ["Namespace", "ParentNamespace", "Port"]

logger = logging.getLogger("socketeer.server")

F = TypeVar("F", bound=Callable[..., Any])

_CONNECTION_EVENTS = frozenset({"connection", "connect"})

#: What a client is told when a middleware raised something other than ``ConnectionRefused``
#: (unless ``Server(send_middleware_errors=True)``).
MIDDLEWARE_FAILED = "server error"


def _positional_count(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 99
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


class Namespace:
    """``io.of("/admin")``: handlers registered here run for every socket of the namespace.

    ``@nsp.on("connection")`` gets ``(socket, auth)`` (or just ``socket``); any other event
    gets ``(socket, *args)`` and its return value answers the client's ack.
    """

    def __init__(self, server: Server, name: str, parent: ParentNamespace | None = None) -> None:
        self.server = server
        self.name = name
        self.parent = parent
        self.sockets: dict[str, Socket] = {}
        self._ack_id = 0
        if parent is not None:  # children share their parent's handlers and middleware
            #: The namespace's event handlers by event name (register them with ``on``).
            self.handlers: dict[str, Callback] = parent.handlers
            self._connection: list[Callback] = parent._connection
            self._middlewares: list[Callback] = parent._middlewares
        else:
            self.handlers = {}
            self._connection = []
            self._middlewares = []
        #: What this namespace's adapter may use of it (``adapters.base.NamespacePort``).
        self.port = Port(self)
        self.adapter = server.new_adapter(self)

    def __repr__(self) -> str:
        return f"<Namespace {self.name}>"

    # -- registration -----------------------------------------------------------------------
    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F) -> F: ...
    def on(self, event: str, handler: F | None = None) -> Any:
        def register(fn: F) -> F:
            if event in _CONNECTION_EVENTS:
                self._connection.append(Callback(fn))
            else:
                self.handlers[event] = Callback(fn)
            return fn

        return register(handler) if handler is not None else register

    def event(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``@nsp.event`` registers ``fn`` under its own name."""
        return self.on(fn.__name__, fn)

    def use(self, middleware: Callable[..., Any]) -> Callable[..., Any]:
        """Connection middleware ``middleware(socket)``, sync or async, run in order;
        raise ``ConnectionRefused(message, data)`` to refuse the client."""
        self._middlewares.append(Callback(middleware))
        return middleware

    # -- broadcasting ------------------------------------------------------------------------
    def _op(self) -> BroadcastOperator:
        return BroadcastOperator(self)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._op().to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self._op().except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        return self._op().volatile

    @property
    def local(self) -> BroadcastOperator:
        return self._op().local

    def compress(self, enabled: bool) -> BroadcastOperator:
        return self._op().compress(enabled)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._op().timeout(seconds)

    def emit(self, event: str, *args: Any) -> Done:
        return self._op().emit(event, *args)

    def send(self, *args: Any) -> Done:
        return self._op().emit("message", *args)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self._op().emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list[Any]:
        return await self._op().fetch_sockets()

    def sockets_join(self, rooms: str | Iterable[str]) -> Done:
        return self._op().sockets_join(rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> Done:
        return self._op().sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False) -> Done:
        return self._op().disconnect_sockets(close)

    def next_ack_id(self) -> int:
        """Ack ids count per namespace, as the reference's: one id can then serve every
        recipient of a broadcast, which keeps it encoded once."""
        ack_id = self._ack_id
        self._ack_id += 1
        return ack_id

    # -- connecting ----------------------------------------------------------------------------
    def admit(self, client: Client, auth: dict[str, Any] | None) -> None:
        if self.server.recovery is not None and auth:
            pid, offset = auth.get("pid"), auth.get("offset")
            if isinstance(pid, str) and isinstance(offset, str):
                found = self.adapter.restore_session(pid, offset)
                if inspect.isawaitable(found):  # the adapter asks a broker
                    spawn(self._admit_restoring(client, auth, found), Where(self, Label("recovery")), logger)
                    return
                self._admit(client, auth, found)
                return
        self._admit(client, auth, None)

    async def _admit_restoring(self, client: Client, auth: dict[str, Any], pending: Awaitable[Any]) -> None:
        try:
            restored = await pending
        except Exception:
            logger.warning("restoring a session on %s failed; the client gets a new one", self.name, exc_info=True)
            restored = None
        if not client.conn.closed:
            self._admit(client, auth, restored)

    def _admit(self, client: Client, auth: dict[str, Any] | None, restored: RestoredSession | None) -> None:
        recovery = self.server.recovery
        if restored is not None:
            socket = Socket(self, client, restored.sid, client.handshake(auth), restored.pid)
            socket.data = restored.data if isinstance(restored.data, dict) else {}
            socket.recovered = True
        else:
            pid = new_sid() if recovery is not None else None
            socket = Socket(self, client, new_sid(), client.handshake(auth), pid)
        if self._middlewares and not (restored is not None and recovery is not None and recovery.skip_middlewares):
            spawn(self._run_middlewares(socket, auth, restored), Where(self, Label("middleware")), logger)
        else:
            self._accept(socket, auth, restored)

    async def _run_middlewares(self, socket: Socket, auth: Any, restored: RestoredSession | None) -> None:
        for mw in list(self._middlewares):
            try:
                await call(mw.fn, (socket,))  # its own task and context, as all user code
            except ConnectionRefused as exc:
                socket.leave_all()  # rooms a middleware joined are left, as the reference
                self._refuse(socket.client, exc.message, exc.data)
                return
            except Exception as exc:
                # Not a refusal: a bug, or a resource down. Logged as an error, and the client
                # is told only that the server failed unless the server says to send the text
                # (the reference sends ``err.message``, which can leak internals).
                logger.error("middleware of %s raised for socket %s (session %s)", self.name, socket.id,
                             socket.client.conn.sid, exc_info=exc)
                socket.leave_all()
                if self.server.send_middleware_errors:
                    self._refuse(socket.client, str(exc) or type(exc).__name__, getattr(exc, "data", None))
                else:
                    self._refuse(socket.client, MIDDLEWARE_FAILED, None)
                return
        self._accept(socket, auth, restored)

    def _refuse(self, client: Client, message: str, data: Any) -> None:
        if client.conn.closed:
            return
        payload: dict[str, Any] = {"message": message}
        if data is not None:
            payload["data"] = data
        client.send_packet(Packet(PacketType.CONNECT_ERROR, self.name, payload))

    def _accept(self, socket: Socket, auth: Any, restored: RestoredSession | None) -> None:
        client = socket.client
        if client.conn.closed or self.name in client.sockets:
            return
        self.sockets[socket.id] = socket
        client.attach(socket)
        socket.connected = True
        rooms = [socket.id]
        if restored is not None:
            rooms.extend(r for r in restored.rooms if r != socket.id)
        self.adapter.add_all(socket.id, rooms)
        if restored is not None:
            # The reference replays what was missed before it answers the CONNECT.
            for packet in restored.missed_packets:
                client.send_packet(packet)
        answer: dict[str, Any] = {"sid": socket.id}
        if socket.pid is not None:
            answer["pid"] = socket.pid
        client.send_packet(Packet(PacketType.CONNECT, self.name, answer))
        logger.info("socket %s joined %s%s", socket.id, self.name, " (recovered)" if restored else "")
        where = Where(socket, Label("connection"))
        for handler in list(self._connection):
            run(handler, (socket, auth), None, where, logger)

    def release(self, socket: Socket) -> None:
        self.sockets.pop(socket.id, None)


class Port:
    """A namespace as its adapter sees it: ``adapters.base.NamespacePort``, implemented."""

    __slots__ = ("_nsp",)

    def __init__(self, nsp: Namespace) -> None:
        self._nsp = nsp

    @property
    def name(self) -> str:
        return self._nsp.name

    @property
    def recovery(self) -> RecoveryOptions | None:
        return self._nsp.server.recovery

    def now(self) -> float:
        return self._nsp.server.clock()

    def encode(self, packet: Packet) -> list[SharedMessage]:
        return self._nsp.server.encode_shared(packet)

    def deliver(self, sids: Iterable[str], items: list[SharedMessage], volatile: bool) -> int:
        return _sockets.deliver(self._nsp.sockets, sids, items, volatile)

    def deliver_expecting_ack(self, sids: Iterable[str], items: list[SharedMessage], ack_id: int,
                              on_ack: Callable[[Any], None], volatile: bool) -> int:
        return _sockets.deliver_expecting_ack(self._nsp.sockets, sids, items, ack_id, on_ack, volatile)

    def forget_ack(self, ack_id: int) -> None:
        _sockets.forget_ack(self._nsp.sockets, ack_id)

    def next_ack_id(self) -> int:
        return self._nsp.next_ack_id()

    def sockets(self, sids: Iterable[str]) -> list[Socket]:
        sockets = self._nsp.sockets
        return [s for sid in sids if (s := sockets.get(sid)) is not None]

    def server_side(self, args: list[Any], answer: Callable[[list[Any]], None] | None) -> None:
        self._nsp.server.receive_server_side(args, answer)


class ParentNamespace(Namespace):
    """A dynamic namespace: ``io.of(re.compile(r"^/team-\\d+$"))`` or ``io.of(predicate)``.

    A child namespace is created on its first connection and shares the parent's handlers
    and middleware; emitting on the parent reaches every child.
    """

    def __init__(self, server: Server, matcher: re.Pattern[str] | Callable[..., Any]) -> None:
        super().__init__(server, f"<dynamic {getattr(matcher, 'pattern', matcher)!s}>")
        self.matcher = matcher
        self.children: dict[str, Namespace] = {}

    async def matches(self, name: str, auth: Any) -> bool:
        if isinstance(self.matcher, re.Pattern):
            return self.matcher.search(name) is not None
        try:
            result = await call(self.matcher, (name, auth) if _positional_count(self.matcher) >= 2 else (name,))
        except Exception:
            logger.exception("namespace predicate failed for %s", name)
            return False
        return bool(result)

    def child(self, name: str) -> Namespace:
        nsp = self.children.get(name)
        if nsp is None:
            nsp = self.children[name] = Namespace(self.server, name, parent=self)
        return nsp

    def emit(self, event: str, *args: Any) -> Done:
        for child in list(self.children.values()):
            child.emit(event, *args)
        return DONE
