"""The I/O layer's contracts: what a front end hands the engine (``HttpRequest``, a
``WebSocketPeer``), what it gets back (``HttpResponse``), what the engine asks of the layer
above (``EngineHandler``), and the engine's options. Both front ends (the built-in server and
the ASGI app) and the engine import these; none of them reaches into another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

from ..engineio.session import Outgoing
from ..limits import DEFAULT_LIMITS
from .websocket import Deflate

if TYPE_CHECKING:
    from .engine import EngineSocket

__all__ = ["EngineHandler", "EngineOptions", "HttpRequest", "HttpResponse", "Origins", "WebSocketPeer", "parse_query"]

Origins = str | Sequence[str] | Callable[[str], bool] | None


def parse_query(raw: str) -> dict[str, str]:
    """``dict(parse_qsl(raw, keep_blank_values=True))``, several times faster on the plain
    queries Engine.IO clients send (``EIO=4&transport=polling&t=...&sid=...``), which need no
    unquoting; long-polling parses one per request."""
    if "%" in raw or "+" in raw:
        return dict(parse_qsl(raw, keep_blank_values=True))
    query = {}
    for part in raw.split("&"):
        if part:
            name, _, value = part.partition("=")
            query[name] = value
    return query


@dataclass(slots=True)
class HttpRequest:
    """An HTTP request as the engine needs it, whichever front end received it."""

    method: str
    path: str
    query: dict[str, str]
    #: Lower-case names; repeated headers joined with ", ".
    headers: dict[str, str]
    body: bytes = b""
    client: tuple[str, int] | None = None
    scheme: str = "http"
    raw_query: str = ""

    @property
    def url(self) -> str:
        return self.path + ("?" + self.raw_query if self.raw_query else "")


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class WebSocketPeer(Protocol):
    """What a front end offers the engine for one accepted WebSocket."""

    deflate: Deflate | None

    def write_items(self, items: list[Outgoing]) -> int:
        """Write (or queue) the frames of ``items``; the bytes still waiting afterwards."""
        ...
    def write_text(self, text: str) -> None: ...
    def close(self, code: int = 1000, reason: str = "") -> None: ...
    def buffered_amount(self) -> int: ...

    @property
    def writable(self) -> bool: ...


class EngineHandler(Protocol):
    """The layer above: Socket.IO, or an Engine.IO application."""

    def on_connect(self, socket: EngineSocket) -> None: ...
    def on_message(self, socket: EngineSocket, data: str | bytes) -> None: ...
    def on_disconnect(self, socket: EngineSocket, reason: str, description: str | None) -> None: ...


@dataclass(slots=True)
class EngineOptions:
    path: str = "/engine.io/"
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    upgrade_timeout: float = 10.0
    max_http_buffer_size: int | None = DEFAULT_LIMITS.max_payload
    transports: tuple[str, ...] = ("polling", "websocket")
    allow_upgrades: bool = True
    cors_allowed_origins: Origins = None
    cors_credentials: bool = False
    #: Refuse (403) a WebSocket whose ``Origin`` is neither the server's own nor one that
    #: ``cors_allowed_origins`` allows (the reference checks no origin on WebSockets).
    websocket_check_origin: bool = False
    allow_request: Callable[[HttpRequest], bool | str | Awaitable[bool | str]] | None = None
    cookie: str | dict[str, Any] | None = None
    http_compression: bool = True
    compression_threshold: int = 1024
    per_message_deflate: bool = False
    max_send_buffer: int = DEFAULT_LIMITS.max_send_buffer
    max_queued_packets: int = DEFAULT_LIMITS.max_queued_packets
    client_bundle_dir: str | Path | None = None
    #: Seconds a closed long-polling session waits for the GET that tells its client so.
    close_timeout: float = 5.0
    #: Seconds a queued packet may wait so that later ones share its write (0: written at the
    #: end of the event-loop iteration that queued it). A fan-out server trades this much
    #: latency for fewer system calls: on loopback the kernel's cost of one small TCP write is
    #: most of a broadcast delivery's CPU (bench/README.md, S3R). Every packet waits, the
    #: answer to a CONNECT included; a long-poll that is answered anyway carries what is queued,
    #: and a shutdown writes everything first.
    write_delay: float = 0.0
