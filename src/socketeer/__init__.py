"""socketeer: a fast, asyncio-first Socket.IO v4 server and client.

Wire-compatible with the official Socket.IO v4 ecosystem (Socket.IO protocol v5 over
Engine.IO protocol v4).
"""

from __future__ import annotations

from .exceptions import (
    AckTimeout,
    ConnectionClosed,
    ConnectionError,
    ConnectionRefused,
    DecodeError,
    HandshakeError,
    LimitExceeded,
    PayloadTooLarge,
    ProtocolError,
    SocketeerError,
)
from .io.serving import run
from .limits import Limits

__version__ = "0.1.0"

__all__ = [
    "AckTimeout",
    "ConnectionClosed",
    "ConnectionError",
    "ConnectionRefused",
    "DecodeError",
    "HandshakeError",
    "LimitExceeded",
    "Limits",
    "PayloadTooLarge",
    "ProtocolError",
    "SocketeerError",
    "__version__",
    "run",
]
