"""Engine.IO v4 long-polling payloads: packets joined by the record separator (0x1e).

Decoding is bounded: the size is checked before anything else, splitting is linear, and a
payload either decodes whole or raises; it never returns half of what was sent.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..exceptions import PayloadError, PayloadTooLarge
from .packets import Packet, PacketType, binary_to_polling, decode_text

__all__ = ["SEPARATOR", "decode_payload", "encode_payload"]

SEPARATOR = "\x1e"


def encode_payload(packets: Iterable[str | bytes]) -> str:
    """Join packets already in WebSocket form (see ``encode_ws``) into one payload.

    Binary messages become ``b<base64>``. The send queues keep packets in WebSocket form so
    the same queue serves both transports; only polling pays for base64.
    """
    if not isinstance(packets, list):
        packets = list(packets)
    try:
        return SEPARATOR.join(packets)  # type: ignore[arg-type]  # all text: the common case
    except TypeError:
        return SEPARATOR.join(binary_to_polling(p) if isinstance(p, bytes) else p for p in packets)


def decode_payload(body: bytes | str, max_payload: int | None = None) -> list[Packet]:
    """Decode a POSTed payload. Raises ``PayloadTooLarge`` or ``PayloadError``."""
    if max_payload is not None and len(body) > max_payload:
        raise PayloadTooLarge(f"payload of {len(body)} bytes is over the limit of {max_payload}")
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("payload is not valid UTF-8") from None
    else:
        text = body
    if not text:
        raise PayloadError("empty payload")
    packets: list[Packet] = []
    append = packets.append
    for record in text.split(SEPARATOR):
        if record[:1] == "4":  # messages, nearly every record: skip the general decoder
            append(_new_packet(Packet, (_MESSAGE, record[1:])))
            continue
        try:
            append(decode_text(record))
        except Exception as exc:  # EngineIOPacketError: reported as a payload fault
            raise PayloadError(f"bad packet in payload: {exc}") from None
    return packets


_MESSAGE = PacketType.MESSAGE
_new_packet = tuple.__new__
