"""One node of ``python -m bench cluster`` on socketeer: the built-in server (``socketeer.run``,
as ``socketeer_app.py --frontend builtin`` runs it) with ``RedisAdapter`` (``--adapter classic``,
the default, KEY as its ``key``) or ``ShardedRedisAdapter`` (``--adapter sharded``, KEY as its
``channel_prefix``, ``--subscription-mode``, default ``dynamic``).

    python -m bench.servers.cluster_socketeer_app --port P --redis redis://127.0.0.1:6379 --key KEY
    python -m bench.servers.cluster_socketeer_app --port P --redis URL --key KEY --adapter sharded

Events, the same as ``cluster_node_server.js`` so both kinds of node run one application:
``bcast`` emits ``fanout`` with the same arguments to every client of every node, ``bcast_to``
(room, ...) to that room's members on every node, ``join`` (room) joins it and answers the ack
with ``true`` (so the load generator knows the membership is in place before it measures).
Ping interval 25 s, as the other benchmark servers; the adapter at its defaults otherwise.
Either adapter subscribes in the server's start-up, before it listens.
"""

from __future__ import annotations

import argparse
from typing import Any

import redis.asyncio

import socketeer
from socketeer.adapters.redis import RedisAdapter
from socketeer.adapters.redis_sharded import ShardedRedisAdapter, SubscriptionMode


def build(url: str, key: str, flavour: str = "classic",
          subscription_mode: SubscriptionMode = "dynamic") -> socketeer.Server:
    # No decode_responses: the adapters' messages are msgpack bytes (they refuse a decoding client).
    client = redis.asyncio.Redis.from_url(url)
    adapter: Any
    if flavour == "sharded":
        adapter = ShardedRedisAdapter(client, channel_prefix=key, subscription_mode=subscription_mode)
    else:
        adapter = RedisAdapter(client, key=key)
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
    parser.add_argument("--adapter", choices=("classic", "sharded"), default="classic",
                        help="RedisAdapter (classic pub/sub) or ShardedRedisAdapter (SPUBLISH/SSUBSCRIBE)")
    parser.add_argument("--subscription-mode", choices=("static", "dynamic", "dynamic-private"), default="dynamic",
                        help="the sharded adapter's subscription_mode (default dynamic)")
    opts = parser.parse_args()
    socketeer.run(build(opts.redis, opts.key, opts.adapter, opts.subscription_mode), "127.0.0.1", opts.port)


if __name__ == "__main__":
    main()
