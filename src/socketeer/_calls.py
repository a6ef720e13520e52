"""Running user callbacks, sync or async, without a task per call when none is needed.

An ``async def`` handler that finishes without suspending (the common echo or ack handler:
its awaits are sends that complete at once) runs to completion inline, as Python 3.12's
eager tasks do; only a handler that really waits becomes a task. That removes the
per-message task that dominates python-socketio's profile. Server and client share it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["DONE", "Done", "continue_later", "settle", "spawn"]

_background: set[asyncio.Future[Any]] = set()


class Done:
    """What ``emit`` returns, server and client alike: awaiting it is allowed (the reference's
    emit is synchronous, so both styles must work) and completes at once."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return iter(())  # type: ignore[return-value]

    def __repr__(self) -> str:
        return "<Done>"


DONE = Done()


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


def settle(result: Any, done: Callable[[Any], None] | None, where: object, logger: logging.Logger) -> None:
    """Given what a callback returned, call ``done(value)`` now, or once its coroutine or
    awaitable finishes; a failure is logged with ``where`` and ``done`` is not called."""
    if type(result) is not types.CoroutineType:
        if not inspect.isawaitable(result):
            if done is not None:
                done(result)
            return
        _finish_later(asyncio.ensure_future(result), done, where, logger)
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
    continue_later(result, pending, done, where, logger)


def continue_later(coro: Coroutine[Any, Any, Any], pending: Any, done: Callable[[Any], None] | None,
                   where: object, logger: logging.Logger) -> None:
    """A coroutine started inline suspended on ``pending``: a task finishes it, then ``done``."""
    _finish_later(asyncio.get_running_loop().create_task(_continue(coro, pending)), done, where, logger)


def _finish_later(task: asyncio.Future[Any], done: Callable[[Any], None] | None, where: object,
                  logger: logging.Logger) -> None:
    _background.add(task)

    def finished(t: asyncio.Future[Any]) -> None:
        _background.discard(t)
        if t.cancelled():
            return
        exc = t.exception()
        if exc is not None:
            logger.error("handler for %s raised", where, exc_info=exc)
        elif done is not None:
            try:
                done(t.result())
            except Exception:
                logger.exception("answering the ack of %s failed", where)

    task.add_done_callback(finished)


def spawn(coro: Coroutine[Any, Any, Any], where: str, logger: logging.Logger | None = None) -> None:
    """Run a coroutine in the background, keeping a reference and logging its failure."""
    _finish_later(asyncio.get_running_loop().create_task(coro), None, where,
                  logger or logging.getLogger("socketeer"))
