"""The blocking wrapper: the asyncio client on a loop in a background thread.

The scenarios run in a worker thread (``asyncio.to_thread``) so that a socketeer server in the
test's own loop keeps serving while they block.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from clientkit import ServerUnderTest, reference_app

import socketeer


def client_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "socketeer-client"]


async def test_blocking_client(server: ServerUnderTest) -> None:
    def scenario() -> None:
        with socketeer.connect(server.url, timeout=5) as client:
            assert client.connected and client.sid
            client.emit("echo", "hi", b"\x01")
            assert client.receive(timeout=5) == ("echo", ["hi", b"\x01"])
            assert client.emit_with_ack("ack", 1, 2, timeout=5) == [1, 2]
            assert client.call("ack", "one", timeout=5) == "one"

            @client.on("question")
            def question(text: str) -> str:  # runs in the client's thread; answers the ack
                return text * 2

            assert client.call("call_client", "question", "ab", timeout=6) == {"reply": ["abab"]}
            assert client.receive(timeout=5) == ("question", ["ab"])  # receive() sees every event
            with pytest.raises(TimeoutError):
                client.receive(timeout=0.05)
            with pytest.raises(socketeer.AckTimeout):
                client.emit_with_ack("nobody-answers", timeout=0.1)
        with pytest.raises(socketeer.ConnectionClosed):
            client.receive(timeout=1)
        with pytest.raises(socketeer.ConnectionClosed):
            client.emit("echo", "after the end")

    await asyncio.wait_for(asyncio.to_thread(scenario), 30)
    assert client_threads() == []


async def test_blocking_refusal(server: ServerUnderTest) -> None:
    def scenario() -> None:
        with pytest.raises(socketeer.ConnectionError) as info:
            socketeer.connect(server.url + "/admin", auth={"token": "bad"}, timeout=5)
        assert info.value.data == {"reason": "token"}
        with socketeer.connect(server.url + "/admin", auth={"token": "ok"}, timeout=5) as admin:
            assert admin.emit_with_ack("ack", "admin", timeout=5) == "admin"

    await asyncio.wait_for(asyncio.to_thread(scenario), 30)
    assert client_threads() == []


async def test_blocking_client_reconnects(serve: Any) -> None:
    app = reference_app()
    url = await serve(app)
    loop = asyncio.get_running_loop()

    def scenario() -> None:
        client = socketeer.SyncClient(url, reconnection_delay=0.05, transports=["websocket"])
        connects = threading.Semaphore(0)
        client.on("connect", connects.release)
        try:
            client.connect(timeout=5)
            assert connects.acquire(timeout=5)
            # The server drops every connection; the client comes back by itself.
            asyncio.run_coroutine_threadsafe(_close_all(app), loop).result(5)
            assert connects.acquire(timeout=5)
            client.emit("echo", "after the reconnection")
            assert client.receive(timeout=5) == ("echo", ["after the reconnection"])
        finally:
            client.disconnect()

    await asyncio.wait_for(asyncio.to_thread(scenario), 30)


async def _close_all(app: socketeer.Server) -> None:
    app.engine.close_all("forced close")
