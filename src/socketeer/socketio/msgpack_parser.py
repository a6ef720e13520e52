"""The msgpack parser, wire-compatible with npm's ``socket.io-msgpack-parser``.

Each packet is one binary message: a msgpack map ``{type, data, nsp[, id]}``. Binary values
travel natively (msgpack ``bin``), so there are no attachments and no BINARY_* types on the
wire. The same validation as the JSON parser applies to what a peer sends.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import SocketIOPacketError, TooDeeplyNested
from ..limits import DEFAULT_LIMITS, Limits
from .packets import Packet, PacketType
from .parser import _payload_valid

try:
    import msgpack
except ImportError:  # pragma: no cover - an optional dependency
    msgpack = None

__all__ = ["MsgpackDecoder", "encode", "encode_event"]


def require() -> Any:
    """The msgpack module, or a clear error saying how to install it."""
    if msgpack is None:
        raise RuntimeError("parser='msgpack' needs the msgpack package: pip install 'socketeer[msgpack]'")
    return msgpack


def encode(packet: Packet, max_depth: int = DEFAULT_LIMITS.max_depth) -> list[str | bytes]:
    """One msgpack map, its keys in the order Node's server builds the packet object (so the
    bytes match): an ACK starts with its id, an EVENT with an ack id puts it before ``nsp``."""
    ptype = packet.type
    if ptype is PacketType.BINARY_EVENT:
        ptype = PacketType.EVENT
    elif ptype is PacketType.BINARY_ACK:
        ptype = PacketType.ACK
    obj: dict[str, Any] = {}
    if ptype is PacketType.ACK and packet.id is not None:
        obj["id"] = packet.id
    obj["type"] = int(ptype)
    if packet.data is not None:
        obj["data"] = packet.data
    if ptype is not PacketType.ACK and packet.id is not None:
        obj["id"] = packet.id
    obj["nsp"] = packet.namespace
    return [require().packb(obj, use_bin_type=True)]


def _undefined(code: int, data: bytes) -> Any:
    # notepack.io (the reference's msgpack codec) writes JavaScript's undefined as fixext 1 of
    # type 0: the official client sends it for a CONNECT without auth.
    if code == 0 and data == b"\x00":
        return None
    raise ValueError(f"unsupported msgpack extension type {code}")


def encode_event(namespace: str, args: list[Any], ack_id: int | None = None) -> list[str | bytes]:
    return encode(Packet(PacketType.EVENT, namespace, args, ack_id))


def _check_depth(value: Any, max_depth: int) -> None:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list | dict):
            if depth >= max_depth:
                raise TooDeeplyNested(f"data nested deeper than {max_depth} levels")
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))


class MsgpackDecoder:
    """Same interface as ``parser.Decoder``; every packet is a single binary message."""

    __slots__ = ("limits",)

    pending = False

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits

    def reset(self) -> None:
        pass

    def feed_text(self, text: str) -> Packet | None:
        raise SocketIOPacketError("the msgpack parser expects binary packets, got text")

    def feed_binary(self, data: bytes) -> Packet | None:
        mp = require()
        try:
            obj = mp.unpackb(data, raw=False, strict_map_key=True, max_bin_len=len(data), max_str_len=len(data),
                             ext_hook=_undefined)
        except Exception as exc:
            raise SocketIOPacketError(f"invalid msgpack packet: {exc}") from None
        if not isinstance(obj, dict):
            raise SocketIOPacketError("a msgpack packet must be a map")
        ptype = obj.get("type")
        nsp = obj.get("nsp")
        if type(ptype) is not int or not 0 <= ptype <= 4:  # no BINARY_* types in this format
            raise SocketIOPacketError(f"invalid packet type {ptype!r}")
        if not isinstance(nsp, str) or not nsp.startswith("/"):
            raise SocketIOPacketError(f"invalid namespace {nsp!r}")
        ack_id: Any = obj.get("id")
        if ack_id is not None and (type(ack_id) is not int or ack_id < 0 or ack_id >= 2**53):
            raise SocketIOPacketError(f"invalid ack id {ack_id!r}")
        packet_type = PacketType(ptype)
        payload = obj.get("data")
        if payload is not None:  # absent, or undefined
            _check_depth(payload, self.limits.max_depth)
            if not _payload_valid(packet_type, payload):
                raise SocketIOPacketError(f"invalid payload for a {packet_type.name} packet")
        elif packet_type not in (PacketType.CONNECT, PacketType.DISCONNECT):  # as the JSON parser
            raise SocketIOPacketError(f"a {packet_type.name} packet needs a payload")
        return Packet(packet_type, nsp, payload, ack_id)
