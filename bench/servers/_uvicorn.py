"""The one way every ASGI application in the benchmark is served: uvicorn, one worker in this
process (so the harness reads this pid's CPU and RSS), uvloop, httptools, access log off."""

from __future__ import annotations

from typing import Any

#: The WebSocket implementation uvicorn uses for every ASGI server measured, named, so that a
#: change of uvicorn's default cannot change the comparison silently.
WS_IMPL = "websockets"


def serve(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws=WS_IMPL,
        workers=1,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # Only the load generator talks to it and it never offers compression; say so anyway.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=1,
    )
