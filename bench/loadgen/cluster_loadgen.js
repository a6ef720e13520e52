#!/usr/bin/env node
// Load generator for `python -m bench cluster`: raw Engine.IO v4 / Socket.IO v5 over WebSocket
// (no client library, as bench/loadgen/loadgen.js), clients spread over the nodes of a cluster.
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

const fs = require("node:fs");
const path = require("node:path");
const { fork } = require("node:child_process");
const { createRequire } = require("node:module");

const interop = path.resolve(__dirname, "..", "..", "tests", "interop");
const WebSocket = createRequire(path.join(interop, "package.json"))("ws");

// -- small things ---------------------------------------------------------------------------

function nowUs() {
  const t = process.hrtime(); // CLOCK_MONOTONIC: comparable across processes
  return t[0] * 1e6 + Math.floor(t[1] / 1000);
}

function cpuUs() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    if (key === "worker") out[key] = true;
    else out[key] = argv[++i];
  }
  return out;
}

function log(...args) {
  const w = process.env.CLUSTER_LOADGEN_WORKER;
  process.stderr.write(`[cluster-loadgen${w ? " w" + w : ""}] ${args.join(" ")}\n`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || !deepEqual(a[k], b[k])) return false;
  return true;
}

// Latency histogram: log buckets 1% wide from 1 µs, mergeable across processes.
const LOG_STEP = Math.log(1.01);
const NBUCKETS = 2400;

class Hist {
  constructor() {
    this.b = new Float64Array(NBUCKETS);
    this.n = 0;
  }
  add(us) {
    let i = us <= 1 ? 0 : Math.floor(Math.log(us) / LOG_STEP);
    if (i >= NBUCKETS) i = NBUCKETS - 1;
    this.b[i]++;
    this.n++;
  }
  toJSON() {
    const pairs = [];
    for (let i = 0; i < NBUCKETS; i++) if (this.b[i]) pairs.push([i, this.b[i]]);
    return pairs;
  }
  merge(pairs) {
    for (const [i, c] of pairs) {
      this.b[i] += c;
      this.n += c;
    }
  }
  quantile(q) {
    if (!this.n) return null;
    const rank = q * this.n;
    let seen = 0;
    for (let i = 0; i < NBUCKETS; i++) {
      seen += this.b[i];
      if (seen >= rank && this.b[i]) return Math.pow(1.01, i + 0.5);
    }
    return null;
  }
}

function expectMessages(queue, n, what, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
    const check = () => {
      if (queue.items.length >= n) {
        clearTimeout(timer);
        queue.waiter = null;
        resolve(queue.items.splice(0, n));
      }
    };
    queue.waiter = check;
    check();
  });
}

function newQueue() {
  const q = { items: [], waiter: null };
  q.push = (m) => {
    q.items.push(m);
    if (q.waiter) q.waiter();
  };
  return q;
}

// -- wire ------------------------------------------------------------------------------------

const BODY = '{"user":"alice","text":"hello world","n":42}';
const ROOM = "R";
const FANOUT_PREFIX = '42["fanout",';
const FANOUT_B = Buffer.from(FANOUT_PREFIX);
const TAIL_B = Buffer.from("," + BODY + "]");
const VERIFY_PAYLOAD = { s: "h\u00e9llo w\u00f6rld \u2713 \u2028 \"quoted\" \\ / \ud83d\ude00", n: [1, -2.5, true, false, null], e: {}, l: [] };

// The timed broadcasts are parsed as bytes (no string per delivery): a fixed prefix, two
// integers separated by a comma, and a fixed tail. Anything else goes the slow way.
let pos = 0;
function intAt(buf, i) {
  let v = 0;
  let c;
  while (i < buf.length && (c = buf[i]) >= 48 && c <= 57) {
    v = v * 10 + (c - 48);
    i++;
  }
  pos = i;
  return v;
}

function hasAt(buf, at, part) {
  return buf.length - at >= part.length && buf.compare(part, 0, part.length, at, at + part.length) === 0;
}

// The t of `42["fanout",<seq>,<t>,BODY]` (seq in `fastSeq`), or -1 if the frame is not exactly that.
let fastSeq = 0;
function seqAndTime(b) {
  if (!hasAt(b, 0, FANOUT_B)) return -1;
  fastSeq = intAt(b, FANOUT_B.length);
  if (b[pos] !== 44) return -1;
  const t = intAt(b, pos + 1);
  if (b.length - pos !== TAIL_B.length || !hasAt(b, pos, TAIL_B)) return -1;
  return t;
}

function twoInts(s, from) {
  const c1 = s.indexOf(",", from);
  const c2 = s.indexOf(",", c1 + 1);
  return [Number(s.slice(from, c1)), Number(s.slice(c1 + 1, c2))];
}

// Opens a WebSocket session, completes the Socket.IO connect to "/" and, with `room`, joins it
// (`join` with an ack, so the membership is in place before anything is broadcast). Pings are
// answered here; every later message goes to `onData(buf, isBinary)`, `onClose()` once closed.
function openWs(base, room, onData, onClose, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    const url = base.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: timeoutMs });
    let state = 0; // 0: Engine.IO open, 1: Socket.IO connect, 2: join ack, 3: open, 4: failed
    const conn = { ws, sock: null, corked: false, closed: false };
    const timer = setTimeout(() => fail(new Error("connect timeout")), timeoutMs);
    function fail(err) {
      if (state >= 3) return;
      state = 4;
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    }
    function opened() {
      state = 3;
      clearTimeout(timer);
      conn.sock = ws._socket;
      resolve(conn);
    }
    ws.on("error", (err) => {
      if (state < 3) fail(err);
      else if (!conn.closed) log("ws error", err.message);
    });
    ws.on("close", () => {
      const was = conn.closed;
      conn.closed = true;
      if (state < 3) fail(new Error("closed during connect"));
      else if (!was && state === 3) onClose();
    });
    ws.on("message", (data, isBinary) => {
      if (!isBinary && data.length === 1 && data[0] === 50) return ws.send("3"); // ping "2"
      if (state === 3) return onData(data, isBinary);
      if (isBinary) return fail(new Error("binary message during connect"));
      const s = data.toString();
      if (state === 0 && s[0] === "0") {
        state = 1;
        ws.send("40");
      } else if (state === 1 && s.startsWith("40")) {
        if (room === null) return opened();
        state = 2;
        ws.send('421["join",' + JSON.stringify(room) + "]");
      } else if (state === 2 && s.startsWith("431[")) {
        opened();
      } else {
        fail(new Error(`unexpected message during connect: ${s.slice(0, 100)}`));
      }
    });
  });
}

// Sends made in one tick leave in one write: cork now, uncork on the next tick.
function uncork(conn) {
  conn.corked = false;
  if (conn.sock) conn.sock.uncork();
}

function wsSend(conn, data) {
  if (!conn.corked && conn.sock) {
    conn.corked = true;
    conn.sock.cork();
    process.nextTick(uncork, conn);
  }
  conn.ws.send(data);
}

async function connectAll(specs, make, concurrency) {
  const out = [];
  let next = 0;
  let failed = 0;
  const errors = [];
  async function lane() {
    while (next < specs.length) {
      const spec = specs[next++];
      try {
        out.push(await make(spec));
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push(`client ${spec.id} on ${spec.url}: ${err.message}`);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, lane));
  return { conns: out, failed, errors };
}

// -- the worker: its share of the clients ------------------------------------------------------

async function workerMain() {
  const cfg = await new Promise((resolve) => process.once("message", resolve));
  process.on("disconnect", () => process.exit(0));
  const stats = {
    running: false,
    stopping: false, // set at exit: connections closed from then on are ours, not errors
    count: 0,
    sent: 0,
    behindTicks: 0,
    errors: 0,
    mismatches: 0,
    inexact: 0,
    errorSamples: [],
    hist: new Hist(),
  };
  const sample = (msg) => {
    if (stats.errorSamples.length < 5) stats.errorSamples.push(msg);
  };
  const nRecv = cfg.specs.filter((s) => s.receives).length;
  const BIG = Number.MAX_SAFE_INTEGER;

  // Flow control: per-seq delivery counts among this worker's receiving clients; a seq is
  // complete here once all of them have it. Worker 0 (the sender's) keeps the others' marks.
  const RING = 1 << 14;
  const ring = new Uint32Array(RING);
  let localComplete = -1;
  const remote = new Map();
  if (cfg.worker === 0) for (let k = 1; k < cfg.procs; k++) remote.set(k, -1);
  let progressScheduled = false;
  const myComplete = () => (nRecv ? localComplete : BIG);
  const sendProgress = () => {
    progressScheduled = false;
    process.send({ type: "progress", complete: myComplete() });
  };
  const globalComplete = () => {
    let m = myComplete();
    for (const v of remote.values()) if (v < m) m = v;
    return m;
  };

  let sender = null;
  let bseq = 0;
  const frame = (seq) =>
    cfg.mode === "nomember"
      ? '42["bcast_to","' + ROOM + '",' + seq + "," + nowUs() + "," + BODY + "]"
      : '42["bcast",' + seq + "," + nowUs() + "," + BODY + "]";
  const trySend = () => {
    if (!sender || !stats.running || cfg.rate) return;
    const limit = globalComplete() + cfg.inflight;
    while (bseq <= limit) {
      wsSend(sender, frame(bseq++));
      stats.sent++;
    }
  };
  const backlog = Math.min(RING / 2, Math.max(10, Math.ceil(cfg.rate * 2)));
  let rateStart = 0;
  let rateTimer = null;
  const rateTick = () => {
    if (!sender || !stats.running) return;
    const due = Math.floor(((nowUs() - rateStart) * cfg.rate) / 1e6) + 1;
    const limit = globalComplete() + backlog;
    if (bseq < due && bseq > limit) stats.behindTicks++;
    while (bseq < due && bseq <= limit) {
      wsSend(sender, frame(bseq++));
      stats.sent++;
    }
  };

  const delivered = (seq, t) => {
    stats.count++;
    stats.hist.add(nowUs() - t);
    if (++ring[seq & (RING - 1)] === nRecv) {
      while (ring[(localComplete + 1) & (RING - 1)] === nRecv) {
        ring[(localComplete + 1) & (RING - 1)] = 0;
        localComplete++;
      }
      if (cfg.worker === 0) trySend();
      else if (!progressScheduled) {
        progressScheduled = true;
        setImmediate(sendProgress);
      }
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
      const t = seqAndTime(data);
      if (t >= 0) return delivered(fastSeq, t);
      const s = data.toString();
      if (!s.startsWith(FANOUT_PREFIX)) {
        stats.errors++;
        return sample(`client ${c.id}: unexpected message ${s.slice(0, 120)}`);
      }
      const [seq, t2] = twoInts(s, FANOUT_PREFIX.length);
      const expected = FANOUT_PREFIX + seq + "," + t2 + "," + BODY + "]";
      let same = false;
      try {
        same = deepEqual(JSON.parse(s.slice(2)), JSON.parse(expected.slice(2)));
      } catch {
        same = false;
      }
      if (same) stats.inexact++;
      else {
        stats.mismatches++;
        sample(`broadcast ${s.slice(0, 120)} != ${expected.slice(0, 120)}`);
      }
      delivered(seq, t2);
    };
    const onClose = () => {
      if (!stats.stopping) {
        stats.errors++;
        sample(`client ${c.id} on node ${c.node}: connection closed`);
      }
    };
    c.conn = await openWs(c.url, c.member ? ROOM : null, onData, onClose);
    return c;
  };

  let conns = [];
  let mark = null;
  process.on("message", async (msg) => {
    if (msg.type === "connect") {
      const r = await connectAll(cfg.specs, makeClient, cfg.concurrency);
      conns = r.conns;
      const first = conns.find((c) => c.id === 0);
      sender = first ? first.conn : null;
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
      if (cfg.mode === "nomember") sender.ws.send('42["bcast_to","' + ROOM + '","verify-room",' + p + "]");
      sender.ws.send('42["bcast","verify-all",' + p + "]");
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
    } else if (msg.type === "go") {
      stats.running = true;
      if (cfg.worker !== 0) sendProgress();
      trySend();
      if (sender && cfg.rate && !rateTimer) {
        rateStart = nowUs();
        rateTimer = setInterval(rateTick, Math.max(1, Math.min(10, 500 / cfg.rate)));
        rateTick();
      }
    } else if (msg.type === "remote") {
      remote.set(msg.worker, msg.complete);
      trySend();
    } else if (msg.type === "mark") {
      stats.count = 0;
      stats.sent = 0;
      stats.behindTicks = 0;
      stats.hist = new Hist();
      mark = { t: nowUs(), cpu: cpuUs() };
      process.send({ type: "marked" });
    } else if (msg.type === "stop") {
      const t = nowUs();
      process.send({
        type: "stats",
        windowUs: t - mark.t,
        cpuUs: cpuUs() - mark.cpu,
        count: stats.count,
        sent: stats.sent,
        behindTicks: stats.behindTicks,
        backlog: sender ? bseq - 1 - Math.min(globalComplete(), bseq - 1) : 0,
        hist: stats.hist.toJSON(),
        errors: stats.errors,
        mismatches: stats.mismatches,
        inexact: stats.inexact,
        errorSamples: stats.errorSamples,
      });
    } else if (msg.type === "exit") {
      stats.running = false;
      stats.stopping = true;
      if (rateTimer) clearInterval(rateTimer);
      for (const c of conns) c.conn.ws.terminate();
      setTimeout(() => process.exit(0), 0);
    }
  });
  process.send({ type: "ready" });
}

// -- the parent: workers, phases, /proc ---------------------------------------------------------

function procCpuUs(pid, clkTck) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) / clkTck) * 1e6; // utime + stime
  } catch {
    return null;
  }
}

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

  const workers = [];
  const kill = () => {
    for (const w of workers) w.kill("SIGKILL");
  };
  const hard = setTimeout(() => {
    out.error = `hard timeout ${hardTimeout}s`;
    process.stdout.write(JSON.stringify(out) + "\n");
    kill();
    process.exit(3);
  }, hardTimeout * 1000);

  try {
    const shares = Array.from({ length: procs }, () => []);
    specs.forEach((s, i) => shares[i % procs].push(s));
    const inbox = Array.from({ length: procs }, () => newQueue());
    for (let k = 0; k < procs; k++) {
      const w = fork(__filename, ["--worker"], {
        env: { ...process.env, CLUSTER_LOADGEN_WORKER: String(k) },
        stdio: ["ignore", "ignore", "inherit", "ipc"],
      });
      w.on("message", (m) => {
        if (m.type === "progress") {
          if (workers[0]) workers[0].send({ type: "remote", worker: k, complete: m.complete });
        } else inbox[k].push(m);
      });
      w.on("exit", (code) => {
        if (code && !out.done) inbox[k].push({ type: "died", code });
      });
      workers.push(w);
      w.send({ mode, specs: shares[k], worker: k, procs, rate, inflight, concurrency: 100 });
    }
    const all = async (type, timeoutMs, only = null) => {
      const msgs = [];
      for (let k = 0; k < procs; k++) {
        if (only !== null && k !== only) continue;
        const [m] = await expectMessages(inbox[k], 1, `worker ${k} ${type}`, timeoutMs);
        if (m.type !== type) throw new Error(`worker ${k}: expected ${type}, got ${JSON.stringify(m).slice(0, 300)}`);
        msgs.push(m);
      }
      return msgs;
    };
    await all("ready", 10000);

    for (const w of workers) w.send({ type: "connect" });
    const conn = await all("connected", 90000);
    const failed = conn.reduce((a, m) => a + m.failed, 0);
    if (failed) throw new Error(`${failed} of ${specs.length} clients failed to connect: ${conn.flatMap((m) => m.errors).slice(0, 3).join("; ")}`);

    for (const w of workers) w.send({ type: "verify-arm" });
    await all("armed", 10000);
    workers[0].send({ type: "verify-send" });
    for (const w of workers) w.send({ type: "verify-wait", timeoutMs: 10000 });
    const ver = await all("verified", 20000);
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

    for (const w of workers) w.send({ type: "go" });
    await sleep(warmup * 1000);
    for (const w of workers) w.send({ type: "mark" });
    const cpu0 = nodePids.map((p) => procCpuUs(p, clkTck));
    const rcpu0 = redisPid ? procCpuUs(redisPid, clkTck) : null;
    const t0 = nowUs();
    await all("marked", 10000);
    await sleep(duration * 1000);
    const cpu1 = nodePids.map((p) => procCpuUs(p, clkTck));
    const rcpu1 = redisPid ? procCpuUs(redisPid, clkTck) : null;
    const t1 = nowUs();
    for (const w of workers) w.send({ type: "stop" });
    const st = await all("stats", 10000);
    const hist = new Hist();
    for (const m of st) hist.merge(m.hist);
    const windowS = (t1 - t0) / 1e6;
    const pct = (a, b) => (a === null || b === null ? null : ((b - a) / (t1 - t0)) * 100);
    Object.assign(out, {
      window_s: windowS,
      count: st.reduce((a, m) => a + m.count, 0),
      rate_per_s: st.reduce((a, m) => a + m.count / (m.windowUs / 1e6), 0),
      sent_bcasts_per_s: st.reduce((a, m) => a + m.sent / (m.windowUs / 1e6), 0),
      behind_ticks: st.reduce((a, m) => a + m.behindTicks, 0),
      backlog_at_end: st.reduce((a, m) => a + m.backlog, 0),
      p50_us: hist.quantile(0.5),
      p99_us: hist.quantile(0.99),
      node_cpu_pct: nodePids.map((_, i) => pct(cpu0[i], cpu1[i])),
      redis_cpu_pct: pct(rcpu0, rcpu1),
      loadgen_cpu_pct: st.reduce((a, m) => a + (m.cpuUs / m.windowUs) * 100, 0),
      loadgen_proc_cpu_pct: st.map((m) => (m.cpuUs / m.windowUs) * 100),
      errors: st.reduce((a, m) => a + m.errors, 0),
      mismatches: st.reduce((a, m) => a + m.mismatches, 0),
      inexact: st.reduce((a, m) => a + m.inexact, 0),
      errorSamples: st.flatMap((m) => m.errorSamples).slice(0, 5),
    });
    out.ok = out.count > 0 && out.errors === 0 && out.mismatches === 0;
    if (!out.ok) out.error = out.count === 0 ? "no deliveries in the measured window" : "errors or wrong broadcasts";
  } catch (err) {
    out.error = err.message;
  }
  out.done = true;
  for (const w of workers) if (w.connected) w.send({ type: "exit" });
  await sleep(300);
  kill();
  clearTimeout(hard);
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(out.ok ? 0 : 1);
}

const opts = parseArgs(process.argv.slice(2));
if (opts.worker) workerMain();
else {
  parentMain(opts).catch((err) => {
    process.stdout.write(JSON.stringify({ ok: false, error: err.message }) + "\n");
    process.exit(2);
  });
}
