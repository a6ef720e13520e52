"""In-process costs of the server's hot paths, without sockets or a load generator.

Real transports are replaced by ones that only count writes, so what is measured is
socketeer's own Python per message: a broadcast to 1,000 WebSocket sockets (per delivery),
an echo and an ack round trip through the whole server path (engine receive, Socket.IO
decode, handler, encode, frame). Comparing these with the end-to-end figures of
``python -m bench sio`` tells how much of a delivery is ours and how much is the kernel's
(S3R: a write system call per delivery on loopback).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import socketeer
from socketeer.io.engine import HttpRequest
from socketeer.io.http import _Peer

from ._timing import environment, format_rate, print_table


class _CountingTransport:
    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


class _Protocol:
    write_paused = False

    def __init__(self) -> None:
        self.transport = _CountingTransport()

    def close_soon(self) -> None:
        pass


def _server() -> socketeer.Server:
    io = socketeer.Server()

    @io.on("echo")
    async def echo(socket: Any, *args: Any) -> None:
        await socket.emit("echo", *args)

    @io.on("ack")
    async def ack(socket: Any, *args: Any) -> Any:
        return args

    return io


async def _measure(sockets: int, broadcasts: int, messages: int) -> list[list[str]]:
    io = _server()
    request = HttpRequest("GET", "/socket.io/", {"EIO": "4", "transport": "websocket"}, {}, b"", ("127.0.0.1", 1))
    protocols = [_Protocol() for _ in range(sockets)]
    receivers = []
    for proto in protocols:
        receiver = io.engine.open_websocket(request, _Peer(proto, None))  # type: ignore[arg-type]
        receiver.on_text("40")
        receivers.append(receiver)
    await asyncio.sleep(0)
    rows = []

    start = time.perf_counter()
    for i in range(broadcasts):
        io.emit("fanout", i, 1700000000000, {"payload": "hello world"})
        await asyncio.sleep(0)
    elapsed = time.perf_counter() - start
    deliveries = broadcasts * sockets
    assert sum(p.transport.writes for p in protocols) >= deliveries
    rows.append([f"broadcast to {sockets:,} sockets", format_rate(deliveries / elapsed) + " deliveries/s",
                 f"{elapsed / deliveries * 1e6:.2f} µs per delivery"])

    one = receivers[0]
    for label, text in (("echo", '42["echo",1,1700000000000,{"payload":"hello world"}]'),
                        ("ack", '4212["ack",1,1700000000000,{"payload":"hello world"}]')):
        before = protocols[0].transport.writes
        start = time.perf_counter()
        for _ in range(messages // 10):
            for _ in range(10):
                one.on_text(text)
            await asyncio.sleep(0)  # one flush (one write) per ten messages, as under load
        elapsed = time.perf_counter() - start
        assert protocols[0].transport.writes - before == messages // 10
        rows.append([f"{label} through the whole server path", format_rate(messages / elapsed) + " msg/s",
                     f"{elapsed / messages * 1e6:.2f} µs per message"])
    await io.shutdown()
    rows.extend(await _task_floor(messages))
    return rows


async def _task_floor(messages: int) -> list[list[str]]:
    """What a handler call costs in CPython alone, beside socketeer: stepping a coroutine that
    returns at once, and doing so as an eagerly started task of its own, which is how
    socketeer runs every handler (its own ``current_task()`` and context; see _calls.py).
    The difference is the price of handlers being asyncio code; it is part of the echo and
    ack rows above."""
    from socketeer._calls import _task

    async def handler() -> None:
        return None

    rows = []
    start = time.perf_counter()
    for _ in range(messages):
        coro = handler()
        try:
            coro.send(None)
        except StopIteration:
            pass
    bare = time.perf_counter() - start
    rows.append(["a coroutine stepped inline (no task)", format_rate(messages / bare) + " calls/s",
                 f"{bare / messages * 1e6:.2f} µs per call"])
    start = time.perf_counter()
    for _ in range(messages):
        _task(handler())
    tasked = time.perf_counter() - start
    rows.append(["the same as an eager task of its own", format_rate(messages / tasked) + " calls/s",
                 f"{tasked / messages * 1e6:.2f} µs per call"])
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench fanout", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--broadcasts", type=int, default=300)
    parser.add_argument("--messages", type=int, default=200_000)
    opts = parser.parse_args(argv)
    print(environment("socketeer", "orjson", "uvloop"))
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    rows = runner(_measure(opts.sockets, opts.broadcasts, opts.messages))
    print_table(["path", "rate", "cost"], rows, right=[False, True, True])


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
