"""The server's shortcut for main-namespace events must agree with the full decoder.

``decode_plain_event`` either declines (``None``: the caller then uses the decoder) or returns
exactly what the decoder would, and rejects exactly what it rejects.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketeer.exceptions import DecodeError
from socketeer.socketio.packets import PacketType
from socketeer.socketio.parser import decode_plain_event, decode_text


def _full(text: str) -> tuple[str, object]:
    try:
        packet = decode_text(text)
    except DecodeError:
        return ("error", None)
    return ("ok", (packet.type, packet.namespace, packet.data, packet.id))


def _agrees(text: str) -> None:
    try:
        fast = decode_plain_event(text)
    except DecodeError:
        assert _full(text)[0] == "error", text
        return
    if fast is None:
        return
    data, ack_id = fast
    assert _full(text) == ("ok", (PacketType.EVENT, "/", data, ack_id)), text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('2["a",1]', (["a", 1], None)),
        ('20["a"]', (["a"], 0)),
        ('212["ack",{"x":[1,2]}]', (["ack", {"x": [1, 2]}], 12)),
        ('21234567890123456["a"]', (["a"], 1234567890123456)),  # 16 digits: the limit
    ],
)
def test_takes_the_common_forms(text: str, expected: object) -> None:
    assert decode_plain_event(text) == expected
    _agrees(text)


@pytest.mark.parametrize(
    "text",
    [
        "2/chat,[\"a\"]",  # a namespace
        '212345678901234567["a"]',  # 17 digits: the decoder says why
        '2\u0661["a"]',  # ARABIC-INDIC DIGIT ONE: not an ack id (the reference reads ASCII digits)
        '2+1["a"]',
        '2 1["a"]',
        "212",
        '2{"a":1}',  # not an array: the decoder rejects it
        '51-["a",{"_placeholder":true,"num":0}]',
    ],
)
def test_declines_the_rest(text: str) -> None:
    assert decode_plain_event(text) is None
    _agrees(text)


@pytest.mark.parametrize("text", ['2["connect"]', "2[]", "2[null]", '2["a",', '21[true]'])
def test_rejects_what_the_decoder_rejects(text: str) -> None:
    with pytest.raises(DecodeError):
        decode_plain_event(text)
    assert _full(text)[0] == "error"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    head=st.text(alphabet="0123456789[]\u0661 +-/,", max_size=20),
    tail=st.sampled_from(['["e",1]', '["e"]', "[1]", "[]", '{"a":1}', '"x"', "[", ""]),
)
def test_agrees_with_the_decoder_on_odd_heads(head: str, tail: str) -> None:
    _agrees("2" + head + tail)


@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1, max_size=6), args=st.lists(_json_values, max_size=3),
       ack_id=st.none() | st.integers(0, 10**16 - 1))
def test_agrees_with_the_decoder_on_events(name: str, args: list[object], ack_id: int | None) -> None:
    import json

    body = json.dumps([name, *args], ensure_ascii=False, separators=(",", ":"))
    _agrees("2" + ("" if ack_id is None else str(ack_id)) + body)
