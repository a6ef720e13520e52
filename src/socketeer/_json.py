"""JSON as the JavaScript implementation writes and reads it.

orjson already escapes strings exactly as ``JSON.stringify`` does (control characters as
``\\b \\t \\n \\f \\r`` or lower-case ``\\u00XX``, nothing else). It differs on floats with an
integral value (Python ``1.0`` is ``1.0``, JavaScript's ``1`` is ``1``) and cannot encode
integers over 64 bits or lone surrogates; those rare cases take a slower path so the bytes
still match what Node sends.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["dumps", "loads"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _js_numbers(value: Any, depth: int = 0) -> Any:
    if depth > 512:
        raise ValueError("data nested too deeply to encode")
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return int(value)
        return value
    if isinstance(value, list | tuple):
        return [_js_numbers(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _js_numbers(v, depth + 1) for k, v in value.items()}
    return value


def _fallback_dumps(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def dumps(value: Any) -> str:
    """Encode as ``JSON.stringify`` would. Raises ``TypeError`` for values JSON cannot hold."""
    try:
        out = orjson.dumps(value)
    except TypeError as exc:
        # Bytes are handled by the caller (binary placeholders); anything else orjson
        # refuses is either a huge int or a lone surrogate, or really not JSON-able.
        if "64-bit" not in str(exc) and "surrogates" not in str(exc):
            raise
        return _fallback_dumps(_js_numbers(value))
    if b".0" in out:  # cheap guard before the rare walk; strings may trigger it harmlessly
        out = orjson.dumps(_js_numbers(value))
    return out.decode()


def loads(text: str | bytes) -> Any:
    """Decode JSON. Raises ``ValueError`` on malformed input, never ``RecursionError``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        # orjson refuses lone surrogate escapes that JavaScript accepts; the stdlib takes them.
        # Recursion limits are not retried: the stdlib parser would recurse in Python.
        if "surrogate" not in str(exc):
            raise ValueError(str(exc)) from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(str(exc)) from None
