"""``socketeer.testing`` used exactly as the README shows it, and its bounded waits."""

from __future__ import annotations

import pytest

import socketeer
import socketeer.testing

# -- the README example, verbatim ------------------------------------------------------------

io = socketeer.Server()


@io.on("chat")
async def chat(socket, text):  # type: ignore[no-untyped-def]
    await io.emit("news", text.upper())
    return "ok"


async def test_chat():  # type: ignore[no-untyped-def]
    async with socketeer.testing.serve(io) as url:  # noqa: SIM117 - as the README writes it
        async with socketeer.testing.client(url) as alice, socketeer.testing.client(url) as bob:
            assert await alice.emit_with_ack("chat", "hi") == "ok"
            await bob.wait_for("news")
            assert bob.received("news") == [["HI"]]


# -- the rest of the helpers ----------------------------------------------------------------


async def test_recording_namespaces_and_waits() -> None:
    app = socketeer.Server()

    @app.of("/rooms").on("shout")
    async def shout(socket: socketeer.Socket, *words: str) -> None:
        await socket.emit("heard", *words)
        await socket.disconnect()

    async with socketeer.testing.serve(app) as url:
        assert url.startswith("http://127.0.0.1:")
        async with socketeer.testing.client(url) as client:
            rooms = socketeer.testing.record(client.socket("/rooms"))
            await rooms.socket.connect(timeout=5)
            rooms.socket.emit("shout", "a", "b")
            assert await rooms.wait_for("heard") == ["a", "b"]
            assert await rooms.wait_disconnect() == "io server disconnect"
            assert rooms.received() == [["heard", "a", "b"]]
            with pytest.raises(TimeoutError, match="received so far"):
                await client.wait_for("never", timeout=0.05)
            assert client.events == []


async def test_client_without_connecting() -> None:
    async with (
        socketeer.testing.serve(socketeer.Server()) as url,
        socketeer.testing.client(url, connect=False) as client,
    ):
        assert not client.connected
        await client.connect(timeout=5)
        assert client.connected
