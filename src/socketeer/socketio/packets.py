"""Socket.IO v5 packets: the seven types, and the reserved event names."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, NamedTuple

__all__ = ["RESERVED_EVENTS", "Packet", "PacketType"]


class PacketType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


#: Event names a peer may not send as ordinary events (the reference parser's list).
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

_MISSING: Any = None


class Packet(NamedTuple):
    """A decoded or to-be-encoded Socket.IO packet (immutable; a NamedTuple because it is
    built per packet on hot paths, where a frozen dataclass costs twice as much).

    ``data`` is ``None`` when the packet carries no payload. Binary values (``bytes``) sit
    inside ``data`` where the sender put them; encoding turns them into placeholders and
    attachments, and picks BINARY_EVENT/BINARY_ACK by itself.
    """

    type: PacketType
    namespace: str = "/"
    data: Any = _MISSING
    id: int | None = None

    @property
    def is_event(self) -> bool:
        return self.type is PacketType.EVENT or self.type is PacketType.BINARY_EVENT

    @property
    def is_ack(self) -> bool:
        return self.type is PacketType.ACK or self.type is PacketType.BINARY_ACK
