"""The demo chat server: everything a small real-time app needs, on the in-memory adapter.

Each feature shows one part of the API: rooms (``join``/``leave``), a live member list
(``fetch_sockets``), typing indicators (``socket.to(room)``: everyone but the sender),
delivery ticks (the handler's return value answers the client's ack) and image sharing
(binary payloads, as ``bytes``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ..exceptions import ConnectionRefused
from ..server.server import Server
from ..server.socket import Socket

__all__ = ["create_app", "find_client_bundle"]

STATIC = Path(__file__).parent / "static"
MAX_IMAGE_BYTES = 512 * 1024
MAX_TEXT = 2000


def find_client_bundle(start: Path | None = None) -> Path | None:
    """The ``dist/`` folder of an installed ``socket.io-client`` npm package, if one is near."""
    env = os.environ.get("SOCKETEER_CLIENT_BUNDLE")
    candidates = [Path(env)] if env else []
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidates.append(folder / "node_modules" / "socket.io-client" / "dist")
        candidates.append(folder / "tests" / "interop" / "node_modules" / "socket.io-client" / "dist")
    package_root = Path(__file__).resolve().parents[3]
    candidates.append(package_root / "tests" / "interop" / "node_modules" / "socket.io-client" / "dist")
    for candidate in candidates:
        if (candidate / "socket.io.min.js").is_file():
            return candidate
    return None


def _nick(value: Any) -> str:
    text = str(value or "").strip()[:24]
    return text or "anonymous"


def _room(value: Any) -> str:
    text = str(value or "").strip().lower()[:32]
    return text or "lobby"


def create_app(client_bundle_dir: str | Path | None = None) -> Server:
    io = Server(
        client_bundle_dir=client_bundle_dir,
        static_files={"/": STATIC / "index.html", "/index.html": STATIC / "index.html"},
        max_http_buffer_size=2 * MAX_IMAGE_BYTES,
    )

    async def members(room: str) -> list[str]:
        return sorted(s.data.get("nick", "?") for s in await io.in_(room).fetch_sockets())

    async def announce(room: str, text: str) -> None:
        io.to(room).emit("system", {"text": text, "ts": int(time.time() * 1000)})
        io.to(room).emit("members", {"room": room, "members": await members(room)})

    @io.use
    async def require_nick(socket: Socket) -> None:
        auth = socket.handshake.auth
        if not str(auth.get("nick", "")).strip():
            raise ConnectionRefused("Pick a nickname first", data={"field": "nick"})

    @io.on("connection")
    async def connected(socket: Socket, auth: dict[str, Any] | None) -> None:
        socket.data["nick"] = _nick((auth or {}).get("nick"))
        socket.data["room"] = None

    @io.on("join")
    async def join(socket: Socket, room: Any) -> dict[str, Any]:
        new = _room(room)
        old = socket.data.get("room")
        if old == new:
            return {"room": new, "members": await members(new)}
        if old:
            socket.leave(old)
            await announce(old, f"{socket.data['nick']} left")
        socket.join(new)
        socket.data["room"] = new
        await announce(new, f"{socket.data['nick']} joined #{new}")
        return {"room": new, "members": await members(new)}

    @io.on("chat")
    async def chat(socket: Socket, text: Any) -> dict[str, Any]:
        room = socket.data.get("room") or "lobby"
        message = {
            "id": f"{socket.id}-{time.monotonic_ns()}",
            "from": socket.data["nick"],
            "text": str(text)[:MAX_TEXT],
            "ts": int(time.time() * 1000),
        }
        socket.to(room).emit("chat", message)
        return {"id": message["id"], "ts": message["ts"]}  # the sender's delivery tick

    @io.on("typing")
    async def typing(socket: Socket, active: Any) -> None:
        room = socket.data.get("room")
        if room:
            socket.to(room).emit("typing", {"nick": socket.data["nick"], "typing": bool(active)})

    @io.on("image")
    async def image(socket: Socket, data: Any, mime: Any) -> dict[str, Any]:
        if not isinstance(data, bytes) or len(data) > MAX_IMAGE_BYTES:
            return {"ok": False, "error": f"images are bytes of at most {MAX_IMAGE_BYTES // 1024} KiB"}
        mime_type = str(mime) if str(mime).startswith("image/") else "application/octet-stream"
        room = socket.data.get("room") or "lobby"
        socket.to(room).emit("image", {"from": socket.data["nick"], "mime": mime_type, "data": data,
                                       "ts": int(time.time() * 1000)})
        return {"ok": True, "size": len(data)}

    @io.on("disconnect")
    async def gone(socket: Socket, reason: str) -> None:
        room = socket.data.get("room")
        if room:
            await announce(room, f"{socket.data.get('nick', '?')} left ({reason})")

    return io
