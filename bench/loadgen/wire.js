// What the load generators (bench/loadgen/loadgen.js for `python -m bench sio` and `eio`,
// bench/loadgen/cluster_loadgen.js for `python -m bench cluster`) share: raw Engine.IO v4 /
// Socket.IO v5 over WebSocket (no client library), the clock and CPU readings, the latency
// histogram, the broadcast flow control, and the parent's handling of its worker processes.
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// `--key value` pairs; the keys in `flags` take no value (true when present).
function parseArgs(argv, flags) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    if (flags.includes(key)) out[key] = true;
    else out[key] = argv[++i];
  }
  return out;
}

// A logger to stderr, `[name]`, or `[name wK]` in worker K (its index in the environment variable `workerEnv`).
function makeLog(name, workerEnv) {
  return (...args) => {
    const w = process.env[workerEnv];
    process.stderr.write(`[${name}${w ? " w" + w : ""}] ${args.join(" ")}\n`);
  };
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
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
const NBUCKETS = 2400; // 1.01^2400 µs is far beyond any bounded run

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

// A queue of messages (a connection's, a worker's) and the next `n` of them, with a timeout.
function newQueue() {
  const q = { items: [], waiter: null };
  q.push = (m) => {
    q.items.push(m);
    if (q.waiter) q.waiter();
  };
  return q;
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

// -- wire ------------------------------------------------------------------------------------

const BODY = '{"user":"alice","text":"hello world","n":42}';
const FANOUT_PREFIX = '42["fanout",';
const FANOUT_B = Buffer.from(FANOUT_PREFIX);
const TAIL_B = Buffer.from("," + BODY + "]");

// "P<seq>,<t>,..." starting at `from`: the two integers after a fixed prefix.
function twoInts(s, from) {
  const c1 = s.indexOf(",", from);
  const c2 = s.indexOf(",", c1 + 1);
  return [Number(s.slice(from, c1)), Number(s.slice(c1 + 1, c2))];
}

// The timed replies are parsed as bytes (no string per message): a fixed prefix, two integers
// separated by a comma, and a fixed tail. Anything else goes the slow way, as a string.
// `scan.pos`: where the last `intAt` stopped; `scan.seq`: the seq the last `seqAndTime` read.
const scan = { pos: 0, seq: 0 };
function intAt(buf, i) {
  let v = 0;
  let c;
  while (i < buf.length && (c = buf[i]) >= 48 && c <= 57) {
    v = v * 10 + (c - 48);
    i++;
  }
  scan.pos = i;
  return v;
}

function hasAt(buf, at, part) {
  return buf.length - at >= part.length && buf.compare(part, 0, part.length, at, at + part.length) === 0;
}

// The t of `<prefix><seq>,<t><tail>` (seq in `scan.seq`), or -1 if the frame is not exactly that.
function seqAndTime(b, prefix, tail = TAIL_B) {
  if (!hasAt(b, 0, prefix)) return -1;
  scan.seq = intAt(b, prefix.length);
  if (b[scan.pos] !== 44) return -1;
  const t = intAt(b, scan.pos + 1);
  if (b.length - scan.pos !== tail.length || !hasAt(b, scan.pos, tail)) return -1;
  return t;
}

// -- WebSocket client --------------------------------------------------------------------------

// Opens a WebSocket session on `path` (the Engine.IO path, ending in "/") and completes the
// Socket.IO connect to "/" (not with `engineOnly`: the session stops at Engine.IO) and, with
// `room`, joins it (`join` with an ack, so the membership is in place before anything is
// broadcast). Pings are answered here; every later message goes to `onMessage(buf, isBinary)`,
// and `onClose()`, when given, is called once if the open connection closes.
function openWs(base, { path = "/socket.io/", engineOnly = false, room = null, onMessage, onClose = null, timeoutMs = 15000, log }) {
  return new Promise((resolve, reject) => {
    const url = base.replace(/^http/, "ws") + path + "?EIO=4&transport=websocket";
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
      else if (!was && state === 3 && onClose !== null) onClose();
    });
    ws.on("message", (data, isBinary) => {
      if (!isBinary && data.length === 1 && data[0] === 50) return ws.send("3"); // ping "2"
      if (state === 3) return onMessage(data, isBinary);
      if (isBinary) return fail(new Error("binary message during connect"));
      const s = data.toString();
      if (state === 0 && s[0] === "0") {
        if (engineOnly) return opened();
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

// `make(item)` for every item, `concurrency` at a time: the connections made (in the items'
// order), how many failed, and the first five failures as `describe(item, err)` tells them.
async function connectAll(items, make, concurrency, describe = (item, err) => err.message) {
  const out = new Array(items.length);
  let next = 0;
  let failed = 0;
  const errors = [];
  async function lane() {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await make(items[i]);
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push(describe(items[i], err));
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
  return { conns: out.filter(Boolean), failed, errors };
}

// -- a worker's counts --------------------------------------------------------------------------

function newStats() {
  const s = {
    running: false,
    count: 0,
    bytes: 0,
    httpReqs: 0,
    sent: 0,
    behindTicks: 0,
    errors: 0,
    mismatches: 0,
    inexact: 0,
    errorSamples: [],
    hist: new Hist(),
    mark: null, // where the measured window started: { t, cpu }
    record(t) {
      s.count++;
      s.hist.add(nowUs() - t);
    },
  };
  return s;
}

// A reply that is not byte-identical to what was expected: equal once parsed (from the first
// "[") is still correct (`inexact`), anything else is a mismatch, sampled as `what`.
function tallyInexact(stats, got, expected, what) {
  let same = false;
  try {
    same = deepEqual(JSON.parse(got.slice(got.indexOf("["))), JSON.parse(expected.slice(expected.indexOf("["))));
  } catch {
    same = false;
  }
  if (same) stats.inexact++;
  else {
    stats.mismatches++;
    if (stats.errorSamples.length < 5) stats.errorSamples.push(`${what} ${got.slice(0, 120)} != ${expected.slice(0, 120)}`);
  }
}

function checkEcho(stats, got, expected) {
  if (got !== expected) tallyInexact(stats, got, expected, "reply");
}

// A worker's handling of the messages that are the same in every mode: "go" (the load on:
// `onGo()`, then the sender's broadcasts), "remote" (another worker's progress, for the flow
// control), "mark" (the measured window starts: the counts start again) and "stop" (its end:
// the "stats" message, with the fields `extra()` adds, among them the sender's `backlog` of
// broadcasts not yet delivered everywhere). False for any other message.
function loadMessage(msg, stats, flow, onGo, extra) {
  if (msg.type === "go") {
    stats.running = true;
    onGo();
    flow.trySend();
    flow.startRate();
  } else if (msg.type === "remote") {
    flow.setRemote(msg.worker, msg.complete);
  } else if (msg.type === "mark") {
    stats.count = 0;
    stats.bytes = 0;
    stats.httpReqs = 0;
    stats.sent = 0;
    stats.behindTicks = 0;
    stats.hist = new Hist();
    stats.mark = { t: nowUs(), cpu: cpuUs() };
    process.send({ type: "marked" });
  } else if (msg.type === "stop") {
    const t = nowUs();
    process.send({
      type: "stats",
      windowUs: t - stats.mark.t,
      cpuUs: cpuUs() - stats.mark.cpu,
      count: stats.count,
      sent: stats.sent,
      behindTicks: stats.behindTicks,
      ...extra(),
      hist: stats.hist.toJSON(),
      errors: stats.errors,
      mismatches: stats.mismatches,
      inexact: stats.inexact,
      errorSamples: stats.errorSamples,
    });
  } else {
    return false;
  }
  return true;
}

// -- broadcast flow control ---------------------------------------------------------------------

// Per-seq delivery counts among this worker's `receivers` clients, in a ring; a seq is complete
// here once all of them have it (a worker with none is never behind). Worker 0 (the sender's)
// keeps the other workers' marks (`remote`, from their "progress") and sends `frame(seq)`
// while the slowest is at most `cfg.inflight` behind, or with `cfg.rate`, on a fixed schedule:
// broadcast k is due at start + k / rate, whatever was delivered; at most `backlog` undelivered
// (and never more than the ring holds), else the tick is counted as behind.
const RING = 1 << 14;
const BIG = Number.MAX_SAFE_INTEGER;

class BroadcastFlow {
  constructor(cfg, receivers, stats, frame) {
    this.ring = new Uint32Array(RING);
    this.localComplete = -1;
    this.cfg = cfg;
    this.receivers = receivers;
    this.stats = stats;
    this.frame = frame;
    this.remote = new Map(); // worker -> complete (worker 0 only)
    if (cfg.worker === 0) for (let k = 1; k < cfg.procs; k++) this.remote.set(k, -1);
    this.progressScheduled = false;
    this.sender = null; // the connection that broadcasts (worker 0 only)
    this.bseq = 0;
    this.backlog = Math.min(RING / 2, Math.max(10, Math.ceil(cfg.rate * 2)));
    this.rateStart = 0;
    this.rateTimer = null;
    this.sendProgress = () => {
      this.progressScheduled = false;
      process.send({ type: "progress", complete: this.myComplete() });
    };
    this.rateTick = () => {
      if (!this.sender || !this.stats.running) return;
      const due = Math.floor(((nowUs() - this.rateStart) * this.cfg.rate) / 1e6) + 1;
      const limit = this.globalComplete() + this.backlog;
      if (this.bseq < due && this.bseq > limit) this.stats.behindTicks++;
      while (this.bseq < due && this.bseq <= limit) this.send();
    };
  }
  myComplete() {
    return this.receivers ? this.localComplete : BIG;
  }
  globalComplete() {
    let m = this.myComplete();
    for (const v of this.remote.values()) if (v < m) m = v;
    return m;
  }
  // One more client here has broadcast `seq`: true when that completed one or more seqs.
  delivered(seq) {
    const ring = this.ring;
    if (++ring[seq & (RING - 1)] !== this.receivers) return false;
    while (ring[(this.localComplete + 1) & (RING - 1)] === this.receivers) {
      ring[(this.localComplete + 1) & (RING - 1)] = 0;
      this.localComplete++;
    }
    return true;
  }
  scheduleProgress() {
    if (!this.progressScheduled) {
      this.progressScheduled = true;
      setImmediate(this.sendProgress);
    }
  }
  setRemote(worker, complete) {
    this.remote.set(worker, complete);
    this.trySend();
  }
  send() {
    wsSend(this.sender, this.frame(this.bseq++));
    this.stats.sent++;
  }
  // The closed loop: as many as the slowest worker allows.
  trySend() {
    if (!this.sender || !this.stats.running || this.cfg.rate) return;
    const limit = this.globalComplete() + this.cfg.inflight;
    while (this.bseq <= limit) this.send();
  }
  startRate() {
    if (!this.sender || !this.cfg.rate || this.rateTimer) return;
    this.rateStart = nowUs();
    this.rateTimer = setInterval(this.rateTick, Math.max(1, Math.min(10, 500 / this.cfg.rate)));
    this.rateTick();
  }
  stop() {
    if (this.rateTimer) clearInterval(this.rateTimer);
  }
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

function procRssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

// The worker processes, seen from the parent: each is `file --worker` with its index in the
// environment variable `workerEnv`, sent `configOf(k)` first; its messages queue per worker,
// except "progress", which goes on to worker 0 as "remote". From construction on, a hard
// timeout of `hardTimeoutS` prints `out` with the error, kills the workers and exits 3.
// `waitLabel` starts what a wait for a worker's message that timed out says it waited for.
class Workers {
  constructor(out, hardTimeoutS, waitLabel = "") {
    this.out = out;
    this.waitLabel = waitLabel;
    this.list = [];
    this.inbox = [];
    this.hard = setTimeout(() => {
      out.error = `hard timeout ${hardTimeoutS}s`;
      process.stdout.write(JSON.stringify(out) + "\n");
      this.kill();
      process.exit(3);
    }, hardTimeoutS * 1000);
  }
  kill() {
    for (const w of this.list) w.kill("SIGKILL");
  }
  fork(file, workerEnv, procs, configOf) {
    for (let k = 0; k < procs; k++) this.inbox.push(newQueue());
    for (let k = 0; k < procs; k++) {
      const w = fork(file, ["--worker"], { env: { ...process.env, [workerEnv]: String(k) }, stdio: ["ignore", "ignore", "inherit", "ipc"] });
      w.on("message", (m) => {
        if (m.type === "progress") {
          if (this.list[0]) this.list[0].send({ type: "remote", worker: k, complete: m.complete });
        } else this.inbox[k].push(m);
      });
      w.on("exit", (code) => {
        if (code && !this.out.done) this.inbox[k].push({ type: "died", code });
      });
      this.list.push(w);
      w.send(configOf(k));
    }
  }
  send(msg) {
    for (const w of this.list) w.send(msg);
  }
  // The next message of every worker (or of worker `only`), which must be of `type`.
  async all(type, timeoutMs, only = null) {
    const msgs = [];
    for (let k = 0; k < this.list.length; k++) {
      if (only !== null && k !== only) continue;
      const [m] = await expectMessages(this.inbox[k], 1, `${this.waitLabel}worker ${k} ${type}`, timeoutMs);
      if (m.type !== type) throw new Error(`worker ${k}: expected ${type}, got ${JSON.stringify(m).slice(0, 300)}`);
      msgs.push(m);
    }
    return msgs;
  }
  // Every worker connects its clients; any failure ends the run.
  async connect(timeoutMs, total) {
    this.send({ type: "connect" });
    const conn = await this.all("connected", timeoutMs);
    const failed = conn.reduce((a, m) => a + m.failed, 0);
    if (failed) throw new Error(`${failed} of ${total} clients failed to connect: ${conn.flatMap((m) => m.errors).slice(0, 3).join("; ")}`);
  }
  // The load on, `warmupS` of it, then the measured window of `durationS`: `sample()` (the
  // server side's CPU) is read at its start and end, and every worker's "stats" at its end.
  async measure(warmupS, durationS, sample) {
    this.send({ type: "go" });
    await sleep(warmupS * 1000);
    this.send({ type: "mark" });
    const before = sample();
    const t0 = nowUs();
    await this.all("marked", 10000);
    await sleep(durationS * 1000);
    const after = sample();
    const t1 = nowUs();
    this.send({ type: "stop" });
    const st = await this.all("stats", 10000);
    const hist = new Hist();
    for (const m of st) hist.merge(m.hist);
    return { st, hist, before, after, t0, t1 };
  }
  // The workers told to exit, `graceMs` for them to close their connections, `out` printed.
  async finish(graceMs) {
    const out = this.out;
    out.done = true;
    for (const w of this.list) if (w.connected) w.send({ type: "exit" });
    await sleep(graceMs);
    this.kill();
    clearTimeout(this.hard);
    process.stdout.write(JSON.stringify(out) + "\n");
    process.exit(out.ok ? 0 : 1);
  }
}

// The fields every measured window reports from the workers' "stats", in this order.
function workerTotals(st) {
  return {
    loadgen_cpu_pct: st.reduce((a, m) => a + (m.cpuUs / m.windowUs) * 100, 0),
    loadgen_proc_cpu_pct: st.map((m) => (m.cpuUs / m.windowUs) * 100),
    errors: st.reduce((a, m) => a + m.errors, 0),
    mismatches: st.reduce((a, m) => a + m.mismatches, 0),
    inexact: st.reduce((a, m) => a + m.inexact, 0),
    errorSamples: st.flatMap((m) => m.errorSamples).slice(0, 5),
  };
}

// The sum over the workers of `field` per second of their window.
function perSecond(st, field) {
  return st.reduce((a, m) => a + m[field] / (m.windowUs / 1e6), 0);
}

module.exports = {
  WebSocket,
  nowUs,
  cpuUs,
  sleep,
  parseArgs,
  makeLog,
  deepEqual,
  Hist,
  newQueue,
  expectMessages,
  BODY,
  FANOUT_PREFIX,
  FANOUT_B,
  TAIL_B,
  twoInts,
  scan,
  intAt,
  hasAt,
  seqAndTime,
  openWs,
  wsSend,
  connectAll,
  newStats,
  tallyInexact,
  checkEcho,
  loadMessage,
  BroadcastFlow,
  procCpuUs,
  procRssKiB,
  Workers,
  workerTotals,
  perSecond,
};
