"""The one way every ASGI application in the benchmark is served: uvicorn, one worker in this
process (so the harness reads this pid's CPU and RSS), uvloop, httptools, access log off."""

from __future__ import annotations

import os
from typing import Any

#: The WebSocket implementation uvicorn uses for every ASGI server measured, named, so that a
#: change of uvicorn's default cannot change the comparison silently. ``websockets-sansio`` is
#: what uvicorn's ``auto`` picks since it deprecated the legacy ``websockets`` one;
#: ``python -m bench sio --uvicorn-ws`` passes another through ``BENCH_UVICORN_WS``.
DEFAULT_WS_IMPL = "websockets-sansio"


def serve(app: Any, port: int) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        ws=os.environ.get("BENCH_UVICORN_WS") or DEFAULT_WS_IMPL,
        workers=1,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # Only the load generator talks to it and it never offers compression; say so anyway.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=1,
    )
