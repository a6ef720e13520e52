"""Fixtures shared by the whole suite: servers on free ports, in the test's own event loop."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent / "interop"))

from interop_fixtures import js, ref_server

from socketeer.io.serving import Servable

__all__ = ["js", "ref_server", "serve"]

Serve = Callable[[Servable], Awaitable[str]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    """``url = await serve(app)`` runs ``app`` on the built-in server on a free port."""
    apps: list[Servable] = []

    async def start(app: Servable) -> str:
        (host, port), *_ = await app.listen("127.0.0.1", 0)
        apps.append(app)
        return f"http://{host}:{port}"

    yield start
    for app in apps:
        await app.shutdown(timeout=1.0)
