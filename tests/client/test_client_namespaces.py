"""Multiplexing: namespaces share one Engine.IO connection, and each lives its own life."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from clientkit import Inbox, ServerUnderTest, engine_of, reference_app

import socketeer


async def test_namespaces_share_one_connection(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url, auth={"token": "ok"})
    await client.connect(timeout=5)
    engine = engine_of(client)
    admin = client.socket("/admin", auth={"token": "ok"})
    dyn = client.socket("dyn-7")
    assert client.socket("/admin") is admin  # one socket per namespace
    await asyncio.gather(admin.connect(timeout=5), dyn.connect(timeout=5))
    assert engine_of(admin) is engine and engine_of(dyn) is engine
    assert len({client.id, admin.id, dyn.id}) == 3
    # Each namespace gets its own events.
    inboxes = {name: Inbox() for name in ("/", "/admin", "/dyn-7")}
    for sock, name in ((client, "/"), (admin, "/admin"), (dyn, "/dyn-7")):
        sock.on("echo", inboxes[name])
    for sock, name in ((dyn, "/dyn-7"), (admin, "/admin"), (client, "/")):
        sock.emit("echo", name, b"\x07")
    for name, inbox in inboxes.items():
        assert await inbox.get() == [name, b"\x07"]
    assert await dyn.emit_with_ack("ack", "d", timeout=5) == "d"
    if server.app is not None:
        assert len(server.app.engine.sessions) == 1


async def test_leaving_one_namespace_keeps_the_others(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    await client.connect(timeout=5)
    dyn = client.socket("/dyn-1")
    await dyn.connect(timeout=5)
    reasons = Inbox()
    dyn.on("disconnect", lambda reason: reasons.put(reason))
    await dyn.disconnect()
    assert await reasons.get() == "io client disconnect"
    assert client.connected and client.manager.engine is not None
    assert await client.emit_with_ack("ack", "still here", timeout=5) == "still here"
    # ... and the namespace can be joined again.
    await dyn.connect(timeout=5)
    assert await dyn.emit_with_ack("ack", "back", timeout=5) == "back"


async def test_the_connection_closes_with_the_last_namespace(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    dyn = client.socket("/dyn-2")
    await dyn.connect(timeout=5)  # a namespace socket alone opens the connection
    assert not client.connected
    engine = engine_of(dyn)
    await dyn.disconnect()
    assert engine.done.is_set() and client.manager.engine is None and not client.manager.reconnecting


async def test_force_new_opens_another_connection(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    await client.connect(timeout=5)
    other = client.socket("/dyn-3", force_new=True)
    await other.connect(timeout=5)
    assert other.manager is not client.manager
    assert engine_of(other).sid != engine_of(client).sid
    await client.disconnect()  # takes the forced connection down too
    assert not other.connected and other.manager.engine is None


async def test_server_side_disconnect_of_one_namespace(serve: Any, clients: Any) -> None:
    io = reference_app()

    @io.of("/admin").on("kick")
    async def kick(socket: socketeer.Socket) -> None:
        await socket.disconnect()

    url = await serve(io)
    client = clients(url, reconnection_delay=0.05)
    await client.connect(timeout=5)
    admin = client.socket("/admin", auth={"token": "ok"})
    await admin.connect(timeout=5)
    reasons = Inbox()
    admin.on("disconnect", lambda reason: reasons.put(reason))
    attempts = Inbox()
    client.manager.on("reconnect_attempt", attempts)
    admin.emit("kick")
    assert await reasons.get() == "io server disconnect"
    await asyncio.wait_for(admin.wait(), 5)
    assert not admin.active
    await asyncio.sleep(0.2)
    assert attempts.items == []  # no reconnection after a server-side disconnect
    assert client.connected
    assert await client.emit_with_ack("ack", 1, timeout=5) == 1


async def test_refused_namespace_does_not_reconnect(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    await client.connect(timeout=5)
    admin = client.socket("/admin")
    with pytest.raises(socketeer.ConnectionError, match="Not authorized"):
        await admin.connect(timeout=5)
    # Asking again sends a new CONNECT (with the new auth), over the same connection.
    admin.auth = {"token": "ok"}
    await admin.connect(timeout=5)
    assert engine_of(admin) is engine_of(client)
