"""Engine.IO only: socketeer (built-in and ASGI) vs python-engineio, WebSocket echo over the network.

Below Socket.IO there is a whole layer (Engine.IO sessions, framing, the front end) whose cost
``bench sio`` cannot separate from the Socket.IO parser and event dispatch: this benchmark
measures it alone. Each server echoes every Engine.IO message as it came; the Node load
generator (``bench/loadgen/loadgen.js --mode eio``) opens 100 WebSocket sessions, keeps 10
small text messages (``4<seq>,<t>,{...}``) in flight on each, answers pings, and checks every
reply byte for byte. Everything else is ``bench sio``'s harness: a fresh server process per
measurement, alternating order, server CPU from ``/proc``, load generator CPU from Node.

    python -m bench eio                               # a, b, c: 5 s after 1 s warm-up
    python -m bench eio --full                        # 10 s x 3 repetitions
    python -m bench eio --servers a,b,c,d --duration 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.sio import (
    INTEROP,
    ROOT,
    Scenario,
    ServerKind,
    measure_once,
    print_scenario,
    saturated,
    versions,
)

NODE_EIO_SERVER = ROOT / "bench" / "servers" / "node_eio_server.js"

SERVERS: dict[str, ServerKind] = {
    "a": ServerKind(
        "a",
        "socketeer eio built-in",
        ("python", "-m", "bench.servers.eio_socketeer_app", "--frontend", "builtin", "--port", "{port}"),
    ),
    "b": ServerKind(
        "b",
        "socketeer eio ASGI+uvicorn",
        ("python", "-m", "bench.servers.eio_socketeer_app", "--frontend", "asgi", "--port", "{port}"),
    ),
    "c": ServerKind(
        "c", "python-engineio+uvicorn", ("python", "-m", "bench.servers.eio_pyeio_app", "--port", "{port}")
    ),
    "d": ServerKind("d", "Node engine.io 6", ("node", str(NODE_EIO_SERVER), "--port", "{port}"), cwd=INTEROP),
}
PYEIO_KEY = "c"
NODE_KEY = "d"

SCENARIO = Scenario(
    "E1",
    "Engine.IO echo over WebSocket, 100 clients x 10 in flight",
    "eio",
    100,
    10,
    "msg/s",
    {"path": "/engine.io/"},
)


def unavailable(kind: ServerKind) -> str | None:
    """Why this server cannot run here, or None: a missing piece skips a row, not the run."""
    if kind.argv[0] == "node":
        if shutil.which("node") is None:
            return "node is not installed"
        if not (INTEROP / "node_modules" / "engine.io").is_dir():
            return "tests/interop/node_modules has no engine.io (npm ci there)"
        return None
    needed = ["uvicorn", "uvloop", "httptools", "websockets"] if kind.key != "a" else []
    if kind.key == PYEIO_KEY:
        needed.append("engineio")
    for mod in needed:
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed"
    return None


def _versions() -> str:
    return versions(("socketeer", "python-engineio", "uvicorn", "uvloop", "websockets"), ("engine.io", "ws"))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench eio", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--servers",
        default="a,b,c",
        help="comma-separated (default a,b,c): " + ", ".join(f"{k}={s.name}" for k, s in SERVERS.items()),
    )
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring (default 1)")
    parser.add_argument("--reps", type=int, default=1, help="repetitions per server (default 1)")
    parser.add_argument("--full", action="store_true", help="10 s x 3 repetitions (overrides --duration, --reps)")
    parser.add_argument("--procs", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--clients", type=int, default=SCENARIO.clients, help="WebSocket sessions (default 100)")
    parser.add_argument("--inflight", type=int, default=SCENARIO.inflight, help="messages in flight each (10)")
    parser.add_argument(
        "--uvicorn-ws",
        default="websockets-sansio",
        choices=("websockets-sansio", "websockets", "wsproto"),
        help="uvicorn's WebSocket implementation for servers b and c (default websockets-sansio)",
    )
    parser.add_argument("--json", type=Path, help="also write every run's raw result here")
    parser.add_argument("--logs", type=Path, help="keep server and load generator logs here (default: a temp dir)")
    opts = parser.parse_args(argv)
    if opts.full:
        opts.duration, opts.reps = 10.0, 3
    if shutil.which("node") is None:
        raise SystemExit("node is required: the load generator is bench/loadgen/loadgen.js")

    servers = [SERVERS[k.strip()] for k in opts.servers.split(",") if k.strip()]
    skipped = {s.key: why for s in servers if (why := unavailable(s)) is not None}
    scn = Scenario(
        SCENARIO.key,
        f"Engine.IO echo over WebSocket, {opts.clients} clients x {opts.inflight} in flight",
        SCENARIO.mode,
        opts.clients,
        opts.inflight,
        SCENARIO.unit,
        SCENARIO.extra,
    )
    logdir = opts.logs or Path(tempfile.mkdtemp(prefix="socketeer-bench-eio-"))
    logdir.mkdir(parents=True, exist_ok=True)
    print(_versions())
    print(
        f"{opts.duration:g} s measured after {opts.warmup:g} s warm-up, {opts.reps} repetition(s), "
        f"{opts.procs} load generator process(es), uvicorn --ws {opts.uvicorn_ws}; logs in {logdir}"
    )

    results: dict[str, list[dict[str, Any]]] = {}
    raw: list[dict[str, Any]] = []
    for rep in range(opts.reps):
        order = [s for s in servers if s.key not in skipped]
        if rep % 2:
            order.reverse()
        for kind in order:
            tag = f"{scn.key}-r{rep}"
            print(f"  rep {rep + 1}/{opts.reps}: {kind.name} ...", end="", flush=True, file=sys.stderr)
            result = measure_once(kind, scn, opts, logdir, tag, scn.clients)
            results.setdefault(kind.key, []).append(result)
            raw.append({"scenario": scn.key, "server": kind.key, "rep": rep, **result})

    ratios = [(PYEIO_KEY, "vs py-eio"), ("a", "vs built-in")]
    if any(s.key == NODE_KEY for s in servers):
        ratios.insert(0, (NODE_KEY, "vs Node"))
    print_scenario(scn, servers, results, skipped, ratios)
    for kind in servers:
        for r in results.get(kind.key, []):
            if not r.get("ok") and r.get("server_log_tail"):
                print(f"  {kind.key} server log (last lines):\n    " + r["server_log_tail"].replace("\n", "\n    "))
    if any(saturated([r]) for r in raw if r.get("ok")):
        print("\n! = a load generator process used >= 90% of a core: it may be the limit (try --procs 2)")
    print(
        "\nratios compare the median rate; 'per srv CPU-s' = rate / server CPU (cores), which is less"
        " sensitive to a busy machine than the rate itself."
    )
    if opts.json:
        opts.json.write_text(json.dumps(raw, indent=1))
        print(f"raw results: {opts.json}")
