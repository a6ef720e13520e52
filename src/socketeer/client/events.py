"""Listeners: ``on``, ``once``, ``off``, and calling user code so that it can never hurt us.

A listener may be a plain function or a coroutine function. Plain ones run inline, in the order
packets arrive; coroutines become tasks (started in arrival order). Whatever a listener raises
is logged with the event it was called for and goes no further: an exception in user code must
not close a connection or stop the packets behind it.

A listener is called with as many of the arguments as it takes, as a JavaScript function is:
``def on_disconnect(reason)`` and ``def on_disconnect(reason, description)`` both work, and
``def news(item)`` still works when a server with connection state recovery appends the
packet's offset as a last argument. (Too few arguments is still an error, logged.)
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

from .._calls import settle

__all__ = ["Emitter", "Listener", "call_listener"]

logger = logging.getLogger("socketeer.client")

F = TypeVar("F", bound=Callable[..., Any])


def _max_positional(fn: Callable[..., Any]) -> float:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return math.inf
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return math.inf
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "ack")


def _takes_ack(fn: Callable[..., Any]) -> bool:
    """A listener that names a parameter ``ack`` answers the server's ack itself, later."""
    try:
        param = inspect.signature(fn).parameters.get("ack")
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD)


class Listener:
    """A registered function and what we learned of it once, at registration."""

    __slots__ = ("fn", "max_args", "once", "takes_ack")

    def __init__(self, fn: Callable[..., Any], once: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"a listener must be callable, not {type(fn).__name__}")
        self.fn = fn
        self.once = once
        self.max_args = _max_positional(fn)
        self.takes_ack = _takes_ack(fn)


def call_listener(
    listener: Listener,
    args: tuple[Any, ...] | list[Any],
    where: str,
    done: Callable[[Any], None] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> None:
    """Call a listener; ``done(result)`` follows once it has returned (a coroutine: finished).

    ``done`` is not called when the listener raised: the server's ack then goes unanswered,
    as with the reference client.
    """
    if listener.max_args < len(args):
        args = args[: int(listener.max_args)]
    try:
        result = listener.fn(*args, **kwargs) if kwargs else listener.fn(*args)
    except Exception:
        logger.exception("listener for %s raised", where)
        return
    settle(result, done, where, logger)


class Emitter:
    """``on``/``once``/``off`` and the emission of reserved events."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """``obj.on("x", fn)``, or ``@obj.on("x")`` as a decorator; returns ``fn``."""
        def register(fn: F) -> F:
            self._listeners.setdefault(event, []).append(Listener(fn))
            return fn

        return register(handler) if handler is not None else register

    def once(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """As ``on``, for the next occurrence only."""
        def register(fn: F) -> F:
            self._listeners.setdefault(event, []).append(Listener(fn, once=True))
            return fn

        return register(handler) if handler is not None else register

    def off(self, event: str | None = None, handler: Callable[..., Any] | None = None) -> None:
        """Remove one listener, every listener of an event, or (no argument) all of them."""
        if event is None:
            self._listeners.clear()
        elif handler is None:
            self._listeners.pop(event, None)
        else:
            kept = [lst for lst in self._listeners.get(event, []) if lst.fn is not handler]
            if kept:
                self._listeners[event] = kept
            else:
                self._listeners.pop(event, None)

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        return [lst.fn for lst in self._listeners.get(event, [])]

    def has_listeners(self, event: str) -> bool:
        return bool(self._listeners.get(event))

    def _take(self, event: str) -> list[Listener]:
        """The listeners to call for one occurrence; ``once`` ones are removed."""
        found = self._listeners.get(event)
        if not found:
            return []
        current = list(found)
        if any(lst.once for lst in current):
            kept = [lst for lst in found if not lst.once]
            if kept:
                self._listeners[event] = kept
            else:
                del self._listeners[event]
        return current

    def _emit_reserved(self, event: str, *args: Any) -> None:
        for listener in self._take(event):
            call_listener(listener, args, f"{self!r} {event!r}")
