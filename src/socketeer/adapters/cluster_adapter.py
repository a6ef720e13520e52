"""The cluster protocol of ``socket.io-adapter``'s ``ClusterAdapter``, Sans-I/O: the messages
the sharded Redis adapter (``createShardedAdapter``) and the Redis streams adapter carry.

Each message is one object ``{type, data, uid, nsp}`` (``data`` absent for heartbeats), JSON
unless its type may carry binary and its data does, then msgpack (``notepack.io``): the
sharded adapter's ``encode``. Requests and answers share the shape; an answer goes to the
asking node alone. The types (``MessageType``) differ from the classic adapter's request
types, so they are mapped here onto the classic ``ClusterRequest``/``ClusterResponse`` the
node logic already handles (``adapters/clustered.py``): one node, two dialects.

Everything decoded is validated; anything malformed raises ``ClusterMessageError``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from ..exceptions import ClusterMessageError
from ..limits import DEFAULT_LIMITS, Limits
from ..socketio.packets import Packet
from .base import BroadcastOptions
from .cluster import (
    ClusterRequest,
    ClusterResponse,
    RequestType,
    decode_options,
    decode_packet,
    decode_request_id,
    decode_rooms,
    encode_flags,
    load_message,
    msgpack_module,
)

__all__ = [
    "ClusterMessage",
    "MessageType",
    "decode_message",
    "decode_object",
    "decode_stream_entry",
    "encode_message",
    "has_binary",
    "request_body",
    "request_message",
    "response_message",
    "stream_fields",
]


class MessageType(IntEnum):
    """``socket.io-adapter``'s ``MessageType``."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


#: The types whose data may hold binary values (sent as msgpack when it does).
_MAY_HOLD_BINARY = frozenset({MessageType.BROADCAST, MessageType.BROADCAST_ACK, MessageType.FETCH_SOCKETS_RESPONSE,
                              MessageType.SERVER_SIDE_EMIT, MessageType.SERVER_SIDE_EMIT_RESPONSE})

_RESPONSES = frozenset({MessageType.FETCH_SOCKETS_RESPONSE, MessageType.SERVER_SIDE_EMIT_RESPONSE,
                        MessageType.BROADCAST_CLIENT_COUNT, MessageType.BROADCAST_ACK})


def has_binary(value: Any) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(has_binary(v) for v in value)
    if isinstance(value, dict):
        return any(has_binary(v) for v in value.values())
    return False


def encode_message(uid: str, nsp: str, kind: MessageType, data: dict[str, Any] | None = None, *,
                   msgpack_always: bool = False) -> bytes:
    """A message as the sharded adapter writes it: keys ``type, data, uid, nsp`` in that order;
    with ``msgpack_always``, as the streams adapter publishes its pub/sub messages."""
    obj: dict[str, Any] = {"type": int(kind)}
    if data is not None:
        obj["data"] = data
    obj["uid"] = uid
    obj["nsp"] = nsp
    if msgpack_always or (kind in _MAY_HOLD_BINARY and has_binary(data)):
        packed: bytes = msgpack_module().packb(obj, use_bin_type=True)
        return packed
    return orjson.dumps(obj)


def _raw_opts(opts: BroadcastOptions) -> dict[str, Any]:
    return {"rooms": sorted(opts.rooms), "except": sorted(opts.except_rooms), "flags": encode_flags(opts)}


def _raw_packet(packet: Packet) -> dict[str, Any]:
    # Node's ClusterAdapter publishes the packet before the in-memory adapter stamps its nsp.
    obj: dict[str, Any] = {"type": int(packet.type), "data": packet.data}
    if packet.id is not None:
        obj["id"] = packet.id
    return obj


def request_message(uid: str, nsp: str, kind: RequestType, request_id: str | None = None, *,
                    opts: BroadcastOptions | None = None, rooms: list[str] | None = None,
                    close: bool | None = None, data: list[Any] | None = None,
                    packet: Packet | None = None) -> tuple[MessageType, bytes]:
    """A request of this node, named as the classic adapter names it, in this dialect."""
    mtype, body = request_body(kind, request_id, opts=opts, rooms=rooms, close=close, data=data, packet=packet)
    return mtype, encode_message(uid, nsp, mtype, body)


def request_body(kind: RequestType, request_id: str | None = None, *, opts: BroadcastOptions | None = None,
                 rooms: list[str] | None = None, close: bool | None = None, data: list[Any] | None = None,
                 packet: Packet | None = None) -> tuple[MessageType, dict[str, Any]]:
    """The type and ``data`` of a request in this dialect, before any encoding."""
    body: dict[str, Any]
    if kind is RequestType.BROADCAST:
        assert packet is not None and opts is not None
        body = {"packet": _raw_packet(packet)}
        if request_id is not None:
            body["requestId"] = request_id
        body["opts"] = _raw_opts(opts)
        mtype = MessageType.BROADCAST
    elif kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE):
        assert opts is not None
        body = {"opts": _raw_opts(opts), "rooms": rooms or []}
        mtype = MessageType.SOCKETS_JOIN if kind is RequestType.REMOTE_JOIN else MessageType.SOCKETS_LEAVE
    elif kind is RequestType.REMOTE_DISCONNECT:
        assert opts is not None
        body = {"opts": _raw_opts(opts), "close": bool(close)}
        mtype = MessageType.DISCONNECT_SOCKETS
    elif kind is RequestType.REMOTE_FETCH:
        assert opts is not None and request_id is not None
        body = {"opts": _raw_opts(opts), "requestId": request_id}
        mtype = MessageType.FETCH_SOCKETS
    elif kind is RequestType.SERVER_SIDE_EMIT:
        body = {} if request_id is None else {"requestId": request_id}
        body["packet"] = data or []
        mtype = MessageType.SERVER_SIDE_EMIT
    else:
        raise ValueError(f"{kind.name} has no ClusterAdapter message")
    return mtype, body


def response_message(uid: str, nsp: str, request_id: str, kind: RequestType, *, msgpack_always: bool = False,
                     **fields: Any) -> bytes:
    """An answer of this node (classic names in, this dialect out)."""
    if kind is RequestType.REMOTE_FETCH:
        mtype, body = MessageType.FETCH_SOCKETS_RESPONSE, {"requestId": request_id, "sockets": fields["sockets"]}
    elif kind is RequestType.SERVER_SIDE_EMIT:
        mtype, body = MessageType.SERVER_SIDE_EMIT_RESPONSE, {"requestId": request_id, "packet": fields.get("data")}
    elif kind is RequestType.BROADCAST_CLIENT_COUNT:
        mtype, body = MessageType.BROADCAST_CLIENT_COUNT, {"requestId": request_id,
                                                           "clientCount": fields["clientCount"]}
    elif kind is RequestType.BROADCAST_ACK:
        mtype, body = MessageType.BROADCAST_ACK, {"requestId": request_id, "packet": fields.get("packet")}
    else:
        raise ValueError(f"{kind.name} is not answered in this dialect")
    return encode_message(uid, nsp, mtype, body, msgpack_always=msgpack_always)


@dataclass(frozen=True, slots=True)
class ClusterMessage:
    """A message from another node: exactly one of ``request`` (to act on; a BROADCAST
    without ``request_id`` is a plain broadcast) and ``response`` (to a request of this
    node's), or neither for heartbeats and ``ADAPTER_CLOSE``."""

    type: MessageType
    uid: str
    nsp: str
    request: ClusterRequest | None = None
    response: ClusterResponse | None = None


def decode_message(data: bytes, limits: Limits = DEFAULT_LIMITS) -> ClusterMessage:
    """A message from another node, validated; ``ClusterMessageError`` otherwise."""
    return decode_object(load_message(data, limits, json_allowed=True))


def stream_fields(uid: str, nsp: str, kind: MessageType, data: dict[str, Any] | None = None,
                  only_plaintext: bool = False) -> dict[str, str]:
    """A message as the Redis streams adapter adds it to its stream: fields ``uid, nsp, type``
    (a decimal string) and ``data`` (JSON, or base64 of msgpack when it holds binary)."""
    fields = {"uid": uid, "nsp": nsp, "type": str(int(kind))}
    if data is not None:
        if not only_plaintext and kind in _MAY_HOLD_BINARY and has_binary(data):
            fields["data"] = base64.b64encode(msgpack_module().packb(data, use_bin_type=True)).decode()
        else:
            fields["data"] = orjson.dumps(data, default=_as_node_buffer).decode()
    return fields


def _as_node_buffer(value: Any) -> Any:
    """Binary in plain text, as ``JSON.stringify`` writes a Node ``Buffer`` (``only_plaintext``)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"type": "Buffer", "data": list(bytes(value))}
    raise TypeError(f"{type(value).__name__} is not JSON")


def decode_stream_entry(fields: dict[Any, Any], limits: Limits = DEFAULT_LIMITS) -> ClusterMessage:
    """A stream entry's fields (bytes or str, as the client returns them), validated."""
    def text(name: str) -> str | None:
        value = fields.get(name, fields.get(name.encode()))
        if isinstance(value, bytes):
            try:
                return value.decode()
            except UnicodeDecodeError:
                raise ClusterMessageError(f"field {name} is not UTF-8") from None
        return value if isinstance(value, str) else None

    raw_type = text("type")
    if raw_type is None or not raw_type.isdigit():
        raise ClusterMessageError(f"bad type field {raw_type!r}")
    obj: dict[str, Any] = {"type": int(raw_type), "uid": text("uid"), "nsp": text("nsp")}
    raw = text("data")
    if raw:
        if raw.startswith("{"):
            obj["data"] = load_message(raw.encode(), limits, json_allowed=True)
        else:
            try:
                packed = base64.b64decode(raw, validate=True)
            except ValueError:
                raise ClusterMessageError("the data field is neither JSON nor base64") from None
            obj["data"] = load_message(packed, limits, json_allowed=False)
    return decode_object(obj)


def decode_object(message: Any) -> ClusterMessage:
    """A decoded message object, validated."""
    if not isinstance(message, dict):
        raise ClusterMessageError("a message is an object")
    raw_type = message.get("type")
    try:
        if isinstance(raw_type, bool) or not isinstance(raw_type, int):
            raise ValueError(raw_type)
        mtype = MessageType(raw_type)
    except ValueError:
        raise ClusterMessageError(f"unknown message type {raw_type!r}") from None
    uid = message.get("uid")
    nsp = message.get("nsp")
    if not isinstance(uid, str):
        raise ClusterMessageError("the node uid is not a string")
    if not isinstance(nsp, str) or not nsp.startswith("/"):
        raise ClusterMessageError(f"bad namespace {nsp!r}")
    if mtype in (MessageType.INITIAL_HEARTBEAT, MessageType.HEARTBEAT, MessageType.ADAPTER_CLOSE):
        return ClusterMessage(mtype, uid, nsp)
    body = message.get("data")
    if not isinstance(body, dict):
        raise ClusterMessageError(f"a {mtype.name} message without data")
    if mtype in _RESPONSES:
        request_id = decode_request_id(body.get("requestId"), required=True)
        assert request_id is not None
        if mtype is MessageType.FETCH_SOCKETS_RESPONSE:
            response = ClusterResponse(request_id, None, {"sockets": body.get("sockets")})
        elif mtype is MessageType.SERVER_SIDE_EMIT_RESPONSE:
            response = ClusterResponse(request_id, RequestType.SERVER_SIDE_EMIT, {"data": body.get("packet")})
        elif mtype is MessageType.BROADCAST_CLIENT_COUNT:
            response = ClusterResponse(request_id, RequestType.BROADCAST_CLIENT_COUNT,
                                       {"clientCount": body.get("clientCount")})
        else:
            response = ClusterResponse(request_id, RequestType.BROADCAST_ACK, {"packet": body.get("packet")})
        return ClusterMessage(mtype, uid, nsp, response=response)
    request_id = decode_request_id(body.get("requestId"), required=mtype is MessageType.FETCH_SOCKETS)
    if mtype is MessageType.BROADCAST:
        packet = decode_packet({"nsp": nsp, **body["packet"]} if isinstance(body.get("packet"), dict) else None)
        request = ClusterRequest(uid, RequestType.BROADCAST, request_id, opts=decode_options(body.get("opts")),
                                 packet=packet)
    elif mtype in (MessageType.SOCKETS_JOIN, MessageType.SOCKETS_LEAVE):
        kind = RequestType.REMOTE_JOIN if mtype is MessageType.SOCKETS_JOIN else RequestType.REMOTE_LEAVE
        request = ClusterRequest(uid, kind, None, rooms=decode_rooms(body.get("rooms"), "rooms"),
                                 opts=decode_options(body.get("opts")))
    elif mtype is MessageType.DISCONNECT_SOCKETS:
        request = ClusterRequest(uid, RequestType.REMOTE_DISCONNECT, None, opts=decode_options(body.get("opts")),
                                 close=body.get("close") is True)
    elif mtype is MessageType.FETCH_SOCKETS:
        request = ClusterRequest(uid, RequestType.REMOTE_FETCH, request_id, opts=decode_options(body.get("opts")))
    else:
        args = body.get("packet")
        if not isinstance(args, list) or not args or not isinstance(args[0], str):
            raise ClusterMessageError("a server-side emit's packet is not [event, ...args]")
        request = ClusterRequest(uid, RequestType.SERVER_SIDE_EMIT, request_id, data=args)
    return ClusterMessage(mtype, uid, nsp, request=request)
