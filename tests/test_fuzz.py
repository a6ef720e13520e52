"""Fuzzing the decoders: arbitrary input raises only socketeer's DecodeError subclasses (sessions
close instead), and decoding time grows linearly with the input."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketeer import _json
from socketeer.engineio.packets import Packet as EIOPacket
from socketeer.engineio.packets import decode_binary
from socketeer.engineio.packets import decode_text as eio_decode_text
from socketeer.engineio.payload import decode_payload
from socketeer.engineio.session import ClientSession, Closed, ServerSession, State
from socketeer.exceptions import DecodeError, EngineIOPacketError, PayloadError, SocketIOPacketError
from socketeer.limits import Limits
from socketeer.socketio.packets import Packet as SIOPacket
from socketeer.socketio.parser import Decoder
from socketeer.socketio.parser import decode_text as sio_decode_text

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies that look enough like the protocols to get past the first checks -------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)
_placeholders = st.builds(
    lambda flag, num: {"_placeholder": flag, "num": num},
    st.just(True) | st.booleans() | st.none(),
    st.integers(-2, 12) | st.floats() | st.text(max_size=6) | st.booleans() | st.none(),
)
_with_placeholders = st.recursive(
    _json_values | _placeholders,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return "[]"


_sio_like = st.builds(
    lambda *parts: "".join(parts),
    st.sampled_from([*"01234567", "", "8", "x", "-", "/"]),
    st.sampled_from(["", "-", "0-", "1-", "2-", "10-", "11-", "1", "99999999999-", "1x-"]),
    st.sampled_from(["", "/", "/admin,", "/admin", "/a,b,", ",", "/é,"]),
    st.sampled_from(["", "0", "1", "12", "1" * 16, "1" * 17, "-1"]),
    st.one_of(
        st.just(""),
        _with_placeholders.map(_json_text),
        st.lists(_with_placeholders, max_size=4).map(lambda v: _json_text(["ev", *v])),
        st.text(max_size=20),
        st.sampled_from(["[", "]", "{", '["\\ud800"', '["a",NaN]', "[" * 1200, '"x"', "null"]),
    ),
)
_eio_like = st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from([*"0123456789b", "", "x", "B"]),
    st.text(max_size=30) | st.sampled_from(["probe", "AQIDBA==", "AQIDBA", "=", "AQ=D", "€"]),
)
_payload_like = st.lists(_eio_like, max_size=8).map("\x1e".join)


# -- Engine.IO ------------------------------------------------------------------------------


@FUZZ
@given(st.text() | _eio_like)
def test_engineio_decode_text(text: str) -> None:
    try:
        packet = eio_decode_text(text)
    except EngineIOPacketError:
        return
    assert isinstance(packet, EIOPacket)


@FUZZ
@given(st.binary())
def test_engineio_decode_binary(data: bytes) -> None:
    assert decode_binary(data).data == data


@FUZZ
@given(st.binary() | st.text() | _payload_like | _payload_like.map(str.encode), st.none() | st.integers(0, 64))
def test_engineio_decode_payload(body: str | bytes, max_payload: int | None) -> None:
    try:
        packets = decode_payload(body, max_payload)
    except PayloadError:
        return
    assert packets
    assert all(isinstance(p, EIOPacket) for p in packets)


# -- Socket.IO ------------------------------------------------------------------------------


@FUZZ
@given(st.text() | _sio_like)
def test_socketio_decode_text(text: str) -> None:
    try:
        packet = sio_decode_text(text)
    except SocketIOPacketError:
        return
    assert isinstance(packet, SIOPacket)


_feeds = st.lists(st.text(max_size=40) | _sio_like | st.binary(max_size=8), max_size=12)


@FUZZ
@given(_feeds, st.sampled_from([Limits(), Limits(max_attachments=2, max_depth=3), Limits(max_attachments=None)]))
def test_socketio_decoder_sequences(feeds: list[str | bytes], limits: Limits) -> None:
    decoder = Decoder(limits)
    for item in feeds:
        try:
            packet = decoder.feed_text(item) if isinstance(item, str) else decoder.feed_binary(item)
        except SocketIOPacketError:
            assert not decoder.pending
            continue
        assert packet is None or isinstance(packet, SIOPacket)
        assert decoder.pending == (packet is None)


# -- sessions: never raise, close instead ----------------------------------------------------

_open_like = st.fixed_dictionaries(
    {},
    optional={
        "sid": st.text(max_size=8) | st.integers() | st.none(),
        "upgrades": st.lists(_json_values, max_size=3),
        "pingInterval": st.integers() | st.floats(allow_nan=False) | st.text(max_size=3) | st.booleans(),
        "pingTimeout": st.integers() | st.floats(allow_nan=False) | st.none(),
        "maxPayload": _json_values,
    },
).map(lambda d: "0" + _json_text(d))


@FUZZ
@given(st.text() | _open_like | _eio_like)
def test_client_receive_open(text: str) -> None:
    session = ClientSession()
    event = session.receive_open(text, 0.0)
    if event is None:
        assert session.state is State.OPEN
    else:
        assert isinstance(event, Closed)
        assert event.reason == "parse error"
        assert session.closed


@FUZZ
@given(st.lists(st.text(max_size=30) | _eio_like, max_size=10))
def test_client_receive_text(texts: list[str]) -> None:
    session = ClientSession()
    session.receive_open('0{"sid":"a","upgrades":[],"pingInterval":1000,"pingTimeout":1000}', 0.0)
    for now, text in enumerate(texts):
        session.receive_text(text, float(now))
        session.handle_timeout(float(now))


_ops = st.lists(
    st.tuples(
        st.sampled_from(["text", "probe", "binary", "timeout", "close"]),
        st.text(max_size=30) | _eio_like | st.sampled_from(["2probe", "5", "3", "2", "1"]),
        st.floats(min_value=0, max_value=40),
    ),
    max_size=20,
)


@FUZZ
@given(_ops)
def test_server_session(ops: list[tuple[str, str, float]]) -> None:
    session = ServerSession("sid", "polling", now=0.0, ping_interval=10, ping_timeout=5, upgrade_timeout=5)
    now = 0.0
    for op, text, step in ops:
        now += step
        was_closed = session.closed
        if op == "text":
            event: Any = session.receive_text(text, now)
        elif op == "probe":
            _answer, event = session.receive_probe(text, now)
        elif op == "binary":
            event = session.receive_binary(text.encode())
        elif op == "timeout":
            events = session.handle_timeout(now)
            event = events[-1] if events else None
        else:
            session.close()
            event = None
        if isinstance(event, Closed):
            assert session.closed
            assert not was_closed
        if was_closed:
            assert event is None or op == "probe"
        session.drain()


# -- linear time ------------------------------------------------------------------------------


def _best_time(fn: Callable[[Any], object], arg: Any, reps: int = 5) -> float:
    best = math.inf
    for _ in range(reps):
        start = time.perf_counter()
        try:
            fn(arg)
        except DecodeError:
            pass
        best = min(best, time.perf_counter() - start)
    return best


def assert_linear(fn: Callable[[Any], object], make: Callable[[int], Any], n: int, attempts: int = 3) -> None:
    """Decoding 8x the input may take at most 30x the time (quadratic would be 64x).

    Timings under 0.2 ms are counted as 0.2 ms, so inputs that are refused early, in
    constant time, cannot fail on timer noise; a busy machine gets three attempts, which
    quadratic work fails every time.
    """
    small, large = make(n), make(8 * n)
    report = ""
    for _ in range(attempts):
        gc.collect()
        gc.disable()
        try:
            _best_time(fn, small, reps=1)  # warm up
            t_small = _best_time(fn, small)
            t_large = _best_time(fn, large)
        finally:
            gc.enable()
        ratio = t_large / max(t_small, 2e-4)
        if ratio < 30:
            return
        report += f"{t_small * 1e3:.2f} ms for n={n}, {t_large * 1e3:.2f} ms for 8n: ratio {ratio:.1f}; "
    raise AssertionError(report)


def _sio(text: str) -> object:
    return sio_decode_text(text)


def _sio_unlimited(text: str) -> object:
    return Decoder(Limits(max_attachments=None)).feed_text(text)


def _binary_packet(parts: tuple[str, bytes]) -> object:
    decoder = Decoder()
    decoder.feed_text(parts[0])
    return decoder.feed_binary(parts[1])


PH = '{"_placeholder":true,"num":0}'

LINEAR_CASES: list[tuple[str, Callable[[Any], object], Callable[[int], Any], int]] = [
    ("nested brackets", _sio, lambda n: "2" + "[" * n + "]" * n, 50_000),
    ("nested brackets, unterminated", _sio, lambda n: '2["e",' + "[" * n, 50_000),
    ("nested after surrogate", _sio, lambda n: '2["\\ud800",' + "[" * n + "]" * (n + 1), 50_000),
    ("nested objects", _sio, lambda n: "0" + '{"a":' * n + "1" + "}" * n, 20_000),
    ("ack id digits", _sio, lambda n: "2" + "1" * n + '["a"]', 100_000),
    ("attachment count", _sio, lambda n: "5" + "9" * n + '-["a"]', 100_000),
    ("attachment count, no limit", _sio_unlimited, lambda n: "5" + "9" * n + '-["a"]', 100_000),
    ("attachment count, no dash", _sio, lambda n: "5" + "1" * n, 100_000),
    ("namespace", _sio, lambda n: "2/" + "a" * n + ',["a"]', 100_000),
    ("commas in namespace", _sio, lambda n: "2/" + "," * n + '["a"]', 100_000),
    ("long string", _sio, lambda n: '2["' + "\\n" * n + '"]', 50_000),
    ("long array", _sio, lambda n: '2["e"' + ",1" * n + "]", 50_000),
    ("placeholders", _binary_packet, lambda n: ('51-["e",' + ",".join([PH] * n) + "]", b"x"), 2_000),
    ("wide binary packet", _binary_packet, lambda n: ('51-["e",' + "[1]," * n + PH + "]", b"x"), 5_000),
    ("payload records", decode_payload, lambda n: "4a\x1e" * n + "4a", 5_000),
    ("payload separators", decode_payload, lambda n: "\x1e" * n, 100_000),
    ("payload binary records", decode_payload, lambda n: "\x1e".join(["bAQIDBA=="] * n), 5_000),
    ("payload bytes", decode_payload, lambda n: ("4€\x1e" * n + "4").encode(), 5_000),
    ("base64", eio_decode_text, lambda n: "b" + "AAAA" * n, 50_000),
    ("open packet", lambda t: ClientSession().receive_open(t, 0.0), lambda n: "0" + "[" * n, 50_000),
    ("json dumps floats", _json.dumps, lambda n: [1.0, 1e-6, 1e16] * n, 5_000),
    ("json dumps surrogates", _json.dumps, lambda n: ["\ud800", 2**70, 1.5] * n, 5_000),
    ("json loads, long string", _json.loads, lambda n: '["\\ud800' + "a" * n + '"]', 100_000),
    ("json loads, many strings", _json.loads, lambda n: '["\\ud800"' + ',"\\udc00"' * n + "]", 5_000),
]


@pytest.mark.parametrize(("fn", "make", "n"), [c[1:] for c in LINEAR_CASES], ids=[c[0] for c in LINEAR_CASES])
def test_linear_time(fn: Callable[[Any], object], make: Callable[[int], Any], n: int) -> None:
    assert_linear(fn, make, n)


def test_linear_check_catches_quadratic_work() -> None:
    def quadratic(text: str) -> int:
        return sum(len(text[i:]) for i in range(len(text)))  # each slice copies the rest

    # A busy machine can blur one measurement (a descheduled small run); quadratic work must
    # still be caught in one of three tries.
    for _ in range(3):
        try:
            assert_linear(quadratic, lambda n: "a" * n, 12_000, attempts=1)
        except AssertionError as exc:
            assert "ratio" in str(exc)
            return
    pytest.fail("quadratic work passed the linear check three times")
