"""Unit tests of ``socketeer.io.websocket``: masking (C and pure Python), frames, the reader, deflate."""

from __future__ import annotations

import os
import random
import struct
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rawclient import mask_bytes, ws_frame

from socketeer.io import websocket
from socketeer.io.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Deflate,
    FrameReader,
    WebSocketError,
    accept_key,
    build_frame,
    close_payload,
    negotiate_deflate,
)

MASK = b"\x11\x22\x33\x44"


@pytest.fixture(params=["c", "python"])
def mask_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with the C masking helper, then with the pure-Python fallback."""
    if request.param == "c":
        assert websocket._c_apply_mask is not None, "websockets.speedups should be installed"
        assert websocket.apply_mask is websocket._c_apply_mask
    else:
        monkeypatch.setattr(websocket, "apply_mask", websocket._py_apply_mask)  # what the module binds without C
    yield request.param


def reader(max_size: int | None = 1000, **kwargs: object) -> FrameReader:
    return FrameReader(max_size=max_size, **kwargs)  # type: ignore[arg-type]


def fault(data: bytes, **kwargs: object) -> WebSocketError:
    with pytest.raises(WebSocketError) as info:
        reader(**kwargs).feed(data)  # type: ignore[arg-type]
    return info.value


# -- keys and masks ------------------------------------------------------------------------

def test_accept_key_of_rfc6455() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [*range(0, 18), 63, 64, 65, 125, 126, 1000, 4099, 65536, 100_003])
def test_mask_matches_the_definition(mask_impl: str, size: int) -> None:
    rng = random.Random(size)
    data = rng.randbytes(size)
    mask = rng.randbytes(4)
    assert websocket.apply_mask(data, mask) == mask_bytes(data, mask)
    assert websocket.apply_mask(websocket.apply_mask(data, mask), mask) == data


def test_c_and_python_masks_agree() -> None:
    rng = random.Random(7)
    for _ in range(200):
        data = rng.randbytes(rng.randrange(0, 300))
        mask = rng.randbytes(4)
        assert websocket._c_apply_mask is not None
        assert websocket._c_apply_mask(data, mask) == websocket._py_apply_mask(data, mask)


def test_python_mask_takes_any_bytes_like() -> None:
    data = bytes(range(50))
    for view in (bytearray(data), memoryview(data)):
        assert websocket._py_apply_mask(view, MASK) == mask_bytes(data, MASK)  # type: ignore[arg-type]


# -- build_frame ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_build_frame_length_encodings(size: int, header: bytes) -> None:
    payload = b"a" * size
    assert build_frame(OP_TEXT, payload) == header + payload


def test_build_frame_bits() -> None:
    assert build_frame(OP_BINARY, b"\x01")[:1] == b"\x82"
    assert build_frame(OP_TEXT, b"x", rsv1=True)[:1] == b"\xc1"
    assert build_frame(OP_CLOSE, b"")[:2] == b"\x88\x00"
    assert build_frame(OP_PONG, b"p")[:1] == b"\x8a"


def test_build_frame_masked(mask_impl: str) -> None:
    frame = build_frame(OP_TEXT, b"hello", mask=MASK)
    assert frame == b"\x81\x85" + MASK + mask_bytes(b"hello", MASK)
    assert frame == ws_frame(OP_TEXT, b"hello", mask=MASK)  # the test client's independent encoder


def test_close_payload() -> None:
    assert close_payload(1000) == b"\x03\xe8"
    assert close_payload(1009, "too big") == b"\x03\xf1too big"
    assert len(close_payload(1000, "é" * 100)) == 2 + 123


# -- FrameReader: what arrives -------------------------------------------------------------

def test_reads_masked_messages(mask_impl: str) -> None:
    data = ws_frame(OP_TEXT, "héllo".encode()) + ws_frame(OP_BINARY, b"\x00\xff") + ws_frame(OP_PING, b"p")
    assert reader().feed(data) == [(OP_TEXT, "héllo"), (OP_BINARY, b"\x00\xff"), (OP_PING, b"p")]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70_000])
def test_reads_every_length_encoding(mask_impl: str, size: int) -> None:
    payload = os.urandom(size)
    assert reader(max_size=None).feed(ws_frame(OP_BINARY, payload, mask=os.urandom(4))) == [(OP_BINARY, payload)]


def test_byte_by_byte_equals_all_at_once(mask_impl: str) -> None:
    data = (
        ws_frame(OP_TEXT, b"4one")
        + ws_frame(OP_TEXT, b"4tw", fin=False)
        + ws_frame(OP_PING, b"")
        + ws_frame(0, "ö".encode())
        + ws_frame(OP_BINARY, bytes(300))
        + ws_frame(OP_CLOSE, b"\x03\xe8")
    )
    whole = reader().feed(data)
    r = reader()
    pieces: list[tuple[int, str | bytes]] = []
    for i in range(len(data)):
        pieces.extend(r.feed(data[i : i + 1]))
    assert pieces == whole
    assert whole == [(OP_TEXT, "4one"), (OP_PING, b""), (OP_TEXT, "4twö"), (OP_BINARY, bytes(300)),
                     (OP_CLOSE, b"\x03\xe8")]


@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=300)), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=10),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_any_split_gives_the_same_messages(messages: list[str | bytes], cuts: list[int], seed: int) -> None:
    rng = random.Random(seed)
    data = b""
    for message in messages:
        raw = message.encode() if isinstance(message, str) else message
        op = OP_TEXT if isinstance(message, str) else OP_BINARY
        # Fragment some messages at random points.
        if len(raw) > 2 and rng.random() < 0.5:
            at = rng.randrange(1, len(raw))
            data += ws_frame(op, raw[:at], fin=False, mask=rng.randbytes(4))
            data += ws_frame(0, raw[at:], mask=rng.randbytes(4))
        else:
            data += ws_frame(op, raw, mask=rng.randbytes(4))
    points = sorted({c % (len(data) + 1) for c in cuts})
    r = reader(max_size=None)
    got: list[tuple[int, str | bytes]] = []
    last = 0
    for point in [*points, len(data)]:
        got.extend(r.feed(data[last:point]))
        last = point
    assert got == [(OP_TEXT if isinstance(m, str) else OP_BINARY, m) for m in messages]


def test_client_side_reads_unmasked_frames() -> None:
    r = reader(server=False)
    assert r.feed(build_frame(OP_TEXT, b"4hi")) == [(OP_TEXT, "4hi")]
    assert fault(ws_frame(OP_TEXT, b"4hi"), server=False).code == 1002  # masked from a server


def test_nothing_after_a_close_frame_is_read() -> None:
    r = reader()
    data = ws_frame(OP_CLOSE, b"\x03\xe8") + ws_frame(OP_TEXT, b"4late") + b"\xff\xff\xff"
    assert r.feed(data) == [(OP_CLOSE, b"\x03\xe8")]
    assert r.feed(ws_frame(OP_TEXT, b"4later")) == []


def test_messages_before_a_fault_come_with_the_error() -> None:
    data = ws_frame(OP_TEXT, b"4ok") + ws_frame(OP_BINARY, b"\x01") + ws_frame(3, b"")
    error = fault(data)
    assert error.code == 1002
    assert error.frames == [(OP_TEXT, "4ok"), (OP_BINARY, b"\x01")]


# -- FrameReader: faults ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("data", "code"),
    [
        (ws_frame(OP_TEXT, b"x", mask=None), 1002),
        *[(ws_frame(op, b""), 1002) for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)],
        (ws_frame(OP_TEXT, b"x", rsv=1), 1002),
        (ws_frame(OP_TEXT, b"x", rsv=2), 1002),
        (ws_frame(OP_TEXT, b"x", rsv=4), 1002),
        (ws_frame(OP_PING, b"x" * 126), 1002),
        (ws_frame(OP_PONG, b"", fin=False), 1002),
        (ws_frame(OP_CLOSE, b"", fin=False), 1002),
        (ws_frame(0, b"orphan"), 1002),
        (ws_frame(OP_TEXT, b"a", fin=False) + ws_frame(OP_BINARY, b"b"), 1002),
        (ws_frame(OP_TEXT, b"\xff"), 1007),
        (ws_frame(OP_TEXT, b"\xc0\xaf"), 1007),  # overlong encoding
        (ws_frame(OP_TEXT, b"\xed\xa0\x80"), 1007),  # a surrogate
        (ws_frame(OP_TEXT, b"\xf4\x90\x80\x80"), 1007),  # above U+10FFFF
        (ws_frame(OP_TEXT, b"\xe2\x82", fin=False) + ws_frame(0, b"x"), 1007),
        (ws_frame(OP_CLOSE, b"\x03"), 1002),
        (ws_frame(OP_CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007),
        (ws_frame(OP_TEXT, b"a" * 1001), 1009),
        (ws_frame(OP_BINARY, b"", length=2**40), 1009),
        (ws_frame(OP_TEXT, b"a" * 600, fin=False) + ws_frame(0, b"b" * 401), 1009),
    ],
    ids=lambda v: v.hex()[:16] if isinstance(v, bytes) else str(v),
)
def test_faults_and_their_close_codes(mask_impl: str, data: bytes, code: int) -> None:
    assert fault(data).code == code


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
def test_invalid_close_codes(code: int) -> None:
    assert fault(ws_frame(OP_CLOSE, struct.pack("!H", code))).code == 1002


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])
def test_valid_close_codes(code: int) -> None:
    payload = struct.pack("!H", code) + "bye é".encode()
    assert reader().feed(ws_frame(OP_CLOSE, payload)) == [(OP_CLOSE, payload)]


def test_limit_is_inclusive_and_none_disables_it() -> None:
    assert reader(max_size=1000).feed(ws_frame(OP_TEXT, b"a" * 1000)) == [(OP_TEXT, "a" * 1000)]
    exact = ws_frame(OP_TEXT, b"a" * 500, fin=False) + ws_frame(0, b"b" * 500)
    assert reader(max_size=1000).feed(exact) == [(OP_TEXT, "a" * 500 + "b" * 500)]
    assert reader(max_size=None).feed(ws_frame(OP_BINARY, bytes(200_000))) == [(OP_BINARY, bytes(200_000))]


def test_over_the_limit_is_refused_from_the_header_alone() -> None:
    header_only = ws_frame(OP_BINARY, b"", length=5000)[:8]
    assert fault(header_only).code == 1009


def test_incomplete_frames_wait() -> None:
    r = reader()
    data = ws_frame(OP_TEXT, b"4" * 200)
    for cut in (1, 2, 3, 4, 7, 8, len(data) - 1):
        assert reader().feed(data[:cut]) == []
    assert r.feed(data[:100]) == []
    assert r.feed(data[100:]) == [(OP_TEXT, "4" * 200)]


# -- permessage-deflate ------------------------------------------------------------------------

def deflated(data: bytes, wbits: int = 15, comp: zlib._Compress | None = None) -> bytes:
    comp = comp or zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def test_compress_round_trip_without_context() -> None:
    d = Deflate()
    data = b"hello hello hello " * 100
    first = d.compress(data)
    assert first == d.compress(data)  # no context taken over: the same bytes every time
    assert zlib.decompressobj(-15).decompress(first + b"\x00\x00\xff\xff") == data
    assert len(first) < len(data) // 10


def test_reader_inflates_with_the_client_context() -> None:
    d = Deflate()
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    r = reader(deflate=d)
    one = deflated(b"4repeat me please", comp=comp)
    two = deflated(b"4repeat me please", comp=comp)  # refers back to the first message
    assert r.feed(ws_frame(OP_TEXT, one, rsv=4) + ws_frame(OP_TEXT, two, rsv=4)) == [
        (OP_TEXT, "4repeat me please"), (OP_TEXT, "4repeat me please"),
    ]


def test_reader_inflates_fragmented_compressed_messages() -> None:
    payload = deflated(b"4" + b"abc" * 500)
    data = ws_frame(OP_TEXT, payload[:10], fin=False, rsv=4) + ws_frame(0, payload[10:])
    assert reader(max_size=None, deflate=Deflate()).feed(data) == [(OP_TEXT, "4" + "abc" * 500)]


def test_rsv1_on_a_continuation_or_control_frame_is_refused() -> None:
    payload = deflated(b"4abc")
    data = ws_frame(OP_TEXT, payload[:2], fin=False, rsv=4) + ws_frame(0, payload[2:], rsv=4)
    assert fault(data, deflate=Deflate()).code == 1002
    assert fault(ws_frame(OP_PING, b"", rsv=4), deflate=Deflate()).code == 1002


def test_inflate_bomb_and_garbage() -> None:
    bomb = deflated(b"0" * 10_000_000)
    assert fault(ws_frame(OP_BINARY, bomb, rsv=4), max_size=100_000, deflate=Deflate()).code == 1009
    assert fault(ws_frame(OP_BINARY, b"\xff\xff\xff\xff", rsv=4), deflate=Deflate()).code == 1007


def test_client_no_context_takeover_resets_the_inflater() -> None:
    d = negotiate_deflate("permessage-deflate; client_no_context_takeover")
    assert d is not None and d.client_no_context_takeover
    r = reader(deflate=d)
    for _ in range(3):
        assert r.feed(ws_frame(OP_TEXT, deflated(b"4same"), rsv=4)) == [(OP_TEXT, "4same")]


@pytest.mark.parametrize(
    ("offer", "response"),
    [
        ("permessage-deflate", "permessage-deflate; server_no_context_takeover"),
        ("Permessage-Deflate", "permessage-deflate; server_no_context_takeover"),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate; server_no_context_takeover"),
        ("permessage-deflate; client_max_window_bits=10",
         "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"),
        ('permessage-deflate; client_max_window_bits="12"',
         "permessage-deflate; server_no_context_takeover; client_max_window_bits=12"),
        ("permessage-deflate; server_max_window_bits=10",
         "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"),
        ("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ("x-webkit-deflate-frame, permessage-deflate; foo=1, permessage-deflate; client_no_context_takeover",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ("permessage-deflate; server_max_window_bits=8, permessage-deflate",
         "permessage-deflate; server_no_context_takeover"),
    ],
)
def test_negotiation(offer: str, response: str) -> None:
    d = negotiate_deflate(offer)
    assert d is not None
    assert d.response_header() == response


@pytest.mark.parametrize(
    "offer",
    [
        None,
        "",
        "x-webkit-deflate-frame",
        "permessage-deflate; unknown",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=abc",
        # zlib cannot compress with a 256-byte window, and answering more than was offered breaks RFC 7692.
        "permessage-deflate; server_max_window_bits=8",
    ],
)
def test_offers_declined(offer: str | None) -> None:
    assert negotiate_deflate(offer) is None


def test_answer_never_exceeds_the_offered_window_bits() -> None:
    for bits in range(8, 16):
        for name in ("server_max_window_bits", "client_max_window_bits"):
            d = negotiate_deflate(f"permessage-deflate; {name}={bits}")
            if d is None:
                continue
            for part in d.response_header().split("; "):
                key, _, value = part.partition("=")
                if key == name:
                    assert int(value) <= bits, (name, bits, d.response_header())


def test_negotiated_server_window_is_honoured() -> None:
    d = negotiate_deflate("permessage-deflate; server_max_window_bits=9")
    assert d is not None
    data = os.urandom(300) * 20  # repeats 300 bytes back: fine within a 512-byte window
    assert zlib.decompressobj(-9).decompress(d.compress(data) + b"\x00\x00\xff\xff") == data


def test_client_with_a_small_window_is_understood() -> None:
    d = negotiate_deflate("permessage-deflate; client_max_window_bits=8")
    assert d is not None
    comp = zlib.compressobj(6, zlib.DEFLATED, -9)  # zlib's smallest raw window
    payload = deflated(b"4" + b"xyz" * 1000, comp=comp)
    assert reader(max_size=None, deflate=d).feed(ws_frame(OP_TEXT, payload, rsv=4)) == [(OP_TEXT, "4" + "xyz" * 1000)]


def test_client_side_small_text_faults_and_splits() -> None:
    assert fault(build_frame(OP_TEXT, b"4\xff"), server=False).code == 1007
    assert fault(build_frame(OP_TEXT, b"4abc"), server=False, max_size=3).code == 1009
    assert fault(build_frame(OP_TEXT, b"4a"), server=False, max_size=1).code == 1009
    data = build_frame(OP_TEXT, "4é".encode()) + build_frame(OP_TEXT, b"") + build_frame(OP_TEXT, b"x" * 125)
    for cut in range(len(data) + 1):
        r = reader(server=False)
        assert r.feed(data[:cut]) + r.feed(data[cut:]) == [(OP_TEXT, "4é"), (OP_TEXT, ""), (OP_TEXT, "x" * 125)]
