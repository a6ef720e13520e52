"""A client's connection to one namespace: the object handlers receive as ``socket``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._calls import Callback, Label, Listeners, Where, call, run, run_handler, spawn
from ..adapters.base import BroadcastOptions, PersistedSession
from ..exceptions import AckTimeout, ConnectionClosed
from ..io.engine import EngineSocket
from ..socketio.packets import RESERVED_EVENTS, Packet, PacketType
from .broadcast import DONE, BroadcastOperator, Done

if TYPE_CHECKING:
    from .client import Client
    from .namespace import Namespace

__all__ = ["Handshake", "Socket", "deliver", "deliver_expecting_ack", "forget_ack"]

logger = logging.getLogger("socketeer.server")

#: Disconnect reasons after which a session may be recovered (the reference's list).
RECOVERABLE = frozenset({
    "transport error", "transport close", "forced close", "ping timeout", "server shutting down",
    "forced server close",
})


@dataclass(slots=True)
class Handshake:
    """What the client said when it connected, as the reference's ``socket.handshake``."""

    headers: dict[str, str]
    query: dict[str, str]
    auth: dict[str, Any]
    address: str
    url: str
    secure: bool
    xdomain: bool
    issued: int = field(default_factory=lambda: int(time.time() * 1000))

    @property
    def time(self) -> str:
        return time.strftime("%a %b %d %Y %H:%M:%S GMT%z", time.localtime(self.issued / 1000))

    def to_wire(self) -> dict[str, Any]:
        """As a Node node sends a socket's handshake to the cluster (keys in its order)."""
        return {"headers": self.headers, "time": self.time, "address": self.address, "xdomain": self.xdomain,
                "secure": self.secure, "issued": self.issued, "url": self.url, "query": self.query,
                "auth": self.auth}

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Handshake:
        """Another node's socket's handshake; fields that are missing or of the wrong type
        are left empty (the message came from outside)."""
        def mapping(value: Any) -> dict[str, Any]:
            return value if isinstance(value, dict) else {}

        def text(value: Any) -> str:
            return value if isinstance(value, str) else ""

        issued = raw.get("issued")
        return cls(
            headers=mapping(raw.get("headers")), query=mapping(raw.get("query")), auth=mapping(raw.get("auth")),
            address=text(raw.get("address")), url=text(raw.get("url")), secure=raw.get("secure") is True,
            xdomain=raw.get("xdomain") is True,
            issued=issued if isinstance(issued, int) and not isinstance(issued, bool) else 0,
        )


class Ack:
    """The ``ack`` a handler asks for to answer later; answers once, then does nothing."""

    __slots__ = ("_ack_id", "_socket", "answered")

    def __init__(self, socket: Socket, ack_id: int) -> None:
        self._socket = socket
        self._ack_id = ack_id
        self.answered = False

    def answer_with(self, result: Any) -> None:
        """A handler's return value answers, unless the ack was already answered."""
        if not self.answered:
            self.answered = True
            self._socket._send_ack(self._ack_id, ack_args(result))

    def __call__(self, *args: Any) -> None:
        if self.answered:
            logger.warning("ack %d of socket %s answered twice; the second answer is ignored",
                           self._ack_id, self._socket.id)
            return
        self.answered = True
        self._socket._send_ack(self._ack_id, list(args))


def ack_args(result: Any) -> list[Any]:
    """A handler's return value as ack arguments: a tuple is several, ``None`` is none."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


class Socket(Listeners):
    """``on``/``once``/``off``/``on_any`` (from ``Listeners``) register handlers for this
    socket only: ``fn(*args)``; the namespace's handlers get ``(socket, *args)``."""

    _log = logger

    __slots__ = (
        "_acks",
        "_cleaned_up",
        "_middlewares",
        "client",
        "conn",
        "connected",
        "data",
        "handshake",
        "id",
        "nsp",
        "pid",
        "recovered",
    )

    def __init__(self, nsp: Namespace, client: Client, sid: str, handshake: Handshake, pid: str | None) -> None:
        self.nsp = nsp
        self.client = client
        self.conn: EngineSocket = client.conn
        self.id = sid
        self.pid = pid
        self.handshake = handshake
        self.data: dict[str, Any] = {}
        self.connected = False
        self.recovered = False
        self._acks: dict[int, Callable[[Any], None]] = {}
        self._cleaned_up = False
        self._init_listeners()
        self._middlewares: list[Callback] = []

    def __repr__(self) -> str:
        return f"<Socket {self.id} {self.nsp.name}>"

    # -- rooms -------------------------------------------------------------------------------
    @property
    def rooms(self) -> set[str]:
        return self.nsp.adapter.socket_rooms(self.id)

    def join(self, rooms: str | Iterable[str]) -> Done:
        if self._cleaned_up:  # as the reference: joining is a no-op once the socket is gone
            return DONE
        self.nsp.adapter.add_all(self.id, [rooms] if isinstance(rooms, str) else list(rooms))
        return DONE

    def leave(self, room: str) -> Done:
        self.nsp.adapter.delete(self.id, room)
        return DONE

    # -- emitting ----------------------------------------------------------------------------
    def _send_packet(self, packet: Packet) -> None:
        if self._any_outgoing and packet.type is PacketType.EVENT:
            self._notify_outgoing(packet.data)
        self.conn.send_packets(self.nsp.server.encode_for_engine(packet))

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> Done:
        """Send an event to this client. Awaiting it is allowed and returns at once."""
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        if not self.connected:
            return DONE
        data = [event, *args]
        if callback is not None:
            ack_id = self.nsp.next_ack_id()
            cb, where = Callback(callback), Where(self, Label(f"ack callback of {event!r}"))
            self._acks[ack_id] = lambda answer: run(cb, answer, None, where, logger)
            self._send_packet(Packet(PacketType.EVENT, self.nsp.name, data, ack_id))
        elif self.nsp.server.recovery is not None:
            # As the reference: with recovery on, a direct emit is stored (and gets an offset).
            self.nsp.adapter.broadcast(Packet(PacketType.EVENT, self.nsp.name, data),
                                       BroadcastOptions(rooms=frozenset((self.id,))))
            if self._any_outgoing:
                self._notify_outgoing(data)
        else:
            if self._any_outgoing:
                self._notify_outgoing(data)
            self.conn.send_packets(self.nsp.server.encode_event_for_engine(self.nsp.name, data))
        return DONE

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and wait for the client's answer (one value, or a list of several)."""
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        if not self.connected:
            raise ConnectionClosed("socket is not connected")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        ack_id = self.nsp.next_ack_id()

        def answered(answer: list[Any]) -> None:
            if not future.done():
                future.set_result(answer)

        self._acks[ack_id] = answered
        self._send_packet(Packet(PacketType.EVENT, self.nsp.name, [event, *args], ack_id))
        try:
            if timeout is None:
                answer = await future
            else:
                answer = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AckTimeout(f"no ack for {event!r} from {self.id} within {timeout} s") from None
        finally:
            self._acks.pop(ack_id, None)
        return answer[0] if len(answer) == 1 else (answer if answer else None)

    def send(self, *args: Any) -> Done:
        return self.emit("message", *args)

    def _answer(self, ack_id: int, result: Any) -> None:
        """A namespace handler's return value answers the client's ack."""
        if self.connected:
            args = [] if result is None else list(result) if type(result) is tuple else [result]
            self.conn.send_packets(self.nsp.server.encode_ack_for_engine(self.nsp.name, args, ack_id))

    def _send_ack(self, ack_id: int, args: list[Any]) -> None:
        if self.connected:
            self.conn.send_packets(self.nsp.server.encode_ack_for_engine(self.nsp.name, args, ack_id))

    # -- broadcasting from this socket -------------------------------------------------------
    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Everyone in ``room`` except this socket."""
        return self.broadcast.to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        return self.broadcast.except_(room)

    @property
    def broadcast(self) -> BroadcastOperator:
        return BroadcastOperator(self.nsp, except_rooms=frozenset((self.id,)))

    # -- handlers (on, once, off, on_any, on_any_outgoing: see Listeners) ----------------------
    def use(self, middleware: Callable[..., Any]) -> Callable[..., Any]:
        """Per-packet middleware: ``middleware(event, args)``; raising refuses the packet and
        passes the error to this socket's ``error`` handlers."""
        self._middlewares.append(Callback(middleware))
        return middleware

    def _notify_outgoing(self, data: list[Any]) -> None:
        if not self._any_outgoing:
            return
        where = Where(self, Label("outgoing listener"))
        for cb in list(self._any_outgoing):
            run(cb, data, None, where, logger)

    # -- incoming ----------------------------------------------------------------------------
    def receive_packet(self, packet: Packet) -> None:
        ptype = packet.type
        if ptype is PacketType.EVENT or ptype is PacketType.BINARY_EVENT:
            self.receive_event(packet.data, packet.id)
        elif ptype is PacketType.ACK or ptype is PacketType.BINARY_ACK:
            callback = self._acks.pop(packet.id, None) if packet.id is not None else None
            if callback is None:
                logger.info("ack %s from %s matches no pending emit; ignored", packet.id, self.id)
                return
            callback(packet.data)  # socketeer's own: a user's callback is run as a task by it
        elif ptype is PacketType.DISCONNECT:
            self.end("client namespace disconnect")

    def receive_event(self, data: list[Any], ack_id: int | None) -> None:
        if self._middlewares:
            spawn(self._run_middlewares(data, ack_id), Where(self, Label("middleware")), logger)
        else:
            self._dispatch(data, ack_id)

    def leave_all(self) -> None:
        """Leave every room and the namespace; later joins do nothing."""
        self.nsp.adapter.delete_all(self.id)
        self.nsp.release(self)
        self._cleaned_up = True

    async def _run_middlewares(self, data: list[Any], ack_id: int | None) -> None:
        """Per-packet middleware, in order, in one task; raising refuses the packet."""
        for mw in list(self._middlewares):
            try:
                await call(mw.fn, (data[0], data[1:]))  # its own task and context
            except Exception as exc:
                handlers = self._listeners.get("error")
                if not handlers:
                    logger.info("packet from %r refused by middleware: %r", self, exc)
                self._emit_reserved("error", exc)
                return
        self._dispatch(data, ack_id)

    def _dispatch(self, data: list[Any], ack_id: int | None) -> None:
        event = data[0]
        handler = self.nsp.handlers.get(event)
        if handler is not None and not handler.takes_ack and not self._any and not self._listeners:
            # The common case, one namespace handler: no Ack object, the return value answers.
            data[0] = self
            run_handler(handler, data, self._answer, ack_id, self, event, logger)
            return
        args = data[1:]
        where = Where(self, event)
        for cb in list(self._any):
            run(cb, data, None, where, logger)
        done: Callable[[Any], None] | None = None
        ack = None
        if ack_id is not None:
            ack = Ack(self, ack_id)
            done = ack.answer_with
        if handler is not None:
            kwargs = {"ack": ack} if handler.takes_ack and ack is not None else None
            run(handler, (self, *args), None if handler.takes_ack else done, where, logger, kwargs)
            done = None  # the namespace-level handler answers the ack
        for cb in self._take(event):
            kwargs = {"ack": ack} if cb.takes_ack and ack is not None else None
            run(cb, args, None if cb.takes_ack else done, where, logger, kwargs)
            done = None

    # -- leaving -----------------------------------------------------------------------------
    def disconnect(self, close: bool = False) -> Done:
        """Disconnect this namespace; with ``close`` the whole connection goes too."""
        if not self.connected:
            return DONE
        if close:
            self.client.disconnect_all()
        else:
            self._send_packet(Packet(PacketType.DISCONNECT, self.nsp.name))
            self.end("server namespace disconnect")
        return DONE

    def end(self, reason: str) -> None:
        if not self.connected:
            return
        self._emit_reserved("disconnecting", reason)
        ns_disconnecting = self.nsp.handlers.get("disconnecting")
        if ns_disconnecting is not None:
            run(ns_disconnecting, (self, reason), None, Where(self, Label("disconnecting")), logger)
        server = self.nsp.server
        if server.recovery is not None and reason in RECOVERABLE and self.pid is not None:
            self.nsp.adapter.persist_session(PersistedSession(self.id, self.pid, list(self.rooms), self.data))
        self.leave_all()
        self.client.detach(self)
        self.connected = False
        self._acks.clear()
        logger.info("socket %s left %s: %s", self.id, self.nsp.name, reason)
        self._emit_reserved("disconnect", reason)
        ns_disconnect = self.nsp.handlers.get("disconnect")
        if ns_disconnect is not None:
            run(ns_disconnect, (self, reason), None, Where(self, Label("disconnect")), logger)

    # -- the rest of the reference's surface ---------------------------------------------------
    def timeout(self, seconds: float) -> _TimedSocket:
        """``await socket.timeout(5).emit_with_ack("x")``, as the reference's chain."""
        return _TimedSocket(self, seconds)

    @property
    def volatile(self) -> _VolatileSocket:
        return _VolatileSocket(self)

    def compress(self, enabled: bool) -> Socket:
        return self  # compression is per transport and threshold; the flag is accepted for parity


class _TimedSocket:
    __slots__ = ("_seconds", "_socket")

    def __init__(self, socket: Socket, seconds: float) -> None:
        self._socket = socket
        self._seconds = seconds

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        return await self._socket.emit_with_ack(event, *args, timeout=self._seconds)


class _VolatileSocket:
    __slots__ = ("_socket",)

    def __init__(self, socket: Socket) -> None:
        self._socket = socket

    def emit(self, event: str, *args: Any) -> Done:
        socket = self._socket
        if event in RESERVED_EVENTS:
            raise ValueError(f'"{event}" is a reserved event name')
        if not socket.connected:
            return DONE
        nsp = socket.nsp
        data = [event, *args]
        if nsp.server.recovery is None:
            if socket.conn.writable:
                socket._send_packet(Packet(PacketType.EVENT, nsp.name, data))
            return DONE
        # With recovery on, as the reference: through the adapter, flagged volatile, so the
        # packet gets no offset and is not stored for replay.
        nsp.adapter.broadcast(Packet(PacketType.EVENT, nsp.name, data),
                              BroadcastOptions(rooms=frozenset((socket.id,)), volatile=True))
        socket._notify_outgoing(data)
        return DONE


# -- what the adapter's port does to the sockets of a namespace (see NamespacePort) -----------
def deliver(sockets: dict[str, Socket], sids: Iterable[str], items: list[Any], volatile: bool) -> int:
    """Queue ``items`` (encoded once) on each socket of ``sids`` there is; the broadcast loop."""
    count = 0
    for sid in sids:
        sock = sockets.get(sid)
        if sock is None:
            continue
        conn = sock.conn
        if volatile and not conn.writable:
            continue
        conn.send_packets(items)
        count += 1
    return count


def deliver_expecting_ack(sockets: dict[str, Socket], sids: Iterable[str], items: list[Any], ack_id: int,
                          on_ack: Callable[[Any], None], volatile: bool) -> int:
    """As ``deliver``, registering ``ack_id`` on each recipient first (one id for all of them,
    so the packet is still encoded once); an answer reaches ``on_ack`` whole."""
    def answered(answer: list[Any]) -> None:
        on_ack(answer[0] if len(answer) == 1 else answer)

    count = 0
    for sid in sids:
        sock = sockets.get(sid)
        if sock is None or (volatile and not sock.conn.writable):
            continue
        sock._acks[ack_id] = answered
        sock.conn.send_packets(items)
        count += 1
    return count


def forget_ack(sockets: dict[str, Socket], ack_id: int) -> None:
    """Late answers to ``ack_id`` are dropped, as the reference drops them."""
    for sock in sockets.values():
        sock._acks.pop(ack_id, None)
