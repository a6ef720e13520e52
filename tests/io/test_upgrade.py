"""The polling-to-WebSocket upgrade over a raw WebSocket (node-wire.md §6)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from rawclient import EchoApp, EngineClient, WebSocket, open_ws, split_payload

Serve = Callable[[Any], Awaitable[str]]


async def start(serve: Serve, **options: Any) -> tuple[EchoApp, str]:
    app = EchoApp(**options)
    return app, await serve(app.eio)


async def probe(client: EngineClient) -> WebSocket:
    ws = await client.upgrade_ws()
    await ws.send_text("2probe")
    assert await ws.recv() == "3probe"
    return ws


async def test_upgrade_sequence(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    pending = await client.start_poll()
    try:
        ws = await client.upgrade_ws()
        assert ws.response.status == 101
        await ws.send_text("2probe")
        # No open packet on an upgrading WebSocket: the first frame is the probe answer.
        assert await ws.recv() == "3probe"
        released = await pending.read_response()
        assert released.status == 200
        assert released.body == b"6"
    finally:
        pending.close()
    try:
        await ws.send_text("5")
        await ws.send_text("4over ws")
        assert await ws.recv() == "4over ws"
        assert session.transport == "websocket"
        for method in ("GET", "POST"):
            response = await (client.get() if method == "GET" else client.post("4x"))
            assert response.status == 400
            assert response.json() == {"code": 3, "message": "Bad request"}
        await ws.send_binary(b"\x00bin")
        assert await ws.recv() == b"\x00bin"
    finally:
        ws.close()
    assert await app.wait_disconnect(client.sid) == "transport close"
    assert app.disconnects[client.sid] == ["transport close"]


async def test_probe_without_a_pending_get_releases_the_next_one(serve: Serve) -> None:
    _app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    ws = await probe(client)
    try:
        assert await client.poll(timeout=2) == ["6"]  # at once, not after a heartbeat
        await ws.send_text("5")
        await ws.send_text("4done")
        assert await ws.recv() == "4done"
    finally:
        ws.close()


async def test_packets_sent_during_the_upgrade_arrive_once_and_in_order(serve: Serve) -> None:
    app, url = await start(serve, echo=False)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    counter = 0

    def emit(n: int) -> None:
        nonlocal counter
        for _ in range(n):
            session.send_nowait(f"n{counter}")
            counter += 1

    async def trickle() -> None:
        for _ in range(150):
            emit(1)
            await asyncio.sleep(0.002)

    received: list[str] = []

    def take(packets: list[str]) -> None:
        received.extend(p for p in packets if p != "6")

    emit(10)
    await asyncio.sleep(0)
    take(await client.poll())  # before the upgrade
    background = asyncio.create_task(trickle())
    try:
        pending = await client.start_poll()
        emit(5)
        take(split_payload((await pending.read_response()).body))
        pending.close()
        ws = await client.upgrade_ws()
        emit(5)
        await ws.send_text("2probe")
        assert await ws.recv() == "3probe"
        emit(5)
        take(await client.poll())  # the poll the probe releases
        emit(20)
        await asyncio.sleep(0.02)
        await ws.send_text("5")
        emit(20)
        await background
        emit(3)
        last = f"4n{counter - 1}"
        for _ in range(counter + 1):
            got = await ws.recv()
            assert isinstance(got, str)
            received.append(got)
            if got == last:
                break
    finally:
        background.cancel()
    assert received == [f"4n{i}" for i in range(counter)]
    assert counter == 10 + 5 + 5 + 5 + 20 + 20 + 150 + 3


async def test_get_during_the_probe_is_released_by_the_upgrade(serve: Serve) -> None:
    app, url = await start(serve, echo=False)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    ws = await probe(client)
    try:
        assert await client.poll() == ["6"]
        stray = await client.start_poll()  # a client that keeps polling while probing
        await app.wait_pending_poll(client.sid)
        await ws.send_text("5")
        response = await stray.read_response()
        assert response.status == 200
        assert response.body == b"6"
        stray.close()
        await session.send("after")
        assert await ws.recv() == "4after"
        await asyncio.sleep(0.05)  # the stray poll's connection is gone: the session must not care
        assert app.disconnects == {}
        await session.send("still")
        assert await ws.recv() == "4still"
    finally:
        ws.close()


async def test_websocket_that_never_probes_is_closed_after_upgrade_timeout(serve: Serve) -> None:
    app, url = await start(serve, upgrade_timeout=0.3)
    client = EngineClient(url)
    await client.open()
    ws = await client.upgrade_ws()
    began = time.monotonic()
    try:
        frames, _close = await ws.recv_until_close(timeout=3)
        assert frames == []
        assert 0.25 < time.monotonic() - began < 2.0
    finally:
        ws.close()
    # The session goes on over polling, and may try again.
    assert (await client.post("4polling")).body == b"ok"
    assert await client.poll() == ["4polling"]
    retry = await probe(client)
    try:
        await retry.send_text("5")
        await retry.send_text("4upgraded")
        assert await retry.recv() == "4upgraded"
    finally:
        retry.close()
    assert app.disconnects.get(client.sid) in (None, ["transport close"])


async def test_probe_without_upgrade_is_closed_after_upgrade_timeout(serve: Serve) -> None:
    _app, url = await start(serve, upgrade_timeout=0.3)
    client = EngineClient(url)
    await client.open()
    ws = await probe(client)
    try:
        frames, _ = await ws.recv_until_close(timeout=3)
        assert frames == []
    finally:
        ws.close()
    assert await client.poll() == ["6"]
    assert (await client.post("4still polling")).body == b"ok"
    assert await client.poll() == ["4still polling"]


@pytest.mark.parametrize("packet", ["4hello", "2", "3probe", "x", "1"])
async def test_unexpected_packet_on_the_probe_fails_the_upgrade(serve: Serve, packet: str) -> None:
    _app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    ws = await probe(client)
    try:
        await ws.send_text(packet)
        frames, _ = await ws.recv_until_close()
        assert frames == []
    finally:
        ws.close()
    assert await client.poll() == ["6"]
    assert (await client.post("4polling")).body == b"ok"
    assert await client.poll() == ["4polling"]
    retry = await probe(client)
    try:
        await retry.send_text("5")
        await retry.send_text("4ws")
        assert await retry.recv() == "4ws"
    finally:
        retry.close()


async def test_second_websocket_while_upgrading_is_closed(serve: Serve) -> None:
    _app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    first = await probe(client)
    try:
        second = await client.upgrade_ws()
        frames, _ = await second.recv_until_close()
        assert frames == []
        second.close()
        await first.send_text("5")
        await first.send_text("4first wins")
        assert await first.recv() == "4first wins"
    finally:
        first.close()


async def test_upgrade_request_naming_polling_does_not_upgrade(serve: Serve) -> None:
    _app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    ws = await open_ws(url, client.target("polling"), expect=None)
    try:
        if ws.response.status == 101:  # the reference: 101, then closed at once
            frames, _ = await ws.recv_until_close()
            assert frames == []
        else:
            assert ws.response.status == 400
    finally:
        ws.close()
    assert (await client.post("4fine")).body == b"ok"
    assert await client.poll() == ["4fine"]


async def test_probe_closed_by_the_client_then_retry(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    ws = await probe(client)
    ws.close()
    assert await client.poll() == ["6"]
    await asyncio.sleep(0.05)
    retry = await probe(client)
    try:
        await retry.send_text("5")
        await retry.send_text("4again")
        assert await retry.recv() == "4again"
    finally:
        retry.close()
    assert app.disconnects.get(client.sid) in (None, ["transport close"])


async def test_server_close_during_the_probe(serve: Serve) -> None:
    app, url = await start(serve)
    client = EngineClient(url)
    await client.open()
    session = await app.wait_connect()
    ws = await probe(client)
    try:
        assert await client.poll() == ["6"]
        pending = await client.start_poll()
        await app.wait_pending_poll(client.sid)
        await session.close()
        assert (await pending.read_response()).body == b"1"
        pending.close()
        frames, _ = await ws.recv_until_close()
        assert frames == []
    finally:
        ws.close()
    assert await app.wait_disconnect(client.sid) == "forced close"


async def test_official_client_upgrades_under_a_send_storm(js: Any, serve: Serve) -> None:
    app, url = await start(serve, echo=False)
    await js.call({"cmd": "eio_open", "id": "u", "url": url, "opts": {"path": "/engine.io/"}})
    await js.wait_event("u", "open")
    session = await app.wait_connect()

    async def storm() -> None:
        for i in range(200):
            session.send_nowait(f"s{i}")
            await asyncio.sleep(0.001)

    task = asyncio.create_task(storm())
    await js.wait_event("u", "upgrade")
    await task
    got = [(await js.wait_event("u", "message"))["data"] for _ in range(200)]
    assert got == [f"s{i}" for i in range(200)]
    assert session.transport == "websocket"
