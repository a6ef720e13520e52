"""Engine.IO v4: the Sans-I/O protocol core (packets, payloads, handshake, sessions)."""

from .packets import Packet, PacketType, decode_binary, decode_text, encode_polling, encode_ws
from .payload import SEPARATOR, decode_payload, encode_payload

__all__ = [
    "SEPARATOR",
    "Packet",
    "PacketType",
    "Server",
    "decode_binary",
    "decode_payload",
    "decode_text",
    "encode_payload",
    "encode_polling",
    "encode_ws",
]


def __getattr__(name: str) -> object:
    # The Sans-I/O core imports no asyncio; the server that runs it is loaded on first use.
    if name == "Server":
        from ..server.eio import EngineIOServer

        return EngineIOServer
    raise AttributeError(name)
