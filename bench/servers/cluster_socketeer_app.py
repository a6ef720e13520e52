"""One node of ``python -m bench cluster`` on socketeer: the built-in server (``socketeer.run``,
as ``socketeer_app.py --frontend builtin`` runs it) with ``RedisAdapter``.

    python -m bench.servers.cluster_socketeer_app --port P --redis redis://127.0.0.1:6379 --key KEY

Events, the same as ``cluster_node_server.js`` so both kinds of node run one application:
``bcast`` emits ``fanout`` with the same arguments to every client of every node, ``bcast_to``
(room, ...) to that room's members on every node, ``join`` (room) joins it and answers the ack
with ``true`` (so the load generator knows the membership is in place before it measures).
Ping interval 25 s, as the other benchmark servers; the adapter at its defaults otherwise.
The adapter subscribes in the server's start-up, before it listens.
"""

from __future__ import annotations

import argparse
from typing import Any

import redis.asyncio

import socketeer
from socketeer.adapters.redis import RedisAdapter


def build(url: str, key: str) -> socketeer.Server:
    # No decode_responses: the adapter's messages are msgpack bytes (it refuses a decoding client).
    adapter = RedisAdapter(redis.asyncio.Redis.from_url(url), key=key)
    io = socketeer.Server(ping_interval=25, ping_timeout=20, adapter=adapter)

    @io.on("bcast")
    async def bcast(socket: Any, *args: Any) -> None:
        await io.emit("fanout", *args)

    @io.on("bcast_to")
    async def bcast_to(socket: Any, room: str, *args: Any) -> None:
        await io.to(room).emit("fanout", *args)

    @io.on("join")
    async def join(socket: Any, room: str) -> bool:
        socket.join(room)
        return True

    return io


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True, help="redis://127.0.0.1:PORT")
    parser.add_argument("--key", required=True, help="the adapter's channel prefix, shared by every node of a run")
    opts = parser.parse_args()
    socketeer.run(build(opts.redis, opts.key), "127.0.0.1", opts.port)


if __name__ == "__main__":
    main()
