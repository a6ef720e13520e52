"""Calling the server's user handlers: sync or async, inline unless they really wait
(see ``socketeer._calls``)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from .._calls import settle, spawn

__all__ = ["Handler", "Where", "call_handler", "spawn", "wants_ack"]

logger = logging.getLogger("socketeer.server")

class Handler:
    """A registered function and what we learned of it once, at registration."""

    __slots__ = ("fn", "is_async", "takes_ack")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        self.takes_ack = wants_ack(fn)


def wants_ack(fn: Callable[..., Any]) -> bool:
    """A handler that names a keyword parameter ``ack`` answers later, by calling it."""
    try:
        param = inspect.signature(fn).parameters.get("ack")
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD)


def call_handler(
    handler: Handler,
    args: tuple[Any, ...] | list[Any],
    done: Callable[[Any], None] | None,
    where: object,
    kwargs: dict[str, Any] | None = None,
) -> None:
    """Call a handler; ``done(result)`` follows when it returns (inline if it can).

    A handler that raises is logged with ``where`` (the socket and the event) and ``done`` is
    not called: the client's ack, if any, goes unanswered, as with the reference.
    """
    try:
        result = handler.fn(*args, **kwargs) if kwargs else handler.fn(*args)
    except Exception:
        logger.exception("handler for %s raised", where)
        return
    settle(result, done, where, logger)


class Where:
    """Names the handler in a log line; formatted only if something is logged (the hot path
    creates one per event and almost never prints it)."""

    __slots__ = ("event", "owner")

    def __init__(self, owner: object, event: object) -> None:
        self.owner = owner
        self.event = event

    def __str__(self) -> str:
        return f"{self.owner!r} event {self.event!r}"
