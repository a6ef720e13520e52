"""Connection state recovery, as a layer an adapter composes.

A recoverable packet (an EVENT without an ack id, not volatile) gets an offset appended as its
last argument; a socket that drops leaves its session (id, rooms, data) behind for
``max_disconnection_duration``; a client that comes back with its ``pid`` and the last offset
it saw gets the same socket id, rooms and data, and every recoverable packet it missed that
was meant for it. Where offsets, sessions and packets live is the layer's business:
``MemoryRecovery`` keeps them in this process (one node); ``RedisStreamsAdapter`` keeps them
in Redis (any node of the cluster can restore a session).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..socketio.packets import Packet, PacketType
from .base import BroadcastOptions, PersistedSession, RestoredSession

if TYPE_CHECKING:
    from .base import NamespacePort

__all__ = ["MemoryRecovery", "is_recoverable", "reaches"]


def is_recoverable(packet: Packet, opts: BroadcastOptions) -> bool:
    """Whether a broadcast gets an offset and is kept (the reference's rule)."""
    return packet.type is PacketType.EVENT and packet.id is None and not opts.volatile


def reaches(rooms: Iterable[str], opts: BroadcastOptions) -> bool:
    """Whether a broadcast with ``opts`` was meant for a socket in ``rooms``."""
    mine = set(rooms)
    return (not opts.rooms or bool(opts.rooms & mine)) and not (opts.except_rooms & mine)


class MemoryRecovery:
    """Offsets, sessions and packets in this process, for ``max_disconnection_duration``."""

    def __init__(self, port: NamespacePort) -> None:
        recovery = port.recovery
        assert recovery is not None
        self.port = port
        self.max_age = recovery.max_disconnection_duration
        self._sessions: dict[str, PersistedSession] = {}
        #: (offset, time, packet, options) of every recoverable packet, oldest first.
        self._packets: deque[tuple[str, float, Packet, BroadcastOptions]] = deque()
        self._prefix = format(int(time.time() * 1000), "x")
        self._counter = itertools.count()

    def keeps(self, packet: Packet, opts: BroadcastOptions) -> bool:
        return is_recoverable(packet, opts)

    def record(self, packet: Packet, opts: BroadcastOptions) -> Packet:
        """``packet`` with its offset appended, kept for those who will miss it."""
        offset = f"{self._prefix}-{next(self._counter)}"
        packet = Packet(packet.type, packet.namespace, [*packet.data, offset], None)
        now = self.port.now()
        self._packets.append((offset, now, packet, opts))
        self._trim(now)
        return packet

    def _trim(self, now: float) -> None:
        horizon = now - self.max_age
        packets = self._packets
        while packets and packets[0][1] < horizon:
            packets.popleft()
        if self._sessions:
            for pid in [p for p, s in self._sessions.items() if s.disconnected_at < horizon]:
                del self._sessions[pid]

    def persist(self, session: PersistedSession) -> None:
        session.disconnected_at = self.port.now()
        self._sessions[session.pid] = session

    def restore(self, pid: str, offset: str) -> RestoredSession | None:
        self._trim(self.port.now())
        session = self._sessions.pop(pid, None)
        if session is None:
            return None
        missed: list[Packet] = []
        found = False
        for packet_offset, _, packet, opts in self._packets:
            if found:
                if reaches(session.rooms, opts):
                    missed.append(packet)
            elif packet_offset == offset:
                found = True
        if not found:
            return None
        return RestoredSession(session.sid, session.pid, session.rooms, session.data, missed)
