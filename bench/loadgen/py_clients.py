"""A Python Socket.IO client library as a load generator, for ``python -m bench client``.

    python bench/loadgen/py_clients.py --lib socketeer|pysio --url http://127.0.0.1:PORT [options]

One script drives either library (``socketeer.Client`` or python-socketio's ``AsyncClient``)
through the same loops, so the two rows differ only in the library: each gets a thin adapter
(connect, emit, emit-with-ack, disconnect) written as that library's documentation writes it,
WebSocket transport only, reconnection off. Phases, in this order, all in this one process:

verify   one client: ``echo`` and ``ack`` round trips of varied arguments (unicode, nesting,
         none) and of the exact shape the timed loop sends, equal once parsed, before any
         timing: a client that garbles payloads must not get a rate;
connect  ``--connects`` clients created, connected (handshake + Socket.IO connect) and
         disconnected, ``--concurrency`` at a time: connects/s over the phase and the
         latency from creation to connected;
echo     ``--clients`` connected clients, ``--inflight`` ``echo`` events in flight on each; an
         ``echo`` listener records the round trip and emits the next one (async listeners in
         both libraries, ``--handler sync`` for socketeer's non-awaiting ``emit``);
ack      optional (``--phases``): ``--inflight`` tasks per client looping on emit-with-ack.

Every timed reply is compared with what was sent. The process's own CPU
(``time.process_time``) and the server's (``/proc/<pid>/stat``) are read over each measured
window. Output: one JSON line on stdout; errors on stderr. Every loop is bounded by a count
and by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

BODY: dict[str, Any] = {"user": "alice", "text": "hello world", "n": 42}
VERIFY_ARGS: list[list[Any]] = [
    ["plain", 1, -2.5, True, False, None, 'héllo wörld ✓ \u2028 "quoted" \\ /',
     {"a": [1, {"b": "c"}], "e": {}, "l": []}],
    [7, 123, BODY],
    [],
]

Listener = Callable[..., Any]


def now_us() -> int:
    return time.monotonic_ns() // 1000


def proc_cpu_s(pid: int | None) -> float | None:
    """utime + stime of another process (the server), in seconds."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantile(values: list[int], q: float) -> float | None:
    if not values:
        return None
    values.sort()
    return float(values[min(len(values) - 1, int(q * len(values)))])


class Window:
    """One measured window: wall time, this process's CPU and the server's."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.t0 = time.monotonic()
        self.cpu0 = time.process_time()
        self.srv0 = proc_cpu_s(server_pid)

    def close(self) -> dict[str, Any]:
        wall = time.monotonic() - self.t0
        srv1 = proc_cpu_s(self.server_pid)
        return {
            "window_s": wall,
            "cpu_pct": (time.process_time() - self.cpu0) / wall * 100,
            "server_cpu_pct": (srv1 - self.srv0) / wall * 100 if srv1 is not None and self.srv0 is not None else None,
        }


# -- the two libraries, behind one small interface -----------------------------------------------


class Adapter:
    """What the loops need of a client: connect with an ``echo`` listener, emit, emit with ack,
    disconnect. One subclass per library, each written as that library is normally used."""

    async def connect(self, url: str, on_echo: Listener | None) -> None:
        raise NotImplementedError

    async def emit(self, *args: Any) -> None:
        raise NotImplementedError

    async def call(self, *args: Any) -> list[Any]:
        raise NotImplementedError

    async def disconnect(self) -> None:
        raise NotImplementedError


class SocketeerAdapter(Adapter):
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.client: Any = None

    async def connect(self, url: str, on_echo: Listener | None) -> None:
        import socketeer

        self.client = socketeer.Client(url, transports=["websocket"], reconnection=False, timeout=self.timeout)
        if on_echo is not None:
            self.client.on("echo", on_echo)
        await self.client.connect()

    async def emit(self, *args: Any) -> None:
        await self.client.emit("echo", *args)

    def emit_nowait(self, *args: Any) -> None:
        """socketeer's ``emit`` never blocks: a sync listener can call it directly."""
        self.client.emit("echo", *args)

    async def call(self, *args: Any) -> list[Any]:
        answer = await self.client.emit_with_ack("ack", *args, timeout=self.timeout)
        # one value, a list of several, or None (see ClientSocket.emit_with_ack)
        if len(args) == 1:
            return [answer]
        return [] if answer is None else list(answer)

    async def disconnect(self) -> None:
        if self.client is not None:
            await self.client.disconnect()


class PySioAdapter(Adapter):
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.client: Any = None

    async def connect(self, url: str, on_echo: Listener | None) -> None:
        import socketio  # type: ignore[import-untyped]

        self.client = socketio.AsyncClient(reconnection=False)
        if on_echo is not None:
            self.client.on("echo", on_echo)
        # wait_timeout defaults to 1 s, which 50 concurrent connects on a busy machine can miss
        await self.client.connect(url, transports=["websocket"], wait_timeout=self.timeout)

    async def emit(self, *args: Any) -> None:
        await self.client.emit("echo", args)  # a tuple is sent as separate arguments

    async def call(self, *args: Any) -> list[Any]:
        answer = await self.client.call("ack", args, timeout=self.timeout)
        if len(args) == 1:
            return [answer]
        return [] if answer is None else list(answer)

    async def disconnect(self) -> None:
        if self.client is not None:
            await self.client.disconnect()


def make_adapter(lib: str, timeout: float) -> Adapter:
    return SocketeerAdapter(timeout) if lib == "socketeer" else PySioAdapter(timeout)


async def close_all(clients: list[Adapter], timeout: float) -> None:
    """Disconnect every client, each bounded by ``timeout``; a failure here is not the rate's."""
    await asyncio.gather(*(asyncio.wait_for(c.disconnect(), timeout) for c in clients), return_exceptions=True)


# -- the phases ------------------------------------------------------------------------------------


async def verify(opts: argparse.Namespace) -> dict[str, Any]:
    """Round trips of varied arguments, before anything is timed; raises on a difference."""
    replies: asyncio.Queue[list[Any]] = asyncio.Queue()

    async def on_echo(*args: Any) -> None:
        replies.put_nowait(list(args))

    client = make_adapter(opts.lib, opts.op_timeout)
    await client.connect(opts.url, on_echo)
    try:
        for args in VERIFY_ARGS:
            await client.emit(*args)
            got = await asyncio.wait_for(replies.get(), opts.op_timeout)
            if got != args:
                raise RuntimeError(f"echo reply differs: sent {args!r}, got {got!r}")
            answer = await client.call(*args)
            if answer != args:
                raise RuntimeError(f"ack answer differs: sent {args!r}, got {answer!r}")
    finally:
        await client.disconnect()
    return {"checks": ["echo", "ack"]}


async def connect_phase(opts: argparse.Namespace) -> dict[str, Any]:
    """``connects`` create-connect-disconnect cycles, ``concurrency`` lanes at a time."""
    latencies: list[int] = []
    errors: list[str] = []
    failed = 0
    next_index = 0

    async def lane() -> None:
        nonlocal failed, next_index
        while next_index < opts.connects:  # bounded by the count
            next_index += 1
            client = make_adapter(opts.lib, opts.op_timeout)
            t0 = now_us()
            try:
                await client.connect(opts.url, None)
                latencies.append(now_us() - t0)
            except Exception as exc:
                failed += 1
                if len(errors) < 5:
                    errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                try:
                    await asyncio.wait_for(client.disconnect(), opts.op_timeout)
                except Exception as exc:
                    if len(errors) < 5:
                        errors.append(f"disconnect: {type(exc).__name__}: {exc}")

    window = Window(opts.server_pid)
    await asyncio.gather(*(lane() for _ in range(min(opts.concurrency, opts.connects))))
    out = window.close()
    out.update(
        count=len(latencies),
        failed=failed,
        errors=errors,
        rate=len(latencies) / out["window_s"],
        p50_us=quantile(latencies, 0.5),
        p99_us=quantile(latencies, 0.99),
    )
    return out


class EchoStats:
    def __init__(self) -> None:
        self.running = False
        self.measuring = False
        self.latencies: list[int] = []
        self.count = 0
        self.mismatches = 0
        self.samples: list[str] = []

    def bad(self, what: str) -> None:
        self.mismatches += 1
        if len(self.samples) < 5:
            self.samples.append(what)


async def echo_phase(opts: argparse.Namespace) -> dict[str, Any]:
    """``clients`` x ``inflight`` echo round trips; a reply sends the next request."""
    stats = EchoStats()
    clients: list[Adapter] = []

    def make_listener(client: Adapter) -> Listener:
        if opts.handler == "sync":
            assert isinstance(client, SocketeerAdapter)
            emit_nowait = client.emit_nowait

            def on_echo_sync(seq: Any = None, t: Any = None, body: Any = None, *rest: Any) -> None:
                if body != BODY or rest or not isinstance(t, int):
                    stats.bad(f"reply {[seq, t, body, *rest]!r}")
                    return
                if stats.measuring:
                    stats.count += 1
                    stats.latencies.append(now_us() - t)
                if stats.running:
                    emit_nowait(seq, now_us(), BODY)

            return on_echo_sync

        async def on_echo(seq: Any = None, t: Any = None, body: Any = None, *rest: Any) -> None:
            if body != BODY or rest or not isinstance(t, int):
                stats.bad(f"reply {[seq, t, body, *rest]!r}")
                return
            if stats.measuring:
                stats.count += 1
                stats.latencies.append(now_us() - t)
            if stats.running:
                await client.emit(seq, now_us(), BODY)

        return on_echo

    async def open_one() -> None:
        client = make_adapter(opts.lib, opts.op_timeout)
        await client.connect(opts.url, make_listener(client))
        clients.append(client)

    sem = asyncio.Semaphore(opts.concurrency)

    async def bounded_open() -> None:
        async with sem:
            await open_one()

    try:
        await asyncio.gather(*(bounded_open() for _ in range(opts.clients)))
        stats.running = True
        for client in clients:
            for i in range(opts.inflight):
                await client.emit(i, now_us(), BODY)
        await asyncio.sleep(opts.warmup)
        stats.measuring = True
        window = Window(opts.server_pid)
        await asyncio.sleep(opts.duration)
        out = window.close()
        stats.measuring = False
        stats.running = False
        count = stats.count
        out.update(
            count=count,
            rate=count / out["window_s"],
            p50_us=quantile(stats.latencies, 0.5),
            p99_us=quantile(stats.latencies, 0.99),
            mismatches=stats.mismatches,
            errors=stats.samples,
        )
        return out
    finally:
        stats.running = False
        await asyncio.sleep(0.2)  # let the last replies land before the sockets go
        await close_all(clients, opts.op_timeout)


async def ack_phase(opts: argparse.Namespace) -> dict[str, Any]:
    """``clients`` x ``inflight`` tasks, each awaiting one emit-with-ack after another."""
    clients: list[Adapter] = []
    latencies: list[int] = []
    samples: list[str] = []
    state = {"running": True, "measuring": False, "count": 0, "bad": 0}

    async def loop(client: Adapter, task: int) -> None:
        seq = 0
        while state["running"]:  # bounded: the phase stops it after warm-up + duration
            t = now_us()
            answer = await client.call(seq, t, BODY)
            if answer != [seq, t, BODY]:
                state["bad"] += 1
                if len(samples) < 5:
                    samples.append(f"ack {answer!r}")
            elif state["measuring"]:
                state["count"] += 1
                latencies.append(now_us() - t)
            seq += 1

    sem = asyncio.Semaphore(opts.concurrency)

    async def bounded_open() -> None:
        async with sem:
            client = make_adapter(opts.lib, opts.op_timeout)
            await client.connect(opts.url, None)
            clients.append(client)

    tasks: list[asyncio.Task[None]] = []
    try:
        await asyncio.gather(*(bounded_open() for _ in range(opts.clients)))
        tasks = [asyncio.create_task(loop(c, i)) for c in clients for i in range(opts.inflight)]
        await asyncio.sleep(opts.warmup)
        state["measuring"] = True
        window = Window(opts.server_pid)
        await asyncio.sleep(opts.duration)
        out = window.close()
        state["measuring"] = False
        count = state["count"]
        out.update(
            count=count,
            rate=count / out["window_s"],
            p50_us=quantile(latencies, 0.5),
            p99_us=quantile(latencies, 0.99),
            mismatches=state["bad"],
            errors=samples,
        )
        return out
    finally:
        state["running"] = False
        if tasks:
            await asyncio.wait(tasks, timeout=opts.op_timeout)
            for task in tasks:
                task.cancel()
        await close_all(clients, opts.op_timeout)


PHASES: dict[str, Callable[[argparse.Namespace], Awaitable[dict[str, Any]]]] = {
    "connect": connect_phase,
    "echo": echo_phase,
    "ack": ack_phase,
}


async def run(opts: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"lib": opts.lib, "handler": opts.handler, "ok": False}
    try:
        out["verify"] = await verify(opts)
        for name in opts.phases.split(","):
            phase = await PHASES[name](opts)
            out[name] = phase
            phase["ok"] = phase["count"] > 0 and not phase.get("failed") and not phase.get("mismatches")
        out["ok"] = all(out[name]["ok"] for name in opts.phases.split(","))
    except Exception as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--lib", choices=("socketeer", "pysio"), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--phases", default="connect,echo", help="comma-separated: connect, echo, ack")
    parser.add_argument("--connects", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--inflight", type=int, default=10)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--handler", choices=("async", "sync"), default="async")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--server-pid", type=int, default=0)
    parser.add_argument("--op-timeout", type=float, default=10.0, help="per connect / ack / disconnect")
    parser.add_argument("--timeout", type=float, default=120.0, help="hard limit for the whole run")
    opts = parser.parse_args()
    if opts.handler == "sync" and opts.lib != "socketeer":
        parser.error("--handler sync needs a non-blocking emit: socketeer only")
    for name in opts.phases.split(","):
        if name not in PHASES:
            parser.error(f"unknown phase {name!r}")

    async def bounded() -> dict[str, Any]:
        try:
            return await asyncio.wait_for(run(opts), opts.timeout)
        except TimeoutError:
            return {"lib": opts.lib, "ok": False, "error": f"hard timeout {opts.timeout:g} s"}

    if opts.loop == "uvloop":
        import uvloop

        result = uvloop.run(bounded())
    else:
        result = asyncio.run(bounded())
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0 if result.get("ok") else 1)  # no lingering client threads or sessions delay the exit


if __name__ == "__main__":
    main()
