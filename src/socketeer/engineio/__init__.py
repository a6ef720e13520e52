"""Engine.IO v4: the Sans-I/O protocol core (packets, payloads, handshake, sessions).

``socketeer.engineio.Server`` (Engine.IO alone, served) is placed here by the top package,
``socketeer/__init__.py``: the core imports nothing above it.
"""

from .packets import Packet, PacketType, decode_binary, decode_text, encode_polling, encode_ws
from .payload import SEPARATOR, decode_payload, encode_payload

__all__ = [
    "SEPARATOR",
    "Packet",
    "PacketType",
    "decode_binary",
    "decode_payload",
    "decode_text",
    "encode_payload",
    "encode_polling",
    "encode_ws",
]

