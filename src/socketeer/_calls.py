"""The one runner of user code, and the one registry of listeners, for server and client alike.

Whatever socketeer calls on the user's behalf (event handlers, the connection and disconnect
handlers, middleware, catch-all listeners, ack callbacks, server-side handlers, every client
listener) is started by ``run``: it runs as it would had the user written
``asyncio.create_task(handler(...))``, in an ``asyncio.Task`` of its own with its own copy of
the context. So ``asyncio.timeout``, ``TaskGroup``, ``current_task()``, anyio and database
pools work inside a handler, and a ``ContextVar`` set while handling one event is not seen by
the next one.

Speed: on Python 3.12+ the task starts eagerly (``eager_start=True``, the semantics of
``asyncio.eager_task_factory``): its first step runs at once, inside the task, and a handler
that finishes without waiting (an echo, an ack answered from memory) completes in that step,
with no trip through the event loop; its ack is queued in the same loop iteration, before the
next packet of the same read is handled. Python 3.11 has no eager start, and a task that
waits for the loop's next turn would change what user code sees (see ``_EagerTask``), so 3.11
gets the same first step, run at once, from a small subclass of its pure-Python ``Task``.

(CPython 3.12.1 crashes on ``get_coro()`` of an eagerly started task that has finished; 3.13
does not. socketeer never calls it; user code that keeps ``current_task()`` should not either.)

The function is called inside the task, not before it, so even a plain ``def`` handler runs in
a task (its ``current_task()`` is its own) and a failure of any kind is logged once, with the
event and the socket, by the same code. ``done(result)`` (answering an ack) is called inside the
task as soon as the handler returns; it is not called when the handler raised, as the reference
leaves such an ack unanswered.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import math
import sys
import types
from collections.abc import Callable, Coroutine, Generator
from functools import partial
from typing import Any, TypeVar, overload

__all__ = [
    "DONE", "EAGER", "Callback", "Done", "Listeners", "Where", "call", "run", "run_handler", "spawn",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Whether tasks start eagerly (Python 3.12+).
EAGER = sys.version_info >= (3, 12)

#: Tasks still running, so that the loop's weak references are not the only ones.
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


class Where:
    """Names the user code in a log line; formatted only if something is logged (the hot path
    creates one per event and almost never prints it)."""

    __slots__ = ("event", "owner")

    def __init__(self, owner: object, event: object) -> None:
        self.owner = owner
        self.event = event

    def __str__(self) -> str:
        return f"{self.owner!r} {self.event}" if isinstance(self.event, Label) else \
            f"{self.owner!r} event {self.event!r}"


class Label(str):
    """A ``Where.event`` that is a role ("disconnect", "middleware"), not an event name."""

    __slots__ = ()


def _max_positional(fn: Callable[..., Any]) -> float:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return math.inf
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return math.inf
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "ack")


def _takes_ack(fn: Callable[..., Any]) -> bool:
    """A function that names a parameter ``ack`` answers the peer's ack itself, later."""
    try:
        param = inspect.signature(fn).parameters.get("ack")
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD)


class Callback:
    """A user function and what was learned of it once, at registration.

    It is called with as many positional arguments as it takes, as a JavaScript function is:
    ``def on_disconnect(socket, reason)`` and ``def on_disconnect(socket, reason, description)``
    both work, and a client's ``def news(item)`` still works when recovery appends the packet's
    offset. (Too few is still an error, logged.)
    """

    __slots__ = ("fn", "is_async", "max_args", "once", "takes_ack")

    def __init__(self, fn: Callable[..., Any], once: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"a handler must be callable, not {type(fn).__name__}")
        self.fn = fn
        self.once = once
        self.max_args = _max_positional(fn)
        self.takes_ack = _takes_ack(fn)
        #: An ``async def``: calling it runs none of its code, so the task can drive its
        #: coroutine directly, without a wrapper coroutine (S1/S2's handlers).
        self.is_async = inspect.iscoroutinefunction(fn)


_COROUTINE = types.CoroutineType
#: What a handler returns that cannot be awaited, known without ``inspect.isawaitable``'s
#: ABC check (0.6 µs, a third of a whole handler call on 3.12).
_PLAIN = frozenset({type(None), bool, int, float, str, bytes, tuple, list, dict})


async def _invoke(fn: Callable[..., Any], args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any] | None,
                  done: Callable[[Any], None] | None, where: object, logger: logging.Logger) -> None:
    try:
        result = fn(*args, **kwargs) if kwargs else fn(*args)
        if type(result) is _COROUTINE or (type(result) not in _PLAIN and inspect.isawaitable(result)):
            result = await result
    except Exception:
        logger.error("handler for %s raised", where, exc_info=True)
        return
    if done is not None:
        try:
            done(result)
        except Exception:
            logger.error("the return value of the handler for %s cannot be sent as its ack", where, exc_info=True)


def run(cb: Callback, args: tuple[Any, ...] | list[Any], done: Callable[[Any], None] | None, where: object,
        logger: logging.Logger, kwargs: dict[str, Any] | None = None) -> None:
    """Start ``cb(*args)`` as a task of its own (see the module's docstring); ``done(result)``
    follows once it has returned."""
    if len(args) > cb.max_args:
        args = args[: int(cb.max_args)]
    if not cb.is_async:
        _start(_invoke(cb.fn, args, kwargs, done, where, logger))
        return
    # The fast path of an ``async def``: the task runs the handler's own coroutine. Its first
    # step has run when the task is made; a handler that never waited is settled here, in the
    # same loop iteration (its ack queued before the next packet), one that waits when done.
    try:
        coro = cb.fn(*args, **kwargs) if kwargs else cb.fn(*args)
    except Exception:  # wrong arguments: binding them runs none of the handler's code
        logger.error("handler for %s raised", where, exc_info=True)
        return
    task = _task(coro)
    if task.done():
        _settle(task, done, where, logger)
    else:
        _background.add(task)
        task.add_done_callback(lambda t: _finished(t, done, where, logger))


def run_handler(cb: Callback, args: list[Any], answer: Callable[[int, Any], None] | None, ack_id: int | None,
                owner: object, event: str, logger: logging.Logger) -> None:
    """``run`` for the hottest call there is, an event's namespace handler (S1, S2): the same
    semantics (tests/test_calls.py runs both side by side), with the log label and the ack's
    answerer made only if they are needed: ``answer(ack_id, result)`` once the handler returns
    when ``ack_id`` is not ``None``. Together a fifth of the runner's cost per event."""
    if len(args) > cb.max_args:
        args = args[: int(cb.max_args)]
    if not cb.is_async:
        done = None if ack_id is None or answer is None else partial(answer, ack_id)
        _start(_invoke(cb.fn, args, None, done, Where(owner, event), logger))
        return
    try:
        coro = cb.fn(*args)
    except Exception:
        logger.error("handler for %s raised", Where(owner, event), exc_info=True)
        return
    task = _task(coro)
    if not task.done():
        done = None if ack_id is None or answer is None else partial(answer, ack_id)
        where = Where(owner, event)
        _background.add(task)
        task.add_done_callback(lambda t: _finished(t, done, where, logger))
        return
    try:
        result = task.result()  # one call: the value, or the handler's exception raised here
    except asyncio.CancelledError:
        return
    except Exception as exc:
        logger.error("handler for %s raised", Where(owner, event), exc_info=exc)
        return
    if ack_id is not None and answer is not None:
        try:
            answer(ack_id, result)
        except Exception:
            logger.error("the return value of the handler for %s cannot be sent as its ack", Where(owner, event),
                         exc_info=True)


def _settle(task: asyncio.Future[Any], done: Callable[[Any], None] | None, where: object,
            logger: logging.Logger) -> None:
    try:
        result = task.result()
    except asyncio.CancelledError:
        return
    except Exception as exc:
        logger.error("handler for %s raised", where, exc_info=exc)
        return
    if done is not None:
        try:
            done(result)
        except Exception:
            logger.error("the return value of the handler for %s cannot be sent as its ack", where, exc_info=True)


def _finished(task: asyncio.Future[Any], done: Callable[[Any], None] | None, where: object,
              logger: logging.Logger) -> None:
    _background.discard(task)
    _settle(task, done, where, logger)


def spawn(coro: Coroutine[Any, Any, Any], where: object, logger: logging.Logger | None = None) -> None:
    """Run socketeer's own coroutine that calls user code (a middleware chain, a dynamic
    namespace's predicate) as a task, eagerly where Python can; its failure is logged."""
    _start(_logged(coro, where, logger or logging.getLogger("socketeer")))


def call(fn: Callable[..., Any], args: tuple[Any, ...] | list[Any]) -> asyncio.Future[Any]:
    """Start ``fn(*args)`` as a task of its own, as ``run`` does, and return that task, whose
    result or exception is ``fn``'s: for user code whose outcome decides what socketeer does
    next (a middleware's refusal, ``allow_request``'s verdict). Awaiting it adds no suspension
    when it finished at once; cancelling the awaiting task cancels it too."""
    return _start(_call(fn, args))


async def _call(fn: Callable[..., Any], args: tuple[Any, ...] | list[Any]) -> Any:
    result = fn(*args)
    if type(result) is _COROUTINE or (type(result) not in _PLAIN and inspect.isawaitable(result)):
        result = await result
    return result


async def _logged(coro: Coroutine[Any, Any, Any], where: object, logger: logging.Logger) -> None:
    try:
        await coro
    except Exception:
        logger.error("%s raised", where, exc_info=True)


#: The name of every task socketeer starts: a constant, as formatting "Task-<n>" for each
#: would be a tenth of the cost of starting one (3.12).
TASK_NAME = "socketeer"


def _start(coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
    task = _task(coro)
    if not task.done():
        _background.add(task)
        task.add_done_callback(_background.discard)
    return task


if EAGER:
    def _task(coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
        return asyncio.Task(coro, loop=asyncio.get_running_loop(), eager_start=True,  # type: ignore[call-arg]
                            name=TASK_NAME)
else:  # Python 3.11
    from asyncio import futures as _futures
    from asyncio import tasks as _tasks

    _current_tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[Any]] = _tasks._current_tasks  # type: ignore[attr-defined]

    class _EagerTask(_tasks._PyTask):  # type: ignore[name-defined,misc]
        """3.12's eager start on 3.11, where a task always waits for the loop's next turn.

        That wait would change what user code sees, not just when: a ``disconnecting``
        handler would run after the socket left its rooms, an ack would miss the write of the
        read that carried its packet. So the first step runs here, as 3.12 runs it: inside this
        task (``current_task()`` is this task, with any outer task set aside meanwhile) and in
        its own context. It is the pure-Python ``Task`` of 3.11's asyncio, whose constructor is
        replaced by one that steps instead of scheduling; from its first suspension on it is an
        ordinary task. (3.11 only receives security fixes: these internals no longer move.) One
        visible difference: ``isinstance(current_task(), asyncio.Task)`` is false on 3.11, as
        ``asyncio.Task`` is the C class there; every method and asyncio function works.
        """

        def __init__(self, coro: Coroutine[Any, Any, Any], loop: asyncio.AbstractEventLoop) -> None:
            _futures._PyFuture.__init__(self, loop=loop)  # type: ignore[attr-defined]
            self._name = TASK_NAME
            self._num_cancels_requested = 0
            self._must_cancel = False
            self._fut_waiter = None
            self._coro = coro
            self._context = context = contextvars.copy_context()
            outer = _current_tasks.get(loop)  # what current_task() reads, without its wrapper
            if outer is not None:
                _tasks._leave_task(loop, outer)
            try:
                context.run(self._Task__step)
            finally:
                if outer is not None:
                    _tasks._enter_task(loop, outer)
            if not self.done():
                _tasks._register_task(self)

    def _task(coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
        return _EagerTask(coro, asyncio.get_running_loop())


class Listeners:
    """``on``/``once``/``off``/``on_any``, for a server's socket and a client's socket and
    manager alike (a mixin: the owner calls ``_init_listeners`` in its ``__init__``)."""

    __slots__ = ("_any", "_any_outgoing", "_listeners")
    #: Where failures of this owner's listeners are logged.
    _log: logging.Logger = logging.getLogger("socketeer")
    _listeners: dict[str, list[Callback]]
    _any: list[Callback]
    _any_outgoing: list[Callback]

    def _init_listeners(self) -> None:
        self._listeners = {}
        self._any = []
        self._any_outgoing = []

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...
    @overload
    def on(self, event: str, handler: F) -> F: ...
    def on(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """``obj.on("x", fn)``, or ``@obj.on("x")`` as a decorator; returns ``fn``."""
        def register(fn: F) -> F:
            self._listeners.setdefault(event, []).append(Callback(fn))
            return fn

        return register(handler) if handler is not None else register

    def once(self, event: str, handler: Callable[..., Any] | None = None) -> Any:
        """As ``on``, for the next occurrence only."""
        def register(fn: F) -> F:
            self._listeners.setdefault(event, []).append(Callback(fn, once=True))
            return fn

        return register(handler) if handler is not None else register

    def off(self, event: str | None = None, handler: Callable[..., Any] | None = None) -> None:
        """Remove one listener, every listener of an event, or (no argument) all of them."""
        if event is None:
            self._listeners.clear()
        elif handler is None:
            self._listeners.pop(event, None)
        else:
            kept = [cb for cb in self._listeners.get(event, ()) if cb.fn is not handler]
            if kept:
                self._listeners[event] = kept
            else:
                self._listeners.pop(event, None)

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        return [cb.fn for cb in self._listeners.get(event, ())]

    def has_listeners(self, event: str) -> bool:
        return bool(self._listeners.get(event))

    def on_any(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler(event, *args)`` for every incoming event."""
        self._any.append(Callback(handler))
        return handler

    def prepend_any(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        self._any.insert(0, Callback(handler))
        return handler

    def off_any(self, handler: Callable[..., Any] | None = None) -> None:
        self._any = [] if handler is None else [cb for cb in self._any if cb.fn is not handler]

    def listeners_any(self) -> list[Callable[..., Any]]:
        return [cb.fn for cb in self._any]

    def on_any_outgoing(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler(event, *args)`` for every event as it is sent."""
        self._any_outgoing.append(Callback(handler))
        return handler

    def prepend_any_outgoing(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        self._any_outgoing.insert(0, Callback(handler))
        return handler

    def off_any_outgoing(self, handler: Callable[..., Any] | None = None) -> None:
        self._any_outgoing = [] if handler is None else [cb for cb in self._any_outgoing if cb.fn is not handler]

    def listeners_any_outgoing(self) -> list[Callable[..., Any]]:
        return [cb.fn for cb in self._any_outgoing]

    def _take(self, event: str) -> list[Callback]:
        """The listeners to call for one occurrence; ``once`` ones are removed."""
        found = self._listeners.get(event)
        if not found:
            return []
        current = list(found)
        if any(cb.once for cb in current):
            kept = [cb for cb in found if not cb.once]
            if kept:
                self._listeners[event] = kept
            else:
                del self._listeners[event]
        return current

    def _emit_reserved(self, event: str, *args: Any) -> None:
        """Call every listener of a reserved event (``connect``, ``disconnect``, ...)."""
        found = self._listeners.get(event)
        if not found:
            return
        where = Where(self, Label(event))
        for cb in self._take(event):
            run(cb, args, None, where, self._log)
