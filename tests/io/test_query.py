"""``parse_query``'s shortcut must agree with ``urllib.parse.parse_qsl`` on every query."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketeer.io.engine import parse_query


@pytest.mark.parametrize(
    "raw",
    ["", "EIO=4&transport=polling&t=PdRt1x&sid=abc", "a", "a=", "=b", "a=1&a=2", "&&a=1&", "a=1=2",
     "name=J%C3%A9r%C3%B4me+x", "q=%zz", "a=1;b=2", "x=\u00e9"],
)
def test_known_queries(raw: str) -> None:
    assert parse_query(raw) == dict(parse_qsl(raw, keep_blank_values=True))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab=&%2+;x0\u00e9 ", max_size=30))
def test_any_query(raw: str) -> None:
    assert parse_query(raw) == dict(parse_qsl(raw, keep_blank_values=True))
