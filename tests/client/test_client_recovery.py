"""Connection state recovery: the client keeps the server's pid and the last offset, sends them
back when it reconnects, and gets the packets it missed (before the CONNECT answer)."""

from __future__ import annotations

import asyncio
from typing import Any

from clientkit import Inbox, drop_connection

import socketeer

RECOVERY = {"node": {"connectionStateRecovery": {"maxDisconnectionDuration": 60_000}},
            "connection_state_recovery": {"max_disconnection_duration": 60.0}}


async def test_missed_packets_are_recovered(start_server: Any, clients: Any) -> None:
    server = await start_server(**RECOVERY)
    watcher = clients(server.url, reconnection_delay=0.6, randomization_factor=0, transports=["websocket"])
    news = Inbox()
    watcher.on("news", news)
    connects = Inbox()
    watcher.on("connect", lambda: connects.put(watcher.recovered))
    await watcher.connect(timeout=5)
    assert await connects.get() is False  # a first connection recovers nothing
    await watcher.emit_with_ack("join", "room-1", timeout=5)
    first_id = watcher.id

    sender = clients(server.url)
    await sender.connect(timeout=5)
    await sender.emit_with_ack("broadcast", None, "news", 1, timeout=5)
    await sender.emit_with_ack("broadcast", "room-1", "news", "room", timeout=5)
    # Recovery on: every event carries its offset as a last argument.
    first = await news.get()
    assert first[0] == 1 and isinstance(first[1], str)
    assert (await news.get())[0] == "room"

    drop_connection(watcher)  # the network fails; the server keeps the session
    await asyncio.sleep(0.2)  # ... once it has noticed
    assert not watcher.connected
    for i in (2, 3):
        await sender.emit_with_ack("broadcast", None, "news", i, timeout=5)
    await sender.emit_with_ack("broadcast", "room-1", "news", "room again", timeout=5)

    assert await connects.get() is True
    assert watcher.recovered and watcher.id == first_id
    assert [item[0] for item in await news.wait_len(5)] == [1, "room", 2, 3, "room again"]
    # Rooms came back with the session.
    await sender.emit_with_ack("broadcast", "room-1", "news", "live", timeout=5)
    assert (await news.wait_len(6))[5][0] == "live"


async def test_recovery_offset_goes_back_in_the_connect_auth(serve: Any, clients: Any) -> None:
    io = socketeer.Server(connection_state_recovery=True)
    auths: list[Any] = []
    io.on("connection", lambda socket, auth: auths.append(auth))

    @io.on("poke")
    async def poke(socket: socketeer.Socket) -> None:
        await socket.emit("poked", "x")

    client = clients(await serve(io), auth={"user": "u"}, transports=["websocket"], reconnection_delay=0.05,
                     randomization_factor=0)
    poked = Inbox()
    client.on("poked", poked)
    await client.connect(timeout=5)
    client.emit("poke")
    _, offset = await poked.get()
    drop_connection(client)
    await asyncio.wait_for(_until(lambda: len(auths) == 2), 5)
    pid = auths[1]["pid"]
    assert auths == [{"user": "u"}, {"pid": pid, "offset": offset, "user": "u"}]
    assert client.recovered


async def _until(predicate: Any) -> None:
    while not predicate():
        await asyncio.sleep(0.01)
