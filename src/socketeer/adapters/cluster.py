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

Requests go to ``<key>-request#<nsp>#`` and answers to ``<key>-response#<nsp>#`` (or the
asking node's own ``<key>-response#<nsp>#<uid>#``). Node writes most of them as JSON and two as
msgpack (the BROADCAST request, which carries a packet with its binary arguments, and each
BROADCAST_ACK answer); a receiver tells them apart by the first byte (``{``). A request that
expects answers carries a ``requestId``; the asking node keeps it in a ``RequestTable`` with a
deadline until every node it counted has answered.

Everything another node sends is validated before use: the decoders raise
``ClusterMessageError`` for anything malformed, oversized or too deeply nested, never
another exception.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Protocol

import orjson

from ..exceptions import ClusterMessageError
from ..limits import DEFAULT_LIMITS, Limits
from ..socketio.packets import Packet, PacketType
from .base import BroadcastOptions, RemoteSocketDetails

__all__ = [
    "NOTEPACK",
    "ClusterBroadcast",
    "ClusterRequest",
    "ClusterResponse",
    "NotepackParser",
    "Parser",
    "PendingRequest",
    "RequestTable",
    "RequestType",
    "broadcast_channel",
    "decode_broadcast",
    "decode_request",
    "decode_response",
    "encode_broadcast",
    "encode_request",
    "new_uid",
    "request_channel",
    "response_channel",
    "socket_details",
]

_ALPHABET = string.ascii_letters + string.digits


def new_uid() -> str:
    """Six characters, as Node's ``uid2(6)``: node ids and request ids."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(6))


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


def msgpack_module() -> Any:
    from ..socketio import msgpack_parser

    return msgpack_parser.require()


class Parser(Protocol):
    """How the binary-capable messages are written (Node's ``parser`` option; notepack.io's
    msgpack by default). JSON messages stay JSON whatever the parser."""

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


class NotepackParser:
    """msgpack as ``notepack.io`` writes and reads it (JavaScript's ``undefined`` included)."""

    def encode(self, value: Any) -> bytes:
        packed: bytes = msgpack_module().packb(value, use_bin_type=True)
        return packed

    def decode(self, data: bytes) -> Any:
        return msgpack_module().unpackb(data, raw=False, strict_map_key=False, ext_hook=_undefined)


NOTEPACK: Parser = NotepackParser()


def encode_flags(opts: BroadcastOptions) -> dict[str, Any]:
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


def _raw_packet(packet: Packet) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": int(packet.type), "data": packet.data, "nsp": packet.namespace}
    if packet.id is not None:
        obj["id"] = packet.id
    return obj


def _raw_opts(opts: BroadcastOptions, flags: bool = True) -> dict[str, Any]:
    raw: dict[str, Any] = {"rooms": sorted(opts.rooms), "except": sorted(opts.except_rooms)}
    if flags:
        raw["flags"] = encode_flags(opts)
    return raw


def encode_broadcast(uid: str, packet: Packet, opts: BroadcastOptions, parser: Parser = NOTEPACK) -> bytes:
    """The message Node's adapter publishes for ``broadcast(packet, opts)``."""
    return parser.encode([uid, _raw_packet(packet), _raw_opts(opts)])


def encode_request(uid: str, kind: RequestType, request_id: str | None = None, *,
                   opts: BroadcastOptions | None = None, rooms: list[str] | None = None,
                   close: bool | None = None, data: list[Any] | None = None,
                   packet: Packet | None = None, parser: Parser = NOTEPACK) -> bytes:
    """A request as Node's adapter writes it: its keys in Node's order, JSON except for the
    BROADCAST request (the parser's, for the packet's binary arguments)."""
    obj: dict[str, Any] = {"uid": uid}
    if request_id is not None:
        obj["requestId"] = request_id
    obj["type"] = int(kind)
    if kind is RequestType.BROADCAST:
        assert packet is not None and opts is not None
        obj["packet"] = _raw_packet(packet)
        obj["opts"] = _raw_opts(opts)
        return parser.encode(obj)
    if opts is not None:
        obj["opts"] = _raw_opts(opts, flags=False)
    if rooms is not None:
        obj["rooms"] = rooms
    if close is not None:
        obj["close"] = close
    if data is not None:
        obj["data"] = data
    return orjson.dumps(obj)


def encode_response(request_id: str, kind: RequestType, parser: Parser = NOTEPACK, **fields: Any) -> bytes:
    """An answer, as Node writes each: SOCKETS, ALL_ROOMS and REMOTE_FETCH without a type
    (``{requestId, sockets|rooms}``), the others with it, BROADCAST_ACK in msgpack."""
    if kind in (RequestType.SOCKETS, RequestType.ALL_ROOMS, RequestType.REMOTE_FETCH,
                RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE, RequestType.REMOTE_DISCONNECT):
        return orjson.dumps({"requestId": request_id, **fields})
    obj = {"type": int(kind), "requestId": request_id, **fields}
    if kind is RequestType.BROADCAST_ACK:
        return parser.encode(obj)
    return orjson.dumps(obj)


def socket_details(sid: str, handshake: dict[str, Any], rooms: list[str], data: Any) -> dict[str, Any]:
    """One socket in a REMOTE_FETCH answer: ``{id, handshake, rooms, data}``."""
    return {"id": sid, "handshake": handshake, "rooms": rooms, "data": data}


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


def load_message(data: bytes, limits: Limits, json_allowed: bool, parser: Parser = NOTEPACK) -> Any:
    """Bytes from Redis as a value: size-checked, JSON (first byte ``{``, as Node decides) or
    msgpack, depth-checked."""
    limit = limits.max_payload
    if limit is not None and len(data) > limit:
        raise ClusterMessageError(f"message of {len(data)} bytes is over max_payload ({limit})")
    if json_allowed and data[:1] == b"{":
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ClusterMessageError(f"not a JSON message: {exc}") from None
    else:
        try:
            # Every buffer inside is bounded by the message's length, checked above; msgpack
            # itself refuses nesting past its stack (StackError, a ValueError).
            message = parser.decode(data)
        except ClusterMessageError:
            raise
        except Exception as exc:  # msgpack (and any parser) raises several types for bad input
            raise ClusterMessageError(f"not a msgpack message: {exc}") from None
    _check_depth(message, 0, limits.max_depth + 4)
    return message


def _rooms(value: Any, what: str) -> frozenset[str]:
    return frozenset(decode_rooms(value, what))


def decode_rooms(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ClusterMessageError(f"{what} is not a list")
    rooms = []
    for room in value:
        if isinstance(room, bool) or not isinstance(room, str | int | float):
            raise ClusterMessageError(f"a room in {what} is a {type(room).__name__}")
        rooms.append(room if isinstance(room, str) else format(room, "g"))
    return rooms


def decode_packet(obj: Any) -> Packet:
    if not isinstance(obj, dict):
        raise ClusterMessageError("the packet is not an object")
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
    return Packet(PacketType.EVENT, nsp, args, ack_id)


def decode_options(raw_opts: Any) -> BroadcastOptions:
    if not isinstance(raw_opts, dict):
        raise ClusterMessageError("opts is not an object")
    flags = raw_opts.get("flags")
    if flags is None:  # Node leaves out flags that were never set
        flags = {}
    if not isinstance(flags, dict):
        raise ClusterMessageError("flags is not an object")
    timeout = flags.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0):
        raise ClusterMessageError(f"bad timeout {timeout!r}")
    return BroadcastOptions(
        rooms=_rooms(raw_opts.get("rooms"), "rooms"),
        except_rooms=_rooms(raw_opts.get("except"), "except"),
        volatile=flags.get("volatile") is True,
        compress=flags.get("compress") is not False,
        local=flags.get("local") is True,
        timeout=None if timeout is None else timeout / 1000,
    )


def decode_broadcast(data: bytes, limits: Limits = DEFAULT_LIMITS, parser: Parser = NOTEPACK) -> ClusterBroadcast:
    """A broadcast message from another node, validated; ``ClusterMessageError`` otherwise."""
    message = load_message(data, limits, json_allowed=False, parser=parser)
    if not isinstance(message, list) or len(message) < 3:
        raise ClusterMessageError("a broadcast is an array [uid, packet, opts]")
    uid, obj, raw_opts = message[0], message[1], message[2]
    if not isinstance(uid, str):
        raise ClusterMessageError("the node uid is not a string")
    if not isinstance(obj, dict) or not isinstance(raw_opts, dict):
        raise ClusterMessageError("packet and opts must be objects")
    return ClusterBroadcast(uid, decode_packet(obj), decode_options(raw_opts))


@dataclass(frozen=True, slots=True)
class ClusterRequest:
    """A request from another node, validated for its type."""

    #: The sender's node id; ``None`` from ``@socket.io/redis-emitter``'s join, leave and
    #: disconnect requests, which carry none.
    uid: str | None
    type: RequestType
    #: Present when the sender waits for answers.
    request_id: str | None = None
    #: SOCKETS: the rooms asked about; REMOTE_JOIN/LEAVE: the rooms to join or leave.
    rooms: list[str] = field(default_factory=list)
    #: REMOTE_JOIN/LEAVE/DISCONNECT/FETCH and BROADCAST: which sockets.
    opts: BroadcastOptions | None = None
    close: bool = False
    #: SERVER_SIDE_EMIT: ``[event, *args]``.
    data: list[Any] = field(default_factory=list)
    #: BROADCAST: the packet to deliver, with the sender's ack id.
    packet: Packet | None = None
    #: The single-socket form of REMOTE_JOIN/LEAVE/DISCONNECT (adapters before 7.x).
    sid: str | None = None
    room: str | None = None


def decode_request_id(value: Any, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ClusterMessageError(f"bad requestId {value!r}")
    return str(value)


def decode_request(data: bytes, limits: Limits = DEFAULT_LIMITS, parser: Parser = NOTEPACK) -> ClusterRequest:
    """A message from the request channel, validated; ``ClusterMessageError`` otherwise."""
    message = load_message(data, limits, json_allowed=True, parser=parser)
    if not isinstance(message, dict):
        raise ClusterMessageError("a request is an object")
    uid = message.get("uid")
    if uid is not None and not isinstance(uid, str):
        raise ClusterMessageError("the node uid is not a string")
    raw_type = message.get("type")
    try:
        if isinstance(raw_type, bool) or not isinstance(raw_type, int):
            raise ValueError(raw_type)
        kind = RequestType(raw_type)
    except ValueError:
        raise ClusterMessageError(f"unknown request type {message.get('type')!r}") from None
    rid = message.get("requestId")
    if kind in (RequestType.SOCKETS, RequestType.ALL_ROOMS, RequestType.REMOTE_FETCH, RequestType.BROADCAST):
        request_id = decode_request_id(rid, required=True)
    else:
        request_id = decode_request_id(rid, required=False)
    if kind is RequestType.SOCKETS:
        return ClusterRequest(uid, kind, request_id, rooms=decode_rooms(message.get("rooms"), "rooms"))
    if kind is RequestType.ALL_ROOMS:
        return ClusterRequest(uid, kind, request_id)
    if kind in (RequestType.REMOTE_JOIN, RequestType.REMOTE_LEAVE, RequestType.REMOTE_DISCONNECT):
        close = message.get("close") is True
        if message.get("opts") is not None:
            rooms = [] if kind is RequestType.REMOTE_DISCONNECT else decode_rooms(message.get("rooms"), "rooms")
            return ClusterRequest(uid, kind, request_id, rooms=rooms, opts=decode_options(message["opts"]), close=close)
        sid = message.get("sid")
        room = message.get("room")
        if not isinstance(sid, str):
            raise ClusterMessageError("a single-socket request without a sid")
        if kind is not RequestType.REMOTE_DISCONNECT:
            room = decode_rooms([room], "room")[0]
        return ClusterRequest(uid, kind, request_id, close=close, sid=sid,
                              room=room if isinstance(room, str) else None)
    if kind is RequestType.REMOTE_FETCH:
        return ClusterRequest(uid, kind, request_id, opts=decode_options(message.get("opts")))
    if kind is RequestType.SERVER_SIDE_EMIT:
        args = message.get("data")
        if not isinstance(args, list) or not args or not isinstance(args[0], str):
            raise ClusterMessageError("a server-side emit's data is not [event, ...args]")
        return ClusterRequest(uid, kind, request_id, data=args)
    if kind is RequestType.BROADCAST:
        return ClusterRequest(uid, kind, request_id, opts=decode_options(message.get("opts")),
                              packet=decode_packet(message.get("packet")))
    raise ClusterMessageError(f"{kind.name} is an answer, not a request")


@dataclass(frozen=True, slots=True)
class ClusterResponse:
    """An answer from another node; which fields mean something depends on the request."""

    request_id: str
    #: Only some answers name their type (SERVER_SIDE_EMIT, BROADCAST_CLIENT_COUNT/ACK).
    type: RequestType | None
    raw: dict[str, Any]


def decode_response(data: bytes, limits: Limits = DEFAULT_LIMITS, parser: Parser = NOTEPACK) -> ClusterResponse:
    """A message from a response channel: an object with a ``requestId``. Its other fields
    are checked by the pending request it answers (``PendingRequest.accept``)."""
    message = load_message(data, limits, json_allowed=True, parser=parser)
    if not isinstance(message, dict):
        raise ClusterMessageError("a response is an object")
    request_id = decode_request_id(message.get("requestId"), required=True)
    assert request_id is not None
    kind = message.get("type")
    try:
        if kind is not None and (isinstance(kind, bool) or not isinstance(kind, int)):
            raise ValueError(kind)
        rtype = None if kind is None else RequestType(kind)
    except ValueError:
        raise ClusterMessageError(f"unknown response type {kind!r}") from None
    return ClusterResponse(request_id, rtype, message)


def _details(value: Any) -> RemoteSocketDetails:
    if not isinstance(value, dict):
        raise ClusterMessageError("a fetched socket is not an object")
    sid = value.get("id")
    if not isinstance(sid, str):
        raise ClusterMessageError("a fetched socket without an id")
    handshake = value.get("handshake")
    if handshake is None:
        handshake = {}
    if not isinstance(handshake, dict):
        raise ClusterMessageError("a fetched socket's handshake is not an object")
    return RemoteSocketDetails(sid, handshake, frozenset(decode_rooms(value.get("rooms"), "rooms")), value.get("data"))


class PendingRequest:
    """A request of this node that waits for answers, until ``expected`` came or its
    deadline passed. ``on_done(result)`` runs once when complete, ``on_expire(partial)`` once
    at the deadline otherwise (result: a set of sids or rooms, a list of ``RemoteSocketDetails``
    or of server-side answers). A BROADCAST entry instead relays each node's client count
    and each client's answer (``on_count``/``on_ack``) until its deadline."""

    __slots__ = ("deadline", "expected", "kind", "on_ack", "on_count", "on_done", "on_expire", "received",
                 "request_id", "result")

    def __init__(self, request_id: str, kind: RequestType, deadline: float, *, expected: int = 0,
                 received: int = 0, result: Any = None,
                 on_done: Callable[[Any], None] | None = None, on_expire: Callable[[Any], None] | None = None,
                 on_count: Callable[[int], None] | None = None, on_ack: Callable[[Any], None] | None = None) -> None:
        self.request_id = request_id
        self.kind = kind
        self.deadline = deadline
        self.expected = expected
        self.received = received
        self.result = result
        self.on_done = on_done
        self.on_expire = on_expire
        self.on_count = on_count
        self.on_ack = on_ack

    @property
    def complete(self) -> bool:
        return self.kind is not RequestType.BROADCAST and self.received >= self.expected

    def accept(self, response: ClusterResponse) -> None:
        """Take one answer in, validated for this request's type."""
        raw = response.raw
        kind = self.kind
        if kind is RequestType.BROADCAST:
            if response.type is RequestType.BROADCAST_CLIENT_COUNT:
                count = raw.get("clientCount")
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise ClusterMessageError(f"bad clientCount {count!r}")
                if self.on_count is not None:
                    self.on_count(count)
            elif response.type is RequestType.BROADCAST_ACK:
                if self.on_ack is not None:
                    self.on_ack(raw.get("packet"))
            else:
                raise ClusterMessageError(f"a {response.type!r} answer to a BROADCAST")
            return
        if kind is RequestType.SOCKETS:
            sockets = raw.get("sockets")
            if not isinstance(sockets, list) or not all(isinstance(s, str) for s in sockets):
                raise ClusterMessageError("SOCKETS answer without a list of ids")
            self.result.update(sockets)
        elif kind is RequestType.ALL_ROOMS:
            self.result.update(decode_rooms(raw.get("rooms"), "rooms"))
        elif kind is RequestType.REMOTE_FETCH:
            sockets = raw.get("sockets")
            if not isinstance(sockets, list):
                raise ClusterMessageError("REMOTE_FETCH answer without a list of sockets")
            self.result.extend([_details(s) for s in sockets])
        elif kind is RequestType.SERVER_SIDE_EMIT:
            if response.type is not RequestType.SERVER_SIDE_EMIT:
                raise ClusterMessageError(f"a {response.type!r} answer to a SERVER_SIDE_EMIT")
            self.result.append(raw.get("data"))
            if self.on_ack is not None:
                self.on_ack(raw.get("data"))
        self.received += 1


class RequestTable:
    """This node's requests in flight, by id. The I/O layer feeds it answers and the clock
    (``expire(now)`` at ``next_deadline()``); nothing here waits or sleeps."""

    def __init__(self) -> None:
        self._pending: dict[str, PendingRequest] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._pending

    def new_id(self) -> str:
        while True:
            request_id = new_uid()
            if request_id not in self._pending:
                return request_id

    def add(self, request: PendingRequest) -> None:
        self._pending[request.request_id] = request
        if request.complete:  # nobody else to ask
            self._finish(request)

    def discard(self, request_id: str) -> None:
        self._pending.pop(request_id, None)

    def answer(self, response: ClusterResponse) -> bool:
        """An answer in; False when it answers no request of this node's (another node's
        request shares the channel), ``ClusterMessageError`` when malformed."""
        request = self._pending.get(response.request_id)
        if request is None:
            return False
        request.accept(response)
        if request.complete:
            self._finish(request)
        return True

    def _finish(self, request: PendingRequest) -> None:
        del self._pending[request.request_id]
        if request.on_done is not None:
            request.on_done(request.result)

    def next_deadline(self) -> float | None:
        return min((r.deadline for r in self._pending.values()), default=None)

    def expire(self, now: float) -> list[PendingRequest]:
        """Ends every request whose deadline passed (``on_expire`` with what came)."""
        late = [r for r in self._pending.values() if r.deadline <= now]
        for request in late:
            del self._pending[request.request_id]
            if request.on_expire is not None:
                request.on_expire(request.result)
        return late

    def cancel_all(self) -> list[PendingRequest]:
        pending = list(self._pending.values())
        self._pending.clear()
        return pending
