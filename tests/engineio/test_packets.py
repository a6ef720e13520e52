"""Engine.IO v4 packets: the examples of the protocol document, both ways, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketeer.engineio.packets import (
    Packet,
    PacketType,
    binary_to_polling,
    decode_binary,
    decode_text,
    encode_polling,
    encode_ws,
)
from socketeer.exceptions import DecodeError, EngineIOPacketError

OPEN_JSON = (
    '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,'
    '"maxPayload":1000000}'
)

# (wire text, packet): every text packet the Engine.IO v4 document shows.
TEXT_VECTORS = [
    ("0" + OPEN_JSON, Packet(PacketType.OPEN, OPEN_JSON)),
    ("1", Packet(PacketType.CLOSE)),
    ("2", Packet(PacketType.PING)),
    ("3", Packet(PacketType.PONG)),
    ("2probe", Packet(PacketType.PING, "probe")),
    ("3probe", Packet(PacketType.PONG, "probe")),
    ("4hello", Packet(PacketType.MESSAGE, "hello")),
    ("4world", Packet(PacketType.MESSAGE, "world")),
    ("4hey", Packet(PacketType.MESSAGE, "hey")),
    ("4HelloWorld", Packet(PacketType.MESSAGE, "HelloWorld")),
    ("4€", Packet(PacketType.MESSAGE, "€")),
    ("5", Packet(PacketType.UPGRADE)),
    ("6", Packet(PacketType.NOOP)),
]


@pytest.mark.parametrize(("wire", "packet"), TEXT_VECTORS, ids=[w[:12] for w, _ in TEXT_VECTORS])
def test_text_vector_encodes(wire: str, packet: Packet) -> None:
    assert encode_ws(packet) == wire
    assert encode_polling(packet) == wire


@pytest.mark.parametrize(("wire", "packet"), TEXT_VECTORS, ids=[w[:12] for w, _ in TEXT_VECTORS])
def test_text_vector_decodes(wire: str, packet: Packet) -> None:
    decoded = decode_text(wire)
    assert decoded == packet
    assert type(decoded.type) is PacketType


def test_packet_type_numbers() -> None:
    assert [(t.name, int(t)) for t in PacketType] == [
        ("OPEN", 0),
        ("CLOSE", 1),
        ("PING", 2),
        ("PONG", 3),
        ("MESSAGE", 4),
        ("UPGRADE", 5),
        ("NOOP", 6),
    ]


# -- binary messages: bare bytes over WebSocket, "b" + base64 inside polling -----------------


def test_binary_message_over_websocket_is_the_bare_bytes() -> None:
    packet = Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")
    assert encode_ws(packet) == b"\x01\x02\x03\x04"
    assert decode_binary(b"\x01\x02\x03\x04") == packet
    assert packet.binary


def test_binary_message_over_polling_is_b_base64() -> None:
    packet = Packet(PacketType.MESSAGE, b"\x01\x02\x03\x04")
    assert encode_polling(packet) == "bAQIDBA=="
    assert decode_text("bAQIDBA==") == packet
    assert binary_to_polling(b"\x01\x02\x03\x04") == "bAQIDBA=="
    assert binary_to_polling(bytearray(b"\x01\x02\x03")) == "bAQID"
    assert binary_to_polling(memoryview(b"\x01\x02\x03")) == "bAQID"


def test_empty_binary_message() -> None:
    assert encode_polling(Packet(PacketType.MESSAGE, b"")) == "b"
    assert decode_text("b") == Packet(PacketType.MESSAGE, b"")
    assert decode_binary(b"") == Packet(PacketType.MESSAGE, b"")


def test_decode_binary_copies_to_bytes() -> None:
    packet = decode_binary(bytearray(b"\x00\xff"))  # type: ignore[arg-type]
    assert packet.data == b"\x00\xff"
    assert type(packet.data) is bytes


def test_text_packets_are_not_binary() -> None:
    assert not Packet(PacketType.MESSAGE, "x").binary
    assert not Packet(PacketType.PING).binary


def test_only_messages_carry_binary() -> None:
    with pytest.raises(ValueError, match="MESSAGE"):
        encode_ws(Packet(PacketType.PING, b"\x01"))


def test_empty_message_decodes_to_empty_string() -> None:
    # "4" is an empty message (JavaScript's socket.send("")); it must never decode to a
    # MESSAGE whose data is None, which the session would have to special-case.
    assert decode_text("4") == Packet(PacketType.MESSAGE, "")
    assert encode_ws(Packet(PacketType.MESSAGE, "")) == "4"


def test_message_data_is_kept_verbatim() -> None:
    text = '4 2["x"]\n\r\t\x00\x1e€😀'
    assert decode_text(text) == Packet(PacketType.MESSAGE, text[1:])


# -- malformed packets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "7",
        "9hello",
        "x",
        "-1",
        " 4hello",
        "\x1e",
        "B",
        "bAQIDBA",  # missing padding
        "bAQIDBA=",  # wrong padding
        "bAQ=DBA==",  # padding in the middle
        "bAQI DBA==",  # whitespace
        "b!!!!",
        "b€€€€",  # not ASCII
        "bAQIDBA==\n",
        "b====",
    ],
)
def test_malformed_text_packet_raises(wire: str) -> None:
    with pytest.raises(EngineIOPacketError) as info:
        decode_text(wire)
    assert isinstance(info.value, DecodeError)
    assert isinstance(info.value, ValueError)


# -- round trips ---------------------------------------------------------------------------

_text_types = st.sampled_from(list(PacketType))


@st.composite
def text_packets(draw: st.DrawFn) -> Packet:
    ptype = draw(_text_types)
    if ptype is PacketType.MESSAGE:
        return Packet(ptype, draw(st.text()))
    return Packet(ptype, draw(st.none() | st.text(min_size=1)))


@given(text_packets())
def test_text_packet_round_trip(packet: Packet) -> None:
    wire = encode_ws(packet)
    assert isinstance(wire, str)
    assert wire[0] == str(int(packet.type))
    assert decode_text(wire) == packet
    assert encode_polling(packet) == wire


@given(st.binary())
def test_binary_packet_round_trip(data: bytes) -> None:
    packet = Packet(PacketType.MESSAGE, data)
    wire = encode_ws(packet)
    assert wire == data
    assert decode_binary(wire) == packet
    polling = encode_polling(packet)
    assert polling.startswith("b")
    assert polling.isascii()
    assert decode_text(polling) == packet
