"""Sending: buffering while offline, volatile drops, at-least-once ``retries``, catch-alls."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from clientkit import Inbox, ServerUnderTest, drop_connection, engine_of, reference_app

import socketeer


async def test_buffered_while_disconnected_volatile_dropped(server: ServerUnderTest, clients: Any) -> None:
    # (Over a WebSocket, so that "connected" also means "writable" for the volatile emit.)
    client = clients(server.url, transports=["websocket"])
    echoes = Inbox()
    client.on("echo", echoes)
    client.volatile.emit("echo", "volatile while offline")  # dropped
    client.emit("echo", "buffered 1")
    client.emit("echo", "buffered 2", b"\x02")
    await client.connect(timeout=5)
    client.volatile.emit("echo", "volatile while connected")  # the transport can take it: sent
    await client.emit_with_ack("echo", "last", timeout=5)
    assert await echoes.wait_len(4) == ["buffered 1", ["buffered 2", b"\x02"], "volatile while connected", "last"]
    await asyncio.sleep(0.05)
    assert len(echoes.items) == 4


async def test_volatile_dropped_while_the_transport_is_busy(serve: Any, clients: Any) -> None:
    io = reference_app()
    got: list[int] = []
    io.on("v", lambda socket, n: got.append(n))
    client = clients(await serve(io), transports=["polling"])
    await client.connect(timeout=5)
    await client.emit_with_ack("ack", timeout=5)
    assert engine_of(client).writable
    client.volatile.emit("v", 0)
    await asyncio.sleep(0)  # the flush: its POST is now in flight
    assert not engine_of(client).writable
    for n in range(1, 100):
        client.volatile.emit("v", n)  # the reference's rule: dropped while the POST is pending
    client.emit("v", 100)  # an ordinary emit waits its turn instead
    await client.emit_with_ack("ack", timeout=5)
    assert got == [0, 100]


async def test_retries_deliver_in_order(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url, retries=2, ack_timeout=0.3)
    echoes = Inbox()
    client.on("echo", echoes)
    # Queued before connecting, then sent one at a time, each once acknowledged.
    calls = [client.emit_with_ack("ack", i) for i in range(5)]
    client.emit("echo", "plain emit, acked under retries")
    await client.connect(timeout=5)
    assert await asyncio.gather(*calls) == list(range(5))
    assert await echoes.get() == "plain emit, acked under retries"


async def test_retries_give_up_after_the_last_try(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url, retries=2, ack_timeout=0.15)
    await client.connect(timeout=5)
    started = asyncio.get_running_loop().time()
    with pytest.raises(socketeer.AckTimeout):
        await client.emit_with_ack("nobody-answers")
    elapsed = asyncio.get_running_loop().time() - started
    assert 0.4 < elapsed < 2.0  # three tries of 0.15 s
    assert await client.emit_with_ack("ack", "next in the queue") == "next in the queue"


async def test_retries_resend_until_acknowledged(serve: Any, clients: Any) -> None:
    io = reference_app()
    deliveries: list[Any] = []

    @io.on("flaky")
    def flaky(socket: socketeer.Socket, value: Any, ack: Any = None) -> None:
        deliveries.append(value)
        if len(deliveries) >= 3:  # the first two deliveries go unanswered
            ack("stored", value)

    @io.on("after")
    def after(socket: socketeer.Socket, value: Any) -> Any:
        deliveries.append(value)
        return value

    client = clients(await serve(io), retries=5, ack_timeout=0.1)
    await client.connect(timeout=5)
    first = client.emit_with_ack("flaky", "a")
    second = client.emit_with_ack("after", "b")  # waits its turn behind the first
    assert await asyncio.wait_for(asyncio.gather(first, second), 5) == [["stored", "a"], "b"]
    assert deliveries == ["a", "a", "a", "b"]  # at least once, in order


async def test_retries_survive_a_reconnection(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url, retries=3, ack_timeout=2.0, transports=["websocket"],
                     reconnection_delay=0.05, randomization_factor=0)
    await client.connect(timeout=5)
    drop_connection(client)
    # Emitted while the connection is down: sent (forced) after the reconnection.
    answer = await asyncio.wait_for(client.emit_with_ack("ack", "across"), 5)
    assert answer == "across"


async def test_catch_all_listeners_once_and_off(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    incoming, outgoing, once, named = Inbox(), Inbox(), Inbox(), Inbox()
    client.on_any(incoming)
    client.on_any_outgoing(outgoing)
    client.once("echo", once)
    client.on("echo", named)
    client.emit("echo", "buffered")  # outgoing listeners see it when it is flushed
    assert outgoing.items == []
    await client.connect(timeout=5)
    client.emit("echo", 2)
    assert await incoming.wait_len(2) == [["echo", "buffered"], ["echo", 2]]
    assert outgoing.items == [["echo", "buffered"], ["echo", 2]]
    assert once.items == ["buffered"]
    assert named.items == ["buffered", 2]
    client.off("echo", named)
    client.off_any(incoming)
    client.off_any_outgoing()
    client.emit("echo", 3)
    await client.emit_with_ack("ack", timeout=5)
    assert named.items == ["buffered", 2] and len(incoming.items) == 2 and len(outgoing.items) == 2
    assert client.listeners("echo") == []


async def test_message_event_and_event_decorator(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    seen = Inbox()

    @client.event
    def echo(*args: Any) -> None:
        seen(*args)

    await client.connect(timeout=5)
    client.send("ignored by the server")  # "message": no listener there, nothing happens
    client.emit("echo", "decorated")
    assert await seen.get() == "decorated"


async def test_leaving_fails_what_is_still_unsent(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url, retries=2)
    queued = asyncio.ensure_future(client.emit_with_ack("ack", "never sent"))
    plain = clients(server.url)
    buffered = asyncio.ensure_future(plain.emit_with_ack("ack", "never sent"))
    await asyncio.sleep(0.05)
    await client.disconnect()
    await plain.disconnect()
    for pending in (queued, buffered):
        with pytest.raises(socketeer.ConnectionClosed):
            await asyncio.wait_for(pending, 1)


async def test_retries_with_a_per_call_timeout(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url, retries=1)  # no ack_timeout: the call's timeout bounds each try
    await client.connect(timeout=5)
    started = asyncio.get_running_loop().time()
    with pytest.raises(socketeer.AckTimeout):
        await client.timeout(0.15).emit_with_ack("nobody-answers")
    assert 0.25 < asyncio.get_running_loop().time() - started < 2.0  # two tries


async def test_listeners_take_the_arguments_they_name(serve: Any, clients: Any) -> None:
    """As a JavaScript function: extra arguments (the recovery offset, say) are not an error."""
    io = socketeer.Server(connection_state_recovery=True)

    @io.on("poke")
    async def poke(socket: socketeer.Socket) -> None:
        await socket.emit("news", "item", 2)  # plus the offset: three arguments arrive

    client = clients(await serve(io))
    one, every = Inbox(), Inbox()
    client.on("news", lambda item: one.put(item))
    client.on("news", every)
    await client.connect(timeout=5)
    client.emit("poke")
    assert await one.get() == "item"
    item, number, offset = await every.get()
    assert (item, number) == ("item", 2) and isinstance(offset, str)
