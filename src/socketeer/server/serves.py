"""What ``socketeer.Server`` and ``socketeer.engineio.Server`` offer for being served: static
files beside the engine, and ``listen``/``shutdown`` on the built-in server, which they use
(``io.serving.BuiltinServer``) rather than are."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..io.contracts import HttpRequest, HttpResponse
from ..io.engine import Engine
from ..io.http import HttpServer
from ..io.serving import BuiltinServer, static_response
from ..limits import DEFAULT_LIMITS, Limits

__all__ = ["Serves"]


class Serves:
    """``static_files`` maps URL paths to files (or to ``(content_type, bytes)``) served
    beside the engine, so a demo or a small app needs nothing but the server."""

    engine: Engine
    limits: Limits = DEFAULT_LIMITS
    static_files: Mapping[str, str | Path | tuple[str, bytes]] = {}
    _front: BuiltinServer | None = None

    @property
    def http_server(self) -> HttpServer | None:
        """The built-in HTTP server while ``listen`` serves (its ``connections``)."""
        return None if self._front is None else self._front.http

    def serve_extra(self, request: HttpRequest) -> HttpResponse | None:
        return static_response(self.static_files, request)

    async def startup(self) -> None:
        """Before the first request is served, under every front end; idempotent."""

    async def teardown(self) -> None:
        """After the sessions were closed at shutdown; idempotent."""

    async def listen(self, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any) -> list[tuple[str, int]]:
        """Serve on the built-in server in the running loop; returns the bound addresses."""
        if self._front is None:
            self._front = BuiltinServer(self)
        return await self._front.listen(host, port, sock=kwargs.get("sock"), ssl=kwargs.get("ssl"))

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Close every session cleanly (clients reconnect elsewhere), then stop serving."""
        front, self._front = self._front, None
        await (front or BuiltinServer(self)).close(timeout)
