"""The cluster protocol of Node's ``@socket.io/redis-adapter`` (the classic, pub/sub flavour),
Sans-I/O: what nodes say to each other, as bytes, apart from the Redis connection that carries
them (so it is tested and fuzzed without a broker, and another transport can carry it).

A broadcast is published as a msgpack array ``[uid, packet, opts]`` (``notepack.io`` in Node):
``uid`` the sending node's id, ``packet`` the Socket.IO packet as a JavaScript object
``{type, data, nsp}`` (``id`` too with an ack), with binary arguments as msgpack bin values,
``opts`` ``{rooms: [...], except: [...], flags: {volatile, compress, local, timeout}}``
(``timeout`` in milliseconds; a flag that is not set is absent, as ``notepack`` leaves out
``undefined``). It goes to ``<key>#<nsp>#``, or ``<key>#<nsp>#<room>#`` when it names exactly
one room, so that a node without that room's members can skip it by channel.

Everything another node sends is validated before use: ``decode_broadcast`` raises
``ClusterMessageError`` for anything malformed, oversized or too deeply nested, never
another exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from ..exceptions import ClusterMessageError
from ..limits import DEFAULT_LIMITS, Limits
from ..socketio.packets import Packet, PacketType
from .base import BroadcastOptions

__all__ = [
    "ClusterBroadcast",
    "RequestType",
    "broadcast_channel",
    "decode_broadcast",
    "encode_broadcast",
    "request_channel",
    "response_channel",
]


class RequestType(IntEnum):
    """The request types of ``@socket.io/redis-adapter`` (its ``RequestType`` enum)."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


@dataclass(frozen=True, slots=True)
class ClusterBroadcast:
    """A broadcast received from another node."""

    uid: str
    packet: Packet
    opts: BroadcastOptions


def broadcast_channel(key: str, nsp: str, rooms: frozenset[str] = frozenset()) -> str:
    """Where a broadcast is published: the namespace's channel, or its one room's."""
    if len(rooms) == 1:
        (room,) = rooms
        return f"{key}#{nsp}#{room}#"
    return f"{key}#{nsp}#"


def request_channel(key: str, nsp: str) -> str:
    return f"{key}-request#{nsp}#"


def response_channel(key: str, nsp: str, uid: str | None = None) -> str:
    """The namespace's response channel, or a node's own one (``publishOnSpecificResponseChannel``)."""
    return f"{key}-response#{nsp}#" if uid is None else f"{key}-response#{nsp}#{uid}#"


def _msgpack() -> Any:
    from ..socketio import msgpack_parser

    return msgpack_parser.require()


def _flags(opts: BroadcastOptions) -> dict[str, Any]:
    """The flags Node's BroadcastOperator sets, in the order it sets them."""
    flags: dict[str, Any] = {}
    if opts.volatile:
        flags["volatile"] = True
    if not opts.compress:
        flags["compress"] = False
    if opts.local:
        flags["local"] = True
    if opts.timeout is not None:
        flags["timeout"] = int(opts.timeout * 1000) if float(opts.timeout * 1000).is_integer() \
            else opts.timeout * 1000
    return flags


def encode_broadcast(uid: str, packet: Packet, opts: BroadcastOptions) -> bytes:
    """The message Node's adapter publishes for ``broadcast(packet, opts)``."""
    obj: dict[str, Any] = {"type": int(packet.type), "data": packet.data, "nsp": packet.namespace}
    if packet.id is not None:
        obj["id"] = packet.id
    raw_opts = {"rooms": sorted(opts.rooms), "except": sorted(opts.except_rooms), "flags": _flags(opts)}
    packed: bytes = _msgpack().packb([uid, obj, raw_opts], use_bin_type=True)
    return packed


def _undefined(code: int, data: bytes) -> Any:
    """``notepack`` writes JavaScript's ``undefined`` as an extension value (type 0)."""
    if code == 0:
        return None
    raise ClusterMessageError(f"unknown msgpack extension type {code}")


def _check_depth(value: Any, depth: int, limit: int) -> None:
    if depth > limit:
        raise ClusterMessageError(f"message nested deeper than {limit}")
    if isinstance(value, list):
        for item in value:
            _check_depth(item, depth + 1, limit)
    elif isinstance(value, dict):
        for item in value.values():
            _check_depth(item, depth + 1, limit)


def _rooms(value: Any, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise ClusterMessageError(f"{what} is not a list")
    rooms = set()
    for room in value:
        if isinstance(room, bool) or not isinstance(room, str | int | float):
            raise ClusterMessageError(f"a room in {what} is a {type(room).__name__}")
        rooms.add(room if isinstance(room, str) else format(room, "g"))
    return frozenset(rooms)


def decode_broadcast(data: bytes, limits: Limits = DEFAULT_LIMITS) -> ClusterBroadcast:
    """A broadcast message from another node, validated; ``ClusterMessageError`` otherwise."""
    limit = limits.max_payload
    if limit is not None and len(data) > limit:
        raise ClusterMessageError(f"message of {len(data)} bytes is over max_payload ({limit})")
    mp = _msgpack()
    try:
        # Every buffer inside is bounded by the message's length, checked above; msgpack
        # itself refuses nesting past its stack (StackError, a ValueError).
        message = mp.unpackb(data, raw=False, strict_map_key=False, ext_hook=_undefined)
    except ClusterMessageError:
        raise
    except Exception as exc:  # msgpack raises several types for bad input
        raise ClusterMessageError(f"not a msgpack message: {exc}") from None
    _check_depth(message, 0, limits.max_depth + 4)
    if not isinstance(message, list) or len(message) < 3:
        raise ClusterMessageError("a broadcast is an array [uid, packet, opts]")
    uid, obj, raw_opts = message[0], message[1], message[2]
    if not isinstance(uid, str):
        raise ClusterMessageError("the node uid is not a string")
    if not isinstance(obj, dict) or not isinstance(raw_opts, dict):
        raise ClusterMessageError("packet and opts must be objects")
    ptype = obj.get("type")
    if ptype not in (PacketType.EVENT, PacketType.BINARY_EVENT):
        raise ClusterMessageError(f"a broadcast carries an EVENT, not type {ptype!r}")
    args = obj.get("data")
    if not isinstance(args, list) or not args or not isinstance(args[0], str):
        raise ClusterMessageError("the packet's data is not [event, ...args]")
    nsp = obj.get("nsp", "/")
    if not isinstance(nsp, str) or not nsp.startswith("/"):
        raise ClusterMessageError(f"bad namespace {nsp!r}")
    ack_id = obj.get("id")
    if ack_id is not None and (isinstance(ack_id, bool) or not isinstance(ack_id, int) or ack_id < 0):
        raise ClusterMessageError(f"bad ack id {ack_id!r}")
    flags = raw_opts.get("flags")
    if flags is None:  # Node leaves out flags that were never set
        flags = {}
    if not isinstance(flags, dict):
        raise ClusterMessageError("flags is not an object")
    timeout = flags.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0):
        raise ClusterMessageError(f"bad timeout {timeout!r}")
    opts = BroadcastOptions(
        rooms=_rooms(raw_opts.get("rooms"), "rooms"),
        except_rooms=_rooms(raw_opts.get("except"), "except"),
        volatile=flags.get("volatile") is True,
        compress=flags.get("compress") is not False,
        local=flags.get("local") is True,
        timeout=None if timeout is None else timeout / 1000,
    )
    return ClusterBroadcast(uid, Packet(PacketType.EVENT, nsp, args, ack_id), opts)
