"""The default Socket.IO v5 parser: the protocol document's examples, validation, round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketeer.engineio.packets import PacketType as EIOType
from socketeer.engineio.packets import decode_text as eio_decode_text
from socketeer.engineio.payload import decode_payload, encode_payload
from socketeer.exceptions import (
    DecodeError,
    LimitExceeded,
    SocketIOPacketError,
    TooDeeplyNested,
    TooManyAttachments,
)
from socketeer.limits import DEFAULT_LIMITS, Limits
from socketeer.socketio.packets import RESERVED_EVENTS, Packet, PacketType
from socketeer.socketio.parser import Decoder, decode_text, encode, encode_event, has_binary

C, D, E, A, CE, BE, BA = (
    PacketType.CONNECT,
    PacketType.DISCONNECT,
    PacketType.EVENT,
    PacketType.ACK,
    PacketType.CONNECT_ERROR,
    PacketType.BINARY_EVENT,
    PacketType.BINARY_ACK,
)
BUF = b"\x01\x02\x03\x04"


def ph(num: int) -> str:
    return f'{{"_placeholder":true,"num":{num}}}'


def decode_parts(parts: list[str | bytes], limits: Limits = DEFAULT_LIMITS) -> Packet:
    """Feed a text part and its attachments to a fresh Decoder; the packet comes out last."""
    decoder = Decoder(limits)
    *head, last = parts
    for part in head:
        assert (decoder.feed_text(part) if isinstance(part, str) else decoder.feed_binary(part)) is None
        assert decoder.pending
    packet = decoder.feed_text(last) if isinstance(last, str) else decoder.feed_binary(last)
    assert packet is not None
    assert not decoder.pending
    return packet


# -- the protocol document's examples --------------------------------------------------------

# (packet as the document writes it, wire parts). The packets are written the way the
# decoder returns them: BINARY_* when attachments travel with them.
VECTORS: list[tuple[Packet, list[str | bytes]]] = [
    # connection to a namespace
    (Packet(C, "/"), ["0"]),
    (Packet(C, "/", {"sid": "wZX3oN0bSVIhsaknAAAI"}), ['0{"sid":"wZX3oN0bSVIhsaknAAAI"}']),
    (Packet(C, "/admin"), ["0/admin,"]),
    (Packet(C, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"}), ['0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}']),
    (Packet(C, "/admin", {"sid": "iLnRaVGHY4B75TeVAAAB"}), ['0/admin,{"sid":"iLnRaVGHY4B75TeVAAAB"}']),
    (Packet(C, "/admin", {"sid": "CjdVH4TQvovi1VvgAC5Z"}), ['0/admin,{"sid":"CjdVH4TQvovi1VvgAC5Z"}']),
    (Packet(C, "/", {"token": "123"}), ['0{"token":"123"}']),
    (Packet(C, "/admin", {"token": "123"}), ['0/admin,{"token":"123"}']),
    (Packet(CE, "/", {"message": "Not authorized"}), ['4{"message":"Not authorized"}']),
    (Packet(CE, "/admin", {"message": "Not authorized"}), ['4/admin,{"message":"Not authorized"}']),
    (
        Packet(CE, "/admin", {"message": "Not authorized", "data": {"code": "E001", "label": "Invalid credentials"}}),
        ['4/admin,{"message":"Not authorized","data":{"code":"E001","label":"Invalid credentials"}}'],
    ),
    # sending and receiving data
    (Packet(E, "/", ["foo"]), ['2["foo"]']),
    (Packet(E, "/", ["bar"]), ['2["bar"]']),
    (Packet(E, "/admin", ["bar"]), ['2/admin,["bar"]']),
    (Packet(E, "/", ["hello", 1]), ['2["hello",1]']),
    (Packet(E, "/", ["hey", "Jude"]), ['2["hey","Jude"]']),
    (Packet(BE, "/", ["baz", BUF]), ['51-["baz",' + ph(0) + "]", BUF]),
    (Packet(BE, "/", ["hello", b"\x01\x02\x03"]), ['51-["hello",' + ph(0) + "]", b"\x01\x02\x03"]),
    (
        Packet(BE, "/admin", ["baz", b"\x01\x02", b"\x03\x04"]),
        ['52-/admin,["baz",' + ph(0) + "," + ph(1) + "]", b"\x01\x02", b"\x03\x04"],
    ),
    # acknowledgement
    (Packet(E, "/", ["foo"], 12), ['212["foo"]']),
    (Packet(A, "/", [], 12), ["312[]"]),
    (Packet(E, "/admin", ["foo"], 13), ['2/admin,13["foo"]']),
    (Packet(A, "/admin", ["bar"], 13), ['3/admin,13["bar"]']),
    (Packet(BE, "/", ["foo", BUF], 14), ['51-14["foo",' + ph(0) + "]", BUF]),
    (Packet(A, "/", ["bar"], 14), ['314["bar"]']),
    (Packet(E, "/", ["foo"], 15), ['215["foo"]']),
    (Packet(BA, "/", ["bar", BUF], 15), ['61-15["bar",' + ph(0) + "]", BUF]),
    (Packet(E, "/admin", ["project:delete", 123], 456), ['2/admin,456["project:delete",123]']),
    (Packet(A, "/admin", [], 456), ["3/admin,456[]"]),
    (
        Packet(BE, "/admin", ["project:delete", b"\x01\x02\x03"], 456),
        ['51-/admin,456["project:delete",' + ph(0) + "]", b"\x01\x02\x03"],
    ),
    (Packet(BA, "/admin", [b"\x03\x02\x01"], 456), ["61-/admin,456[" + ph(0) + "]", b"\x03\x02\x01"]),
    (Packet(BA, "/admin", [BUF], 15), ["61-/admin,15[" + ph(0) + "]", BUF]),
    # disconnection from a namespace
    (Packet(D, "/"), ["1"]),
    (Packet(D, "/admin"), ["1/admin,"]),
]
IDS = [str(parts[0])[:40] for _, parts in VECTORS]


@pytest.mark.parametrize(("packet", "parts"), VECTORS, ids=IDS)
def test_vector_encodes(packet: Packet, parts: list[str | bytes]) -> None:
    assert encode(packet) == parts


@pytest.mark.parametrize(("packet", "parts"), VECTORS, ids=IDS)
def test_vector_encodes_from_plain_type(packet: Packet, parts: list[str | bytes]) -> None:
    # An application emits EVENT/ACK; the encoder picks BINARY_* by itself.
    plain = {BE: E, BA: A}.get(packet.type, packet.type)
    assert encode(Packet(plain, packet.namespace, packet.data, packet.id)) == parts


@pytest.mark.parametrize(("packet", "parts"), VECTORS, ids=IDS)
def test_vector_decodes(packet: Packet, parts: list[str | bytes]) -> None:
    decoded = decode_parts(parts)
    assert decoded == packet
    assert type(decoded.type) is PacketType
    if len(parts) == 1:
        assert decode_text(parts[0]) == packet


def test_event_travels_as_engineio_message() -> None:
    # "{ type: EVENT, namespace: "/", data: ["foo"] } will be sent as 42["foo"]"
    (text,) = encode(Packet(E, "/", ["foo"]))
    assert "4" + text == '42["foo"]'


def test_encode_event_hot_path() -> None:
    assert encode_event("/", ["foo"]) == ['2["foo"]']
    assert encode_event("/", ["foo"], 12) == ['212["foo"]']
    assert encode_event("/admin", ["foo"], 13) == ['2/admin,13["foo"]']
    assert encode_event("/admin", ["bar"]) == ['2/admin,["bar"]']
    assert encode_event("/", ["baz", BUF]) == ['51-["baz",' + ph(0) + "]", BUF]
    assert encode_event("/admin", ["x", {"a": [BUF]}], 7) == ['51-/admin,7["x",{"a":[' + ph(0) + "]}]", BUF]


def test_attachments_become_bytes_in_order() -> None:
    parts = encode(Packet(E, "/", ["x", bytearray(b"\x01"), {"k": memoryview(b"\x02")}, [b"\x03"]]))
    assert parts == ['53-["x",' + ph(0) + ',{"k":' + ph(1) + "},[" + ph(2) + "]]", b"\x01", b"\x02", b"\x03"]
    assert all(type(p) is bytes for p in parts[1:])


def test_binary_type_without_bytes_is_sent_plain() -> None:
    assert encode(Packet(BE, "/", ["foo"])) == ['2["foo"]']
    assert encode(Packet(BA, "/", ["bar"], 3)) == ['33["bar"]']


def test_has_binary() -> None:
    assert not has_binary(["a", 1, None, {"b": [True]}])
    assert has_binary([{"a": [b""]}])
    assert has_binary(bytearray())
    assert has_binary({"k": (1, memoryview(b"x"))})


def test_packet_helpers() -> None:
    assert Packet(E).is_event and Packet(BE).is_event
    assert Packet(A).is_ack and Packet(BA).is_ack
    assert not Packet(C).is_event and not Packet(C).is_ack
    assert Packet(C) == Packet(C, "/", None, None)
    assert [int(t) for t in PacketType] == list(range(7))


def test_reserved_events() -> None:
    assert (
        frozenset({"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"})
        == RESERVED_EVENTS
    )


# -- the Socket.IO document's sample session, over Engine.IO ----------------------------------


def test_sample_session() -> None:
    server = Decoder()
    client = Decoder()

    def sio_from_eio(text: str, decoder: Decoder) -> Packet | None:
        eio = eio_decode_text(text)
        assert eio.type is EIOType.MESSAGE
        assert isinstance(eio.data, str)
        return decoder.feed_text(eio.data)

    # Request 2: the client asks for the main namespace
    assert ["4" + p for p in encode(Packet(C, "/"))] == ["40"]
    assert sio_from_eio("40", server) == Packet(C, "/")
    # Request 3: the server grants it
    assert "4" + encode(Packet(C, "/", {"sid": "wZX3oN0bSVIhsaknAAAI"}))[0] == '40{"sid":"wZX3oN0bSVIhsaknAAAI"}'
    assert sio_from_eio('40{"sid":"wZX3oN0bSVIhsaknAAAI"}', client) == Packet(C, "/", {"sid": "wZX3oN0bSVIhsaknAAAI"})
    # Request 4: socket.emit('hey', 'Jude') on the server
    assert "4" + encode_event("/", ["hey", "Jude"])[0] == '42["hey","Jude"]'
    assert sio_from_eio('42["hey","Jude"]', client) == Packet(E, "/", ["hey", "Jude"])
    # Request 5: socket.emit('hello'); socket.emit('world') on the client, one POST
    body = encode_payload(["4" + encode_event("/", [name])[0] for name in ("hello", "world")])
    assert body == '42["hello"]\x1e42["world"]'
    assert [server.feed_text(p.data) for p in decode_payload(body)] == [
        Packet(E, "/", ["hello"]),
        Packet(E, "/", ["world"]),
    ]
    # Request 6: after the upgrade, WebSocket frames
    assert sio_from_eio('42["hello"]', server) == Packet(E, "/", ["hello"])
    assert sio_from_eio('42["world"]', server) == Packet(E, "/", ["world"])
    assert "4" + encode(Packet(C, "/admin"))[0] == "40/admin,"
    assert sio_from_eio("40/admin,", server) == Packet(C, "/admin")
    granted = Packet(C, "/admin", {"sid": "-G5j-67EZFp-q59rADQM"})
    assert "4" + encode(granted)[0] == '40/admin,{"sid":"-G5j-67EZFp-q59rADQM"}'
    assert sio_from_eio('40/admin,{"sid":"-G5j-67EZFp-q59rADQM"}', client) == granted
    assert "4" + encode_event("/admin", ["tellme"], 1)[0] == '42/admin,1["tellme"]'
    assert sio_from_eio('42/admin,1["tellme"]', server) == Packet(E, "/admin", ["tellme"], 1)
    # the BINARY_ACK answer: a text frame, then the attachment in its own binary frame
    text, attachment = encode(Packet(A, "/admin", [b"\xde\xad"], 1))
    assert "4" + text == "461-/admin,1[" + ph(0) + "]"
    assert sio_from_eio("461-/admin,1[" + ph(0) + "]", client) is None
    assert client.pending
    assert client.feed_binary(attachment) == Packet(BA, "/admin", [b"\xde\xad"], 1)


# -- decoding details -------------------------------------------------------------------------


def test_namespace_without_comma_runs_to_the_end() -> None:
    assert decode_text("1/admin") == Packet(D, "/admin")
    assert decode_text("0/admin") == Packet(C, "/admin")


def test_namespace_characters() -> None:
    assert decode_text('2/a/b-c_d.é😀,["x"]') == Packet(E, "/a/b-c_d.é😀", ["x"])
    assert decode_text('2/12,34["x"]') == Packet(E, "/12", ["x"], 34)


def test_ack_id_zero_and_largest() -> None:
    assert decode_text('20["x"]') == Packet(E, "/", ["x"], 0)
    assert decode_text("2" + "9" * 16 + '["x"]') == Packet(E, "/", ["x"], 9_999_999_999_999_999)
    assert decode_text("3/admin," + "1" * 16 + "[]") == Packet(A, "/admin", [], 1_111_111_111_111_111)


def test_event_names_may_be_numbers() -> None:
    assert decode_text("2[1]") == Packet(E, "/", [1])
    assert decode_text("2[1.5,2]") == Packet(E, "/", [1.5, 2])
    assert decode_text('2[-3,"x"]') == Packet(E, "/", [-3, "x"])


def test_event_names_close_to_reserved_ones_are_fine() -> None:
    for name in ("Connect", "connect ", "connection", "disconnected", "error", "message", "ping", ""):
        assert decode_text("2" + f'["{name}"]') == Packet(E, "/", [name])


def test_connect_error_string_payload() -> None:
    assert decode_text('4"Not authorized"') == Packet(CE, "/", "Not authorized")
    assert encode(Packet(CE, "/", "Not authorized")) == ['4"Not authorized"']


def test_whitespace_around_json() -> None:
    assert decode_text('2 ["x"] ') == Packet(E, "/", ["x"])


def test_json_surrogate_escapes_are_accepted() -> None:
    # JavaScript strings may hold lone surrogates; JSON.stringify escapes them.
    assert decode_text('2["\\ud800"]') == Packet(E, "/", ["\ud800"])
    assert encode(Packet(E, "/", ["\ud800"])) == ['2["\\ud800"]']


def test_placeholder_referencing_the_same_attachment_twice() -> None:
    packet = decode_parts(['51-["a",' + ph(0) + "," + ph(0) + "]", b"x"])
    assert packet == Packet(BE, "/", ["a", b"x", b"x"])


def test_unused_attachments_are_allowed() -> None:
    assert decode_parts(['52-["a",' + ph(1) + "]", b"x", b"y"]) == Packet(BE, "/", ["a", b"y"])


def test_placeholder_like_dicts_that_are_not_placeholders() -> None:
    for obj in ('{"_placeholder":1,"num":0}', '{"_placeholder":"true","num":0}', '{"_placeholder":false}'):
        assert decode_parts(['51-["a",' + obj + "]", b"x"]).data[1] == json.loads(obj)


def test_decoder_keeps_going_after_packets() -> None:
    d = Decoder()
    assert d.feed_text('2["a"]') == Packet(E, "/", ["a"])
    assert d.feed_text('51-["b",' + ph(0) + "]") is None
    assert d.feed_binary(b"1") == Packet(BE, "/", ["b", b"1"])
    assert d.feed_text("1") == Packet(D, "/")


def test_decoder_reset_drops_a_half_received_packet() -> None:
    d = Decoder()
    d.feed_text('52-["b",' + ph(0) + "," + ph(1) + "]")
    d.feed_binary(b"1")
    d.reset()
    assert not d.pending
    assert d.feed_text('2["a"]') == Packet(E, "/", ["a"])


# -- validation (socket.io-parser 4.2) ----------------------------------------------------------


def raises_exactly(cls: type[DecodeError], text: str, limits: Limits = DEFAULT_LIMITS) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        Decoder(limits).feed_text(text)
    assert type(info.value) is cls, info.value
    assert str(info.value)
    with pytest.raises(cls):
        decode_text(text, limits)
    return info.value


INVALID = [
    # unknown or missing type
    "",
    "7",
    "9[]",
    "x",
    "-1",
    ' 2["a"]',
    '\u0662["a"]',  # an Arabic-Indic digit is not a packet type
    # EVENT: a non-empty array whose first element is a string or a number
    "2",
    "2/admin,",
    "21",
    "2[]",
    "2{}",
    '2"foo"',
    "2null",
    "21.5",
    "2[null]",
    "2[true]",
    "2[false]",
    "2[{}]",
    '2[["foo"]]',
    '2[{"name":"foo"}]',
    *(f'2["{name}"]' for name in sorted(RESERVED_EVENTS)),
    '2/admin,1["disconnect",1]',
    # ACK: an array
    "3",
    "31",
    "3/admin,1",
    "31{}",
    '31"x"',
    "31null",
    "315",
    # CONNECT: no payload, or an object
    "0[]",
    '0"token"',
    "0null",
    "01",
    "0/admin,1",
    "0/admin,12{}",
    "0true",
    # DISCONNECT: no payload
    "1{}",
    "1[]",
    '1"bye"',
    "1null",
    "1/admin,{}",
    "11",
    # CONNECT_ERROR: an object or a string
    "4",
    "4/admin,",
    "4[]",
    "4null",
    "41",
    "4true",
    '41"x"',
    # ack ids: non-negative, at most 16 digits
    '2-1["a"]',
    "2" + "1" * 17 + '["a"]',
    "3/admin," + "9" * 17 + "[]",
    # attachments: digits followed by "-"
    "5",
    '5["a"]',
    '5-["a"]',
    '51["a"]',
    '5a-["a"]',
    '5 1-["a"]',
    '5+1-["a"]',
    '51.0-["a"]',
    '5-1-["a"]',
    '5\u0661-["a"]',  # not an ASCII digit
    '5\u00b2-["a"]',  # superscript two
    '50-["a"]',  # the reference refuses zero attachments
    '60-["a"]',
    "6",
    "61-",
    "51-",
    "51-/admin,",
    "51-{}",
    '51-["connect",' + ph(0) + "]",
    "61-{}",
    # malformed JSON
    '2["a"',
    "2['a']",
    '2["a"]]',
    '2["a"] x',
    '2["a",NaN]',
    '2["a",Infinity]',
    '2["\\ud800",NaN]',  # also on the path that accepts lone surrogate escapes
    '2["a",undefined]',
    '2["a\x01"]',  # raw control character in a string
    '2["a",]',
    "2[01]",
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_packet(text: str) -> None:
    raises_exactly(SocketIOPacketError, text)


def test_decoder_is_reset_after_an_error() -> None:
    d = Decoder()
    with pytest.raises(SocketIOPacketError):
        d.feed_text("2[]")
    assert not d.pending
    assert d.feed_text('2["ok"]') == Packet(E, "/", ["ok"])


# attachments: at most max_attachments


def test_ten_attachments_are_allowed() -> None:
    text = "510-[" + ",".join(ph(i) for i in range(10)) + "]"
    bufs = [bytes([i]) for i in range(10)]
    with pytest.raises(SocketIOPacketError):  # the event name must come first
        decode_parts([text, *bufs])
    text = '510-["x",' + ",".join(ph(i) for i in range(10)) + "]"
    assert decode_parts([text, *bufs]) == Packet(BE, "/", ["x", *bufs])


@pytest.mark.parametrize("count", ["11", "99", "1000", "9" * 9, "9" * 10, "9" * 50, "0" * 20 + "11"])
def test_too_many_attachments(count: str) -> None:
    err = raises_exactly(TooManyAttachments, "5" + count + '-["a"]')
    assert isinstance(err, SocketIOPacketError)
    assert isinstance(err, LimitExceeded)
    raises_exactly(TooManyAttachments, "6" + count + "-[]")
    raises_exactly(TooManyAttachments, "5" + count + "-")  # refused before the payload is read


def test_max_attachments_is_configurable() -> None:
    limits = Limits(max_attachments=2)
    assert decode_parts(['52-["x",' + ph(1) + "]", b"a", b"b"], limits) == Packet(BE, "/", ["x", b"b"])
    raises_exactly(TooManyAttachments, '53-["x"]', limits)
    unlimited = Limits(max_attachments=None)
    d = Decoder(unlimited)
    assert d.feed_text('5500-["x",' + ph(499) + "]") is None
    for i in range(499):
        assert d.feed_binary(bytes([i % 256])) is None
    assert d.feed_binary(b"last") == Packet(BE, "/", ["x", b"last"])


def test_decode_text_refuses_packets_with_attachments() -> None:
    with pytest.raises(SocketIOPacketError) as info:
        decode_text('51-["a",' + ph(0) + "]")
    assert type(info.value) is SocketIOPacketError


# placeholders: num an int with 0 <= num < attachments


@pytest.mark.parametrize(
    "num",
    ['"splice"', '"0"', "-1", "0.5", "1", "2", "10", "true", "false", "null", "[]", "{}", "1e0", "9" * 30],
)
def test_illegal_placeholder_num(num: str) -> None:
    d = Decoder()
    assert d.feed_text('51-["a",{"_placeholder":true,"num":' + num + "}]") is None
    with pytest.raises(SocketIOPacketError) as info:
        d.feed_binary(b"x")
    assert type(info.value) is SocketIOPacketError
    assert not d.pending


def test_placeholder_without_num() -> None:
    d = Decoder()
    d.feed_text('51-["a",{"_placeholder":true}]')
    with pytest.raises(SocketIOPacketError):
        d.feed_binary(b"x")


def test_placeholder_past_the_last_attachment() -> None:
    d = Decoder()
    d.feed_text('52-["a",' + ph(2) + "]")
    assert d.feed_binary(b"x") is None
    with pytest.raises(SocketIOPacketError):
        d.feed_binary(b"y")


# the order of text and binary parts


def test_text_while_attachments_are_awaited() -> None:
    d = Decoder()
    assert d.feed_text('52-["a",' + ph(0) + "," + ph(1) + "]") is None
    assert d.feed_binary(b"1") is None
    with pytest.raises(SocketIOPacketError) as info:
        d.feed_text('2["b"]')
    assert type(info.value) is SocketIOPacketError
    assert not d.pending  # the half-received packet is dropped
    assert d.feed_text('2["c"]') == Packet(E, "/", ["c"])


def test_binary_with_nothing_awaited() -> None:
    d = Decoder()
    with pytest.raises(SocketIOPacketError) as info:
        d.feed_binary(b"\x01")
    assert type(info.value) is SocketIOPacketError
    d.feed_text('51-["a",' + ph(0) + "]")
    assert d.feed_binary(b"\x01") is not None
    with pytest.raises(SocketIOPacketError):
        d.feed_binary(b"\x02")


# nesting


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def test_binary_nesting_up_to_max_depth() -> None:
    ok = '51-["e",' + nested(60, ph(0)) + "]"
    packet = decode_parts([ok, b"x"])
    value = packet.data[1]
    for _ in range(60):
        (value,) = value
    assert value == b"x"


@pytest.mark.parametrize("depth", [65, 100, 1000])
def test_binary_nesting_deeper_than_max_depth(depth: int) -> None:
    d = Decoder()
    d.feed_text('51-["e",' + nested(depth, ph(0)) + "]")
    with pytest.raises(TooDeeplyNested) as info:
        d.feed_binary(b"x")
    assert isinstance(info.value, SocketIOPacketError)
    assert isinstance(info.value, LimitExceeded)
    assert not d.pending


def test_binary_nesting_without_placeholder_is_walked_too() -> None:
    d = Decoder()
    d.feed_text('51-["e",' + nested(200) + "," + ph(0) + "]")
    with pytest.raises(TooDeeplyNested):
        d.feed_binary(b"x")


def test_max_depth_is_configurable() -> None:
    limits = Limits(max_depth=300)
    packet = decode_parts(['51-["e",' + nested(200, ph(0)) + "]", b"x"], limits)
    assert packet.type is BE
    d = Decoder(Limits(max_depth=5))
    d.feed_text('51-["e",' + nested(6, ph(0)) + "]")
    with pytest.raises(TooDeeplyNested):
        d.feed_binary(b"x")


def test_max_depth_past_the_python_stack_is_still_no_recursion_error() -> None:
    d = Decoder(Limits(max_depth=100_000))
    d.feed_text('51-["e",' + nested(1000, ph(0)) + "]")
    with pytest.raises(TooDeeplyNested):
        d.feed_binary(b"x")
    assert not d.pending


@pytest.mark.parametrize(
    "text",
    [
        '2["e",' + nested(100_000) + "]",
        "2" + nested(100_000),
        '2["\\ud800",' + nested(100_000) + "]",  # the stdlib fallback path as well
        "0" + '{"a":' * 100_000 + "1" + "}" * 100_000,
        "3" + nested(100_000, ""),
        '51-["e",' + nested(100_000, ph(0)) + "]",
        '2["e",' + "[" * 100_000,  # unterminated as well
    ],
    ids=["event", "bare", "surrogate", "connect", "ack", "binary", "unterminated"],
)
def test_hundred_thousand_levels(text: str) -> None:
    with pytest.raises(TooDeeplyNested):
        Decoder().feed_text(text)
    with pytest.raises(TooDeeplyNested):
        decode_text(text)


def test_encoding_too_deep_data_is_refused() -> None:
    # Encoding our own data is bounded by orjson's nesting limit (254), past which the
    # placeholder walk's max_depth refuses it with a clear error, never a RecursionError.
    data: list[object] = [b"x"]
    for _ in range(300):
        data = [data]
    with pytest.raises(ValueError, match="nested"):
        encode(Packet(E, "/", ["e", data]))


def test_every_error_is_a_decode_error() -> None:
    for cls in (SocketIOPacketError, TooManyAttachments, TooDeeplyNested):
        assert issubclass(cls, DecodeError)
        assert issubclass(cls, ValueError)


# -- round trips ----------------------------------------------------------------------------

_keys = st.text(max_size=8).filter(lambda k: k != "_placeholder")
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_with_bytes = st.recursive(
    _scalars | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_namespaces = st.just("/") | st.text(max_size=10).filter(lambda s: "," not in s).map(lambda s: "/" + s)
_ack_ids = st.none() | st.integers(min_value=0, max_value=10**16 - 1)
_event_names = st.text(max_size=10).filter(lambda s: s not in RESERVED_EVENTS) | st.integers(
    min_value=-(2**53), max_value=2**53
)


def count_bytes(value: object) -> int:
    if isinstance(value, bytes):
        return 1
    if isinstance(value, list):
        return sum(count_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(count_bytes(v) for v in value.values())
    return 0


@st.composite
def packets(draw: st.DrawFn) -> Packet:
    ptype = draw(st.sampled_from(list(PacketType)))
    namespace = draw(_namespaces)
    if ptype is C:
        return Packet(C, namespace, draw(st.none() | st.dictionaries(_keys, _json, max_size=4)))
    if ptype is D:
        return Packet(D, namespace)
    if ptype is CE:
        return Packet(CE, namespace, draw(st.text() | st.dictionaries(_keys, _json, max_size=4)))
    rest = draw(st.lists(_with_bytes, max_size=5).filter(lambda v: count_bytes(v) <= 10))
    ack_id = draw(_ack_ids)
    if ptype in (E, BE):
        return Packet(ptype, namespace, [draw(_event_names), *rest], ack_id)
    return Packet(ptype, namespace, rest, ack_id)


def as_js(value: object) -> object:
    """Numbers as JavaScript holds them: 6.550974108063173e16 travels as 65509741080631730,
    which Python reads back as an int that is the same double but not the same int."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return [as_js(v) for v in value]
    if isinstance(value, dict):
        return {k: as_js(v) for k, v in value.items()}
    return value


def same_packet(a: Packet, b: Packet) -> bool:
    return (a.type, a.namespace, a.id, as_js(a.data)) == (b.type, b.namespace, b.id, as_js(b.data))


def wire_type(packet: Packet) -> PacketType:
    if count_bytes(packet.data) and packet.type in (E, A, BE, BA):
        return BE if packet.is_event else BA
    if packet.type in (BE, BA):
        return E if packet.is_event else A
    return packet.type


@settings(max_examples=300, deadline=None)
@given(packets())
def test_round_trip(packet: Packet) -> None:
    parts = encode(packet)
    text, *attachments = parts
    assert isinstance(text, str)
    expected = Packet(wire_type(packet), packet.namespace, packet.data, packet.id)
    assert text[0] == str(int(expected.type))
    assert len(attachments) == count_bytes(packet.data)
    assert all(isinstance(a, bytes) for a in attachments)
    decoded = decode_parts(parts)
    assert same_packet(decoded, expected), (decoded, expected)
    assert type(decoded.type) is PacketType
    if not attachments:
        assert same_packet(decode_text(text), expected)


@settings(deadline=None)
@given(_namespaces, st.lists(_with_bytes, max_size=5).filter(lambda v: count_bytes(v) <= 10), _ack_ids)
def test_encode_event_agrees_with_encode(namespace: str, rest: list[object], ack_id: int | None) -> None:
    args = ["event", *rest]
    assert encode_event(namespace, args, ack_id) == encode(Packet(E, namespace, args, ack_id))


_any_code_point = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, categories=None), max_size=20)


@settings(deadline=None)
@given(_namespaces, st.lists(_any_code_point | st.binary(max_size=4), max_size=5), _ack_ids)
def test_round_trip_with_lone_surrogates(namespace: str, rest: list[object], ack_id: int | None) -> None:
    # JavaScript strings may hold lone surrogates: they travel as \\udXXX escapes.
    packet = Packet(E, namespace, ["e", *rest], ack_id)
    expected = Packet(BE if count_bytes(rest) else E, namespace, packet.data, ack_id)
    assert decode_parts(encode(packet)) == expected
