"""The Engine.IO v4 handshake: request validation, error answers and the open packet.

The checks run in the reference server's order (transport, then sid, then method, then
protocol version), so a request that breaks several rules gets the same answer from us as
from Node's ``engine.io``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

import orjson

from ..exceptions import HandshakeError

__all__ = [
    "ErrorCode",
    "Request",
    "build_open_packet",
    "error_body",
    "handshake_error",
    "new_sid",
    "seconds_to_ms",
    "validate",
]


class ErrorCode(IntEnum):
    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5


MESSAGES = {
    ErrorCode.UNKNOWN_TRANSPORT: "Transport unknown",
    ErrorCode.UNKNOWN_SID: "Session ID unknown",
    ErrorCode.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    ErrorCode.BAD_REQUEST: "Bad request",
    ErrorCode.FORBIDDEN: "Forbidden",
    ErrorCode.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


def handshake_error(code: ErrorCode, message: str | None = None) -> HandshakeError:
    status = 403 if code is ErrorCode.FORBIDDEN else 400
    return HandshakeError(int(code), message or MESSAGES[code], status)


def error_body(error: HandshakeError) -> bytes:
    return orjson.dumps({"code": error.code, "message": error.message})


@dataclass(frozen=True, slots=True)
class Request:
    """What the handshake needs to know of an HTTP request, whichever server received it."""

    method: str
    query: Mapping[str, str]
    #: True for a WebSocket upgrade request.
    upgrade: bool = False


def validate(
    request: Request,
    transports: Sequence[str],
    session_transport: str | None,
    sid_known: bool,
) -> str | None:
    """Check a request against the rules of the reference server.

    Returns the sid the request names (``None`` for a new handshake) or raises
    ``HandshakeError``. ``session_transport`` is the current transport of the named session.
    """
    transport = request.query.get("transport")
    if transport not in transports:
        raise handshake_error(ErrorCode.UNKNOWN_TRANSPORT)
    sid = request.query.get("sid")
    if sid:
        if not sid_known:
            raise handshake_error(ErrorCode.UNKNOWN_SID)
        if not request.upgrade and session_transport != transport:
            raise handshake_error(ErrorCode.BAD_REQUEST)
        return sid
    if request.method != "GET":
        raise handshake_error(ErrorCode.BAD_HANDSHAKE_METHOD)
    if transport == "websocket" and not request.upgrade:
        raise handshake_error(ErrorCode.BAD_REQUEST)
    if request.query.get("EIO") != "4":
        raise handshake_error(ErrorCode.UNSUPPORTED_PROTOCOL_VERSION)
    return None


def new_sid() -> str:
    """20 URL-safe characters from 15 random bytes, the shape of the reference's ids."""
    return secrets.token_urlsafe(15)


def seconds_to_ms(seconds: float) -> int:
    """Seconds to whole milliseconds, rounded (0.3 s is 300, never 299)."""
    return round(seconds * 1000)


def build_open_packet(
    sid: str,
    upgrades: Sequence[str],
    ping_interval: float,
    ping_timeout: float,
    max_payload: int | None,
) -> str:
    """The open packet, keys in the reference's order."""
    body = orjson.dumps(
        {
            "sid": sid,
            "upgrades": list(upgrades),
            "pingInterval": seconds_to_ms(ping_interval),
            "pingTimeout": seconds_to_ms(ping_timeout),
            "maxPayload": max_payload if max_payload is not None else 2**53 - 1,
        }
    )
    return "0" + body.decode()
