"""Fixtures of the client tests: the same server behaviour from socketeer and from Node, clients
cleaned up whatever happens, and a watch on the event loop's exception handler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from clientkit import TIMEOUT, ServerUnderTest, StartServer, reference_app

import socketeer


@pytest.fixture(params=["socketeer", "node"])
def start_server(request: pytest.FixtureRequest) -> StartServer:
    """``srv = await start_server(**options)``: socketeer's ``reference_app`` or ref_server.js.

    ``options`` are socketeer ``Server`` keywords; ``node=`` gives Node's options instead.
    (A plain fixture: only it can ask for the other kind's fixture lazily, outside the loop.)
    """
    kind = request.param
    factory = request.getfixturevalue("serve" if kind == "socketeer" else "ref_server")

    async def start(node: dict[str, Any] | None = None, **options: Any) -> ServerUnderTest:
        if kind == "socketeer":
            app = reference_app(**options)
            return ServerUnderTest(kind, await factory(app), app)
        return ServerUnderTest(kind, await factory(node))

    return start


@pytest_asyncio.fixture
async def server(start_server: StartServer) -> ServerUnderTest:
    """A default server of each kind."""
    return await start_server()


@pytest_asyncio.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Everything that reached the event loop's exception handler during the test (must stay
    empty: bad input from a server may never surface as an unhandled exception)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


@pytest_asyncio.fixture
async def clients() -> AsyncIterator[Callable[..., socketeer.Client]]:
    """``make(url, **options)``: clients disconnected at the end of the test, whatever happened."""
    made: list[socketeer.Client] = []

    def make(url: str, **options: Any) -> socketeer.Client:
        client = socketeer.Client(url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        try:
            await asyncio.wait_for(client.disconnect(), TIMEOUT)
        except Exception:  # pragma: no cover - cleanup must go on
            logging.getLogger(__name__).exception("cleanup of %r failed", client)
