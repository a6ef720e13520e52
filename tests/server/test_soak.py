"""A short soak (the long one is for ``bench/``): official clients, half on WebSocket and half on
long-polling, join and leave rooms, answer broadcasts with acks and ask the server with acks,
while a tenth of them leave and come back every second. Afterwards everything the server held
for them is gone: file descriptors, asyncio tasks and timers back to where they were, no
session left; the ack round trip at the end within a few times the start's. Figures printed."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import socketeer

from .util import Serve, start

CLIENTS = 60
SECONDS = 6.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def timers(loop: asyncio.AbstractEventLoop) -> int:
    scheduled = getattr(loop, "_scheduled", None)  # asyncio's own heap of TimerHandles
    return sum(1 for t in scheduled if not t.cancelled()) if scheduled is not None else 0


async def round_trips(js: Any, cids: list[str]) -> list[float]:
    times = []
    for cid in cids:
        started = time.perf_counter()
        reply = await js.call({"cmd": "emit", "id": cid, "event": "ping", "args": [cid], "ack": True})
        assert reply["ok"] and reply["ack"] == [cid], reply
        times.append(time.perf_counter() - started)
    return sorted(times)


def p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))]


async def test_soak_leaves_nothing_behind(js: Any, serve: Serve) -> None:
    io, url = await start(serve)
    loop = asyncio.get_running_loop()

    @io.on("ping")
    def ping(socket: socketeer.Socket, value: Any) -> Any:
        return value

    @io.on("join")
    def join(socket: socketeer.Socket, room: str) -> None:
        socket.join(room)

    @io.on("leave")
    def leave(socket: socketeer.Socket, room: str) -> None:
        socket.leave(room)

    await asyncio.sleep(0.2)
    base_fds, base_tasks, base_timers = open_fds(), len(asyncio.all_tasks()), timers(loop)
    serial = 0

    async def connect(i: int) -> str:
        nonlocal serial
        serial += 1
        cid = f"c{i}-{serial}"
        transports = ["websocket"] if i % 2 else ["polling"]
        reply = await js.call({"cmd": "connect", "id": cid, "url": url,
                               "opts": {"transports": transports, "forceNew": True, "reconnection": False}})
        assert reply["ok"], reply
        await js.wait_event(cid, "connect", timeout=10)
        assert (await js.call({"cmd": "on_ack", "id": cid, "event": "q", "reply": [cid]}))["ok"]
        await js.call({"cmd": "emit", "id": cid, "event": "join", "args": [f"room{i % 5}"], "ack": True})
        return cid

    current = [await connect(i) for i in range(CLIENTS)]
    busy_timers, busy_fds = timers(loop), open_fds()
    start_p99 = p99(await round_trips(js, current[:20]))
    ends = time.monotonic() + SECONDS
    rounds = acks = 0
    while time.monotonic() < ends:
        rounds += 1
        answers = await io.timeout(5).to(f"room{rounds % 5}").emit_with_ack("q", rounds)
        acks += len(answers)
        io.emit("tick", rounds)
        for i in range(rounds % 10, CLIENTS, 10):  # a tenth leave and come back
            await js.call({"cmd": "disconnect", "id": current[i]})
            current[i] = await connect(i)
        cid = current[rounds % CLIENTS]
        await js.call({"cmd": "emit", "id": cid, "event": "leave", "args": [f"room{rounds % 5}"], "ack": True})
        await js.call({"cmd": "emit", "id": cid, "event": "join", "args": [f"room{rounds % 5}"], "ack": True})
        await asyncio.sleep(0.2)
    end_p99 = p99(await round_trips(js, current[:20]))
    held = len(io.sockets.sockets)
    for cid in current:
        await js.call({"cmd": "disconnect", "id": cid})
    async with asyncio.timeout(10):
        while io.sockets.sockets or open_fds() > base_fds + 1 or len(asyncio.all_tasks()) > base_tasks:
            await asyncio.sleep(0.05)
    print(f"\nsoak: {CLIENTS} clients for {SECONDS:.0f} s, {serial - CLIENTS} reconnections, {rounds} broadcast "
          f"rounds, {acks} client acks; ack round trip p99 {start_p99 * 1e3:.1f} ms at the start, "
          f"{end_p99 * 1e3:.1f} ms at the end; fds {base_fds} -> {open_fds()}, tasks {base_tasks} -> "
          f"{len(asyncio.all_tasks())}, timers {base_timers} -> {timers(loop)} ({busy_timers} and {busy_fds} fds "
          f"while connected)")
    assert held == CLIENTS
    assert busy_timers > base_timers and busy_fds > base_fds  # the measures see what clients hold
    assert serial - CLIENTS >= CLIENTS // 2
    assert acks >= rounds  # every round reached a room's members, and they answered
    assert end_p99 < max(3 * start_p99, 0.05)
    assert timers(loop) <= base_timers + 1
