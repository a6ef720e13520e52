"""Engine.IO v4 long-polling payloads: records joined by "\\x1e", binary as "b" + base64."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketeer.engineio.packets import Packet, PacketType, encode_ws
from socketeer.engineio.payload import SEPARATOR, decode_payload, encode_payload
from socketeer.exceptions import DecodeError, LimitExceeded, PayloadError, PayloadTooLarge

M = PacketType.MESSAGE
BUF = b"\x01\x02\x03\x04"

# (payload, the packets in WebSocket form, the decoded packets): the document's examples.
VECTORS = [
    (
        "4hello\x1e2\x1e4world",
        ["4hello", "2", "4world"],
        [Packet(M, "hello"), Packet(PacketType.PING), Packet(M, "world")],
    ),
    ("4hello\x1ebAQIDBA==", ["4hello", BUF], [Packet(M, "hello"), Packet(M, BUF)]),
    ("4hello\x1e4€", ["4hello", "4€"], [Packet(M, "hello"), Packet(M, "€")]),
    ("4€\x1ebAQIDBA==", ["4€", BUF], [Packet(M, "€"), Packet(M, BUF)]),
    (
        "4hello\x1e4€\x1ebAQIDBA==",
        ["4hello", "4€", BUF],
        [Packet(M, "hello"), Packet(M, "€"), Packet(M, BUF)],
    ),
    ("4hello\x1e4world", ["4hello", "4world"], [Packet(M, "hello"), Packet(M, "world")]),
    ("4hey", ["4hey"], [Packet(M, "hey")]),
    # the Socket.IO document's sample session: two EVENT packets POSTed at once
    ('42["hello"]\x1e42["world"]', ['42["hello"]', '42["world"]'], [Packet(M, '2["hello"]'), Packet(M, '2["world"]')]),
    # a server releasing a poll during an upgrade
    ("6", ["6"], [Packet(PacketType.NOOP)]),
    ("1", ["1"], [Packet(PacketType.CLOSE)]),
]


def test_separator_is_record_separator() -> None:
    assert SEPARATOR == "\x1e"


@pytest.mark.parametrize(("payload", "ws_form", "packets"), VECTORS)
def test_vector_encodes(payload: str, ws_form: list[str | bytes], packets: list[Packet]) -> None:
    assert [encode_ws(p) for p in packets] == ws_form
    assert encode_payload(ws_form) == payload


@pytest.mark.parametrize(("payload", "ws_form", "packets"), VECTORS)
def test_vector_decodes(payload: str, ws_form: list[str | bytes], packets: list[Packet]) -> None:
    assert decode_payload(payload) == packets
    assert decode_payload(payload.encode()) == packets


def test_encode_accepts_any_iterable() -> None:
    assert encode_payload(iter(["4a", b"\x00", "2"])) == "4a\x1ebAA==\x1e2"


def test_decode_accepts_bytes_like() -> None:
    body = "4hello\x1e4€".encode()
    expected = [Packet(M, "hello"), Packet(M, "€")]
    assert decode_payload(bytearray(body)) == expected
    assert decode_payload(memoryview(body)) == expected


def test_empty_message_record() -> None:
    assert decode_payload("4\x1e4") == [Packet(M, ""), Packet(M, "")]


# -- faults: the whole payload is refused, never half of it ---------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "",
        b"",
        "\x1e",
        "4hello\x1e",  # trailing separator: an empty record
        "\x1e4hello",
        "4a\x1e\x1e4b",
        "4hello\x1e9oops",
        "4hello\x1ex",
        "4hello\x1ebAQIDBA",  # bad base64 after a good record
        "4hello\x1eb!!",
        "4hello\x1eb€",
        "bAQIDBA==\x1ebAQ",
        b"4hello\x1e4\xff",  # invalid UTF-8
        b"4\xe2\x82",  # truncated UTF-8
        b"\xc0\xaf",  # overlong encoding
        b"4\xed\xa0\x80",  # an encoded surrogate is not UTF-8
        "2probe\x1e4x\x1e",
    ],
)
def test_malformed_payload_raises_payload_error(body: str | bytes) -> None:
    with pytest.raises(PayloadError) as info:
        decode_payload(body)
    assert isinstance(info.value, DecodeError)
    assert not isinstance(info.value, PayloadTooLarge)


def test_over_max_payload() -> None:
    body = b"4" + b"x" * 99
    assert decode_payload(body, max_payload=100) == [Packet(M, "x" * 99)]
    with pytest.raises(PayloadTooLarge) as info:
        decode_payload(body + b"x", max_payload=100)
    assert isinstance(info.value, PayloadError)
    assert isinstance(info.value, LimitExceeded)
    assert info.value.http_status == 413


def test_size_is_checked_before_anything_else() -> None:
    # Over the limit and malformed: the size is what is reported.
    with pytest.raises(PayloadTooLarge):
        decode_payload(b"\xff" * 10, max_payload=5)


def test_no_limit_by_default() -> None:
    assert len(decode_payload("\x1e".join(["4x"] * 10_000))) == 10_000


# -- round trips ---------------------------------------------------------------------------

_no_separator = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x1e"))


@st.composite
def ws_packets(draw: st.DrawFn) -> Packet:
    kind = draw(st.sampled_from(["message", "binary", "other"]))
    if kind == "message":
        return Packet(M, draw(_no_separator))
    if kind == "binary":
        return Packet(M, draw(st.binary()))
    ptype = draw(st.sampled_from([t for t in PacketType if t is not M]))
    return Packet(ptype, draw(st.none() | _no_separator.filter(bool)))


@given(st.lists(ws_packets(), min_size=1, max_size=20))
def test_payload_round_trip(packets: list[Packet]) -> None:
    payload = encode_payload(encode_ws(p) for p in packets)
    assert decode_payload(payload) == packets
    assert decode_payload(payload.encode("utf-8")) == packets
    assert decode_payload(payload, max_payload=len(payload)) == packets
