"""socketeer: a fast, asyncio-first Socket.IO v4 server and client.

Wire-compatible with the official Socket.IO v4 ecosystem (Socket.IO protocol v5 over
Engine.IO protocol v4).
"""

from __future__ import annotations

from . import engineio
from . import testing as testing  # socketeer.testing.serve(...) after a bare "import socketeer"
from .adapters.emitter import Emitter
from .client import Client, ClientSocket
from .client.sync import SyncClient, connect
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
from .io.serving import run, tune_gc
from .limits import Limits
from .server.broadcast import BroadcastOperator
from .server.eio import EngineIOServer
from .server.namespace import Namespace
from .server.remote import RemoteSocket
from .server.server import Server
from .server.socket import Handshake, Socket

# The public name of Engine.IO alone: set from up here so that the core never imports upward.
setattr(engineio, "Server", EngineIOServer)  # noqa: B010

__version__ = "0.1.0"

__all__ = [
    "ASGIApp",
    "AckTimeout",
    "BroadcastOperator",
    "Client",
    "ClientSocket",
    "ConnectionClosed",
    "ConnectionError",
    "ConnectionRefused",
    "DecodeError",
    "Emitter",
    "Handshake",
    "HandshakeError",
    "LimitExceeded",
    "Limits",
    "Namespace",
    "PayloadTooLarge",
    "ProtocolError",
    "RemoteSocket",
    "Server",
    "Socket",
    "SocketeerError",
    "SyncClient",
    "__version__",
    "connect",
    "run",
    "tune_gc",
]
