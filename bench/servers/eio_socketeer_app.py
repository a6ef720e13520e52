"""Engine.IO echo on socketeer's ``engineio.Server``, for ``python -m bench eio``.

``--frontend builtin`` serves it with ``socketeer.run`` (uvloop, httptools, socketeer's own
WebSocket framing); ``--frontend asgi`` wraps the same server in ``socketeer.ASGIApp`` under
uvicorn (``_uvicorn``), so the two rows differ only in the front end. Every message, text or
binary, is sent back unchanged: the cheapest application there is, so the table measures the
Engine.IO layer and the transport, not the handler.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

import socketeer
import socketeer.engineio

if TYPE_CHECKING:  # the public name is socketeer.engineio.Server, resolved lazily
    from socketeer.io.engine import EngineSocket
    from socketeer.server.eio import EngineIOServer

#: The Engine.IO path every server of this benchmark uses (python-engineio's default too).
PATH = "/engine.io/"


def build() -> EngineIOServer:
    server_class: type[EngineIOServer] = socketeer.engineio.Server  # type: ignore[assignment]
    eio = server_class(path=PATH, ping_interval=25, ping_timeout=20)

    @eio.on("message")
    async def echo(session: EngineSocket, data: str | bytes) -> None:
        await session.send(data)

    return eio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frontend", choices=("builtin", "asgi"), default="builtin")
    opts = parser.parse_args()
    eio = build()
    if opts.frontend == "builtin":
        socketeer.run(eio, "127.0.0.1", opts.port)
        return
    from ._uvicorn import serve

    serve(socketeer.ASGIApp(eio), opts.port)


if __name__ == "__main__":
    main()
