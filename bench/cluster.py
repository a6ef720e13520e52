"""Fan-out across 2 and 3 nodes over Redis: socketeer vs Node socket.io, each with the same adapter flavour.

A broadcast on one node of a cluster costs that node its own deliveries plus a publish, and
every other node a message from Redis to decode and deliver: this benchmark measures the whole
path, for each adapter flavour: ``classic`` (socketeer's ``RedisAdapter``, Node's
``createAdapter``: PUBLISH/PSUBSCRIBE) and ``sharded`` (``ShardedRedisAdapter``,
``createShardedAdapter``, subscription mode ``dynamic``: SPUBLISH/SSUBSCRIBE, a channel per
room). For each node count and flavour, N fresh node processes of one kind (``bench/servers/
cluster_socketeer_app.py`` or ``cluster_node_server.js``) share one Redis and one new key
prefix, each on its own port on 127.0.0.1; the Node load generator
(``bench/loadgen/cluster_loadgen.js``) spreads the clients evenly over them, checks that a
broadcast reaches every client, then has one client make node 0 broadcast to everyone (so every
broadcast crosses Redis to the other nodes) and counts every client's receipts. Reported:
deliveries/s, p50/p99 latency from the send time in the payload to each receipt, each node's
CPU and Redis's (``/proc/<pid>/stat`` over the measured window), the load generator's CPU.

One more case per flavour and kind: a node whose clients are in no room that is broadcast to.
Node 0 gets a fixed rate of broadcasts to room ``R`` (its few members receive them). With the
classic adapter the other node gets each one on its pattern subscription and must drop it
without decoding it; with the sharded one it should get nothing, as only a node holding a
member of R subscribes to R's channel (the harness samples ``PUBSUB SHARDNUMSUB`` of it). Its
CPU is the cost of being in the cluster. Ratios socketeer/Node are within one flavour. See
``bench/README.md``.

    python -m bench cluster                          # 2 and 3 nodes, both kinds and flavours, 3 s per case
    python -m bench cluster --nodes 3 --kinds socketeer,node --adapters sharded --duration 10 --reps 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench._procs import run_json
from bench._timing import format_rate, print_table
from bench.sio import INTEROP, ROOT, RunningServer, ServerKind, versions

LOADGEN = ROOT / "bench" / "loadgen" / "cluster_loadgen.js"
NODE_SERVER = ROOT / "bench" / "servers" / "cluster_node_server.js"

#: The load generator's processes above this share of a core may be the limit, not the nodes.
SATURATED_PCT = 90.0


# -- node kinds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeKind(ServerKind):
    """A ``bench.sio`` ``ServerKind`` whose command also has ``{redis}``, ``{key}`` and
    ``{adapter}`` to fill in per case (``{port}`` is filled in per node)."""

    def server(self, redis_url: str, key: str, adapter: str) -> ServerKind:
        """This kind as ``bench.sio``'s ``ServerKind`` for one case, so its ``RunningServer``
        (fresh process, its own port, SIGTERM on exit, log file) runs it unchanged."""
        argv = tuple(a.replace("{redis}", redis_url).replace("{key}", key).replace("{adapter}", adapter)
                     for a in self.argv)
        return ServerKind(self.key, self.name, argv, self.cwd)


KINDS: dict[str, NodeKind] = {
    "socketeer": NodeKind(
        "socketeer",
        "socketeer built-in",
        ("python", "-m", "bench.servers.cluster_socketeer_app", "--port", "{port}", "--redis", "{redis}",
         "--key", "{key}", "--adapter", "{adapter}", "--subscription-mode", "dynamic"),
    ),
    "node": NodeKind(
        "node",
        "Node socket.io 4.8",
        ("node", str(NODE_SERVER), "--port", "{port}", "--redis", "{redis}", "--key", "{key}",
         "--adapter", "{adapter}", "--subscription-mode", "dynamic"),
        cwd=INTEROP,
    ),
}
SOCKETEER, NODE = "socketeer", "node"

#: The adapter flavours: what each kind runs in it (the sharded one in subscription mode "dynamic").
ADAPTERS: dict[str, dict[str, str]] = {
    "classic": {SOCKETEER: "RedisAdapter(redis, key=KEY)", NODE: "createAdapter(pub, sub, {key: KEY})"},
    "sharded": {
        SOCKETEER: 'ShardedRedisAdapter(redis, channel_prefix=KEY, subscription_mode="dynamic")',
        NODE: 'createShardedAdapter(pub, sub, {channelPrefix: KEY, subscriptionMode: "dynamic"})',
    },
}
CLASSIC, SHARDED = "classic", "sharded"
#: The room the load generator's non-member case broadcasts to (its ROOM).
ROOM = "R"


def unavailable(kind: NodeKind, adapter: str) -> str | None:
    """Why this kind of node cannot run here with this adapter flavour, or None (Redis's own
    version is checked once it is known)."""
    if kind.key == NODE:
        if shutil.which("node") is None:
            return "node is not installed"
        for pkg in ("socket.io", "@socket.io/redis-adapter", "redis"):
            if not (INTEROP / "node_modules" / pkg).is_dir():
                return f"tests/interop/node_modules has no {pkg} (npm ci there)"
        if adapter == SHARDED and not (INTEROP / "node_modules" / "@socket.io/redis-adapter/dist/sharded-adapter.js"
                                       ).is_file():
            return "@socket.io/redis-adapter has no createShardedAdapter (8.2 or later)"
        return None
    mods = ("redis", "socketeer.adapters.redis") + (("socketeer.adapters.redis_sharded",) if adapter == SHARDED else ())
    for mod in mods:
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not importable"
    return None


# -- Redis ----------------------------------------------------------------------------------------


def _read_reply(f: Any) -> Any:
    """One RESP2 reply (what PING, INFO and PUBSUB NUMSUB answer); errors raise."""
    line = f.readline()
    if not line:
        raise OSError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise OSError(f"Redis: {rest.decode(errors='replace')}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data: bytes = f.read(size + 2)[:-2]
        return data
    if kind == b"*":
        return [_read_reply(f) for _ in range(int(rest))]
    raise OSError(f"Redis: unexpected reply {line[:40]!r}")


def redis_command(port: int, *args: str, timeout: float = 2.0) -> Any:
    """A single command on a new connection to 127.0.0.1:port. Only the harness's few read-only
    commands go through here (PING, INFO, PUBSUB NUMSUB): the benchmark never writes or flushes
    anything in Redis, so a shared server on 6379 is left as it was."""
    payload = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
    )
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        with sock.makefile("rb") as f:
            return _read_reply(f)


def redis_answers(port: int) -> bool:
    try:
        return bool(redis_command(port, "PING") == "PONG")
    except (OSError, ValueError):
        return False


@dataclass
class RedisInfo:
    port: int
    version: str
    #: Its pid when its /proc entry is readable and is Redis (a server in another PID
    #: namespace, e.g. a container, has none here): then its CPU is reported.
    pid: int | None
    started: bool

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def sharded_pubsub(self) -> bool:
        """Redis 7 or later: SPUBLISH, SSUBSCRIBE and PUBSUB SHARDNUMSUB."""
        try:
            return int(self.version.split(".")[0]) >= 7
        except ValueError:
            return False

    def describe(self) -> str:
        where = "started for this run" if self.started else "already running; shared, so its CPU counts every client"
        return f"Redis {self.version} on 127.0.0.1:{self.port} ({where})"


def _redis_info(port: int, started: bool) -> RedisInfo:
    info = redis_command(port, "INFO", "server")
    text = info.decode(errors="replace") if isinstance(info, bytes) else ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    pid: int | None = None
    try:
        pid = int(fields.get("process_id", ""))
        if not Path(f"/proc/{pid}/comm").read_text().startswith("redis"):
            pid = None
    except (ValueError, OSError):
        pid = None
    return RedisInfo(port, fields.get("redis_version", "?"), pid, started)


@contextmanager
def redis_for_run(logdir: Path) -> Iterator[RedisInfo]:
    """127.0.0.1:6379 when it answers PING (used under a key prefix of this run only);
    otherwise a ``redis-server`` of our own on a free loopback port, without persistence,
    stopped when the run ends."""
    if redis_answers(6379):
        yield _redis_info(6379, started=False)
        return
    if shutil.which("redis-server") is None:
        raise SystemExit("no Redis answers on 127.0.0.1:6379 and redis-server is not installed")
    kind = ServerKind(
        "redis",
        "redis-server",
        ("redis-server", "--port", "{port}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
    )
    server = RunningServer(kind, logdir, "cluster")
    try:
        server.wait_ready()
        deadline = time.monotonic() + 10
        while not redis_answers(server.port):  # bounded by the deadline
            if time.monotonic() > deadline:
                raise SystemExit(f"redis-server did not answer PING: {server.log_tail()}")
            time.sleep(0.05)
        yield _redis_info(server.port, started=True)
    finally:
        server.stop()


def subscribers(redis: RedisInfo, adapter: str, channel: str) -> int:
    """How many connections subscribe to ``channel``: PUBSUB NUMSUB for the classic flavour's
    channels, PUBSUB SHARDNUMSUB for the sharded one's (a separate count in Redis)."""
    command = "SHARDNUMSUB" if adapter == SHARDED else "NUMSUB"
    reply = redis_command(redis.port, "PUBSUB", command, channel)
    return int(reply[1]) if isinstance(reply, list) and len(reply) > 1 else 0


def wait_subscribed(redis: RedisInfo, key: str, adapter: str, count: int, nodes: Sequence[RunningServer],
                    timeout: float = 15.0) -> None:
    """Until ``count`` nodes subscribe to the channel every broadcast to all comes on: classic,
    the namespace's request channel (both adapters make that subscription after their pattern
    subscription, on the same connection); sharded, the namespace's channel ``KEY#/#`` (both
    adapters subscribe to it first). Before it, a broadcast could miss a node that is listening
    but not yet in the cluster."""
    channel = f"{key}#/#" if adapter == SHARDED else f"{key}-request#/#"
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:  # bounded by the deadline
        for node in nodes:
            if node.proc.poll() is not None:
                raise RuntimeError(f"{node.kind.name} exited with {node.proc.returncode}: {node.log_tail()}")
        seen = subscribers(redis, adapter, channel)
        if seen >= count:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{seen} of {count} nodes subscribed to {channel} within {timeout:.0f} s")


class RoomChannelWatch:
    """The sharded non-member case: samples ``PUBSUB SHARDNUMSUB`` of R's own channel
    (``KEY#/#R#``) every 0.2 s while the load generator runs, in a thread, and keeps the largest
    count seen. Only node 0 holds members of R, so at most 1 is expected: 2 would mean the
    non-member node subscribed too (and then its CPU would not show what the flavour saves)."""

    def __init__(self, redis: RedisInfo, key: str) -> None:
        self.redis = redis
        self.channel = f"{key}#/#{ROOM}#"
        self.most = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="room-channel-watch", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):  # until stopped
            try:
                self.most = max(self.most, subscribers(self.redis, SHARDED, self.channel))
                self.samples += 1
            except (OSError, ValueError):
                pass

    def __enter__(self) -> RoomChannelWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


# -- one case -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One measurement: ``mode`` is the load generator's (``fanout`` or ``nomember``),
    ``adapter`` the flavour (``classic`` or ``sharded``)."""

    mode: str
    nodes: int
    adapter: str
    kind: str


def start_nodes(kind: NodeKind, adapter: str, count: int, redis: RedisInfo, key: str, logdir: Path,
                tag: str) -> list[RunningServer]:
    """``count`` fresh node processes on distinct ports (``free_port`` is random, so a repeat
    is possible and is retried), each listening before the next is started."""
    server_kind = kind.server(redis.url, key, adapter)
    nodes: list[RunningServer] = []
    try:
        for i in range(count):
            for _ in range(5):  # bounded
                node = RunningServer(server_kind, logdir, f"{tag}-node{i}")
                if all(node.port != other.port for other in nodes):
                    break
                node.stop()
            nodes.append(node)
            node.wait_ready()
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def run_loadgen(case: Case, nodes: Sequence[RunningServer], redis: RedisInfo, opts: argparse.Namespace,
                logdir: Path, tag: str) -> dict[str, Any]:
    clients = opts.clients if case.mode == "fanout" else max(1, opts.clients // 2)
    argv = [
        "node", str(LOADGEN),
        "--urls", ",".join(f"http://127.0.0.1:{n.port}" for n in nodes),
        "--mode", case.mode,
        "--clients", str(clients),
        "--members", str(opts.members),
        "--inflight", str(opts.inflight),
        "--rate", str(opts.rate if case.mode == "fanout" else opts.nomember_rate),
        "--duration", str(opts.duration),
        "--warmup", str(opts.warmup),
        "--procs", str(opts.procs),
        "--node-pids", ",".join(str(n.pid) for n in nodes),
        "--clk-tck", str(os.sysconf("SC_CLK_TCK")),
    ]
    if redis.pid is not None:
        argv += ["--redis-pid", str(redis.pid)]
    budget = opts.warmup + 2 * opts.duration + 60 + clients / 100  # nomember also measures an idle window
    argv += ["--timeout", f"{budget:.0f}"]
    return run_json(argv, ROOT, logdir / f"{tag}-loadgen.log", budget)


def measure(case: Case, redis: RedisInfo, prefix: str, opts: argparse.Namespace, logdir: Path,
            rep: int) -> dict[str, Any]:
    """Fresh nodes on a key of their own (so nothing of an earlier case can reach them), one
    load generator run, the nodes stopped. A failed run carries the nodes' log tails."""
    kind = KINDS[case.kind]
    tag = f"{case.mode}-{case.nodes}-{case.adapter}-{case.kind}-r{rep}"
    key = f"{prefix}-{tag}"
    nodes: list[RunningServer] = []
    try:
        nodes = start_nodes(kind, case.adapter, case.nodes, redis, key, logdir, tag)
        wait_subscribed(redis, key, case.adapter, case.nodes, nodes)
        if case.mode == "nomember" and case.adapter == SHARDED:
            with RoomChannelWatch(redis, key) as watch:
                result = run_loadgen(case, nodes, redis, opts, logdir, tag)
            result["room_channel_subscribers_max"] = watch.most if watch.samples else None
        else:
            result = run_loadgen(case, nodes, redis, opts, logdir, tag)
    except (RuntimeError, OSError) as exc:
        result = {"ok": False, "error": str(exc)}
    finally:
        for node in nodes:
            node.stop()
    if not result.get("ok"):
        tails = [f"node {i}: {t}" for i, n in enumerate(nodes) if (t := n.log_tail(8))]
        if tails:
            result["server_log_tail"] = "\n".join(tails)
    return result


# -- tables ---------------------------------------------------------------------------------------


def _median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _ratio(mine: float | None, theirs: float | None) -> str:
    return f"{mine / theirs:.2f}x" if mine is not None and theirs else "-"


def saturated(runs: Sequence[dict[str, Any]]) -> bool:
    return any(p >= SATURATED_PCT for r in runs for p in r.get("loadgen_proc_cpu_pct", []))


@dataclass
class Summary:
    """The medians over one case's repetitions that the tables print."""

    rate: float
    sent: float
    p50: float | None
    p99: float | None
    node_cpu: list[float | None]
    #: The nodes' CPU with the clients connected and nothing broadcast (the non-member case only).
    idle_cpu: list[float | None]
    redis_cpu: float | None
    lg_cpu: float | None
    lg_saturated: bool

    @property
    def per_node_cpu_s(self) -> float | None:
        """Deliveries per second of node CPU (all nodes together): the figure that still
        compares when the machine's cores, not a node, bound the rate."""
        total = sum(c for c in self.node_cpu if c is not None)
        return self.rate / (total / 100) if total else None


def summarize(runs: Sequence[dict[str, Any]]) -> Summary | None:
    ok = [r for r in runs if r.get("ok")]
    if not ok:
        return None
    width = max(len(r.get("node_cpu_pct", [])) for r in ok)

    def per_node(field: str) -> list[float | None]:
        return [_median([(r.get(field) or [])[i] if i < len(r.get(field) or []) else None for r in ok])
                for i in range(width)]

    return Summary(
        rate=statistics.median(r["rate_per_s"] for r in ok),
        sent=statistics.median(r["sent_bcasts_per_s"] for r in ok),
        p50=_median([r.get("p50_us") for r in ok]),
        p99=_median([r.get("p99_us") for r in ok]),
        node_cpu=per_node("node_cpu_pct"),
        idle_cpu=per_node("idle_node_cpu_pct"),
        redis_cpu=_median([r.get("redis_cpu_pct") for r in ok]),
        lg_cpu=_median([r.get("loadgen_cpu_pct") for r in ok]),
        lg_saturated=saturated(ok),
    )


def _notes(kind: str, runs: Sequence[dict[str, Any]]) -> list[str]:
    notes = []
    for r in runs:
        if not r.get("ok"):
            notes.append(f"{kind}: FAILED: {r.get('error')} {r.get('errorSamples') or ''}".rstrip())
            if r.get("server_log_tail"):
                notes.append("  " + r["server_log_tail"].replace("\n", "\n    "))
        elif r.get("inexact"):
            notes.append(f"{kind}: {r['inexact']} broadcasts equal once parsed but not byte-identical")
    return notes


def _label(kind: str) -> str:
    return KINDS[kind].name


def print_fanout(node_counts: Sequence[int], adapters: Sequence[str], kinds: Sequence[str],
                 results: dict[Case, list[dict[str, Any]]], skipped: dict[tuple[str, str], str],
                 opts: argparse.Namespace) -> None:
    load = f"{opts.rate:g} broadcasts/s" if opts.rate else f"at most {opts.inflight} broadcasts undelivered"
    print(f"\nfan-out: io.emit on node 0 to {opts.clients:,} clients spread over the nodes, {load}")
    headers = ["nodes", "adapter", "kind", "deliveries/s", "bcasts/s", "p50 ms", "p99 ms", "node CPU% (0/1/..)",
               "redis CPU%", "lg CPU%", "dlv per node CPU-s", "vs Node", "CPU-s vs Node"]
    blank = [""] * (len(headers) - 4)
    rows: list[list[str]] = []
    notes: list[str] = []
    for n in node_counts:
        for a in adapters:
            sums = {k: summarize(results.get(Case("fanout", n, a, k), [])) for k in kinds}
            node = sums.get(NODE)
            for k in kinds:
                head = [str(n), a, _label(k)]
                if (a, k) in skipped:
                    rows.append([*head, "skipped", *blank])
                    continue
                notes += [f"{n} nodes, {a}, {note}" for note in _notes(k, results.get(Case("fanout", n, a, k), []))]
                s = sums[k]
                if s is None:
                    rows.append([*head, "FAIL", *blank])
                    continue
                per_cpu = s.per_node_cpu_s
                rows.append([
                    *head, format_rate(s.rate), format_rate(s.sent), _ms(s.p50), _ms(s.p99),
                    "/".join(_pct(c) for c in s.node_cpu), _pct(s.redis_cpu),
                    _pct(s.lg_cpu) + ("!" if s.lg_saturated else ""),
                    format_rate(per_cpu) if per_cpu else "-",
                    _ratio(s.rate, node.rate if node else None) if k == SOCKETEER else "",
                    _ratio(per_cpu, node.per_node_cpu_s if node else None) if k == SOCKETEER else "",
                ])
    print_table(headers, rows, right=[True, False, False, *[True] * (len(headers) - 3)])
    if opts.rate:
        print("  at a fixed rate every kind that keeps up delivers the same: compare CPU ('CPU-s vs Node') and latency")
        behind = [c for c, rs in results.items() if c.mode == "fanout" and any(r.get("behind_ticks") for r in rs)]
        notes += [f"{c.nodes} nodes, {c.adapter}, {c.kind}: did not keep up with {opts.rate:g} broadcasts/s"
                  " (ticks held back)" for c in behind]
    print("  every run verified before timing: a broadcast through node 0 (unicode, nesting) reached every client"
          " of every node, equal once parsed; every timed broadcast checked")
    print("  'dlv per node CPU-s' = deliveries/s / CPU of all nodes together (cores); 'vs Node' and 'CPU-s vs Node':"
          " socketeer's deliveries/s and dlv per node CPU-s over Node's with the same adapter in this run"
          " (higher is better)")
    if SHARDED in adapters:
        print("  sharded: io.emit goes to the namespace's channel <key>#/# (SPUBLISH), which every node subscribes to")
    for note in notes:
        print("  " + note)


def nonmember_cost(run: dict[str, Any]) -> float | None:
    """µs of the non-member node's CPU per broadcast: its CPU while broadcasts flowed minus its
    CPU at rest (same clients, nothing broadcast), over the broadcasts published. The rest is
    subtracted because at a few hundred broadcasts/s it is not small next to the broadcasts."""
    busy = run.get("node_cpu_pct") or []
    idle = run.get("idle_node_cpu_pct") or []
    sent = run.get("sent_bcasts_per_s")
    if len(busy) < 2 or len(idle) < 2 or busy[1] is None or idle[1] is None or not sent:
        return None
    return float((busy[1] - idle[1]) / 100 * 1e6 / sent)


def tick_us_per_bcast(opts: argparse.Namespace) -> float:
    """One clock tick of a node's CPU (``/proc`` counts in ticks), as µs per broadcast of the
    non-member case: the resolution of 'non-member µs/bcast'. Its two windows (busy and at rest)
    are each rounded to ticks, so a figure within two ticks of zero is zero as far as it shows."""
    return 1e6 / (os.sysconf("SC_CLK_TCK") * opts.duration * opts.nomember_rate)


def print_nomember(adapters: Sequence[str], kinds: Sequence[str], results: dict[Case, list[dict[str, Any]]],
                   skipped: dict[tuple[str, str], str], opts: argparse.Namespace) -> None:
    others = max(1, opts.clients // 2)
    print(f"\nnon-member node: {opts.nomember_rate:g} broadcasts/s to room R on node 0 ({opts.members} members there);"
          f" node 1 holds {others:,} clients, none in R")
    headers = ["adapter", "kind", "bcasts/s", "member dlv/s", "p99 ms", "node 0 CPU%", "non-member CPU%",
               "at rest CPU%", "non-member µs/bcast", "R's channel subs", "redis CPU%", "lg CPU%", "µs/bcast vs Node"]
    blank = [""] * (len(headers) - 3)
    floor = 2 * tick_us_per_bcast(opts)
    rows: list[list[str]] = []
    notes: list[str] = []
    for a in adapters:
        runs = {k: results.get(Case("nomember", 2, a, k), []) for k in kinds}
        sums = {k: summarize(r) for k, r in runs.items()}
        cost = {k: _median([nonmember_cost(r) for r in rs if r.get("ok")]) for k, rs in runs.items()}
        for k in kinds:
            head = [a, _label(k)]
            if (a, k) in skipped:
                rows.append([*head, "skipped", *blank])
                continue
            notes += [f"{a}, {note}" for note in _notes(k, runs[k])]
            s = sums[k]
            if s is None or len(s.node_cpu) < 2:
                rows.append([*head, "FAIL", *blank])
                continue
            mine, node = cost[k], cost.get(NODE)
            if a == SHARDED:
                subs = _median([r.get("room_channel_subscribers_max") for r in runs[k] if r.get("ok")])
                on_channel = "-" if subs is None else f"{subs:g}"
                if subs is not None and subs > 1:
                    notes.append(f"{a}, {k}: {subs:g} subscribers of R's channel seen: the non-member node subscribed")
            else:
                on_channel = "pattern"
            measurable = mine is not None and node is not None and mine > floor and node > floor
            rows.append([
                *head, format_rate(s.sent), format_rate(s.rate), _ms(s.p99), _pct(s.node_cpu[0]),
                _pct(s.node_cpu[1]), _pct(s.idle_cpu[1]), f"{max(mine, 0.0):.1f}" if mine is not None else "-",
                on_channel, _pct(s.redis_cpu), _pct(s.lg_cpu) + ("!" if s.lg_saturated else ""),
                (_ratio(mine, node) if measurable else "-") if k == SOCKETEER else "",
            ])
        if any(r.get("ok") and r.get("behind_ticks") for rs in runs.values() for r in rs):
            notes.append(f"{a}: the publisher fell behind the schedule (ticks held back): node 0 did not keep up"
                         " with the rate")
    print_table(headers, rows, right=[False, False, *[True] * (len(headers) - 2)])
    print("  verified before timing: a broadcast to R reached every member and no non-member, one to everyone"
          " reached every client; any message to a non-member while timed fails the run")
    print("  'at rest' = node 1 for as long, same clients, nothing broadcast; 'non-member µs/bcast' = (its CPU"
          " - at rest) / broadcasts published (lower is better); 'vs Node' = socketeer's over Node's with the same"
          " adapter in this run")
    print(f"  one clock tick of node 1's CPU is {floor / 2:.1f} µs/bcast here (SC_CLK_TCK {os.sysconf('SC_CLK_TCK')},"
          f" {opts.duration:g} s windows): figures up to {floor:.1f} are zero within the resolution, and get no ratio")
    if SHARDED in adapters:
        print("  'R's channel subs': classic, every node gets R's broadcasts on its pattern subscription <key>#/#*;"
              " sharded, the most subscribers of <key>#/#R# seen (PUBSUB SHARDNUMSUB every 0.2 s during the run),"
              " 1 = node 0 only, so node 1 receives none of them")
    for note in notes:
        print("  " + note)


# -- main -----------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _names(text: str, allowed: dict[str, Any], option: str, parser: argparse.ArgumentParser) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    if not names:
        parser.error(f"{option}: at least one of {', '.join(allowed)}")
    for name in names:
        if name not in allowed:
            parser.error(f"{option}: {name!r} is not one of {', '.join(allowed)}")
    return list(dict.fromkeys(names))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench cluster", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--nodes", default="2,3", help="node counts, comma-separated (default 2,3)")
    parser.add_argument("--kinds", default="socketeer,node", help="socketeer, node or both (default both)")
    parser.add_argument("--adapters", default="classic,sharded",
                        help="adapter flavours: classic (RedisAdapter / createAdapter), sharded (ShardedRedisAdapter /"
                             " createShardedAdapter, subscription mode dynamic) or both (default both)")
    parser.add_argument("--clients", type=int, default=1000, help="clients spread over the nodes (default 1000)")
    parser.add_argument("--duration", type=float, default=3.0, help="measured seconds per case (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring (default 1)")
    parser.add_argument("--reps", type=int, default=1, help="repetitions of every case (default 1; medians)")
    parser.add_argument("--inflight", type=int, default=10,
                        help="fan-out: broadcasts not yet delivered to every client at most (default 10)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="fan-out: broadcasts/s on a fixed schedule instead (default 0: as fast as delivered)")
    parser.add_argument("--nomember-rate", type=float, default=1000.0,
                        help="the non-member case's broadcasts/s to room R (default 1000; 0 skips the case)")
    parser.add_argument("--members", type=int, default=10, help="the non-member case's members of R on node 0 (10)")
    parser.add_argument("--procs", type=int, default=1, help="load generator processes (default 1)")
    parser.add_argument("--json", type=Path, help="also write every run's raw result here")
    parser.add_argument("--logs", type=Path, help="keep node, Redis and load generator logs here (default: a temp dir)")
    opts = parser.parse_args(argv)

    node_counts = _ints(opts.nodes)
    if not node_counts or min(node_counts) < 1:
        parser.error("--nodes: positive counts, e.g. 2,3")
    kinds = _names(opts.kinds, KINDS, "--kinds", parser)
    adapters = _names(opts.adapters, ADAPTERS, "--adapters", parser)
    if shutil.which("node") is None:
        raise SystemExit("node is required: the load generator is bench/loadgen/cluster_loadgen.js")
    skipped = {(a, k): why for a in adapters for k in kinds if (why := unavailable(KINDS[k], a)) is not None}
    logdir = opts.logs or Path(tempfile.mkdtemp(prefix="socketeer-bench-cluster-"))
    logdir.mkdir(parents=True, exist_ok=True)
    prefix = f"bench-{secrets.token_hex(4)}"

    cases = [Case("fanout", n, a, k) for n in node_counts for a in adapters for k in kinds]
    if opts.nomember_rate > 0:
        cases += [Case("nomember", 2, a, k) for a in adapters for k in kinds]
    # Per group of cases (one node count and flavour, or the non-member case of one flavour),
    # kinds alternate their order.
    groups: dict[tuple[str, int, str], list[Case]] = {}
    for case in cases:
        groups.setdefault((case.mode, case.nodes, case.adapter), []).append(case)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks stop every process
    started = time.monotonic()
    with redis_for_run(logdir) as redis:
        if SHARDED in adapters and not redis.sharded_pubsub:
            for k in kinds:
                skipped.setdefault((SHARDED, k), f"Redis {redis.version} has no sharded pub/sub (7.0 or later)")
        print(versions(("socketeer", "redis", "hiredis", "uvloop"), ("socket.io", "@socket.io/redis-adapter", "redis",
                                                                       "ws")))
        print(f"{redis.describe()}; key prefix {prefix}; {opts.duration:g} s measured after {opts.warmup:g} s"
              f" warm-up, {opts.reps} repetition(s), {opts.procs} load generator process(es); logs in {logdir}")
        for a in adapters:
            print(f"  {a}: " + "; ".join(f"{KINDS[k].name} with {ADAPTERS[a][k]}" for k in kinds))
        results: dict[Case, list[dict[str, Any]]] = {}
        raw: list[dict[str, Any]] = []
        flip = False
        for rep in range(opts.reps):
            for group in groups.values():
                order = [c for c in group if (c.adapter, c.kind) not in skipped]
                if flip:
                    order.reverse()
                flip = not flip
                for case in order:
                    what = f"{case.nodes} nodes" if case.mode == "fanout" else "non-member"
                    print(f"  {what}, {case.adapter}, rep {rep + 1}/{opts.reps}: {KINDS[case.kind].name} ...", end="",
                          flush=True, file=sys.stderr)
                    result = measure(case, redis, prefix, opts, logdir, rep)
                    print(f" {'ok' if result.get('ok') else 'FAILED'}", file=sys.stderr)
                    results.setdefault(case, []).append(result)
                    raw.append({"mode": case.mode, "nodes": case.nodes, "adapter": case.adapter, "kind": case.kind,
                                "rep": rep, **result})

    print_fanout(node_counts, adapters, kinds, results, skipped, opts)
    if opts.nomember_rate > 0:
        print_nomember(adapters, kinds, results, skipped, opts)
    for (a, k), why in skipped.items():
        print(f"  {k}, {a}: skipped: {why}")
    ok = [r for r in raw if r.get("ok")]
    if saturated(ok):
        print(f"\n! = a load generator process used >= {SATURATED_PCT:.0f}% of a core: it, not the nodes, may have been"
              " the limit (try --procs 2 on a machine with cores to spare)")
    cores = os.cpu_count() or 1
    busy = [sum(c or 0 for c in r.get("node_cpu_pct", [])) + (r.get("redis_cpu_pct") or 0)
            + (r.get("loadgen_cpu_pct") or 0) for r in ok if r.get("mode") == "fanout"]
    if busy and max(busy) >= 0.9 * cores * 100:
        print(f"\nthe nodes, Redis and the load generator together used up to {max(busy):.0f}% of {cores} cores:"
              " the machine, not one node, bounded the fan-out rates, so 'dlv per node CPU-s' is the fairer comparison")
    print(f"\n{len(raw)} cases in {time.monotonic() - started:.0f} s")
    if opts.json:
        opts.json.write_text(json.dumps(raw, indent=1))
        print(f"raw results: {opts.json}")
