"""The adapter's port (``adapters.base.NamespacePort``): what a cluster adapter does with it,
done here by a test adapter on one node: a server-side emit arriving from another node reaches
``on_server_side`` handlers (in a task of their own) and their answers go back; deliveries
and acks go through the port to the official client."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import socketeer
from socketeer.adapters.base import InMemoryAdapter

from .util import Serve, connect, start

ADAPTERS: list[InMemoryAdapter] = []


def keep(nsp: Any) -> InMemoryAdapter:
    adapter = InMemoryAdapter(nsp)
    ADAPTERS.append(adapter)
    return adapter


async def test_server_side_message_from_another_node_reaches_the_handler(
        caplog: pytest.LogCaptureFixture) -> None:
    io = socketeer.Server(adapter=keep)
    port = ADAPTERS[-1].port
    seen: list[Any] = []

    @io.on_server_side("hello")
    async def hello(a: int, b: int) -> int:
        seen.append(asyncio.current_task())
        async with asyncio.timeout(1):
            await asyncio.sleep(0)
        return a + b

    @io.on_server_side("pair")
    def pair(x: str) -> tuple[str, str]:
        return x, x.upper()

    @io.on_server_side("fails")
    def fails() -> None:
        raise RuntimeError("handler bug")

    answers: asyncio.Queue[list[Any]] = asyncio.Queue()
    port.server_side(["hello", 1, 2], answers.put_nowait)
    assert await asyncio.wait_for(answers.get(), 5) == [3]
    assert seen and seen[0] is not None
    port.server_side(["pair", "a"], answers.put_nowait)
    assert await asyncio.wait_for(answers.get(), 5) == ["a", "A"]
    port.server_side(["hello", 5, 5], None)  # no ack asked: nothing answers, nothing fails
    with caplog.at_level(logging.INFO, logger="socketeer"):
        port.server_side(["nobody listens"], answers.put_nowait)
        port.server_side([42, "not an event name"], answers.put_nowait)
        port.server_side([], answers.put_nowait)
        port.server_side(["fails"], answers.put_nowait)
        await asyncio.sleep(0)
    assert answers.empty()  # unknown, malformed and failing messages are not answered
    assert any("handler bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert any("without an event name" in r.getMessage() for r in caplog.records)


async def test_port_delivers_encoded_once_and_collects_acks(js: Any, serve: Serve) -> None:
    io, url = await start(serve, adapter=keep)
    adapter = ADAPTERS[-1]
    sids = [(await connect(js, cid, url))["sid"] for cid in ("a", "b")]
    for cid in ("a", "b"):
        await js.call({"cmd": "on_ack", "id": cid, "event": "q", "reply": [cid]})
    from socketeer.socketio.packets import Packet, PacketType

    items = adapter.port.encode(Packet(PacketType.EVENT, "/", ["news", 1]))
    assert adapter.port.deliver([*sids, "no-such-sid"], items, volatile=False) == 2
    for cid in ("a", "b"):
        event = await js.wait_event(cid, "event")
        assert (event["event"], event["args"]) == ("news", [1])
    answers: list[Any] = []
    got_both = asyncio.Event()

    def on_ack(answer: Any) -> None:
        answers.append(answer)
        if len(answers) == 2:
            got_both.set()

    ack_id = io.sockets.next_ack_id()
    items = adapter.port.encode(Packet(PacketType.EVENT, "/", ["q"], ack_id))
    assert adapter.port.deliver_expecting_ack(sids, items, ack_id, on_ack, volatile=False) == 2
    await asyncio.wait_for(got_both.wait(), 5)
    assert sorted(answers) == ["a", "b"]
    assert [s.id for s in adapter.port.sockets([sids[1], "gone"])] == [sids[1]]
