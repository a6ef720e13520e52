"""Serving an application: what a front end needs of it (``Servable``), the built-in server
that serves one (``BuiltinServer``), ``run`` and ``tune_gc``."""

from __future__ import annotations

import asyncio
import gc
import logging
import mimetypes
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..limits import Limits
from .engine import Engine, HttpRequest, HttpResponse
from .http import HttpServer

__all__ = ["BuiltinServer", "Servable", "run", "static_response", "tune_gc"]

logger = logging.getLogger("socketeer")


@runtime_checkable
class Servable(Protocol):
    """What a front end (the built-in server, ``ASGIApp``, ``run``) needs of an application:
    ``socketeer.Server`` and ``socketeer.engineio.Server`` are two. The applications use the
    front ends (``BuiltinServer``); they are not front ends themselves."""

    engine: Engine
    limits: Limits

    def serve_extra(self, request: HttpRequest) -> HttpResponse | None:
        """An answer for a request outside the engine's path (static files), or ``None``."""

    async def startup(self) -> None:
        """Before the first request is served (a server's adapters start here); idempotent."""

    async def teardown(self) -> None:
        """After the sessions were closed at shutdown; idempotent."""


def static_response(files: Mapping[str, str | Path | tuple[str, bytes]], request: HttpRequest) -> HttpResponse | None:
    """``files`` maps URL paths to files (or to ``(content_type, bytes)``): the answer for one
    of them, so a demo or a small app needs nothing but the server."""
    target = files.get(request.path)
    if target is None or request.method not in ("GET", "HEAD"):
        return None
    if isinstance(target, tuple):
        ctype, body = target
    else:
        path = Path(target)
        if not path.is_file():
            return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")
        body = path.read_bytes()
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype == "application/javascript":
            ctype += "; charset=utf-8"
    return HttpResponse(200, [("Content-Type", ctype)], b"" if request.method == "HEAD" else body)


class BuiltinServer:
    """The built-in HTTP/WebSocket server serving one application in the running loop."""

    def __init__(self, app: Servable) -> None:
        self.app = app
        self._http: HttpServer | None = None

    async def listen(self, host: str = "127.0.0.1", port: int = 8000, *, sock: Any = None,
                     ssl: Any = None) -> list[tuple[str, int]]:
        """Start the application, then serve it; returns the bound addresses."""
        await self.app.startup()
        if self._http is None:
            self._http = HttpServer(self.app.engine, extra=self.app.serve_extra, limits=self.app.limits, ssl=ssl)
        return await self._http.listen(host, port, sock=sock)

    @property
    def http(self) -> HttpServer | None:
        """The HTTP server while listening (its ``connections``, for tests and metrics)."""
        return self._http

    async def close(self, timeout: float = 5.0) -> None:
        """Close every session cleanly (clients reconnect elsewhere), stop serving, and let
        the application tear down."""
        if self._http is not None:
            http, self._http = self._http, None
            await http.close(timeout)
        else:
            self.app.engine.close_all("server shutting down")
        await self.app.teardown()


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


#: ``run``'s young-generation collection threshold (CPython's default is 700).
GC_THRESHOLD = 10_000


def tune_gc(threshold: int = GC_THRESHOLD) -> None:
    """Make the cyclic garbage collector cheap for a long-running server.

    Everything that exists at start-up (modules, the application) is frozen out of the
    collector's sight, and young collections wait for ``threshold`` new objects instead of
    700. Every connection leaves long-lived objects behind, and the default settings kept
    walking them: on a storm of 10,000 WebSocket connects this took connects/s from about
    3,400 to 4,200 with the built-in server and from 1,400 to 2,100 under uvicorn
    (``python -m bench sio --scenarios S4``). Garbage in reference cycles is still collected,
    only in larger batches. ``run`` calls it; an ASGI deployment may call it at start-up.
    """
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    if 0 < gen0 < threshold:
        gc.set_threshold(threshold, gen1, gen2)


def run(app: Servable, host: str = "127.0.0.1", port: int = 8000, *, log_level: str | None = None,
        ssl: Any = None, gc_tuning: bool = True) -> None:
    """Serve ``app`` on the built-in server (uvloop) until SIGINT or SIGTERM, then shut down
    gracefully: stop accepting, close every session so clients reconnect elsewhere, flush.
    ``gc_tuning`` applies ``tune_gc`` (the process is the server's)."""
    if log_level is not None:
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _install_uvloop()
    if gc_tuning:
        tune_gc()

    async def main() -> None:
        front = BuiltinServer(app)
        addresses = await front.listen(host, port, ssl=ssl)
        for address in addresses:
            logger.info("socketeer listening on %s://%s:%d", "https" if ssl else "http", *address[:2])
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            logger.info("socketeer shutting down")
            await front.close()

    asyncio.run(main())
