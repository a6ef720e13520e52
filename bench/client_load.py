"""The clients as load generators: socketeer.Client vs python-socketio AsyncClient vs Node socket.io-client.

A client library's cost shows when one process drives many connections: a bot fleet, a load
test, a service fanning out to a Socket.IO server. Here each client library is the load
generator, one process each, against the same server (Node socket.io 4.8,
``bench/servers/node_server.js``, a fresh process per measurement), so the rows differ only in
the client. Per generator:

* **connects/s**: ``--connects`` create-connect-disconnect cycles, ``--concurrency`` at a time
  (WebSocket transport, reconnection off), and the connect latency;
* **echo msg/s**: ``--clients`` connected clients x ``--inflight`` ``echo`` events in flight,
  each reply emitting the next, and the round-trip latency;
* **ack/s** with ``--phases connect,echo,ack``: the same number of tasks awaiting
  emit-with-ack in turn.

Every generator first verifies echo and ack payloads of varied arguments, and checks every
timed reply. Each generator process's CPU and the server's are read over each measured window.

    python -m bench client                         # 3 s phases, 1 repetition
    python -m bench client --full                  # 10 s x 3 repetitions
    python -m bench client --phases connect,echo,ack --generators a,b,c,s
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._procs import run_json
from bench._timing import format_rate, print_table
from bench.sio import INTEROP, ROOT, SERVERS, RunningServer, versions

PY_CLIENTS = ROOT / "bench" / "loadgen" / "py_clients.py"
NODE_CLIENTS = ROOT / "bench" / "loadgen" / "node_clients.js"


@dataclass(frozen=True)
class Generator:
    key: str
    name: str
    #: The command; ``python`` is this interpreter, the phase options are appended.
    argv: tuple[str, ...]


GENERATORS: dict[str, Generator] = {
    "a": Generator("a", "socketeer.Client", ("python", str(PY_CLIENTS), "--lib", "socketeer")),
    "b": Generator("b", "python-socketio AsyncClient", ("python", str(PY_CLIENTS), "--lib", "pysio")),
    "c": Generator("c", "Node socket.io-client 4.8", ("node", str(NODE_CLIENTS))),
    # socketeer's emit never blocks, so a plain (sync) listener can answer: no task per event
    "s": Generator(
        "s", "socketeer.Client, sync listener", ("python", str(PY_CLIENTS), "--lib", "socketeer", "--handler", "sync")
    ),
}
PYSIO_KEY = "b"
NODE_KEY = "c"


def unavailable(gen: Generator) -> str | None:
    """Why this generator cannot run here, or None: a missing piece skips a row, not the run."""
    if gen.argv[0] == "node":
        if not (INTEROP / "node_modules" / "socket.io-client").is_dir():
            return "tests/interop/node_modules has no socket.io-client (npm ci there)"
        return None
    if "pysio" in gen.argv:
        for mod in ("socketio", "aiohttp"):
            if importlib.util.find_spec(mod) is None:
                hint = " (python-socketio's WebSocket client needs it)" if mod == "aiohttp" else ""
                return f"{mod} is not installed{hint}"
    if importlib.util.find_spec("uvloop") is None:
        return "uvloop is not installed"
    return None


def run_generator(gen: Generator, server: RunningServer, opts: argparse.Namespace, log: Path) -> dict[str, Any]:
    argv = [sys.executable if a == "python" else a for a in gen.argv]
    argv += [
        "--url",
        f"http://127.0.0.1:{server.port}",
        "--phases",
        opts.phases,
        "--connects",
        str(opts.connects),
        "--concurrency",
        str(opts.concurrency),
        "--clients",
        str(opts.clients),
        "--inflight",
        str(opts.inflight),
        "--duration",
        str(opts.duration),
        "--warmup",
        str(opts.warmup),
        "--server-pid",
        str(server.pid),
    ]
    if gen.argv[0] == "node":
        argv += ["--clk-tck", str(os.sysconf("SC_CLK_TCK"))]
    else:
        argv += ["--loop", opts.loop]
    phases = opts.phases.split(",")
    timed = sum(opts.warmup + opts.duration for p in phases if p != "connect")
    budget = 60 + timed + opts.connects / 20
    argv += ["--timeout", f"{budget:.0f}"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return run_json(argv, ROOT, log, budget, what="generator", env=env)


# -- the tables -----------------------------------------------------------------------------


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f}"


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


PHASE_TITLES = {
    "connect": "connects/s: create, connect (WebSocket + Socket.IO connect), disconnect; {concurrency} at a time,"
    " {connects} in all",
    "echo": "echo msg/s: {clients} clients x {inflight} in flight, one process",
    "ack": "ack round trips/s: {clients} clients x {inflight} tasks awaiting emit-with-ack, one process",
}
PHASE_UNITS = {"connect": "connects/s", "echo": "msg/s", "ack": "acks/s"}


def print_phase(
    phase: str,
    gens: Sequence[Generator],
    results: dict[str, list[dict[str, Any]]],
    skipped: dict[str, str],
    opts: argparse.Namespace,
) -> None:
    print("\n" + PHASE_TITLES[phase].format(**vars(opts)))
    ok_runs = {g.key: [r[phase] for r in results.get(g.key, []) if r.get(phase, {}).get("ok")] for g in gens}
    medians = {k: statistics.median(x["rate"] for x in runs) for k, runs in ok_runs.items() if runs}
    headers = [
        "generator",
        PHASE_UNITS[phase],
        "min-max",
        "p50 ms",
        "p99 ms",
        "gen CPU%",
        "per gen CPU-s",
        "srv CPU%",
        "vs py-sio",
        "vs Node",
    ]
    rows: list[list[str]] = []
    notes: list[str] = []
    for gen in gens:
        label = f"{gen.key} {gen.name}"
        if gen.key in skipped:
            rows.append([label, "skipped", *[""] * (len(headers) - 2)])
            notes.append(f"{gen.key}: skipped: {skipped[gen.key]}")
            continue
        for r in results.get(gen.key, []):
            part = r.get(phase)
            if part is None:
                notes.append(f"{gen.key}: FAILED before this phase: {r.get('error')}")
            elif not part.get("ok"):
                notes.append(
                    f"{gen.key}: FAILED: {part.get('count', 0)} done, {part.get('failed', 0)} failed,"
                    f" {part.get('mismatches', 0)} wrong replies: {part.get('errors')}"
                )
        runs = ok_runs.get(gen.key, [])
        if not runs:
            rows.append([label, "FAIL", *[""] * (len(headers) - 2)])
            continue
        rates = [x["rate"] for x in runs]
        med = medians[gen.key]
        cpu = _median([x.get("cpu_pct") for x in runs])
        per_cpu = _median([x["rate"] / (x["cpu_pct"] / 100) for x in runs if x.get("cpu_pct")])
        srv = _median([x.get("server_cpu_pct") for x in runs])
        rows.append(
            [
                label,
                format_rate(med),
                f"{format_rate(min(rates))}-{format_rate(max(rates))}",
                _ms(_median([x.get("p50_us") for x in runs])),
                _ms(_median([x.get("p99_us") for x in runs])),
                "-" if cpu is None else f"{cpu:.0f}" + ("!" if cpu >= 90 else ""),
                "-" if per_cpu is None else format_rate(per_cpu),
                "-" if srv is None else f"{srv:.0f}",
                *[f"{med / medians[k]:.2f}x" if k in medians else "-" for k in (PYSIO_KEY, NODE_KEY)],
            ]
        )
    print_table(headers, rows, right=[False, *[True] * (len(headers) - 1)])
    for note in notes:
        print("  " + note)


def _versions() -> str:
    return versions(("socketeer", "python-socketio", "python-engineio", "aiohttp", "uvloop"),
                    ("socket.io", "socket.io-client"))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench client", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--generators",
        default="a,b,c",
        help="comma-separated (default a,b,c): " + ", ".join(f"{k}={g.name}" for k, g in GENERATORS.items()),
    )
    parser.add_argument("--phases", default="connect,echo", help="comma-separated: connect, echo, ack")
    parser.add_argument("--connects", type=int, default=500, help="connect cycles (default 500)")
    parser.add_argument("--concurrency", type=int, default=50, help="connects at a time (default 50)")
    parser.add_argument("--clients", type=int, default=50, help="connected clients for echo/ack (default 50)")
    parser.add_argument("--inflight", type=int, default=10, help="requests in flight per client (default 10)")
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per echo/ack phase (3)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring (1)")
    parser.add_argument("--reps", type=int, default=1, help="repetitions per generator (default 1)")
    parser.add_argument("--full", action="store_true", help="10 s x 3 repetitions (overrides --duration, --reps)")
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop", help="the Python generators' event loop (uvloop)"
    )
    parser.add_argument("--json", type=Path, help="also write every run's raw result here")
    parser.add_argument("--logs", type=Path, help="keep server and generator logs here (default: a temp dir)")
    opts = parser.parse_args(argv)
    if opts.full:
        opts.duration, opts.reps = 10.0, 3
    for phase in opts.phases.split(","):
        if phase not in PHASE_TITLES:
            parser.error(f"unknown phase {phase!r}")
    if shutil.which("node") is None:
        raise SystemExit("node is required: the server is bench/servers/node_server.js")
    server_kind = SERVERS["d"]
    if not (INTEROP / "node_modules" / "socket.io").is_dir():
        raise SystemExit("tests/interop/node_modules has no socket.io (npm ci there)")

    gens = [GENERATORS[k.strip()] for k in opts.generators.split(",") if k.strip()]
    skipped = {g.key: why for g in gens if (why := unavailable(g)) is not None}
    logdir = opts.logs or Path(tempfile.mkdtemp(prefix="socketeer-bench-client-"))
    logdir.mkdir(parents=True, exist_ok=True)
    print(_versions())
    print(
        f"server: {server_kind.name} (fresh per run); phases {opts.phases}; {opts.duration:g} s measured after"
        f" {opts.warmup:g} s warm-up, {opts.reps} repetition(s); Python generators on {opts.loop}; logs in {logdir}"
    )

    results: dict[str, list[dict[str, Any]]] = {}
    raw: list[dict[str, Any]] = []
    for rep in range(opts.reps):
        order = [g for g in gens if g.key not in skipped]
        if rep % 2:
            order.reverse()
        for gen in order:
            tag = f"client-r{rep}-{gen.key}"
            print(f"  rep {rep + 1}/{opts.reps}: {gen.name} ...", end="", flush=True, file=sys.stderr)
            server = RunningServer(server_kind, logdir, tag)
            try:
                server.wait_ready()
                result = run_generator(gen, server, opts, logdir / f"{tag}-generator.log")
            except RuntimeError as exc:
                result = {"ok": False, "error": str(exc)}
            finally:
                server.stop()
            status = "ok" if result.get("ok") else f"FAILED: {result.get('error', 'see the table')}"
            print(f" {status}", file=sys.stderr)
            results.setdefault(gen.key, []).append(result)
            raw.append({"generator": gen.key, "rep": rep, **result})

    for phase in opts.phases.split(","):
        print_phase(phase, gens, results, skipped, opts)
    verified = sorted({c for runs in results.values() for r in runs if r.get("verify") for c in r["verify"]["checks"]})
    if verified:
        print(
            f"\nevery generator verified {', '.join(verified)} payloads of varied arguments before timing;"
            " every timed reply was checked"
        )
    print(
        "ratios compare the median rate; 'per gen CPU-s' = rate / the generator's CPU (cores): the client's"
        " cost, less sensitive to a busy machine than the rate; '!' = the generator used >= 90% of a core."
    )
    if opts.json:
        opts.json.write_text(json.dumps(raw, indent=1))
        print(f"raw results: {opts.json}")
