"""Calling user handlers: sync or async, without a task per call when none is needed.

An ``async def`` handler that finishes without suspending (the common echo or ack handler:
its awaits are sends that complete at once) runs to completion inline, as Python 3.12's
eager tasks do; only a handler that really waits becomes a task. That removes the
per-message task that dominates python-socketio's profile.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["Handler", "Where", "call_handler", "wants_ack"]

logger = logging.getLogger("socketeer.server")

_background: set[asyncio.Task[Any]] = set()


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


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], pending: Any) -> Generator[Any, Any, Any]:
    """Go on stepping a coroutine that was started inline and then suspended on ``pending``."""
    while True:
        try:
            sent = yield pending
        except BaseException as exc:  # cancellation and errors thrown in by the task
            try:
                pending = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                pending = coro.send(sent)
            except StopIteration as stop:
                return stop.value


async def _continue(coro: Coroutine[Any, Any, Any], pending: Any) -> Any:
    return await _resume(coro, pending)


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
    if not handler.is_async and not inspect.isawaitable(result):
        if done is not None:
            done(result)
        return
    if type(result) is not types.CoroutineType:
        _finish_later(asyncio.ensure_future(result), done, where)
        return
    try:
        pending = result.send(None)
    except StopIteration as stop:
        if done is not None:
            done(stop.value)
        return
    except Exception:
        logger.exception("handler for %s raised", where)
        return
    _finish_later(asyncio.get_running_loop().create_task(_continue(result, pending)), done, where)


class Where:
    """Names the handler in a log line; formatted only if something is logged (the hot path
    creates one per event and almost never prints it)."""

    __slots__ = ("event", "owner")

    def __init__(self, owner: object, event: object) -> None:
        self.owner = owner
        self.event = event

    def __str__(self) -> str:
        return f"{self.owner!r} event {self.event!r}"


def _finish_later(task: asyncio.Future[Any], done: Callable[[Any], None] | None, where: object) -> None:
    if isinstance(task, asyncio.Task):
        _background.add(task)

    def finished(t: asyncio.Future[Any]) -> None:
        _background.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is not None:
            logger.error("handler for %s raised", where, exc_info=exc)
        elif done is not None:
            done(t.result())

    task.add_done_callback(finished)


def spawn(coro: Coroutine[Any, Any, Any], where: str) -> None:
    """Run a coroutine in the background, keeping a reference and logging its failure."""
    _finish_later(asyncio.get_running_loop().create_task(coro), None, where)
