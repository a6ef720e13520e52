"""Socket.IO v5: the Sans-I/O protocol core (packets, parsers, ack bookkeeping)."""

from .acks import AckTable
from .packets import RESERVED_EVENTS, Packet, PacketType
from .parser import Decoder, decode_text, encode, encode_event

__all__ = [
    "RESERVED_EVENTS",
    "AckTable",
    "Decoder",
    "Packet",
    "PacketType",
    "decode_text",
    "encode",
    "encode_event",
]
