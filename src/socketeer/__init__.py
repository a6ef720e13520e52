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
from .io.asgi import ASGIApp
from .io.serving import run
from .limits import Limits
from .server.broadcast import BroadcastOperator
from .server.namespace import Namespace
from .server.server import Server
from .server.socket import Handshake, Socket

__version__ = "0.1.0"

__all__ = [
    "ASGIApp",
    "AckTimeout",
    "BroadcastOperator",
    "ConnectionClosed",
    "ConnectionError",
    "ConnectionRefused",
    "DecodeError",
    "Handshake",
    "HandshakeError",
    "LimitExceeded",
    "Limits",
    "Namespace",
    "PayloadTooLarge",
    "ProtocolError",
    "Server",
    "Socket",
    "SocketeerError",
    "__version__",
    "run",
]
