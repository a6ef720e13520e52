"""The default Socket.IO parser: JSON text with binary placeholders.

Wire form of one packet (the text part)::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]

followed, for BINARY_EVENT and BINARY_ACK, by one binary message per attachment, which the
JSON names with ``{"_placeholder":true,"num":N}``. Validation follows the reference parser
(socket.io-parser 4.2): every rule there fixes a published vulnerability somewhere, so each is
kept, and each failure raises a ``SocketIOPacketError`` subclass with a message saying what
was wrong. Walks over data are depth-bounded: hostile nesting raises ``TooDeeplyNested``,
never ``RecursionError``.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import orjson

from .. import _json
from ..engineio.packets import as_messages
from ..exceptions import SocketIOPacketError, TooDeeplyNested, TooManyAttachments
from ..limits import DEFAULT_LIMITS, Limits
from .packets import RESERVED_EVENTS, Packet, PacketType

# Enum members as module constants: looking one up on the class costs about 75 ns, a global 8.
_CONNECT, _DISCONNECT, _EVENT, _ACK, _CONNECT_ERROR, _BINARY_EVENT, _BINARY_ACK = PacketType

__all__ = [
    "Decoder", "decode_plain_event", "decode_text", "encode", "encode_ack", "encode_ack_message", "encode_event",
    "encode_event_message", "has_binary",
]

_BINARY = (bytes, bytearray, memoryview)
_TYPE_CHARS = "0123456789"


# -- encoding -------------------------------------------------------------------------------


def has_binary(value: Any, max_depth: int = 64) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, _BINARY):
            return True
        if depth >= max_depth:
            if isinstance(item, list | tuple | dict):
                raise ValueError(f"data nested deeper than {max_depth} levels")
            continue
        if isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
    return False


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _deconstruct(value: Any, attachments: list[bytes], depth: int, max_depth: int) -> Any:
    # Scalars (nearly every value) are kept without a call; subclasses take the slow checks.
    if isinstance(value, _BINARY):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if depth >= max_depth and isinstance(value, list | tuple | dict):
        raise ValueError(f"data nested deeper than {max_depth} levels")
    scalars = _SCALARS
    if isinstance(value, list | tuple):
        return [v if type(v) in scalars else _deconstruct(v, attachments, depth + 1, max_depth) for v in value]
    if isinstance(value, dict):
        return {k: v if type(v) in scalars else _deconstruct(v, attachments, depth + 1, max_depth)
                for k, v in value.items()}
    return value


def _head(ptype: int, namespace: str, ack_id: int | None, attachments: int = -1) -> str:
    head = _TYPE_CHARS[ptype]
    if attachments >= 0:
        head += f"{attachments}-"
    if namespace != "/":
        head += namespace + ","
    if ack_id is not None:
        head += str(ack_id)
    return head


def _encode_binary(ptype: PacketType, namespace: str, data: Any, ack_id: int | None,
                   max_depth: int) -> list[str | bytes]:
    """Called once JSON refused ``data``: one walk both finds the bytes and strips them out.
    No bytes found means the data really is not JSON-able: one ``TypeError`` naming the culprit
    is raised, without the chain of the attempts before it (a log shows one traceback)."""
    try:
        try:
            text, attachments = _json.dumps_binary(data)
        except TypeError:  # huge ints, lone surrogates, or really not JSON-able: the slow path says
            attachments = []
            stripped = _deconstruct(data, attachments, 0, max_depth)
            text = _json.dumps(stripped)
        if not attachments:
            _json.dumps(data)  # raises the TypeError that names the culprit
            raise TypeError("data is not JSON serializable")
    except TypeError as exc:
        raise TypeError(f"cannot encode the packet's data: {exc}") from None
    binary_type = _BINARY_EVENT if ptype in _EVENT_TYPES else _BINARY_ACK
    return [_head(binary_type, namespace, ack_id, len(attachments)) + text, *attachments]


_EVENT_TYPES = (_EVENT, _BINARY_EVENT)
_DATA_TYPES = (_EVENT, _ACK, _BINARY_EVENT, _BINARY_ACK)


def encode(packet: Packet, max_depth: int = DEFAULT_LIMITS.max_depth) -> list[str | bytes]:
    """Encode a packet: the text part, then its attachments (if any) in order.

    EVENT and ACK become BINARY_EVENT and BINARY_ACK when ``data`` holds bytes anywhere.
    """
    ptype = packet.type
    data = packet.data
    if data is None:
        return [_head(ptype, packet.namespace, packet.id)]
    if ptype in _DATA_TYPES:
        try:
            payload = _json.dumps(data)
        except TypeError:
            return _encode_binary(ptype, packet.namespace, data, packet.id, max_depth)
        plain_type = _EVENT if ptype in _EVENT_TYPES else _ACK
        return [_head(plain_type, packet.namespace, packet.id) + payload]
    return [_head(ptype, packet.namespace, packet.id) + _json.dumps(data)]


def encode_event(namespace: str, args: list[Any], ack_id: int | None = None,
                 max_depth: int = DEFAULT_LIMITS.max_depth) -> list[str | bytes]:
    """The hot path of ``emit``: an EVENT (or BINARY_EVENT) whose payload is ``args``."""
    try:
        payload = _json.dumps(args)
    except TypeError:
        return _encode_binary(_EVENT, namespace, args, ack_id, max_depth)
    if namespace == "/" and ack_id is None:
        return ["2" + payload]
    return [_head(2, namespace, ack_id) + payload]


def encode_ack(namespace: str, args: list[Any], ack_id: int) -> list[str | bytes]:
    """The hot path of answering an ack: an ACK (or BINARY_ACK) carrying ``args``."""
    try:
        payload = _json.dumps(args)
    except TypeError:
        return _encode_binary(_ACK, namespace, args, ack_id, DEFAULT_LIMITS.max_depth)
    if namespace == "/":
        return [f"3{ack_id}{payload}"]
    return [_head(3, namespace, ack_id) + payload]


def encode_event_message(namespace: str, args: list[Any]) -> list[str | bytes]:
    """``encode_event`` as Engine.IO messages (``"42[...]"`` and any attachments): what a
    socket's ``emit`` queues, built in one format on the main namespace's common case."""
    if namespace == "/":
        try:
            return ["42" + _json.dumps(args)]
        except TypeError:
            pass  # bytes inside: the binary form below
    return as_messages(encode_event(namespace, args))


def encode_ack_message(namespace: str, args: list[Any], ack_id: int) -> list[str | bytes]:
    """``encode_ack`` as Engine.IO messages (``"43<id>[...]"``): a handler's answer."""
    if namespace == "/":
        try:
            return [f"43{ack_id}{_json.dumps(args)}"]
        except TypeError:
            pass
    return as_messages(encode_ack(namespace, args, ack_id))


# -- decoding -------------------------------------------------------------------------------


def _payload_valid(ptype: PacketType, payload: Any) -> bool:
    if ptype is _CONNECT:
        return isinstance(payload, dict)
    if ptype is _DISCONNECT:
        return False  # a DISCONNECT carries no payload
    if ptype is _CONNECT_ERROR:
        return isinstance(payload, (str, dict))
    if ptype is _EVENT or ptype is _BINARY_EVENT:
        if not isinstance(payload, list) or not payload:
            return False
        name = payload[0]
        if isinstance(name, str):
            return name not in RESERVED_EVENTS
        return isinstance(name, (int, float)) and not isinstance(name, bool)
    return isinstance(payload, list)  # ACK, BINARY_ACK


class _Header(NamedTuple):
    """A decoded text part: the packet minus the attachments it is still waiting for."""

    type: PacketType
    namespace: str
    ack_id: int | None
    attachments: int
    payload: Any


_PTYPES = tuple(PacketType)
#: NamedTuples built without their Python-level ``__new__`` on hot paths (about half the cost).
_new_packet = tuple.__new__
_new_header = tuple.__new__


def _parse_text(text: str, limits: Limits) -> _Header:
    if not text:
        raise SocketIOPacketError("empty Socket.IO packet")
    first = text[0]
    if first not in "0123456":
        raise SocketIOPacketError(f"unknown Socket.IO packet type {first!r}")
    ptype = _PTYPES[ord(first) - 48]
    i = 1
    n = len(text)
    attachments = 0
    if ptype is _BINARY_EVENT or ptype is _BINARY_ACK:
        dash = text.find("-", 1)
        count = text[1:dash] if dash > 0 else ""
        if not count.isdigit() or not count.isascii():
            raise SocketIOPacketError("illegal attachments: expected <count>- after the packet type")
        attachments = int(count) if len(count) < 10 else 10**10
        if attachments < 1:  # as the reference (4.2.7): a binary packet has attachments
            raise SocketIOPacketError("illegal attachments: a binary packet announces at least one")
        if limits.max_attachments is not None and attachments > limits.max_attachments:
            raise TooManyAttachments(
                f"{count} attachments announced, over the limit of {limits.max_attachments}"
            )
        i = dash + 1
    namespace = "/"
    if i < n and text[i] == "/":
        comma = text.find(",", i)
        end = n if comma < 0 else comma
        namespace = text[i:end]
        i = end + 1 if comma >= 0 else n
    ack_id: int | None = None
    start = i
    while i < n and "0" <= text[i] <= "9":
        i += 1
        if i - start > limits.max_ack_id_digits:
            raise SocketIOPacketError(f"ack id longer than {limits.max_ack_id_digits} digits")
    if i > start:
        ack_id = int(text[start:i])
    payload: Any = None
    if i < n:
        try:
            payload = _json.loads(text[i:])
        except TooDeeplyNested:
            raise
        except ValueError as exc:
            raise SocketIOPacketError(f"invalid JSON payload: {exc}") from None
        if not _payload_valid(ptype, payload):
            raise SocketIOPacketError(f"invalid payload for a {ptype.name} packet")
    elif ptype in (_EVENT, _BINARY_EVENT, _ACK, _BINARY_ACK):
        raise SocketIOPacketError(f"a {ptype.name} packet needs a payload")
    elif ptype is _CONNECT_ERROR:
        raise SocketIOPacketError("a CONNECT_ERROR packet needs a payload")
    if ack_id is not None and ptype in (_CONNECT, _DISCONNECT, _CONNECT_ERROR):
        raise SocketIOPacketError(f"a {ptype.name} packet cannot carry an ack id")
    return _Header(ptype, namespace, ack_id, attachments, payload)


def _placeholder(value: dict[str, Any], buffers: list[bytes]) -> bytes:
    num = value.get("num")
    if type(num) is not int or not 0 <= num < len(buffers):
        raise SocketIOPacketError(f"illegal attachment placeholder num={num!r}")
    return buffers[num]


def _fill(value: Any, buffers: list[bytes], depth: int, max_depth: int) -> None:
    """Replace placeholders in place: the payload was parsed for us alone, so no copy is
    needed, and only lists and dicts are visited (values from JSON are nothing else)."""
    if depth > max_depth:
        raise TooDeeplyNested(f"data nested deeper than {max_depth} levels")
    items = enumerate(value) if type(value) is list else value.items()
    for key, item in items:
        kind = type(item)
        if kind is dict:
            if item.get("_placeholder") is True:
                num = item.get("num")
                if type(num) is not int or not 0 <= num < len(buffers):
                    raise SocketIOPacketError(f"illegal attachment placeholder num={num!r}")
                value[key] = buffers[num]
            else:
                _fill(item, buffers, depth + 1, max_depth)
        elif kind is list:
            _fill(item, buffers, depth + 1, max_depth)


def _reconstruct(value: Any, buffers: list[bytes], depth: int, max_depth: int) -> Any:
    kind = type(value)
    if kind is dict and value.get("_placeholder") is True:
        return _placeholder(value, buffers)
    if kind is list or kind is dict:
        _fill(value, buffers, depth, max_depth)
    return value


def _rebuild(payload: Any, buffers: list[bytes], max_depth: int) -> Any:
    try:
        return _reconstruct(payload, buffers, 0, max_depth)
    except RecursionError:  # a max_depth configured past what Python's stack allows
        raise TooDeeplyNested("data nested too deeply to walk") from None


def _loads(body: str) -> Any:
    """JSON for the hot paths: orjson straight away, the careful wrapper only on failure."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return _json.loads(body)  # lone surrogates, or the error mapped to our types
    except TooDeeplyNested:
        raise
    except ValueError as exc:
        raise SocketIOPacketError(f"invalid JSON payload: {exc}") from None


_BINARY_HEAD = re.compile(r"([56])([0-9]{1,10})-([0-9]{1,17})?\[")


def decode_plain_event(text: str) -> tuple[list[Any], int | None] | None:
    """The hot path of the server: an EVENT on the main namespace, ``2[...]`` or ``2<id>[...]``.

    Returns ``(data, ack_id)``, or ``None`` when ``text`` has any other form (the caller then
    uses the full decoder). Applies the same validation; raises ``SocketIOPacketError``.
    """
    if text[:2] == "2[":
        ack_id = None
        data = _loads(text[1:])
    else:
        # ``2<digits>[``, digits ASCII only (as the reference reads them), at most 16 of them;
        # str methods instead of a regex: this is a third of an ack's decoding time.
        bracket = text.find("[", 2, 18)
        digits = text[1:bracket]
        if bracket < 0 or not digits.isdigit() or not digits.isascii():
            return None
        ack_id = int(digits)
        data = _loads(text[bracket:])
    if type(data) is not list or not data:
        raise SocketIOPacketError("invalid payload for a EVENT packet")
    name = data[0]
    if type(name) is str:
        if name in RESERVED_EVENTS:
            raise SocketIOPacketError("invalid payload for a EVENT packet")
    elif not isinstance(name, (int, float)) or isinstance(name, bool):
        raise SocketIOPacketError("invalid payload for a EVENT packet")
    return data, ack_id


def decode_text(text: str, limits: Limits = DEFAULT_LIMITS) -> Packet:
    """Decode a packet that has no attachments (raises if it announces some)."""
    header = _parse_text(text, limits)
    if header.type is _BINARY_EVENT or header.type is _BINARY_ACK:
        if header.attachments:
            raise SocketIOPacketError("packet announces attachments; use a Decoder")
        payload = _rebuild(header.payload, [], limits.max_depth)
        return Packet(header.type, header.namespace, payload, header.ack_id)
    return Packet(header.type, header.namespace, header.payload, header.ack_id)


class Decoder:
    """Reassembles packets from one connection: a text part, then its attachments.

    ``feed_text`` and ``feed_binary`` return the packet once it is whole, else ``None``.
    Errors leave the decoder reset, so a caller that only logs can go on.
    """

    __slots__ = ("_buffers", "_header", "limits", "pending")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._header: _Header | None = None
        self._buffers: list[bytes] = []
        #: True while attachments are awaited (an attribute: the server reads it per message).
        self.pending = False

    def reset(self) -> None:
        """Drop a half-received packet (on disconnect)."""
        self._header = None
        self._buffers = []
        self.pending = False

    def feed_text(self, text: str) -> Packet | None:
        if self._header is not None:
            self.reset()
            raise SocketIOPacketError("got a text packet while waiting for binary attachments")
        if text[:2] == "2[":  # the common case: an event on the main namespace without ack
            event = decode_plain_event(text)
            assert event is not None
            return _new_packet(Packet, (_EVENT, "/", event[0], None))
        match = _BINARY_HEAD.match(text)
        header = self._binary_header(text, match) if match is not None else _parse_text(text, self.limits)
        if header.attachments == 0:
            payload = header.payload
            if header.type is _BINARY_EVENT or header.type is _BINARY_ACK:
                payload = _rebuild(payload, [], self.limits.max_depth)
            return Packet(header.type, header.namespace, payload, header.ack_id)
        self._header = header
        self.pending = True
        return None

    def _binary_header(self, text: str, match: re.Match[str]) -> _Header:
        """``5<n>-[...]`` / ``6<n>-<id>[...]`` on the main namespace, without the general parser
        (same rules; anything unusual goes to the general parser for its precise error)."""
        kind, count_text, ack = match.groups()
        count = 1 if count_text == "1" else int(count_text)  # one attachment: nearly always
        limits = self.limits
        max_attachments = limits.max_attachments
        if (count < 1 or (max_attachments is not None and count > max_attachments)
                or (ack is not None and len(ack) > limits.max_ack_id_digits)):
            return _parse_text(text, limits)
        payload = _loads(text[match.end() - 1 :])
        if type(payload) is not list:
            raise SocketIOPacketError("invalid payload: a binary packet carries an array")
        if kind == "5":
            name = payload[0] if payload else None
            if not ((type(name) is str and name not in RESERVED_EVENTS)
                    or (isinstance(name, (int, float)) and not isinstance(name, bool))):
                raise SocketIOPacketError("invalid payload for a BINARY_EVENT packet")
            return _new_header(_Header, (_BINARY_EVENT, "/", None if ack is None else int(ack), count, payload))
        return _new_header(_Header, (_BINARY_ACK, "/", None if ack is None else int(ack), count, payload))

    def feed_binary(self, data: bytes) -> Packet | None:
        header = self._header
        if header is None:
            raise SocketIOPacketError("got binary data with no packet waiting for attachments")
        self._buffers.append(data)
        if len(self._buffers) < header.attachments:
            return None
        buffers = self._buffers
        self._header = None
        self._buffers = []
        self.pending = False
        payload = header.payload
        if type(payload) is list:  # events and acks always are: walk it without the dispatch
            try:
                _fill(payload, buffers, 0, self.limits.max_depth)
            except RecursionError:
                raise TooDeeplyNested("data nested too deeply to walk") from None
        else:
            payload = _rebuild(payload, buffers, self.limits.max_depth)
        return _new_packet(Packet, (header.type, header.namespace, payload, header.ack_id))
