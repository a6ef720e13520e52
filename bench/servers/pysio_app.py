"""The benchmark application on python-socketio's ``AsyncServer`` (ASGI) under uvicorn.

Defaults otherwise (``async_handlers=True``: each event runs as its own task), as a user gets
it. ``emit`` with a tuple sends its items as separate arguments, and a handler returning a
tuple answers its ack with several, so every event echoes exactly the arguments it got.
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio  # type: ignore[import-untyped]


def build() -> Any:
    sio = socketio.AsyncServer(async_mode="asgi", ping_interval=25, ping_timeout=20)

    @sio.on("echo")
    async def echo(sid: str, *args: Any) -> None:
        await sio.emit("echo", args, to=sid)

    @sio.on("ack")
    async def ack(sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    @sio.on("bcast")
    async def bcast(sid: str, *args: Any) -> None:
        await sio.emit("fanout", args)

    return socketio.ASGIApp(sio)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    opts = parser.parse_args()
    from ._uvicorn import serve

    serve(build(), opts.port)


if __name__ == "__main__":
    main()
