"""The Engine.IO v4 handshake: validation order and codes, error bodies, the open packet, sids."""

from __future__ import annotations

import re

import orjson
import pytest

from socketeer.engineio.handshake import (
    MESSAGES,
    ErrorCode,
    Request,
    build_open_packet,
    error_body,
    handshake_error,
    new_sid,
    seconds_to_ms,
    validate,
)
from socketeer.exceptions import DecodeError, HandshakeError, ProtocolError

TRANSPORTS = ("polling", "websocket")


def check(
    query: dict[str, str],
    method: str = "GET",
    upgrade: bool = False,
    session_transport: str | None = None,
    sid_known: bool = False,
    transports: tuple[str, ...] = TRANSPORTS,
) -> str | None:
    return validate(Request(method, query, upgrade), transports, session_transport, sid_known)


def refused(**kwargs: object) -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        check(**kwargs)  # type: ignore[arg-type]
    return info.value


def test_error_codes_and_messages() -> None:
    assert {int(c): MESSAGES[c] for c in ErrorCode} == {
        0: "Transport unknown",
        1: "Session ID unknown",
        2: "Bad handshake method",
        3: "Bad request",
        4: "Forbidden",
        5: "Unsupported protocol version",
    }


# -- new sessions --------------------------------------------------------------------------


def test_valid_polling_handshake() -> None:
    assert check({"EIO": "4", "transport": "polling", "t": "N8hyd6w"}) is None


def test_valid_websocket_handshake() -> None:
    assert check({"EIO": "4", "transport": "websocket"}, upgrade=True) is None


@pytest.mark.parametrize("transport", [None, "", "flashsocket", "webtransport", "Polling", "xhr-polling"])
def test_unknown_transport(transport: str | None) -> None:
    query = {"EIO": "4"} if transport is None else {"EIO": "4", "transport": transport}
    err = refused(query=query)
    assert (err.code, err.message, err.http_status) == (0, "Transport unknown", 400)


def test_transport_not_enabled() -> None:
    err = refused(query={"EIO": "4", "transport": "websocket"}, upgrade=True, transports=("polling",))
    assert err.code == ErrorCode.UNKNOWN_TRANSPORT


@pytest.mark.parametrize("method", ["POST", "PUT", "OPTIONS", "get"])
def test_bad_handshake_method(method: str) -> None:
    err = refused(query={"EIO": "4", "transport": "polling"}, method=method)
    assert (err.code, err.message, err.http_status) == (2, "Bad handshake method", 400)


def test_websocket_handshake_without_upgrade_is_a_bad_request() -> None:
    err = refused(query={"EIO": "4", "transport": "websocket"})
    assert (err.code, err.message, err.http_status) == (3, "Bad request", 400)


@pytest.mark.parametrize("eio", [None, "3", "2", "5", "", "04", "4 "])
def test_unsupported_protocol_version(eio: str | None) -> None:
    query = {"transport": "polling"} if eio is None else {"EIO": eio, "transport": "polling"}
    err = refused(query=query)
    assert (err.code, err.message, err.http_status) == (5, "Unsupported protocol version", 400)


def test_unsupported_protocol_version_over_websocket() -> None:
    err = refused(query={"EIO": "3", "transport": "websocket"}, upgrade=True)
    assert err.code == ErrorCode.UNSUPPORTED_PROTOCOL_VERSION


def test_empty_sid_is_a_new_handshake() -> None:
    assert check({"EIO": "4", "transport": "polling", "sid": ""}) is None


# -- existing sessions ---------------------------------------------------------------------


def test_known_sid_same_transport() -> None:
    query = {"EIO": "4", "transport": "polling", "sid": "abc"}
    assert check(query, session_transport="polling", sid_known=True) == "abc"
    # POST carries data for an existing session
    assert check(query, method="POST", session_transport="polling", sid_known=True) == "abc"


def test_known_sid_needs_no_protocol_version() -> None:
    # The reference checks EIO only when it creates a session.
    assert check({"transport": "polling", "sid": "abc"}, session_transport="polling", sid_known=True) == "abc"


def test_upgrade_to_websocket() -> None:
    query = {"EIO": "4", "transport": "websocket", "sid": "abc"}
    assert check(query, upgrade=True, session_transport="polling", sid_known=True) == "abc"


def test_unknown_sid() -> None:
    err = refused(query={"EIO": "4", "transport": "polling", "sid": "nope"})
    assert (err.code, err.message, err.http_status) == (1, "Session ID unknown", 400)


def test_transport_mismatch_is_a_bad_request() -> None:
    err = refused(
        query={"EIO": "4", "transport": "polling", "sid": "abc"},
        session_transport="websocket",
        sid_known=True,
    )
    assert (err.code, err.http_status) == (3, 400)
    # a websocket request for a polling session that is not an upgrade request
    err = refused(
        query={"EIO": "4", "transport": "websocket", "sid": "abc"},
        session_transport="polling",
        sid_known=True,
    )
    assert err.code == ErrorCode.BAD_REQUEST


# -- the order of the checks: transport, sid, method, websocket upgrade, protocol version --


def test_transport_is_checked_first() -> None:
    err = refused(query={"EIO": "3", "transport": "carrier-pigeon", "sid": "nope"}, method="POST")
    assert err.code == ErrorCode.UNKNOWN_TRANSPORT


def test_sid_is_checked_before_method_and_version() -> None:
    err = refused(query={"EIO": "3", "transport": "polling", "sid": "nope"}, method="POST")
    assert err.code == ErrorCode.UNKNOWN_SID


def test_method_is_checked_before_version() -> None:
    err = refused(query={"EIO": "3", "transport": "polling"}, method="POST")
    assert err.code == ErrorCode.BAD_HANDSHAKE_METHOD


def test_upgrade_is_checked_before_version() -> None:
    err = refused(query={"transport": "websocket"})
    assert err.code == ErrorCode.BAD_REQUEST


# -- error answers -------------------------------------------------------------------------


@pytest.mark.parametrize("code", list(ErrorCode))
def test_status_is_403_only_for_forbidden(code: ErrorCode) -> None:
    err = handshake_error(code)
    assert err.http_status == (403 if code is ErrorCode.FORBIDDEN else 400)
    assert err.code == int(code)
    assert err.message == MESSAGES[code]


def test_custom_message() -> None:
    err = handshake_error(ErrorCode.FORBIDDEN, "Go away")
    assert (err.code, err.message, err.http_status) == (4, "Go away", 403)
    assert error_body(err) == b'{"code":4,"message":"Go away"}'


@pytest.mark.parametrize(
    ("code", "body"),
    [
        (ErrorCode.UNKNOWN_TRANSPORT, b'{"code":0,"message":"Transport unknown"}'),
        (ErrorCode.UNKNOWN_SID, b'{"code":1,"message":"Session ID unknown"}'),
        (ErrorCode.BAD_HANDSHAKE_METHOD, b'{"code":2,"message":"Bad handshake method"}'),
        (ErrorCode.BAD_REQUEST, b'{"code":3,"message":"Bad request"}'),
        (ErrorCode.FORBIDDEN, b'{"code":4,"message":"Forbidden"}'),
        (ErrorCode.UNSUPPORTED_PROTOCOL_VERSION, b'{"code":5,"message":"Unsupported protocol version"}'),
    ],
)
def test_error_body(code: ErrorCode, body: bytes) -> None:
    assert error_body(handshake_error(code)) == body


def test_handshake_error_is_a_protocol_error_but_not_a_decode_error() -> None:
    err = handshake_error(ErrorCode.BAD_REQUEST)
    assert isinstance(err, ProtocolError)
    assert not isinstance(err, DecodeError)
    assert str(err) == "Bad request"


# -- the open packet -----------------------------------------------------------------------


def test_open_packet_of_the_sample_session() -> None:
    # The open packet of the Socket.IO document's sample session, byte for byte.
    text = build_open_packet("lv_VI97HAXpY6yYWAAAC", ["websocket"], 25, 5, 1_000_000)
    assert text == (
        '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
        '"pingTimeout":5000,"maxPayload":1000000}'
    )


def test_open_packet_of_the_handshake_section() -> None:
    text = build_open_packet("lv_VI97HAXpY6yYWAAAC", ("websocket",), 25.0, 20.0, 1_000_000)
    assert text == (
        '0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
        '"pingTimeout":20000,"maxPayload":1000000}'
    )


def test_open_packet_key_order() -> None:
    text = build_open_packet("s", [], 1, 1, 1)
    assert list(orjson.loads(text[1:])) == ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]


def test_open_packet_fractional_seconds() -> None:
    # 0.3 s is 300 ms, never 299 (0.3 * 1000 == 300.00000000000006, 0.1 * 3 * 1000 == 300.0000...)
    assert build_open_packet("abc", [], 0.3, 0.2, 100) == (
        '0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":100}'
    )
    assert seconds_to_ms(0.3) == 300
    assert seconds_to_ms(0.1 * 3) == 300
    assert seconds_to_ms(0.7) == 700
    assert seconds_to_ms(25) == 25000
    assert isinstance(seconds_to_ms(0.3), int)


def test_open_packet_without_payload_limit() -> None:
    text = build_open_packet("abc", ["websocket"], 25, 20, None)
    assert text.endswith(',"maxPayload":9007199254740991}')


# -- session ids ---------------------------------------------------------------------------


def test_new_sid_shape() -> None:
    sids = {new_sid() for _ in range(2000)}
    assert len(sids) == 2000
    for sid in sids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{20}", sid), sid
