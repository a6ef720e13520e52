"""The runner of user code (``socketeer._calls``): ``run`` and its hot-path twin
``run_handler`` give the same outcome for every kind of handler (a differential test), and
both run the handler in a task of its own, eagerly: a handler that never waits has finished,
and its answer is given, before ``run`` returns."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable
from typing import Any

import pytest

from socketeer._calls import Callback, Where, run, run_handler

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


def handlers() -> dict[str, Callable[..., Any]]:
    async def returns(owner: Any, x: int) -> int:
        return x * 2

    async def returns_tuple(owner: Any, x: int) -> tuple[int, int]:
        return x, x

    async def waits(owner: Any, x: int) -> int:
        await asyncio.sleep(0)
        async with asyncio.timeout(1):
            await asyncio.sleep(0)
        return x + 1

    async def raises(owner: Any, x: int) -> None:
        raise LookupError(f"bad {x}")

    async def raises_after_waiting(owner: Any, x: int) -> None:
        await asyncio.sleep(0)
        raise LookupError(f"late {x}")

    async def cancels_itself(owner: Any, x: int) -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(0)

    async def too_few_parameters(owner: Any) -> str:  # extra arguments are dropped, as in JS
        return "dropped"

    async def needs_more(owner: Any, x: int, y: int) -> None:  # too few arguments: an error
        pass

    def plain(owner: Any, x: int) -> int:
        return -x

    async def context(owner: Any, x: int) -> str:
        seen = VAR.get()
        VAR.set(f"set by {x}")
        group_saw: list[str] = []
        async with asyncio.TaskGroup() as group:
            group.create_task(_record(group_saw))
        return f"{seen}|{group_saw[0]}|{asyncio.current_task() is not None}"

    return {f.__name__: f for f in (returns, returns_tuple, waits, raises, raises_after_waiting,
                                     cancels_itself, too_few_parameters, needs_more, plain, context)}


async def _record(into: list[str]) -> None:
    into.append(VAR.get())


async def outcome(kind: str, name: str, fn: Callable[..., Any], caplog: pytest.LogCaptureFixture) -> dict[str, Any]:
    """What one call does: the answers given, whether at once, and what was logged."""
    logger = logging.getLogger(f"test.calls.{kind}")
    answers: list[Any] = []
    caplog.clear()
    cb = Callback(fn)
    owner = object()
    if kind == "run":
        run(cb, [owner, 7], answers.append, Where(owner, name), logger)
    else:
        run_handler(cb, [owner, 7], lambda ack_id, result: answers.append(result), 3, owner, name, logger)
    at_once = list(answers)
    for _ in range(10):
        await asyncio.sleep(0)
    errors = [(type(r.exc_info[1]).__name__, str(r.exc_info[1])) for r in caplog.records if r.exc_info]
    return {"at once": at_once, "answers": answers, "errors": errors}


@pytest.mark.parametrize("name", list(handlers()))
async def test_run_handler_matches_run(name: str, caplog: pytest.LogCaptureFixture) -> None:
    fn = handlers()[name]
    with caplog.at_level(logging.ERROR):
        general = await outcome("run", name, fn, caplog)
        fast = await outcome("run_handler", name, fn, caplog)
    assert fast == general
    expected = {
        "returns": [14], "returns_tuple": [(7, 7)], "waits": [8], "raises": [], "raises_after_waiting": [],
        "cancels_itself": [], "too_few_parameters": ["dropped"], "needs_more": [], "plain": [-7],
        "context": ["unset|set by 7|True"],
    }[name]
    assert general["answers"] == expected
    never_waits = name in ("returns", "returns_tuple", "too_few_parameters", "plain")
    assert general["at once"] == (expected if never_waits else [])
    assert bool(general["errors"]) == (name in ("raises", "raises_after_waiting", "needs_more"))


async def test_each_call_has_its_own_task_and_context() -> None:
    seen: list[tuple[Any, str]] = []

    async def handler(owner: Any) -> None:
        seen.append((asyncio.current_task(), VAR.get()))
        VAR.set("leaked?")

    outer = asyncio.current_task()
    cb = Callback(handler)
    for _ in range(3):
        run_handler(cb, [None], None, None, None, "e", logging.getLogger("test"))
        run(cb, [None], None, "where", logging.getLogger("test"))
    assert [value for _, value in seen] == ["unset"] * 6
    tasks = [task for task, _ in seen]
    assert all(t is not None and t is not outer for t in tasks)
    assert len({id(t) for t in tasks}) == 6
    assert asyncio.current_task() is outer and VAR.get() == "unset"  # the caller is untouched
