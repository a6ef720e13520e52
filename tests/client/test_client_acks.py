"""Acknowledgements both ways, their timeouts, and what a dropped connection does to them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from clientkit import Inbox, ServerUnderTest, drop_connection

import socketeer


async def test_client_asks_server_answers(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    await client.connect(timeout=5)
    assert await client.emit_with_ack("ack", timeout=5) is None  # no value
    assert await client.emit_with_ack("ack", "one", timeout=5) == "one"  # one value
    assert await client.emit_with_ack("ack", 1, [2], timeout=5) == [1, [2]]  # several
    assert await client.timeout(5).emit_with_ack("ack", b"\x00") == b"\x00"
    answers = Inbox()
    client.emit("ack", "cb", 2, callback=answers)
    assert await answers.get() == ["cb", 2]
    # Many in flight at once, answered each to its own caller.
    results = await asyncio.gather(*(client.emit_with_ack("ack", i, timeout=5) for i in range(50)))
    assert results == list(range(50))


@pytest.mark.parametrize("style", ["return", "tuple", "ack-parameter", "async"])
async def test_server_asks_client_answers(server: ServerUnderTest, clients: Any, style: str) -> None:
    client = clients(server.url)
    if style == "return":
        client.on("question", lambda text: text.upper())
    elif style == "tuple":
        client.on("question", lambda text: (text, len(text), b"\x01"))
    elif style == "ack-parameter":
        def later(text: str, ack: Any = None) -> None:
            asyncio.get_running_loop().call_later(0.05, ack, "later", text)

        client.on("question", later)
    else:
        async def slow(text: str) -> str:
            await asyncio.sleep(0.05)
            return text[::-1]

        client.on("question", slow)
    await client.connect(timeout=5)
    answer = await client.emit_with_ack("call_client", "question", "abc", timeout=6)
    expected = {
        "return": ["ABC"], "tuple": ["abc", 3, b"\x01"], "ack-parameter": ["later", "abc"], "async": ["cba"],
    }[style]
    assert answer == {"reply": expected}


async def test_a_listener_that_raises_leaves_the_ack_unanswered(server: ServerUnderTest, clients: Any,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    client = clients(server.url)

    def broken(*args: Any) -> None:
        raise RuntimeError("user bug")

    client.on("question", broken)
    await client.connect(timeout=5)
    client.emit("call_client", "question", callback=lambda answer: None)
    async with asyncio.timeout(5):  # until the failure is logged
        while "user bug" not in caplog.text:
            await asyncio.sleep(0.01)
    # The connection is unharmed.
    assert await client.emit_with_ack("ack", "ok", timeout=5) == "ok"


async def test_ack_timeout(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    await client.connect(timeout=5)
    with pytest.raises(socketeer.AckTimeout):
        await client.emit_with_ack("nobody-answers", timeout=0.2)
    assert isinstance(socketeer.AckTimeout(), TimeoutError)
    defaulted = clients(server.url, ack_timeout=0.2)
    await defaulted.connect(timeout=5)
    with pytest.raises(socketeer.AckTimeout):
        await defaulted.emit_with_ack("nobody-answers")
    assert await defaulted.emit_with_ack("ack", "in time") == "in time"


async def test_pending_ack_fails_when_the_connection_drops(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url, transports=["websocket"], reconnection_delay=0.05, randomization_factor=0)
    await client.connect(timeout=5)
    pending = asyncio.ensure_future(client.emit_with_ack("nobody-answers", timeout=5))
    await asyncio.sleep(0.1)
    drop_connection(client)
    with pytest.raises(socketeer.ConnectionClosed):
        await asyncio.wait_for(pending, 5)


async def test_buffered_ack_waits_for_the_connection(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    # Not connected yet: the event is buffered with its ack, and answered once connected.
    pending = asyncio.ensure_future(client.emit_with_ack("ack", "early", timeout=5))
    await asyncio.sleep(0.05)
    assert not pending.done()
    await client.connect(timeout=5)
    assert await asyncio.wait_for(pending, 5) == "early"


async def test_buffered_ack_times_out_and_is_never_sent(server: ServerUnderTest, clients: Any) -> None:
    client = clients(server.url)
    with pytest.raises(socketeer.AckTimeout):
        await client.emit_with_ack("echo", "too late", timeout=0.1)
    echoes = Inbox()
    client.on("echo", echoes)
    await client.connect(timeout=5)
    client.emit("echo", "marker")
    assert await echoes.get() == "marker"  # "too late" was dropped from the buffer


async def test_reserved_names_are_refused(clients: Any) -> None:
    client = clients("http://127.0.0.1:9")
    for name in ("connect", "disconnect", "connect_error"):
        with pytest.raises(ValueError):
            client.emit(name)
        with pytest.raises(ValueError):
            await client.emit_with_ack(name)
    with pytest.raises(TypeError):
        client.emit("x", object())  # caught at the call, not later at the flush
