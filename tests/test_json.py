"""socketeer._json: byte-identical with JavaScript's JSON.stringify, and a safe JSON.parse."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketeer._json import dumps, loads
from socketeer.exceptions import TooDeeplyNested

_SHORT = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}


@pytest.mark.parametrize("code", range(0x20))
def test_control_characters(code: int) -> None:
    expected = _SHORT.get(code, f"\\u{code:04x}")
    assert dumps(chr(code)) == f'"{expected}"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"', '"\\""'),
        ("\\", '"\\\\"'),
        ("/", '"/"'),  # never escaped
        ("</script>", '"</script>"'),
        ("\x7f", '"\x7f"'),  # DEL is not a control character for JSON
        ("\x80\x9f", '"\x80\x9f"'),  # nor are the C1 controls
        ("\u2028", '"\u2028"'),  # JSON.stringify leaves the line and paragraph separators
        ("\u2029", '"\u2029"'),
        ("é€ñ中文", '"é€ñ中文"'),  # non-ASCII is written as is
        ("😀", '"😀"'),
        ("\U0010ffff", '"\U0010ffff"'),
        ("\ufeff\ufffe\uffff", '"\ufeff\ufffe\uffff"'),
        ("\ud800", '"\\ud800"'),  # lone surrogates are escaped, lower case
        ("a\udfffb", '"a\\udfffb"'),
        ("\udbff\ud800", '"\\udbff\\ud800"'),
        ("", '""'),
    ],
)
def test_strings(value: str, expected: str) -> None:
    assert dumps(value) == expected
    assert dumps([value]) == f"[{expected}]"
    assert dumps({value: value}) == f"{{{expected}:{expected}}}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (-1.0, "-1"),
        (0.0, "0"),
        (-0.0, "0"),
        (100.0, "100"),
        (1e15, "1000000000000000"),
        (2.0**53, "9007199254740992"),
        (1e16, "10000000000000000"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (6.550974108063173e16, "65509741080631730"),
        (1e21, "1e+21"),
        (-1e21, "-1e+21"),
        (1.5e21, "1.5e+21"),
        (2.0**70, "1.1805916207174113e+21"),
        (1e300, "1e+300"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1, "0.1"),
        (0.5, "0.5"),
        (-2.5, "-2.5"),
        (123.456, "123.456"),
        (1e-5, "0.00001"),
        (1e-6, "0.000001"),
        (1.234e-6, "0.000001234"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (-1.5e-7, "-1.5e-7"),
        (5e-324, "5e-324"),
        (0.1 + 0.2, "0.30000000000000004"),
        (math.nan, "null"),
        (math.inf, "null"),
        (-math.inf, "null"),
    ],
)
def test_floats(value: float, expected: str) -> None:
    assert dumps(value) == expected
    assert dumps([value, {"k": value}]) == f'[{expected},{{"k":{expected}}}]'
    # on the slow path taken for lone surrogates, too
    assert dumps(["\ud800", value]) == f'["\\ud800",{expected}]'


def test_integers() -> None:
    assert dumps(0) == "0"
    assert dumps(-(2**53)) == "-9007199254740992"
    assert dumps(2**63 - 1) == "9223372036854775807"
    assert dumps(2**64) == "18446744073709551616"  # over 64 bits: the slow path
    assert dumps([-(2**70), {"a": 2**100}]) == '[-1180591620717411303424,{"a":1267650600228229401496703205376}]'
    assert dumps(True) == "true"
    assert dumps([True, False, None]) == "[true,false,null]"


def test_containers() -> None:
    assert dumps({"a": [1, 2.0, {"b": None}], "c": "d"}) == '{"a":[1,2,{"b":null}],"c":"d"}'
    assert dumps((1, 2.0)) == "[1,2]"
    assert dumps({}) == "{}"
    assert dumps([]) == "[]"
    # key order is kept, as JavaScript keeps insertion order for string keys
    assert dumps({"z": 1, "a": 2}) == '{"z":1,"a":2}'


def test_strings_that_look_like_numbers_are_untouched() -> None:
    # The cheap guards look for ".0" and exponents in the output; strings must survive them.
    for text in ["1.0", "v1.0.0", "1e+16", "1e-6", "x.0", "e+20"]:
        assert dumps([text, 1.0]) == f'["{text}",1]'
        assert dumps(text) == f'"{text}"'


@pytest.mark.parametrize("value", [b"bytes", bytearray(b"x"), object(), {1, 2}, {1: "int key"}, 1j])
def test_not_json(value: object) -> None:
    with pytest.raises(TypeError):
        dumps(value)
    with pytest.raises(TypeError):
        dumps(["\ud800", value])  # on the slow path too


def test_too_deep_to_encode() -> None:
    deep: list[object] = ["\ud800"]
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises((TypeError, ValueError)):
        dumps(deep)
    first: list[object] = []
    deep = ["\ud800", first]
    for _ in range(100_000):
        first.append([])
        first = first[0]  # type: ignore[assignment]
    with pytest.raises(ValueError, match="nested"):
        dumps(deep)


# -- loads ------------------------------------------------------------------------------------


def test_loads() -> None:
    assert loads('{"a":[1,2.5,"x",null,true]}') == {"a": [1, 2.5, "x", None, True]}
    assert loads(b'["\xe2\x82\xac"]') == ["€"]
    assert loads(" [1] \n") == [1]


def test_loads_lone_surrogate_escapes() -> None:
    assert loads('["\\ud800","\\udc00x"]') == ["\ud800", "\udc00x"]
    assert loads('"\\ud83d\\ude00"') == "😀"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[",
        "[1,]",
        "{'a':1}",
        "NaN",
        "[Infinity]",
        "-Infinity",
        '["\\ud800",NaN]',  # the stdlib fallback must refuse what JSON.parse refuses
        '["\\ud800",Infinity]',
        '["\\ud800",-Infinity]',
        "undefined",
        '"\x01"',
        "[1] [2]",
        "01",
    ],
)
def test_loads_malformed(text: str) -> None:
    with pytest.raises(ValueError) as info:
        loads(text)
    assert not isinstance(info.value, TooDeeplyNested)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        '["\\ud800",' + "[" * 100_000 + "]" * 100_001,
        "[" * 2000,
    ],
    ids=["lists", "objects", "surrogate-fallback", "unterminated"],
)
def test_loads_too_deep(text: str) -> None:
    with pytest.raises(TooDeeplyNested):
        loads(text)


def test_loads_moderate_depth() -> None:
    assert loads("[" * 500 + "]" * 500) is not None


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**63), max_value=2**64 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(st.characters(categories=None)),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=15,
    )
)
def test_dumps_loads_round_trip(value: object) -> None:
    assert normal(loads(dumps(value))) == normal(value)


def normal(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)  # JavaScript numbers: 1.0 travels as 1, 6.5e16 as 65000000000000000
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    return value


# -- against Node's JSON.stringify --------------------------------------------------------------

_NODE = shutil.which("node")
_STRINGIFY_EACH = (
    "const input = require('fs').readFileSync(0, 'utf8');"
    "process.stdout.write(JSON.stringify(JSON.parse(input).map((v) => JSON.stringify(v))));"
)

# JavaScript objects list integer-like keys ("0", "17") first, in numeric order, whatever the
# insertion order; a dict cannot express that, so the comparison leaves such keys out.
_node_keys = st.text(max_size=6).filter(lambda k: not (k.isascii() and k.isdigit()))
_node_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=-1e22, max_value=1e22, allow_nan=False).map(float.__round__).map(float)
    | st.floats(min_value=1e-8, max_value=1e-4)
    | st.text()  # any code point but lone surrogates
    | st.text(st.characters(max_codepoint=0x9F)),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_node_keys, inner, max_size=5),
    max_leaves=20,
)


@pytest.mark.skipif(_NODE is None, reason="node is not on PATH")
def test_matches_node_json_stringify() -> None:
    values: list[object] = [
        1.0,
        -0.0,
        1e21,
        1.5e-7,
        1e16,
        1e-6,
        "\u007f\u2028\u2029/é😀",
        "".join(map(chr, range(0x20))),
    ]

    @settings(max_examples=2000, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_node_values)
    def collect(value: object) -> None:
        values.append(value)

    collect()
    # one node process for the whole batch; ASCII-only JSON carries every value exactly
    source = json.dumps(values, ensure_ascii=True, allow_nan=False)
    assert _NODE is not None
    result = subprocess.run(
        [_NODE, "-e", _STRINGIFY_EACH], input=source.encode(), capture_output=True, timeout=60, check=True
    )
    expected = json.loads(result.stdout.decode("utf-8"))
    assert len(expected) == len(values)
    mismatches = [(v, dumps(v), js) for v, js in zip(values, expected, strict=True) if dumps(v) != js]
    assert not mismatches, mismatches[:5]
