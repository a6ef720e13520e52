"""``websocket_check_origin``: CORS does not cover WebSockets, so a page of any site could open
one to the server with the user's cookies (cross-site WebSocket hijacking); with the option on,
an upgrade from a browser page of another origin is refused with 403 unless
``cors_allowed_origins`` allows that origin. Off by default, as the reference."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import pytest

import socketeer


async def upgrade_status(url: str, origin: str | None, host: str | None = None) -> int:
    hostport = url.removeprefix("http://")
    name, port = hostport.split(":")
    reader, writer = await asyncio.open_connection(name, int(port))
    headers = ["GET /socket.io/?EIO=4&transport=websocket HTTP/1.1", f"Host: {host or hostport}",
               "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
               f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}"]
    if origin is not None:
        headers.append(f"Origin: {origin}")
    writer.write(("\r\n".join(headers) + "\r\n\r\n").encode())
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    return int(line.split()[1])


@pytest.mark.parametrize(("options", "origin", "status"), [
    ({}, "https://evil.example", 101),  # off: as the reference
    ({"websocket_check_origin": True}, None, 101),  # not a browser
    ({"websocket_check_origin": True}, "SAME", 101),  # the server's own page
    ({"websocket_check_origin": True}, "https://evil.example", 403),
    ({"websocket_check_origin": True, "cors_allowed_origins": ["https://app.example"]}, "https://app.example", 101),
    ({"websocket_check_origin": True, "cors_allowed_origins": ["https://app.example"]}, "https://evil.example", 403),
    ({"websocket_check_origin": True, "cors_allowed_origins": "*"}, "https://any.example", 101),
])
async def test_websocket_origins(serve: Any, options: dict[str, Any], origin: str | None, status: int) -> None:
    url = await serve(socketeer.Server(**options))
    if origin == "SAME":
        origin = url
    assert await upgrade_status(url, origin) == status
    # Whatever was refused, the server serves on.
    assert await upgrade_status(url, None) == 101
