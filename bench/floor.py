"""The floor under S3R: what one small TCP write to a reading peer costs on loopback, with no
Socket.IO, no WebSocket and no event loop at all.

A sender (this process) holds ``--clients`` loopback TCP connections to a receiver process
(Node when installed, as the load generator; else Python) that reads and discards. At
``--rate`` ticks per second it sends one ``--size``-byte message to every connection, as S3R's
server sends each broadcast to 1,000 clients, and reports its own CPU per message from
``getrusage``: user and system apart. With ``--batch 2`` each write carries two messages, which
is what ``write_delay`` buys. Any server that writes each delivery as it happens pays at least
this much per delivery; ``python -m bench sio --scenarios S3R`` shows what the servers pay.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import socket
import subprocess
import sys
import time

from ._timing import environment, print_table

_NODE_RECEIVER = r"""
const net = require("node:net");
const [port, n] = process.argv.slice(1).map(Number);
let open = 0, bytes = 0;
for (let i = 0; i < n; i++) {
  const s = net.connect(port, "127.0.0.1", () => { if (++open === n) process.stdout.write("ready\n"); });
  s.on("data", (d) => { bytes += d.length; });
  s.on("error", () => {});
}
process.stdin.on("data", () => {});
process.stdin.on("end", () => { process.stdout.write(String(bytes) + "\n"); process.exit(0); });
"""

_PY_RECEIVER = r"""
import asyncio, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
total = 0
class Sink(asyncio.Protocol):
    def data_received(self, data):
        global total
        total += len(data)
async def main():
    loop = asyncio.get_running_loop()
    for _ in range(n):
        await loop.create_connection(Sink, "127.0.0.1", port)
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    print(total, flush=True)
asyncio.run(main())
"""


def _receiver(port: int, clients: int) -> subprocess.Popen[str]:
    node = shutil.which("node")
    argv = [node, "-e", _NODE_RECEIVER, str(port), str(clients)] if node else \
        [sys.executable, "-c", _PY_RECEIVER, str(port), str(clients)]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def measure(clients: int, rate: float, size: int, batch: int, duration: float) -> list[str]:
    """One run: ``clients`` connections, ``rate`` deliveries per second to each, ``batch``
    deliveries per write. Returns a table row."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(clients)
    port = listener.getsockname()[1]
    receiver = _receiver(port, clients)
    conns = []
    try:
        for _ in range(clients):
            conn, _addr = listener.accept()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as uvloop and Node do
            conn.setblocking(False)
            conns.append(conn)
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        message = b"\x81" + bytes([size - 2]) + b"x" * (size - 2) if size < 128 else b"x" * size
        payload = message * batch
        tick = batch / rate
        writes = short = 0
        u0, s0 = _cpu()
        start = time.monotonic()
        deadline = start + duration
        next_tick = start
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now < next_tick:
                time.sleep(next_tick - now)
            next_tick += tick
            for conn in conns:
                try:
                    if conn.send(payload) < len(payload):
                        short += 1
                except BlockingIOError:
                    short += 1
            writes += len(conns)
        elapsed = time.monotonic() - start
        u1, s1 = _cpu()
    finally:
        for conn in conns:
            conn.close()
        listener.close()
        out, _ = receiver.communicate("", timeout=30)
    deliveries = writes * batch
    user = (u1 - u0) / deliveries * 1e6
    system = (s1 - s0) / deliveries * 1e6
    received = int(out.split()[-1]) if out.split() else 0
    return [
        f"{batch}", f"{deliveries / elapsed:,.0f}", f"{user:.2f}", f"{system:.2f}", f"{user + system:.2f}",
        f"{100 * ((u1 - u0) + (s1 - s0)) / elapsed:.0f}", f"{short}",
        "yes" if received == deliveries * size else f"no ({received:,} of {deliveries * size:,} bytes)",
    ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench floor", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="deliveries per second to each client (100)")
    parser.add_argument("--size", type=int, default=70, help="bytes per delivery (70: an S3R frame)")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--batch", default="1,2", help="deliveries per write, comma-separated (1,2)")
    opts = parser.parse_args(argv)
    print(environment())
    print(f"{opts.clients:,} loopback connections, {opts.rate:g} deliveries/s each "
          f"({opts.clients * opts.rate:,.0f}/s), {opts.size} bytes each, {opts.duration:g} s per run, "
          f"receiver: {'node' if shutil.which('node') else 'python'}")
    rows = [measure(opts.clients, opts.rate, opts.size, int(b), opts.duration) for b in opts.batch.split(",")]
    print_table(
        ["per write", "deliveries/s", "user µs/dlv", "system µs/dlv", "total µs/dlv", "CPU%", "short writes",
         "all received"],
        rows, right=[True] * 8,
    )
    print("  the sender's own CPU (getrusage) over the run divided by deliveries; on loopback the system time\n"
          "  includes the receiving side's TCP processing, which runs in the sender's system call")


if __name__ == "__main__":
    main(sys.argv[1:])
