"""Fixtures for tests that talk to the official Node socket.io packages.

Without ``npm ci`` in this folder the tests skip locally, but fail under CI
(``CI`` set), where a skipped interop suite would hide a broken install step.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from jsclient import JSDriver, RefServer, node_modules_ready


def _require_node() -> None:
    if node_modules_ready():
        return
    msg = "Node interop deps missing: run `npm ci` in tests/interop"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest_asyncio.fixture
async def js():
    """A running driver.js; every socket it opened is closed afterwards."""
    _require_node()
    driver = await JSDriver.start()
    try:
        yield driver
    finally:
        await driver.close()


@pytest_asyncio.fixture
async def ref_server():
    """Factory: ``url = await ref_server(options=None)`` starts ref_server.js.

    ``options`` goes to socket.io's ``new Server(opts)`` ("parser": "msgpack"
    selects the msgpack parser). Every server started is stopped afterwards.
    """
    _require_node()
    servers: list[RefServer] = []

    async def start(options: dict | None = None) -> str:
        server = await RefServer.start(options)
        servers.append(server)
        return server.url

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()
