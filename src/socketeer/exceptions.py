"""Every error socketeer raises, in one hierarchy.

Catch the branch you can act on; each leaf says which side was at fault and, for protocol
errors, how the connection is closed because of it::

    SocketeerError
    ├── ProtocolError                  the wire protocol was broken
    │   ├── DecodeError                the peer sent something we cannot decode (its fault)
    │   │   ├── EngineIOPacketError    a bad Engine.IO packet           -> HTTP 400 / WS 1002
    │   │   ├── PayloadError           a bad long-polling payload       -> HTTP 400
    │   │   ├── SocketIOPacketError    a bad Socket.IO packet           -> "parse error" close
    │   │   └── ClusterMessageError    a bad message from another node  -> logged and dropped
    │   ├── LimitExceeded              the peer went past a named limit (see ``limits.py``)
    │   │   ├── PayloadTooLarge        body or message over max_payload -> HTTP 413 / WS 1009
    │   │   ├── TooManyAttachments     over max_attachments             -> "parse error" close
    │   │   └── TooDeeplyNested        over max_depth                   -> "parse error" close
    │   └── HandshakeError             a request refused before a session exists (HTTP status + code)
    ├── ConnectionRefused              raised by middleware to refuse a namespace connection
    ├── ConnectionError                the client could not connect (message and data from the server)
    ├── ConnectionClosed               the connection is gone (with its reason)
    └── AckTimeout                     no acknowledgement in time (also a TimeoutError)

``DecodeError`` is also a ``ValueError`` so code that treats malformed input generically still works.
"""

from __future__ import annotations

import builtins
from typing import Any

__all__ = [
    "AckTimeout",
    "ClusterMessageError",
    "ConnectionClosed",
    "ConnectionError",
    "ConnectionRefused",
    "DecodeError",
    "EngineIOPacketError",
    "HandshakeError",
    "LimitExceeded",
    "PayloadError",
    "PayloadTooLarge",
    "ProtocolError",
    "SocketIOPacketError",
    "SocketeerError",
    "TooDeeplyNested",
    "TooManyAttachments",
]


class SocketeerError(Exception):
    """Base of every socketeer error."""


class ProtocolError(SocketeerError):
    """The Engine.IO or Socket.IO protocol was broken."""

    #: HTTP status a polling request that hit this error is answered with.
    http_status = 400
    #: WebSocket close code a WebSocket that hit this error is closed with (RFC 6455 7.4.1).
    ws_close_code = 1002


class DecodeError(ProtocolError, ValueError):
    """The peer sent bytes that do not decode."""


class EngineIOPacketError(DecodeError):
    """A malformed Engine.IO packet."""


class PayloadError(DecodeError):
    """A malformed HTTP long-polling payload."""


class SocketIOPacketError(DecodeError):
    """A malformed Socket.IO packet (the reference closes with reason "parse error")."""


class ClusterMessageError(DecodeError):
    """A message on the cluster's channels that is malformed or not meant for this node; the
    adapter logs it and drops it, and the node serves on."""


class LimitExceeded(ProtocolError):
    """The peer went past one of the named limits of ``socketeer.limits``."""


class PayloadTooLarge(LimitExceeded, PayloadError):
    """A body or message larger than ``max_payload`` (``max_http_buffer_size``)."""

    http_status = 413
    ws_close_code = 1009


class TooManyAttachments(LimitExceeded, SocketIOPacketError):
    """A binary packet announcing more attachments than ``max_attachments``."""


class TooDeeplyNested(LimitExceeded, SocketIOPacketError):
    """Data nested deeper than ``max_depth``; refused instead of risking a RecursionError."""


class HandshakeError(ProtocolError):
    """A request refused before a session exists, as the reference answers it.

    ``code`` and ``message`` are the Engine.IO error code and text sent as
    ``{"code":N,"message":"..."}``; ``http_status`` is 400, or 403 for a refused request.
    """

    def __init__(self, code: int, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


class ConnectionRefused(SocketeerError):
    """Raise it from a middleware or a connection handler to refuse a client.

    The client receives ``message`` and ``data`` in its ``connect_error`` event.
    """

    def __init__(self, message: str = "Not authorized", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ConnectionError(SocketeerError, builtins.ConnectionError):
    """The client could not connect; ``data`` is what the server sent with its refusal."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class ConnectionClosed(SocketeerError):
    """The connection is closed; ``reason`` is the reference's reason string."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AckTimeout(SocketeerError, TimeoutError):
    """No acknowledgement arrived in time.

    For a broadcast, ``responses`` holds the answers that did arrive.
    """

    def __init__(self, message: str = "operation has timed out", responses: list[Any] | None = None):
        super().__init__(message)
        self.responses = responses if responses is not None else []
