"""An adapter lives from its server's start to its stop under every front end: the built-in
server, ASGI under uvicorn's lifespan, and ASGI mounted where no lifespan reaches it. A
namespace made after the start (``io.of`` later, a dynamic namespace's child) gets its
``init`` too, and every adapter is closed once, after the sessions were closed."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount
from test_asgi import running

import socketeer
import socketeer.testing
from socketeer.adapters.base import InMemoryAdapter
from socketeer.io.asgi import ASGIApp


class Recorded(InMemoryAdapter):
    """The default adapter, writing down its life."""

    journal: list[tuple[str, str]]

    async def init(self) -> None:
        await asyncio.sleep(0)  # an adapter that really waits (a broker's connect)
        self.journal.append(("init", self.nsp.name))

    async def close(self) -> None:
        self.journal.append(("close", self.nsp.name))


def recording_server() -> tuple[socketeer.Server, list[tuple[str, str]]]:
    journal: list[tuple[str, str]] = []

    def factory(nsp: Any) -> Recorded:
        adapter = Recorded(nsp)
        adapter.journal = journal
        return adapter

    io = socketeer.Server(adapter=factory)
    io.of("/admin")

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        @socket.on("disconnect")
        def gone(reason: str) -> None:
            journal.append(("disconnect", reason))

    return io, journal


async def wait_for(journal: list[tuple[str, str]], entry: tuple[str, str]) -> None:
    async with asyncio.timeout(5):
        while entry not in journal:
            await asyncio.sleep(0.005)


async def test_built_in_server() -> None:
    io, journal = recording_server()
    assert journal == []  # nothing runs before the server starts
    (host, port), *_ = await io.listen("127.0.0.1", 0)
    assert sorted(journal) == [("init", "/"), ("init", "/admin")]
    io.of("/late")
    await wait_for(journal, ("init", "/late"))
    dynamic = io.of(re.compile(r"^/room-\d+$"))
    async with socketeer.testing.client(f"http://{host}:{port}/room-7"):
        await wait_for(journal, ("init", "/room-7"))
    assert dynamic.children
    await io.shutdown(timeout=1)
    # Once each; the dynamic parent has no traffic of its own (its children carry it).
    assert sorted(name for kind, name in journal if kind == "close") == ["/", "/admin", "/late", "/room-7"]


async def test_asgi_under_the_lifespan_of_uvicorn() -> None:
    io, journal = recording_server()
    async with running(ASGIApp(io), "uvicorn") as url:
        assert sorted(journal) == [("init", "/"), ("init", "/admin")]  # at startup, before any request
        io.of("/late")
        await wait_for(journal, ("init", "/late"))
        client = socketeer.testing.RecordingClient(url)
        await client.connect(timeout=5)
        assert client.connected
    # Shutdown: the sessions are closed first (disconnect handlers still find the adapter;
    # uvicorn closes the connections itself before the lifespan's shutdown), then each
    # adapter once.
    await wait_for(journal, ("close", "/"))
    first_close = min(i for i, (kind, _) in enumerate(journal) if kind == "close")
    assert [kind for kind, _ in journal[:first_close]].count("disconnect") == 1
    closes = sorted(name for kind, name in journal if kind == "close")
    assert closes == ["/", "/admin", "/late"]
    await client.disconnect()


async def test_asgi_mounted_where_no_lifespan_reaches_it() -> None:
    """Starlette does not pass its lifespan to a mounted app: the first request starts it."""
    io, journal = recording_server()
    outer = Starlette(routes=[Mount("/rt", ASGIApp(io))])
    async with running(outer, "uvicorn") as url:
        assert journal == []
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            response = await http.get("/rt/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert response.status_code == 200
        assert sorted(journal) == [("init", "/"), ("init", "/admin")]
