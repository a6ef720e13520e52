"""End to end: socketeer (built-in and ASGI) vs python-socketio vs Node socket.io, over the network.

Every server runs the same application (``bench/servers``) as a fresh process per scenario
and repetition, in alternating order, on 127.0.0.1; a Node load generator
(``bench/loadgen/loadgen.js``) speaks raw Engine.IO v4 / Socket.IO v5 to it, checks every
event's round trip before timing and every reply while timing, and reports throughput,
latency and its own CPU. The server's CPU comes from ``/proc/<pid>/stat`` over the measured
window, its memory from ``/proc/<pid>/status``. See ``bench/README.md`` for the scenarios.

    python -m bench sio                          # every scenario, every server, short runs
    python -m bench sio --full                   # 10 s x 3 repetitions
    python -m bench sio --servers a,d --scenarios S1,S3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench._procs import run_json
from bench._timing import environment, format_rate, print_table

ROOT = Path(__file__).resolve().parent.parent
INTEROP = ROOT / "tests" / "interop"
LOADGEN = ROOT / "bench" / "loadgen" / "loadgen.js"
NODE_SERVER = ROOT / "bench" / "servers" / "node_server.js"


# -- servers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerKind:
    key: str
    name: str
    #: The command, with ``{port}`` to fill in; ``python`` and ``node`` are resolved at start.
    argv: tuple[str, ...]
    cwd: Path = ROOT


SERVERS: dict[str, ServerKind] = {
    "a": ServerKind(
        "a",
        "socketeer built-in",
        ("python", "-m", "bench.servers.socketeer_app", "--frontend", "builtin", "--port", "{port}"),
    ),
    "b": ServerKind(
        "b",
        "socketeer ASGI+uvicorn",
        ("python", "-m", "bench.servers.socketeer_app", "--frontend", "asgi", "--port", "{port}"),
    ),
    "c": ServerKind("c", "python-socketio+uvicorn", ("python", "-m", "bench.servers.pysio_app", "--port", "{port}")),
    "d": ServerKind("d", "Node socket.io 4.8", ("node", str(NODE_SERVER), "--port", "{port}"), cwd=INTEROP),
    # Not in the default set: the built-in server with write_delay (a latency for CPU trade).
    "e": ServerKind(
        "e",
        "socketeer built-in, write_delay 20 ms",
        ("python", "-m", "bench.servers.socketeer_app", "--frontend", "builtin", "--write-delay", "0.02",
         "--port", "{port}"),
    ),
}
NODE_KEY = "d"
PYSIO_KEY = "c"


def unavailable(kind: ServerKind) -> str | None:
    """Why this server cannot run here, or None."""
    if kind.argv[0] == "node":
        if shutil.which("node") is None:
            return "node is not installed"
        if not (INTEROP / "node_modules" / "socket.io").is_dir():
            return "tests/interop/node_modules has no socket.io (npm ci there)"
        return None
    if kind.key in ("b", "c"):
        for mod in ("uvicorn", "uvloop", "httptools", "websockets"):
            if importlib.util.find_spec(mod) is None:
                return f"{mod} is not installed"
    if kind.key == "b":
        import socketeer

        if not hasattr(socketeer, "ASGIApp") and importlib.util.find_spec("socketeer.io.asgi") is None:
            return "socketeer has no ASGIApp yet (socketeer.io.asgi)"
    if kind.key == "c" and importlib.util.find_spec("socketio") is None:
        return "python-socketio is not installed"
    return None


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the harness dies, so no server outlives it."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    """A free port below the ephemeral range, new for each server, so the load generator's
    TIME_WAIT sockets from an earlier run never collide with this one's connections."""
    for _ in range(200):  # bounded
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found")


class RunningServer:
    def __init__(self, kind: ServerKind, logdir: Path, tag: str, env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.log_path = logdir / f"{tag}-{kind.key}-server.log"
        argv = [a.replace("{port}", str(self.port)) for a in kind.argv]
        if argv[0] == "python":
            argv[0] = sys.executable
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), **(env or {}))
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=kind.cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # bounded by the deadline
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind.name} exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind.name} did not listen on {self.port} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


# -- scenarios ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    mode: str  # the load generator's mode
    clients: int
    inflight: int
    unit: str  # what the primary rate counts
    extra: dict[str, Any] = field(default_factory=dict)


SCENARIOS: dict[str, Scenario] = {
    "S1": Scenario("S1", "echo over WebSocket, 100 clients x 10 in flight", "echo", 100, 10, "msg/s"),
    "S2": Scenario("S2", "ack round trip over WebSocket, 100 clients x 10 in flight", "ack", 100, 10, "acks/s"),
    "S3": Scenario(
        "S3", "broadcast fan-out, 1 sender to 1,000 clients, 10 broadcasts in flight", "bcast", 1000, 10, "deliveries/s"
    ),
    "S4": Scenario(
        "S4",
        "10,000 idle WebSocket connections, opened 100 at a time",
        "idle",
        10000,
        0,
        "connects/s",
        {"concurrency": 100},
    ),
    "S5": Scenario("S5", "echo over HTTP long-polling, 100 clients x 10 in flight", "poll", 100, 10, "msg/s"),
    "S6": Scenario(
        "S6",
        "binary echo, 64 KiB attachment, 100 clients x 1 in flight",
        "binary",
        100,
        1,
        "msg/s",
        {"payload-bytes": 65536},
    ),
}


#: Scenarios run only when named (``--scenarios S3R``), so the default run stays S1..S6.
EXTRA_SCENARIOS: dict[str, Scenario] = {
    "S3R": Scenario(
        "S3R",
        "broadcast at a fixed rate, 1 sender to 1,000 clients, 100 broadcasts/s (100,000 deliveries/s)",
        "bcast",
        1000,
        10,
        "deliveries/s",
        {"rate": 100},
    ),
}


def run_loadgen(
    scn: Scenario, server: RunningServer, opts: argparse.Namespace, logdir: Path, tag: str, clients: int
) -> dict[str, Any]:
    argv = [
        "node",
        str(LOADGEN),
        "--url",
        f"http://127.0.0.1:{server.port}",
        "--mode",
        scn.mode,
        "--clients",
        str(clients),
        "--inflight",
        str(opts.inflight or scn.inflight),
        "--duration",
        str(opts.duration),
        "--warmup",
        str(opts.warmup),
        "--procs",
        str(opts.procs),
        "--server-pid",
        str(server.pid),
        "--clk-tck",
        str(os.sysconf("SC_CLK_TCK")),
        "--verify",
    ]
    for key, value in scn.extra.items():
        argv += [f"--{key}", str(value)]
    budget = opts.warmup + opts.duration + 90 + clients / 200
    argv += ["--timeout", f"{budget:.0f}"]
    return run_json(argv, ROOT, logdir / f"{tag}-{server.kind.key}-loadgen.log", budget)


# -- the table ------------------------------------------------------------------------------


def _median_span(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f}"


def _pct(values: Sequence[float | None]) -> str:
    vals = [v for v in values if v is not None]
    return f"{statistics.median(vals):.0f}" if vals else "-"


def saturated(results: Sequence[dict[str, Any]], threshold: float = 90.0) -> bool:
    return any(p >= threshold for r in results for p in r.get("loadgen_proc_cpu_pct", []))


#: The ratio columns of a table: (server key, header); ``bench.eio`` passes its own.
DEFAULT_RATIOS: tuple[tuple[str, str], ...] = ((NODE_KEY, "vs Node"), (PYSIO_KEY, "vs py-sio"))


def print_scenario(
    scn: Scenario,
    servers: Sequence[ServerKind],
    results: dict[str, list[dict[str, Any]]],
    skipped: dict[str, str],
    ratios: Sequence[tuple[str, str]] = DEFAULT_RATIOS,
) -> None:
    if scn.extra.get("rate"):
        print_rate_scenario(scn, servers, results, skipped)
        return
    print(f"\n{scn.key}: {scn.title}")
    medians: dict[str, float] = {}
    for kind in servers:
        ok = [r for r in results.get(kind.key, []) if r.get("ok")]
        if ok:
            medians[kind.key] = statistics.median(r["rate"] for r in ok)
    extra_header = {"bcast": "bcasts/s", "idle": "RSS/conn KiB", "poll": "HTTP req/s", "binary": "MiB/s"}.get(
        scn.mode, ""
    )
    latency = scn.mode != "idle"
    headers = [
        "server",
        scn.unit,
        "min-max",
        *([extra_header] if extra_header else []),
        *(["p50 ms", "p99 ms"] if latency else []),
        "srv CPU%",
        "per srv CPU-s",
        "lg CPU%",
        *(header for _, header in ratios),
    ]
    rows: list[list[str]] = []
    notes: list[str] = []
    for kind in servers:
        if kind.key in skipped:
            rows.append([f"{kind.key} {kind.name}", "skipped", *[""] * (len(headers) - 2)])
            notes.append(f"{kind.key}: skipped: {skipped[kind.key]}")
            continue
        runs = results.get(kind.key, [])
        ok = [r for r in runs if r.get("ok")]
        for r in runs:
            if not r.get("ok"):
                notes.append(f"{kind.key}: FAILED: {r.get('error')} {r.get('errorSamples') or ''}".rstrip())
            elif r.get("inexact") or not r.get("verify", {}).get("exact_frames", True):
                notes.append(f"{kind.key}: some replies equal once parsed but not byte-identical")
        if not ok:
            rows.append([f"{kind.key} {kind.name}", "FAIL", *[""] * (len(headers) - 2)])
            continue
        med, lo, hi = _median_span([r["rate"] for r in ok])
        extra: list[str] = []
        if scn.mode == "bcast":
            extra = [format_rate(med / scn.clients)]
        elif scn.mode == "idle":
            vals = [r["rss_per_conn_kib"] for r in ok if r.get("rss_per_conn_kib") is not None]
            extra = [f"{statistics.median(vals):.1f}" if vals else "-"]
        elif scn.mode == "poll":
            extra = [format_rate(statistics.median(r["http_per_s"] for r in ok))]
        elif scn.mode == "binary":
            extra = [f"{statistics.median(r['bytes_per_s'] for r in ok) / 2**20:,.0f}"]
        cpu = [r.get("server_cpu_pct") for r in ok]
        cpu_vals = [c for c in cpu if c]
        per_cpu = (
            statistics.median(r["rate"] / (r["server_cpu_pct"] / 100) for r in ok if r.get("server_cpu_pct"))
            if cpu_vals
            else None
        )
        lg = _pct([r.get("loadgen_cpu_pct") for r in ok]) + ("!" if saturated(ok) else "")
        ratio_cells = [f"{med / medians[k]:.2f}x" if k in medians else "-" for k, _ in ratios]
        rows.append(
            [
                f"{kind.key} {kind.name}",
                format_rate(med),
                f"{format_rate(lo)}-{format_rate(hi)}",
                *extra,
                *(
                    [_ms(statistics.median(r["p50_us"] for r in ok)), _ms(statistics.median(r["p99_us"] for r in ok))]
                    if latency
                    else []
                ),
                _pct(cpu),
                format_rate(per_cpu) if per_cpu else "-",
                lg,
                *ratio_cells,
            ]
        )
    print_table(headers, rows, right=[False, *[True] * (len(headers) - 1)])
    verified = sorted({c for runs in results.values() for r in runs if r.get("ok") for c in r["verify"]["checks"]})
    if verified:
        print(
            f"  every run verified before timing ({', '.join(verified)} round trips equal to what was sent),"
            " and every timed reply checked"
        )
    for note in notes:
        print("  " + note)


def print_rate_scenario(
    scn: Scenario, servers: Sequence[ServerKind], results: dict[str, list[dict[str, Any]]], skipped: dict[str, str]
) -> None:
    """S3R's table. At a fixed rate every server that keeps up delivers the same number of
    messages, so throughput says nothing; what differs is the server CPU each delivery costs
    (the work a real deployment pays for) and the latency. A server that cannot keep up is
    shown with the rate it did achieve."""
    rate = float(scn.extra["rate"])
    target = rate * scn.clients
    print(f"\n{scn.key}: {scn.title}")
    print(f"  target {rate:g} broadcasts/s x {scn.clients:,} clients = {format_rate(target)} deliveries/s")
    headers = [
        "server",
        "deliveries/s",
        "of target",
        "bcasts/s sent",
        "p50 ms",
        "p99 ms",
        "srv CPU%",
        "srv µs/delivery",
        "lg CPU%",
        "µs/dlv vs Node",
        "kept up",
    ]
    per_delivery: dict[str, float] = {}
    for kind in servers:
        ok = [r for r in results.get(kind.key, []) if r.get("ok") and r.get("server_cpu_pct") and r["rate"]]
        if ok:
            per_delivery[kind.key] = statistics.median(r["server_cpu_pct"] / 100 * 1e6 / r["rate"] for r in ok)
    rows: list[list[str]] = []
    notes: list[str] = []
    for kind in servers:
        if kind.key in skipped:
            rows.append([f"{kind.key} {kind.name}", "skipped", *[""] * (len(headers) - 2)])
            notes.append(f"{kind.key}: skipped: {skipped[kind.key]}")
            continue
        runs = results.get(kind.key, [])
        ok = [r for r in runs if r.get("ok")]
        notes.extend(
            f"{kind.key}: FAILED: {r.get('error')} {r.get('errorSamples') or ''}".rstrip()
            for r in runs
            if not r.get("ok")
        )
        if not ok:
            rows.append([f"{kind.key} {kind.name}", "FAIL", *[""] * (len(headers) - 2)])
            continue
        med = statistics.median(r["rate"] for r in ok)
        sent = statistics.median(r.get("sent_bcasts_per_s", 0.0) for r in ok)
        behind = sum(r.get("behind_ticks", 0) for r in ok)
        kept = med >= 0.95 * target and sent >= 0.95 * rate and not behind
        if not kept:
            backlog = max(r.get("backlog_at_end", 0) for r in ok)
            notes.append(
                f"{kind.key}: did not keep up: {format_rate(med)} deliveries/s achieved"
                f" ({format_rate(sent)} broadcasts/s sent, {behind} scheduler ticks held back,"
                f" {backlog} broadcasts undelivered at the end)"
            )
        mine = per_delivery.get(kind.key)
        node = per_delivery.get(NODE_KEY)
        rows.append(
            [
                f"{kind.key} {kind.name}",
                format_rate(med),
                f"{med / target * 100:.0f}%",
                format_rate(sent),
                _ms(statistics.median(r["p50_us"] for r in ok)),
                _ms(statistics.median(r["p99_us"] for r in ok)),
                _pct([r.get("server_cpu_pct") for r in ok]),
                f"{mine:.2f}" if mine is not None else "-",
                _pct([r.get("loadgen_cpu_pct") for r in ok]) + ("!" if saturated(ok) else ""),
                f"{mine / node:.2f}x" if mine is not None and node else "-",
                "yes" if kept else "NO",
            ]
        )
    print_table(headers, rows, right=[False, *[True] * (len(headers) - 1)])
    print(
        "  srv µs/delivery = server CPU time / deliveries (lower is better); 'µs/dlv vs Node' = that"
        " divided by Node's (below 1.00x: less CPU than Node per delivery)"
    )
    for note in notes:
        print("  " + note)


# -- main -----------------------------------------------------------------------------------


def measure_once(kind: ServerKind, scn: Scenario, opts: Any, logdir: Path, tag: str, clients: int) -> dict[str, Any]:
    """A fresh server, one load generator run against it, the server stopped; a failed run
    carries the server's log tail. Prints ok/FAILED after the caller's progress line."""
    server = RunningServer(kind, logdir, tag, {"BENCH_UVICORN_WS": opts.uvicorn_ws})
    try:
        server.wait_ready()
        result = run_loadgen(scn, server, opts, logdir, tag, clients)
    except RuntimeError as exc:
        result = {"ok": False, "error": str(exc)}
    finally:
        server.stop()
    if not result.get("ok"):
        tail = server.log_tail()
        if tail:
            result["server_log_tail"] = tail
    print(f" {'ok' if result.get('ok') else 'FAILED'}", file=sys.stderr)
    return result


def versions(python_dists: Sequence[str], node_packages: Sequence[str]) -> str:
    """One line of what was measured: Python distributions, node, the npm packages, CPUs."""
    parts = [environment(*python_dists)]
    node = shutil.which("node")
    if node:
        parts.append(
            "node " + subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        )
    for pkg in node_packages:
        try:
            meta = json.loads((INTEROP / "node_modules" / pkg / "package.json").read_text())
            parts.append(f"{pkg} {meta['version']}")
        except (OSError, ValueError, KeyError):
            pass
    parts.append(f"{os.cpu_count()} CPUs")
    return "; ".join(parts)


def _versions() -> str:
    return versions(("socketeer", "python-socketio", "python-engineio", "uvicorn", "uvloop", "websockets"),
                    ("socket.io", "ws"))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench sio", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--servers",
        default="a,b,c,d",
        help="which servers, comma-separated: " + ", ".join(f"{k}={s.name}" for k, s in SERVERS.items()),
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated, default S1..S6; S3R (broadcast at a fixed rate) runs only when named",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring (default 1)")
    parser.add_argument("--reps", type=int, default=1, help="repetitions per server and scenario (default 1)")
    parser.add_argument("--full", action="store_true", help="10 s x 3 repetitions (overrides --duration, --reps)")
    parser.add_argument("--procs", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--clients", type=int, default=0, help="override every scenario's client count")
    parser.add_argument("--inflight", type=int, default=0, help="override every scenario's requests in flight")
    parser.add_argument(
        "--uvicorn-ws",
        default="websockets-sansio",
        choices=("websockets-sansio", "websockets", "wsproto"),
        help="uvicorn's WebSocket implementation for servers b and c (default websockets-sansio,"
        " what uvicorn's auto picks)",
    )
    parser.add_argument(
        "--bcast-rate",
        type=float,
        default=0.0,
        help="S3R's broadcasts per second (default 100: 100,000 deliveries/s to 1,000 clients)",
    )
    parser.add_argument("--json", type=Path, help="also write every run's raw result here")
    parser.add_argument("--logs", type=Path, help="keep server and load generator logs here (default: a temp dir)")
    opts = parser.parse_args(argv)
    if opts.full:
        opts.duration, opts.reps = 10.0, 3

    servers = [SERVERS[k.strip()] for k in opts.servers.split(",") if k.strip()]
    known = {**SCENARIOS, **EXTRA_SCENARIOS}
    scenarios = [known[k.strip().upper()] for k in opts.scenarios.split(",") if k.strip()]
    if opts.bcast_rate:
        scenarios = [
            replace(
                scn,
                title=scn.title.split(", 100 broadcasts/s")[0]
                + f", {opts.bcast_rate:g} broadcasts/s ({opts.bcast_rate * scn.clients:,.0f} deliveries/s)",
                extra={**scn.extra, "rate": opts.bcast_rate},
            )
            if scn.extra.get("rate")
            else scn
            for scn in scenarios
        ]
    if shutil.which("node") is None:
        raise SystemExit("node is required: the load generator is bench/loadgen/loadgen.js")
    skipped = {s.key: why for s in servers if (why := unavailable(s)) is not None}
    logdir = opts.logs or Path(tempfile.mkdtemp(prefix="socketeer-bench-"))
    logdir.mkdir(parents=True, exist_ok=True)

    print(_versions())
    print(
        f"{opts.duration:g} s measured after {opts.warmup:g} s warm-up, {opts.reps} repetition(s), "
        f"{opts.procs} load generator process(es), uvicorn --ws {opts.uvicorn_ws}; logs in {logdir}"
    )
    raw: list[dict[str, Any]] = []
    flip = False
    for scn in scenarios:
        results: dict[str, list[dict[str, Any]]] = {}
        clients = opts.clients or scn.clients
        scn_run = (
            scn
            if not opts.clients
            else Scenario(
                scn.key, scn.title + f" ({clients} clients)", scn.mode, clients, scn.inflight, scn.unit, scn.extra
            )
        )
        for rep in range(opts.reps):
            order = [s for s in servers if s.key not in skipped]
            if flip:
                order.reverse()
            flip = not flip
            for kind in order:
                tag = f"{scn.key}-r{rep}"
                print(f"  {scn.key} rep {rep + 1}/{opts.reps}: {kind.name} ...", end="", flush=True, file=sys.stderr)
                result = measure_once(kind, scn_run, opts, logdir, tag, clients)
                results.setdefault(kind.key, []).append(result)
                raw.append({"scenario": scn.key, "server": kind.key, "rep": rep, **result})
        print_scenario(scn_run, servers, results, skipped)
        for kind in servers:
            for r in results.get(kind.key, []):
                if not r.get("ok") and r.get("server_log_tail"):
                    print(f"  {kind.key} server log (last lines):\n    " + r["server_log_tail"].replace("\n", "\n    "))
    if any(saturated([r]) for r in raw if r.get("ok")):
        print(
            "\n! = a load generator process used >= 90% of a core: it, not the server, may be the limit (try --procs 2)"
        )
    if any(not scn.extra.get("rate") for scn in scenarios):
        print(
            "\nratios compare the median rate; 'per srv CPU-s' = rate / server CPU (cores), which is less"
            " sensitive to a busy machine than the rate itself."
        )
    if opts.json:
        opts.json.write_text(json.dumps(raw, indent=1))
        print(f"raw results: {opts.json}")
