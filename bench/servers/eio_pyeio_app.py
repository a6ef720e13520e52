"""Engine.IO echo on python-engineio's ``AsyncServer`` (ASGI) under uvicorn, for ``bench eio``.

Defaults otherwise (``async_handlers=True``: each message runs as its own task), as a user gets
it; the same path and ping interval as the socketeer server, so only the library differs.
"""

from __future__ import annotations

import argparse
from typing import Any

import engineio  # type: ignore[import-untyped]


def build() -> Any:
    eio = engineio.AsyncServer(async_mode="asgi", ping_interval=25, ping_timeout=20)

    @eio.on("message")
    async def echo(sid: str, data: str | bytes) -> None:
        await eio.send(sid, data)

    return engineio.ASGIApp(eio, engineio_path="engine.io")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    opts = parser.parse_args()
    from ._uvicorn import serve

    serve(build(), opts.port)


if __name__ == "__main__":
    main()
