"""JSON as the JavaScript implementation writes and reads it.

orjson already escapes strings exactly as ``JSON.stringify`` does (control characters as
``\\b \\t \\n \\f \\r`` or lower-case ``\\u00XX``, nothing else). It differs on floats with an
integral value (Python ``1.0`` is ``1.0``, JavaScript's ``1`` is ``1``) and on where exponents
start (orjson's ``1e+16`` and ``1e-6`` are JavaScript's ``10000000000000000`` and
``0.000001``), and cannot encode integers over 64 bits or lone surrogates; those rare cases
take a slower path so the bytes still match what Node sends.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from .exceptions import TooDeeplyNested

__all__ = ["dumps", "dumps_binary", "loads"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: Deepest nesting the slow paths walk (orjson's own encoder stops at 254 levels).
_MAX_DEPTH = 254


def _js_float(value: float) -> str:
    """``Number.prototype.toString`` of a float, which is what ``JSON.stringify`` writes."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # ECMAScript's n and k: value = 0.<digits> * 10**n, with k significant digits
    n = int(exp or 0) - len(frac) + len(digits)
    digits = digits.rstrip("0")
    k = len(digits)
    sign = "-" if value < 0 else ""
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = f"e{'+' if n >= 1 else '-'}{abs(n - 1)}"
    return sign + (digits if k == 1 else digits[0] + "." + digits[1:]) + e


def _js_numbers(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        raise ValueError("data nested too deeply to encode")
    if isinstance(value, float):
        if value.is_integer() and abs(value) <= 2**53:
            return int(value)  # exact, so its digits are JavaScript's (fast to write, too)
        return orjson.Fragment(_js_float(value))
    if isinstance(value, list | tuple):
        return [_js_numbers(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _js_numbers(v, depth + 1) for k, v in value.items()}
    return value


def _js_string(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", out)


def _fallback_dumps(value: Any, depth: int = 0) -> str:
    """What orjson refuses (huge ints, lone surrogates), written the way JavaScript writes it.

    Loops rather than comprehensions keep it at one Python frame per level.
    """
    if depth > _MAX_DEPTH:
        raise ValueError("data nested too deeply to encode")
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _js_float(value)
    parts = []
    if isinstance(value, list | tuple):
        for item in value:
            parts.append(_fallback_dumps(item, depth + 1))  # noqa: PERF401
        return "[" + ",".join(parts) + "]"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("Dict key must be str")
            parts.append(_js_string(key) + ":" + _fallback_dumps(item, depth + 1))
        return "{" + ",".join(parts) + "}"
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> str:
    """Encode as ``JSON.stringify`` would. Raises ``TypeError`` for values JSON cannot hold."""
    try:
        out = orjson.dumps(value)
    except TypeError as exc:
        # Bytes are handled by the caller (binary placeholders); anything else orjson
        # refuses is either a huge int or a lone surrogate, or really not JSON-able.
        if "64-bit" not in str(exc) and "surrogates" not in str(exc):
            raise
        return _fallback_dumps(value)
    # The orjson float forms JavaScript writes differently: integral values ("1.0") and the
    # exponents JavaScript spells out ("1e+16" to "1e+20", "1e-6"). A cheap guard before the
    # rare walk; strings may match it harmlessly, a match only costs a second pass.
    # Searched in the decoded str: CPython's str search is several times faster than bytes'
    # for these short needles, and the one-character test settles most packets.
    text = out.decode()
    if ("." in text and ".0" in text) or ("e+" in text and ("e+1" in text or "e+20" in text)) or "e-6" in text:
        return orjson.dumps(_js_numbers(value)).decode()
    return text


_BINARY = (bytes, bytearray, memoryview)


def dumps_binary(value: Any) -> tuple[str, list[bytes]]:
    """Encode with every bytes-like value replaced by a Socket.IO placeholder
    ``{"_placeholder":true,"num":N}``, numbered depth-first; returns the text and the bytes.

    orjson calls ``default`` for each bytes value while it writes, so finding, stripping and
    encoding is one pass in C. Raises ``TypeError`` for what it cannot encode (the caller then
    takes the slow path, which also covers huge ints and lone surrogates).
    """
    attachments: list[bytes] = []

    def placeholder(obj: Any) -> Any:
        if isinstance(obj, _BINARY):
            attachments.append(bytes(obj))
            return {"_placeholder": True, "num": len(attachments) - 1}
        raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")

    text = orjson.dumps(value, default=placeholder).decode()
    if ("." in text and ".0" in text) or ("e+" in text and ("e+1" in text or "e+20" in text)) or "e-6" in text:
        attachments.clear()
        text = orjson.dumps(_js_numbers(value), default=placeholder).decode()
    return text, attachments


def loads(text: str | bytes) -> Any:
    """Decode JSON. Raises ``ValueError`` on malformed input (``TooDeeplyNested``, also a
    ``ValueError``, for nesting past the parser's limit), never ``RecursionError``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        # orjson refuses lone surrogate escapes that JavaScript accepts; the stdlib takes them.
        # Recursion limits are not retried: the stdlib parser would recurse in Python.
        if "depth limit" in str(exc):
            raise TooDeeplyNested(f"JSON nested too deeply: {exc}") from None
        if "surrogate" not in str(exc):
            raise ValueError(str(exc)) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise TooDeeplyNested("JSON nested too deeply") from None
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def _reject_constant(name: str) -> Any:
    # The stdlib takes NaN and Infinity; JSON (and JavaScript's JSON.parse) does not.
    raise ValueError(f"invalid JSON constant {name}")
