"""The adapter: who is in which room, and how a packet reaches the sockets it is meant for.

``Adapter`` is the interface a multi-node adapter implements (the Redis adapter overrides only
what crosses nodes: broadcasts, server-side operations and the server count). The default,
``InMemoryAdapter``, serves one process. Every broadcast is encoded once: the parser's output
becomes shared Engine.IO packets (``SharedMessage``) and each transport frames them once.

Connection state recovery is a layer an adapter composes (``adapters/recovery.py``): the
in-memory one here, as the reference's ``SessionAwareAdapter``; a Redis streams node keeps
sessions and packets in Redis instead, so that any node can restore them.

An adapter sees its namespace only through ``NamespacePort`` (``self.port``): encode a packet
once, deliver the bytes to these local sids, expect an ack from them, the clock, the recovery
settings, and hand a server-side emit from another node to the local handlers. That narrow
seam is what a cluster adapter builds on; nothing else of the server is its business.

Lifecycle: ``init()`` runs when the server starts, under every front end (``listen``, an
ASGI server's lifespan, or the first request when no lifespan reaches the app), and at once
for a namespace made after that; ``close()`` runs once at shutdown, after the sessions closed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..engineio.packets import as_messages
from ..engineio.session import SharedMessage
from ..socketio.packets import Packet

if TYPE_CHECKING:
    from ..server.namespace import Namespace
    from ..server.server import RecoveryOptions
    from ..server.socket import Socket

__all__ = [
    "Adapter", "BroadcastOptions", "InMemoryAdapter", "NamespacePort", "PersistedSession", "RemoteSocketDetails",
    "RestoredSession",
]

logger = logging.getLogger("socketeer.adapter")


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    rooms: frozenset[str] = frozenset()
    except_rooms: frozenset[str] = frozenset()
    volatile: bool = False
    compress: bool = True
    #: Only this node's sockets (multi-node adapters honour it; one node ignores it).
    local: bool = False
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class RemoteSocketDetails:
    """A socket of another node, as ``fetch_sockets`` learns it (the server wraps it in a
    ``RemoteSocket`` whose methods act through the adapter)."""

    id: str
    #: Node's ``socket.handshake`` as JSON: headers, time, address, xdomain, secure, issued,
    #: url, query, auth.
    handshake: dict[str, Any]
    rooms: frozenset[str]
    data: Any


@dataclass(slots=True)
class PersistedSession:
    sid: str
    pid: str
    rooms: list[str]
    data: Any
    #: On the namespace's clock (``NamespacePort.now``).
    disconnected_at: float = 0.0


@dataclass(slots=True)
class RestoredSession:
    sid: str
    pid: str
    rooms: list[str]
    data: Any
    #: What the socket missed, in order, as packets ready to send.
    missed_packets: list[Packet]


class NamespacePort(Protocol):
    """What an adapter may ask of its namespace, and all of it (``Namespace.port``)."""

    @property
    def name(self) -> str: ...

    @property
    def recovery(self) -> RecoveryOptions | None:
        """Connection state recovery's settings, or ``None`` when it is off."""

    def now(self) -> float:
        """Seconds on the server's monotonic clock (``Server(clock=...)``; tests pass their own)."""

    def encode(self, packet: Packet) -> list[SharedMessage]:
        """``packet`` as Engine.IO messages, encoded once for every recipient."""

    def deliver(self, sids: Iterable[str], items: list[SharedMessage], volatile: bool) -> int:
        """Send ``items`` to each of these local sockets (unknown sids are skipped; with
        ``volatile``, so are sockets that could not write now); returns how many got them."""

    def deliver_expecting_ack(self, sids: Iterable[str], items: list[SharedMessage], ack_id: int,
                              on_ack: Callable[[Any], None], volatile: bool) -> int:
        """As ``deliver``, each recipient's answer to ``ack_id`` going to ``on_ack`` (one value,
        or a list of several); returns how many answers to expect."""

    def forget_ack(self, ack_id: int) -> None:
        """Answers to ``ack_id`` that come later are dropped (their deadline passed)."""

    def next_ack_id(self) -> int:
        """A fresh ack id of this namespace (another node's broadcast with acks is delivered
        under one, so it cannot collide with this node's own pending acks)."""

    def sockets(self, sids: Iterable[str]) -> list[Socket]:
        """The local sockets of these sids (for ``fetch_sockets`` and the like)."""

    def server_side(self, args: list[Any], answer: Callable[[list[Any]], None] | None) -> None:
        """Another node's ``server_side_emit``: ``[event, *args]`` to this server's
        ``on_server_side`` handler; ``answer(values)`` when it asked for an ack."""


def to_engine_items(encoded: list[str | bytes]) -> list[SharedMessage]:
    """Parser output as shared Engine.IO packets: text gets the MESSAGE type, binary goes bare."""
    return [SharedMessage(part) for part in as_messages(encoded)]


class Adapter:
    """The interface. Room bookkeeping and local delivery are implemented here for every
    adapter; a multi-node adapter extends ``broadcast`` and the server-side operations.

    ``nsp`` is the namespace (its public API); ``port`` is all the adapter uses of it.
    """

    #: How long a request to the other nodes waits for their answers, in seconds.
    requests_timeout: float = 5.0

    def __init__(self, namespace: Namespace) -> None:
        self.nsp = namespace
        self.port: NamespacePort = namespace.port
        self.rooms: dict[str, set[str]] = {}
        self.sids: dict[str, set[str]] = {}

    # -- lifecycle ---------------------------------------------------------------------------
    async def init(self) -> None:
        """Called once when the namespace is created (connect to a broker here)."""

    async def close(self) -> None:
        """Called when the server shuts down."""

    async def server_count(self) -> int:
        """How many servers share this namespace (a broker has to be asked)."""
        return 1

    async def sockets(self, rooms: Iterable[str] = ()) -> set[str]:
        """The ids of the sockets in any of ``rooms`` (all sockets without rooms), on every node."""
        return set(self.matching_sids(BroadcastOptions(rooms=frozenset(rooms))))

    async def all_rooms(self) -> set[str]:
        """Every room that has a member, on every node."""
        return set(self.rooms)

    # -- rooms -------------------------------------------------------------------------------
    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        mine = self.sids.get(sid)
        if mine is None:
            mine = self.sids[sid] = set()
        for room in rooms:
            mine.add(room)
            members = self.rooms.get(room)
            if members is None:
                self.rooms[room] = {sid}
            else:
                members.add(sid)

    def delete(self, sid: str, room: str) -> None:
        mine = self.sids.get(sid)
        if mine is not None:
            mine.discard(room)
        members = self.rooms.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self.rooms[room]

    def delete_all(self, sid: str) -> None:
        for room in self.sids.pop(sid, ()):
            members = self.rooms.get(room)
            if members is not None:
                members.discard(sid)
                if not members:
                    del self.rooms[room]

    def socket_rooms(self, sid: str) -> set[str]:
        return set(self.sids.get(sid, ()))

    def matching_sids(self, opts: BroadcastOptions) -> set[str] | Iterable[str]:
        """The local socket ids a broadcast reaches; no work proportional to all clients
        when rooms are named."""
        if opts.rooms:
            rooms = self.rooms
            if len(opts.rooms) == 1:
                (room,) = opts.rooms
                targets: set[str] = set(rooms.get(room, ()))
            else:
                targets = set()
                for room in opts.rooms:
                    targets.update(rooms.get(room, ()))
        elif not opts.except_rooms:
            return list(self.sids)
        else:
            targets = set(self.sids)
        for room in opts.except_rooms:
            members = self.rooms.get(room)
            if members:
                targets.difference_update(members)
        return targets

    def local_sockets(self, opts: BroadcastOptions) -> list[Socket]:
        return self.port.sockets(self.matching_sids(opts))

    # -- delivery ----------------------------------------------------------------------------
    def encode(self, packet: Packet) -> list[SharedMessage]:
        return self.port.encode(packet)

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        self.deliver_local(self.encode(packet), opts)

    def deliver_local(self, items: list[SharedMessage], opts: BroadcastOptions) -> int:
        return self.port.deliver(self.matching_sids(opts), items, opts.volatile)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        on_count: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> None:
        """Send with one ack id shared by every recipient (so it is still encoded once);
        ``on_count`` learns how many answers to expect, ``on_ack`` gets each answer."""
        assert packet.id is not None
        items = self.encode(packet)
        on_count(self.port.deliver_expecting_ack(self.matching_sids(opts), items, packet.id, on_ack, opts.volatile))

    # -- server-side operations ----------------------------------------------------------------
    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Socket | RemoteSocketDetails]:
        """This node's matching sockets, and on a cluster the others' as ``RemoteSocketDetails``."""
        return list(self.local_sockets(opts))

    def add_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        for sock in self.local_sockets(opts):
            sock.join(rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: list[str]) -> None:
        for sock in self.local_sockets(opts):
            for room in rooms:
                sock.leave(room)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for sock in self.local_sockets(opts):
            sock.disconnect(close)

    def server_side_emit(self, args: list[Any], on_count: Callable[[int], None] | None = None,
                         on_ack: Callable[[Any], None] | None = None, *, timeout: float | None = None) -> None:
        """``[event, *args]`` to the other nodes; with ``on_count``, each answers once (through
        ``on_ack``) and ``on_count`` learns how many will, within ``timeout`` seconds."""
        logger.info("server_side_emit(%r) on a single node: no other server to receive it", args[:1])
        if on_count is not None:
            on_count(0)

    # -- connection state recovery --------------------------------------------------------------
    def persist_session(self, session: PersistedSession) -> None:
        """One node keeps nothing unless recovery is on (see ``InMemoryAdapter``)."""

    def restore_session(self, pid: str, offset: str) -> RestoredSession | Awaitable[RestoredSession | None] | None:
        """The session ``pid`` and what it missed after ``offset``, or ``None``; an adapter
        that must ask a broker returns an awaitable instead."""
        return None


class InMemoryAdapter(Adapter):
    """The default adapter, with connection state recovery (``MemoryRecovery``) when the
    server enables it."""

    def __init__(self, namespace: Namespace) -> None:
        super().__init__(namespace)
        from .recovery import MemoryRecovery  # it builds on this module's types

        self.recovery = MemoryRecovery(self.port) if self.port.recovery else None

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        recovery = self.recovery
        if recovery is not None and recovery.keeps(packet, opts):
            packet = recovery.record(packet, opts)
        self.deliver_local(self.encode(packet), opts)

    def persist_session(self, session: PersistedSession) -> None:
        if self.recovery is not None:
            self.recovery.persist(session)

    def restore_session(self, pid: str, offset: str) -> RestoredSession | None:
        return self.recovery.restore(pid, offset) if self.recovery is not None else None
