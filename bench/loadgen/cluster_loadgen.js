#!/usr/bin/env node
// Load generator for `python -m bench cluster`: raw Engine.IO v4 / Socket.IO v5 over WebSocket
// (no client library, as bench/loadgen/loadgen.js, with which it shares bench/loadgen/wire.js),
// clients spread over the nodes of a cluster.
//
//   node bench/loadgen/cluster_loadgen.js --urls http://127.0.0.1:P0,http://127.0.0.1:P1 --mode MODE [options]
//
// Modes:
//   fanout    client i connects to node i % N; client 0 (on node 0) sends 42["bcast",seq,t,BODY]
//             and node 0 does io.emit("fanout", ...), so every broadcast goes through Redis to
//             the other nodes; every client (the sender included) receives
//             42["fanout",seq,t,BODY]. At most --inflight broadcasts are not yet delivered to
//             every client (closed loop), or with --rate R, R broadcasts/s on a fixed schedule
//             with at most max(10, 2 s x R) undelivered (the schedule then waits and the ticks
//             held back are counted), so nothing queues without bound.
//   nomember  --members M clients on node 0 join room "R" (join with an ack, before anything is
//             sent); --clients C clients on the other nodes join nothing. Client 0 sends
//             42["bcast_to","R",seq,t,BODY] at --rate R; node 0 does io.to("R").emit(...), so
//             with the classic adapter the other nodes get every broadcast on their pattern
//             subscription (with the sharded one in "dynamic" mode, not at all: only node 0
//             subscribes to R's channel) but hold no member of R: their clients must receive
//             nothing (anything they get is an error).
//
// Before timing, every client must receive a verification broadcast sent through node 0
// (unicode, nesting, empty containers; equal once parsed): so every node is subscribed and
// every client is connected. In nomember mode a broadcast to R goes first and then one to
// everyone: members get both in order; a non-member must get the second without the first
// (classic adapter: both come down the same subscription in order, so the first was dropped,
// not late; sharded: that node does not subscribe to R's channel, which the harness samples).
//
// In nomember mode the nodes' CPU is also measured for as long as --duration before anything
// is broadcast (`idle_node_cpu_pct`): the non-member node's cost at rest, with its clients.
//
// Every broadcast carries its send time (µs, CLOCK_MONOTONIC, the same clock in every
// process): latency is from the sender's send to each client's receipt, across nodes.
// CPU: each node's and Redis's utime + stime from /proc/<pid>/stat over the measured window
// (--node-pids, --redis-pid, --clk-tck), and each load generator process's own.
//
// Options: --clients N, --members M, --inflight W, --rate R, --duration S, --warmup S,
// --procs N (worker processes the clients are spread over), --timeout S (hard limit).
// Output: one JSON line on stdout; progress and errors on stderr.
"use strict";

const wire = require("./wire.js");
const { nowUs, sleep, parseArgs, makeLog, deepEqual } = wire;
const { BODY, FANOUT_PREFIX, FANOUT_B, twoInts, scan, seqAndTime } = wire;
const { openWs, connectAll, newStats, tallyInexact, loadMessage, BroadcastFlow } = wire;
const { procCpuUs, Workers, workerTotals, perSecond } = wire;

const log = makeLog("cluster-loadgen", "CLUSTER_LOADGEN_WORKER");

// -- wire (the rest is in wire.js) -------------------------------------------------------------

const ROOM = "R";
const VERIFY_PAYLOAD = { s: "h\u00e9llo w\u00f6rld \u2713 \u2028 \"quoted\" \\ / \ud83d\ude00", n: [1, -2.5, true, false, null], e: {}, l: [] };

// -- the worker: its share of the clients ------------------------------------------------------

async function workerMain() {
  const cfg = await new Promise((resolve) => process.once("message", resolve));
  process.on("disconnect", () => process.exit(0));
  const stats = newStats();
  stats.stopping = false; // set at exit: connections closed from then on are ours, not errors
  const sample = (msg) => {
    if (stats.errorSamples.length < 5) stats.errorSamples.push(msg);
  };

  // Flow control (wire.js): per-seq delivery counts among this worker's receiving clients.
  const frame = (seq) =>
    cfg.mode === "nomember"
      ? '42["bcast_to","' + ROOM + '",' + seq + "," + nowUs() + "," + BODY + "]"
      : '42["bcast",' + seq + "," + nowUs() + "," + BODY + "]";
  const flow = new BroadcastFlow(cfg, cfg.specs.filter((s) => s.receives).length, stats, frame);
  const delivered = (seq, t) => {
    stats.record(t);
    if (flow.delivered(seq)) {
      if (cfg.worker === 0) flow.trySend();
      else flow.scheduleProgress();
    }
  };

  // Verification (before "go"): each client's expected verification broadcasts, in order.
  let verifying = false;
  let verifyPending = 0;
  let verifyErrors = [];
  let verifyDone = null;
  const onVerify = (c, s) => {
    const want = c.expect[0];
    let got = null;
    try {
      got = s.startsWith("42") ? JSON.parse(s.slice(2)) : null;
    } catch {
      got = null;
    }
    if (want === undefined || !deepEqual(got, ["fanout", want, VERIFY_PAYLOAD])) {
      if (verifyErrors.length < 5) {
        const role = cfg.mode === "nomember" ? (c.receives ? "member" : "non-member") : "client";
        verifyErrors.push(`${role} ${c.id} on node ${c.node}: expected ${want === undefined ? "nothing more" : "fanout " + want}, got ${s.slice(0, 160)}`);
      }
      return;
    }
    c.expect.shift();
    if (!c.expect.length && --verifyPending === 0 && verifyDone) verifyDone();
  };

  const makeClient = async (spec) => {
    const c = { ...spec, conn: null, expect: [] };
    const onData = (data, isBinary) => {
      if (isBinary) {
        stats.errors++;
        return sample(`client ${c.id}: unexpected binary message`);
      }
      if (verifying) return onVerify(c, data.toString());
      if (!c.receives) {
        stats.errors++;
        return sample(`non-member ${c.id} on node ${c.node} received ${data.toString().slice(0, 120)}`);
      }
      const t = seqAndTime(data, FANOUT_B);
      if (t >= 0) return delivered(scan.seq, t);
      const s = data.toString();
      if (!s.startsWith(FANOUT_PREFIX)) {
        stats.errors++;
        return sample(`client ${c.id}: unexpected message ${s.slice(0, 120)}`);
      }
      const [seq, t2] = twoInts(s, FANOUT_PREFIX.length);
      tallyInexact(stats, s, FANOUT_PREFIX + seq + "," + t2 + "," + BODY + "]", "broadcast");
      delivered(seq, t2);
    };
    const onClose = () => {
      if (!stats.stopping) {
        stats.errors++;
        sample(`client ${c.id} on node ${c.node}: connection closed`);
      }
    };
    c.conn = await openWs(c.url, { room: c.member ? ROOM : null, onMessage: onData, onClose, log });
    return c;
  };

  let conns = [];
  const onGo = () => {
    if (cfg.worker !== 0) flow.sendProgress();
  };
  const extra = () => ({ backlog: flow.sender ? flow.bseq - 1 - Math.min(flow.globalComplete(), flow.bseq - 1) : 0 });
  process.on("message", async (msg) => {
    if (loadMessage(msg, stats, flow, onGo, extra)) return;
    if (msg.type === "connect") {
      const describe = (spec, err) => `client ${spec.id} on ${spec.url}: ${err.message}`;
      const r = await connectAll(cfg.specs, makeClient, cfg.concurrency, describe);
      conns = r.conns;
      const first = conns.find((c) => c.id === 0);
      flow.sender = first ? first.conn : null;
      process.send({ type: "connected", ok: conns.length, failed: r.failed, errors: r.errors });
    } else if (msg.type === "verify-arm") {
      for (const c of conns) {
        c.expect = cfg.mode === "nomember" && c.receives ? ["verify-room", "verify-all"] : ["verify-all"];
      }
      verifyPending = conns.length;
      verifyErrors = [];
      verifying = true;
      process.send({ type: "armed" });
    } else if (msg.type === "verify-send") {
      const p = JSON.stringify(VERIFY_PAYLOAD);
      if (cfg.mode === "nomember") flow.sender.ws.send('42["bcast_to","' + ROOM + '","verify-room",' + p + "]");
      flow.sender.ws.send('42["bcast","verify-all",' + p + "]");
    } else if (msg.type === "verify-wait") {
      const done = new Promise((resolve) => {
        verifyDone = resolve;
        if (verifyPending === 0) resolve();
      });
      await Promise.race([done, sleep(msg.timeoutMs)]);
      await sleep(200); // anything unexpected right behind the last expected one is seen too
      verifying = false;
      const missing = {};
      for (const c of conns) if (c.expect.length) missing[c.node] = (missing[c.node] || 0) + 1;
      process.send({ type: "verified", ok: verifyPending === 0 && !verifyErrors.length, missing, errors: verifyErrors });
    } else if (msg.type === "exit") {
      stats.running = false;
      stats.stopping = true;
      flow.stop();
      for (const c of conns) c.conn.ws.terminate();
      setTimeout(() => process.exit(0), 0);
    }
  });
  process.send({ type: "ready" });
}

// -- the parent: workers, phases, /proc ---------------------------------------------------------

async function parentMain(opts) {
  const urls = String(opts.urls || "").split(",").filter(Boolean);
  const mode = opts.mode || "fanout";
  const clients = Number(opts.clients || 1000);
  const members = Number(opts.members || 10);
  const rate = Number(opts.rate || 0);
  const inflight = Number(opts.inflight || 10);
  const procs = Math.max(1, Number(opts.procs || 1));
  const duration = Number(opts.duration || 3);
  const warmup = Number(opts.warmup || 1);
  const clkTck = Number(opts["clk-tck"] || 100);
  const hardTimeout = Number(opts.timeout || 120);
  const nodePids = String(opts["node-pids"] || "").split(",").filter(Boolean).map(Number);
  const redisPid = opts["redis-pid"] ? Number(opts["redis-pid"]) : null;
  const out = { mode, nodes: urls.length, clients, procs, rate, inflight, ok: false };
  if (mode !== "fanout" && mode !== "nomember") throw new Error(`unknown mode ${mode}`);
  if (urls.length < (mode === "nomember" ? 2 : 1)) throw new Error("--urls: not enough nodes for the mode");
  if (mode === "nomember" && !rate) throw new Error("nomember needs --rate");

  // Who connects where. The sender is client 0, on node 0, in worker 0.
  const specs = [];
  if (mode === "fanout") {
    for (let i = 0; i < clients; i++) specs.push({ id: i, node: i % urls.length, member: false, receives: true });
  } else {
    out.members = members;
    for (let i = 0; i < members; i++) specs.push({ id: i, node: 0, member: true, receives: true });
    for (let j = 0; j < clients; j++) specs.push({ id: members + j, node: 1 + (j % (urls.length - 1)), member: false, receives: false });
  }
  for (const s of specs) s.url = urls[s.node];
  out.clients_per_node = urls.map((_, n) => specs.filter((s) => s.node === n).length);
  out.receivers = specs.filter((s) => s.receives).length;

  const workers = new Workers(out, hardTimeout);
  try {
    const shares = Array.from({ length: procs }, () => []);
    specs.forEach((s, i) => shares[i % procs].push(s));
    workers.fork(__filename, "CLUSTER_LOADGEN_WORKER", procs, (k) => ({ mode, specs: shares[k], worker: k, procs, rate, inflight, concurrency: 100 }));
    await workers.all("ready", 10000);

    await workers.connect(90000, specs.length);

    workers.send({ type: "verify-arm" });
    await workers.all("armed", 10000);
    workers.list[0].send({ type: "verify-send" });
    workers.send({ type: "verify-wait", timeoutMs: 10000 });
    const ver = await workers.all("verified", 20000);
    if (!ver.every((m) => m.ok)) {
      const missing = {};
      for (const m of ver) for (const [n, c] of Object.entries(m.missing)) missing[n] = (missing[n] || 0) + c;
      const gaps = Object.entries(missing).map(([n, c]) => `${c} clients of node ${n}`).join(", ");
      const errs = ver.flatMap((m) => m.errors).slice(0, 3).join("; ");
      throw new Error(`verification broadcast: ${gaps ? "not received by " + gaps : ""}${gaps && errs ? "; " : ""}${errs}`);
    }
    out.verify = mode === "nomember"
      ? "a broadcast to R reached every member and no non-member; one to everyone reached every client"
      : "a broadcast reached every client on every node";

    if (mode === "nomember") {
      // The same nodes and clients with nothing broadcast, for as long as the measured window:
      // what the nodes cost at rest, so the broadcasts' own cost can be told from it.
      await sleep(200);
      const i0 = nodePids.map((p) => procCpuUs(p, clkTck));
      const ti0 = nowUs();
      await sleep(duration * 1000);
      const i1 = nodePids.map((p) => procCpuUs(p, clkTck));
      const ti1 = nowUs();
      out.idle_window_s = (ti1 - ti0) / 1e6;
      out.idle_node_cpu_pct = nodePids.map((_, i) => (i0[i] === null || i1[i] === null ? null : ((i1[i] - i0[i]) / (ti1 - ti0)) * 100));
    }

    const sample = () => ({
      nodes: nodePids.map((p) => procCpuUs(p, clkTck)),
      redis: redisPid ? procCpuUs(redisPid, clkTck) : null,
    });
    const { st, hist, before, after, t0, t1 } = await workers.measure(warmup, duration, sample);
    const pct = (a, b) => (a === null || b === null ? null : ((b - a) / (t1 - t0)) * 100);
    Object.assign(out, {
      window_s: (t1 - t0) / 1e6,
      count: st.reduce((a, m) => a + m.count, 0),
      rate_per_s: perSecond(st, "count"),
      sent_bcasts_per_s: perSecond(st, "sent"),
      behind_ticks: st.reduce((a, m) => a + m.behindTicks, 0),
      backlog_at_end: st.reduce((a, m) => a + m.backlog, 0),
      p50_us: hist.quantile(0.5),
      p99_us: hist.quantile(0.99),
      node_cpu_pct: nodePids.map((_, i) => pct(before.nodes[i], after.nodes[i])),
      redis_cpu_pct: pct(before.redis, after.redis),
      ...workerTotals(st),
    });
    out.ok = out.count > 0 && out.errors === 0 && out.mismatches === 0;
    if (!out.ok) out.error = out.count === 0 ? "no deliveries in the measured window" : "errors or wrong broadcasts";
  } catch (err) {
    out.error = err.message;
  }
  await workers.finish(300);
}

const opts = parseArgs(process.argv.slice(2), ["worker"]);
if (opts.worker) workerMain();
else {
  parentMain(opts).catch((err) => {
    process.stdout.write(JSON.stringify({ ok: false, error: err.message }) + "\n");
    process.exit(2);
  });
}
