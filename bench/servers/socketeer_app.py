"""The benchmark application on socketeer: ``--frontend builtin`` (``socketeer.run``, uvloop and
httptools inside socketeer) or ``--frontend asgi`` (``ASGIApp`` under uvicorn, see ``_uvicorn``).

Events: ``echo`` emits ``echo`` back with the same arguments (binary ones included); ``ack``
answers its ack with the same arguments; ``bcast`` emits ``fanout`` with the same arguments to
every connected client. Ping interval 25 s, as the other servers; ``--write-delay`` sets the
option of that name (server ``e`` of ``python -m bench sio``).
"""

from __future__ import annotations

import argparse
from typing import Any

import socketeer


def build(write_delay: float = 0.0) -> socketeer.Server:
    io = socketeer.Server(ping_interval=25, ping_timeout=20, write_delay=write_delay)

    @io.on("echo")
    async def echo(socket: Any, *args: Any) -> None:
        await socket.emit("echo", *args)

    @io.on("ack")
    async def ack(socket: Any, *args: Any) -> tuple[Any, ...]:
        return args  # a tuple answers with several arguments

    @io.on("bcast")
    async def bcast(socket: Any, *args: Any) -> None:
        await io.emit("fanout", *args)

    return io


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frontend", choices=("builtin", "asgi"), default="builtin")
    parser.add_argument("--write-delay", type=float, default=0.0, help="socketeer's write_delay option (s)")
    opts = parser.parse_args()
    io = build(opts.write_delay)
    if opts.frontend == "builtin":
        socketeer.run(io, "127.0.0.1", opts.port)
        return
    from socketeer.io.asgi import ASGIApp

    from ._uvicorn import serve

    socketeer.tune_gc()  # as README.md advises for ASGI deployments (socketeer.run does it itself)
    serve(ASGIApp(io), opts.port)


if __name__ == "__main__":
    main()
