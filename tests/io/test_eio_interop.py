"""The Engine.IO layer alone, driven by the official engine.io-client."""

from __future__ import annotations

import pytest

from socketeer import engineio


def echo_server(**options: object) -> engineio.Server:
    eio = engineio.Server(path="/engine.io/", **options)

    @eio.on("message")
    async def echo(session, data):  # type: ignore[no-untyped-def]
        await session.send(data)

    return eio


@pytest.mark.parametrize(
    "opts",
    [
        {"transports": ["polling"]},
        {"transports": ["websocket"]},
        {"transports": ["polling", "websocket"]},
    ],
    ids=["polling", "websocket", "upgrade"],
)
async def test_echo_text_and_binary(js, serve, opts):  # type: ignore[no-untyped-def]
    url = await serve(echo_server())
    await js.call({"cmd": "eio_open", "id": "e1", "url": url, "opts": {"path": "/engine.io/", **opts}})
    await js.wait_event("e1", "open")
    if len(opts["transports"]) == 2:
        await js.wait_event("e1", "upgrade")
    await js.call({"cmd": "eio_send", "id": "e1", "data": "héllo €"})
    got = await js.wait_event("e1", "message")
    assert got["data"] == "héllo €"
    await js.call({"cmd": "eio_send", "id": "e1", "data": b"\x00\x01\xff"})
    got = await js.wait_event("e1", "message")
    assert got["data"] == b"\x00\x01\xff"
