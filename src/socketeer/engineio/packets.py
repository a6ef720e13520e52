"""Engine.IO v4 packets.

A packet is a one-digit type and optional data. Text packets travel as ``"<type><data>"``;
a binary message travels as the bare bytes over WebSocket and as ``"b<base64>"`` inside a
long-polling payload. Nothing here does I/O or raises anything but ``EngineIOPacketError``
on peer input.
"""

from __future__ import annotations

import binascii
from base64 import b64encode
from enum import IntEnum
from typing import NamedTuple

from ..exceptions import EngineIOPacketError

__all__ = [
    "MESSAGE",
    "Packet",
    "PacketType",
    "as_message",
    "as_messages",
    "decode_binary",
    "decode_text",
    "encode_polling",
    "encode_ws",
]


class PacketType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_BY_CHAR = {str(int(t)): t for t in PacketType}

#: The prefix of a text MESSAGE: what every Socket.IO packet rides in.
MESSAGE = "4"


def as_message(data: str | bytes) -> str | bytes:
    """A message's WebSocket form (the engine's queue holds this form): text gets the
    MESSAGE type, binary stays bare."""
    return data if isinstance(data, bytes) else MESSAGE + data


def as_messages(parts: list[str | bytes]) -> list[str | bytes]:
    """``as_message`` of each of a Socket.IO packet's parts (its text, then its attachments)."""
    return [MESSAGE + p if isinstance(p, str) else p for p in parts]


class Packet(NamedTuple):
    """An immutable packet. A NamedTuple rather than a frozen dataclass: decoders build one
    per packet, and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field)
    costs twice a tuple's (406 ns against 190 ns measured), which decides the polling path."""

    type: PacketType
    #: ``None`` when the packet carries nothing; ``bytes`` only for a binary MESSAGE.
    data: str | bytes | None = None

    @property
    def binary(self) -> bool:
        return isinstance(self.data, bytes)


def encode_ws(packet: Packet) -> str | bytes:
    """The WebSocket form: text stays text, a binary message is the bare bytes."""
    data = packet.data
    if isinstance(data, bytes):
        if packet.type is not PacketType.MESSAGE:
            raise ValueError("only MESSAGE packets carry binary data")
        return data
    return str(int(packet.type)) if data is None else f"{int(packet.type)}{data}"


def encode_polling(packet: Packet) -> str:
    """The form a packet takes inside a long-polling payload."""
    encoded = encode_ws(packet)
    return binary_to_polling(encoded) if isinstance(encoded, bytes) else encoded


def binary_to_polling(data: bytes | bytearray | memoryview) -> str:
    """A binary message as polling sends it: ``b`` and standard base64 with padding."""
    return "b" + b64encode(data).decode("ascii")


def decode_text(text: str) -> Packet:
    """Decode one text packet (a WebSocket text frame or one record of a polling payload)."""
    if not text:
        raise EngineIOPacketError("empty Engine.IO packet")
    first = text[0]
    if first == "b":
        try:
            return Packet(PacketType.MESSAGE, binascii.a2b_base64(text[1:], strict_mode=True))
        except (binascii.Error, ValueError) as exc:
            raise EngineIOPacketError(f"invalid base64 in binary packet: {exc}") from None
    ptype = _BY_CHAR.get(first)
    if ptype is None:
        raise EngineIOPacketError(f"unknown Engine.IO packet type {first!r}")
    if ptype is PacketType.MESSAGE:
        return Packet(ptype, text[1:])  # "4" is an empty message, never a message of None
    return Packet(ptype, text[1:] if len(text) > 1 else None)


def decode_binary(data: bytes) -> Packet:
    """Decode a WebSocket binary frame: in Engine.IO v4 it is always a message."""
    return Packet(PacketType.MESSAGE, bytes(data))
