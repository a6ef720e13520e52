"""Engine.IO on its own: sessions that exchange text and binary messages, no Socket.IO.

Published as ``socketeer.engineio.Server``; it is also how the transports are tested alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from .._calls import Callback, Label, run
from ..io.engine import Engine, EngineOptions, EngineSocket
from .serves import Serves

__all__ = ["EngineIOServer"]

logger = logging.getLogger("socketeer.engineio")

F = TypeVar("F", bound=Callable[..., Any])

_OPTION_NAMES = frozenset(EngineOptions.__dataclass_fields__)


class EngineIOServer(Serves):
    """``@eio.on("connect" | "message" | "disconnect")`` handlers over one engine.

    Handlers may be plain functions or coroutines: ``connect(session)``,
    ``message(session, data)`` (``str`` for text, ``bytes`` for binary),
    ``disconnect(session, reason)``.
    """

    def __init__(self, path: str = "/engine.io/", **options: Any) -> None:
        unknown = set(options) - _OPTION_NAMES
        if unknown:
            raise TypeError(f"unknown Engine.IO option(s): {', '.join(sorted(unknown))}")
        if "transports" in options:
            options["transports"] = tuple(options["transports"])
        self.engine = Engine(self, EngineOptions(path=path, **options))
        self._handlers: dict[str, Callback] = {}

    def on(self, event: str) -> Callable[[F], F]:
        if event not in ("connect", "message", "disconnect"):
            raise ValueError(f"Engine.IO servers emit connect, message and disconnect, not {event!r}")

        def register(fn: F) -> F:
            self._handlers[event] = Callback(fn)
            return fn

        return register

    def _call(self, event: str, *args: Any) -> None:
        cb = self._handlers.get(event)
        if cb is not None:
            run(cb, args, None, Label(f"Engine.IO {event}"), logger)

    # EngineHandler
    def on_connect(self, socket: EngineSocket) -> None:
        self._call("connect", socket)

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        self._call("message", socket, data)

    def on_disconnect(self, socket: EngineSocket, reason: str, description: str | None) -> None:
        self._call("disconnect", socket, reason)
