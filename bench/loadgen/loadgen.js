#!/usr/bin/env node
// Load generator for `python -m bench sio`: raw Engine.IO v4 / Socket.IO v5, no client library.
//
//   node bench/loadgen/loadgen.js --url http://127.0.0.1:PORT --mode MODE [options]
//
// Modes (the scenarios of bench/sio.py):
//   echo    clients x inflight: 42["echo",seq,t,BODY]        -> 42["echo",seq,t,BODY]
//   ack     clients x inflight: 42<id>["ack",seq,t,BODY]     -> 43<id>[seq,t,BODY]
//   binary  clients x inflight: 451-["echo",seq,t,{_placeholder}] + <blob> -> the same back
//   bcast   client 0 sends 42["bcast",seq,t,BODY]; every client (sender included) receives
//           42["fanout",seq,t,BODY]; at most `inflight` broadcasts are not yet delivered to
//           every client, so the server is kept saturated without queueing without bound
//   poll    like echo, over HTTP long-polling: one GET always pending, one POST at a time
//           carrying every message the window allows (keep-alive http.Agent)
//   idle    open `clients` connections (handshake + Socket.IO connect) as fast as possible,
//           `concurrency` at a time, and hold them; reports connects/s and server RSS
//   eio     Engine.IO only (`python -m bench eio`), no Socket.IO: clients x inflight text
//           messages 4<seq>,<t>,BODY -> the same back; pings answered; --path (default
//           /engine.io/) is the server's Engine.IO path
//
// bcast with --rate R (S3R): the sender sends R broadcasts/s on a fixed schedule instead of
// keeping `inflight` undelivered; a server that cannot keep up is allowed at most
// max(10, 2 s x R) undelivered broadcasts (the schedule then waits, and the run says so in
// `behind_ticks`), so nothing queues without bound.
//
// Every request carries its sequence number and its send time (µs, CLOCK_MONOTONIC, the same
// clock in every process), so latency is measured from the reply alone. Replies are checked
// against what was sent (byte-identical, or equal once parsed).
//
// Options: --duration S (measured window), --warmup S, --procs N (worker processes the clients
// are spread over), --clients N, --inflight N, --payload-bytes N (binary mode),
// --concurrency N (idle mode), --path P (eio mode), --rate R (bcast mode), --server-pid PID and --clk-tck N (server CPU and RSS from /proc),
// --verify (check every event's round trip before timing), --timeout S (hard limit).
//
// Output: one JSON line on stdout; progress and errors on stderr.
"use strict";

const fs = require("node:fs");
const http = require("node:http");
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
    if (key === "verify" || key === "worker") out[key] = true;
    else out[key] = argv[++i];
  }
  return out;
}

function log(...args) {
  process.stderr.write(`[loadgen${process.env.LOADGEN_WORKER ? " w" + process.env.LOADGEN_WORKER : ""}] ${args.join(" ")}\n`);
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

// -- wire ------------------------------------------------------------------------------------

const BODY = '{"user":"alice","text":"hello world","n":42}';
const PH = '{"_placeholder":true,"num":0}';
const ECHO_PREFIX = '42["echo",';
const FANOUT_PREFIX = '42["fanout",';
const BIN_PREFIX = '451-["echo",';

// "P<seq>,<t>,..." starting at `from`: the two integers after a fixed prefix.
function twoInts(s, from) {
  const c1 = s.indexOf(",", from);
  const c2 = s.indexOf(",", c1 + 1);
  return [Number(s.slice(from, c1)), Number(s.slice(c1 + 1, c2))];
}

// The timed replies are parsed as bytes (no string per message): a fixed prefix, two integers
// separated by a comma, and a fixed tail. Anything else goes the slow way, as a string.
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

const ECHO_B = Buffer.from(ECHO_PREFIX);
const FANOUT_B = Buffer.from(FANOUT_PREFIX);
const ACK_B = Buffer.from("43");
const TAIL_B = Buffer.from("," + BODY + "]");

// Mode eio: the message is `4<seq>,<t>,BODY`, opaque to Engine.IO, echoed byte for byte.
const EIO_PREFIX = "4";
const EIO_B = Buffer.from(EIO_PREFIX);
const EIO_TAIL = "," + BODY;
const EIO_TAIL_B = Buffer.from(EIO_TAIL);

// The (seq, t) of `<prefix><seq>,<t><tail>`, in `fastSeq` and the return value; -1 if not that.
let fastSeq = 0;
function seqAndTime(b, prefix, tail = TAIL_B) {
  if (!hasAt(b, 0, prefix)) return -1;
  fastSeq = intAt(b, prefix.length);
  if (b[pos] !== 44) return -1;
  const t = intAt(b, pos + 1);
  if (b.length - pos !== tail.length || !hasAt(b, pos, tail)) return -1;
  return t;
}

// -- WebSocket client --------------------------------------------------------------------------

// The Engine.IO path, and whether the session stops at Engine.IO (mode eio: no "40" connect).
// Set once per process from the configuration, before any connection is opened.
let WS_PATH = "/socket.io/";
let ENGINE_ONLY = false;
function configure(cfg) {
  ENGINE_ONLY = cfg.mode === "eio";
  WS_PATH = cfg.path || (ENGINE_ONLY ? "/engine.io/" : "/socket.io/");
  if (!WS_PATH.endsWith("/")) WS_PATH += "/";
}

// Opens a WebSocket session and completes the Socket.IO connect to "/". `onText(s)` and
// `onBinary(buf)` get every later message except pings, which are answered here; `fast(buf)`,
// when given, sees each text message first, as bytes, and returns true if it handled it.
function openWs(base, onText, onBinary, timeoutMs = 15000, fast = null) {
  return new Promise((resolve, reject) => {
    const url = base.replace(/^http/, "ws") + WS_PATH + "?EIO=4&transport=websocket";
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true, handshakeTimeout: timeoutMs });
    let state = 0; // 0: waiting for the Engine.IO open, 1: for the Socket.IO connect, 2: open
    const timer = setTimeout(() => {
      fail(new Error("connect timeout"));
    }, timeoutMs);
    function fail(err) {
      if (state === 3) return;
      state = 3;
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    }
    const conn = { ws, sock: null, corked: false, closed: false };
    ws.on("error", (err) => {
      if (state < 2) fail(err);
      else if (!conn.closed) log("ws error", err.message);
    });
    ws.on("close", () => {
      conn.closed = true;
      if (state < 2) fail(new Error("closed during connect"));
    });
    ws.on("message", (data, isBinary) => {
      if (state === 2) {
        if (isBinary) return onBinary(data);
        if (fast !== null && fast(data)) return;
        const s = data.toString();
        if (s === "2") return ws.send("3");
        return onText(s);
      }
      if (isBinary) return fail(new Error("binary message during connect"));
      const s = data.toString();
      if (state === 0 && s[0] === "0" && ENGINE_ONLY) {
        state = 2;
        clearTimeout(timer);
        conn.sock = ws._socket;
        resolve(conn);
      } else if (state === 0 && s[0] === "0") {
        state = 1;
        ws.send("40");
      } else if (state === 1 && s.startsWith("40")) {
        state = 2;
        clearTimeout(timer);
        conn.sock = ws._socket;
        resolve(conn);
      } else if (s === "2") {
        ws.send("3");
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

// Next message on a verification connection, with a timeout.
function expectMessages(queue, n, what, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply to ${what} within ${timeoutMs} ms`)), timeoutMs);
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

// -- the verification, before anything is timed -------------------------------------------------

const VERIFY_ARGS = [
  ["plain", 1, -2.5, true, false, null, "héllo wörld ✓ \u2028 \"quoted\" \\ /", { a: [1, { b: "c" }], e: {}, l: [] }],
  [BODY.length, JSON.parse(BODY)],
  [],
];

async function verifyWs(base, mode) {
  const qa = newQueue();
  const qb = newQueue();
  const a = await openWs(base, (s) => qa.push(s), (b) => qa.push(b));
  const b = await openWs(base, (s) => qb.push(s), (x) => qb.push(x));
  const checks = [];
  try {
    for (const args of VERIFY_ARGS) {
      a.ws.send("42" + JSON.stringify(["echo", ...args]));
      const [reply] = await expectMessages(qa, 1, "echo");
      if (typeof reply !== "string" || !reply.startsWith("42")) throw new Error(`echo reply ${String(reply).slice(0, 200)}`);
      if (!deepEqual(JSON.parse(reply.slice(2)), ["echo", ...args])) throw new Error(`echo reply differs: sent ${JSON.stringify(args)}, got ${reply}`);
      a.ws.send("4217" + JSON.stringify(["ack", ...args]));
      const [ack] = await expectMessages(qa, 1, "ack");
      if (typeof ack !== "string" || !ack.startsWith("4317")) throw new Error(`ack reply ${String(ack).slice(0, 200)}`);
      if (!deepEqual(JSON.parse(ack.slice(4)), args)) throw new Error(`ack reply differs: sent ${JSON.stringify(args)}, got ${ack}`);
    }
    checks.push("echo", "ack");
    // The exact frames the timed loop sends must come back byte for byte (or equal once parsed).
    const frames = {
      echo: [ECHO_PREFIX + "7,123," + BODY + "]", ECHO_PREFIX + "7,123," + BODY + "]"],
      ack: ['427["ack",7,123,' + BODY + "]", "437[7,123," + BODY + "]"],
    };
    let exact = true;
    for (const [sent, expected] of Object.values(frames)) {
      a.ws.send(sent);
      const [got] = await expectMessages(qa, 1, "frame " + sent);
      if (got === expected) continue;
      exact = false;
      const at = expected.indexOf("[");
      let same = false;
      try {
        same = got.slice(0, got.indexOf("[")) === expected.slice(0, at) && deepEqual(JSON.parse(got.slice(at)), JSON.parse(expected.slice(at)));
      } catch {
        same = false;
      }
      if (!same) throw new Error(`reply to ${sent} is ${got}, expected ${expected}`);
    }
    // Binary: two attachments, one of the timed size.
    const big = Buffer.alloc(mode.payloadBytes);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + 3) & 0xff;
    const small = Buffer.from([0, 1, 2, 255]);
    a.ws.send('452-["echo","bin",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1},"k":1}]');
    a.ws.send(big);
    a.ws.send(small);
    const [head, b0, b1] = await expectMessages(qa, 3, "binary echo");
    if (typeof head !== "string" || !head.startsWith("452-")) throw new Error(`binary echo reply ${String(head).slice(0, 200)}`);
    const data = JSON.parse(head.slice(4));
    const atts = [b0, b1];
    const fill = (v) =>
      v && typeof v === "object" && v._placeholder === true ? atts[v.num] :
      Array.isArray(v) ? v.map(fill) :
      v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x)])) : v;
    if (!deepEqual(fill(data), ["echo", "bin", big, { x: small, k: 1 }])) throw new Error(`binary echo differs: ${head}`);
    checks.push("binary");
    // Broadcast: both clients get it, the sender included.
    a.ws.send('42["bcast",1,2,' + BODY + "]");
    const [fa] = await expectMessages(qa, 1, "bcast (sender)");
    const [fb] = await expectMessages(qb, 1, "bcast (other client)");
    for (const f of [fa, fb]) {
      if (typeof f !== "string" || !deepEqual(JSON.parse(f.slice(2)), ["fanout", 1, 2, JSON.parse(BODY)])) throw new Error(`fanout differs: ${f}`);
    }
    checks.push("bcast");
    return { checks, exact_frames: exact };
  } finally {
    a.ws.terminate();
    b.ws.terminate();
  }
}

// Mode eio: Engine.IO messages, text and binary, echoed as they were sent (byte for byte: an
// Engine.IO server has nothing to re-encode), several in flight at once, in order.
async function verifyEio(base) {
  const q = newQueue();
  const a = await openWs(base, (s) => q.push(s), (b) => q.push(b));
  try {
    const texts = [
      "hello",
      "",
      "h\u00e9llo w\u00f6rld \u2713 \u2028 \"quoted\" \\ / \ud83d\ude00",
      '42["looks like socket.io",1]',
      "x".repeat(5000),
      "7,123" + EIO_TAIL,
    ];
    for (const t of texts) a.ws.send(EIO_PREFIX + t);
    const got = await expectMessages(q, texts.length, "eio text echo");
    for (let i = 0; i < texts.length; i++) {
      if (got[i] !== EIO_PREFIX + texts[i]) throw new Error(`eio echo of ${JSON.stringify(texts[i].slice(0, 60))} is ${JSON.stringify(String(got[i]).slice(0, 120))}`);
    }
    const bins = [Buffer.from([0, 1, 2, 255]), Buffer.alloc(70000, 7)];
    for (const b of bins) a.ws.send(b);
    const gotB = await expectMessages(q, bins.length, "eio binary echo");
    for (let i = 0; i < bins.length; i++) {
      if (!Buffer.isBuffer(gotB[i]) || !gotB[i].equals(bins[i])) throw new Error(`eio binary echo ${i} differs (${gotB[i] && gotB[i].length} bytes)`);
    }
    return { checks: ["eio text", "eio binary"], exact_frames: true };
  } finally {
    a.ws.terminate();
  }
}

// -- HTTP long-polling ----------------------------------------------------------------------------

function httpRequest(agent, base, method, query, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const headers = method === "POST" ? { "Content-Type": "text/plain;charset=UTF-8" } : {};
    const req = http.request(
      { agent, host: u.hostname, port: u.port, method, path: "/socket.io/?EIO=4&transport=polling" + query, headers },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.setTimeout(60000, () => req.destroy(new Error(`${method} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

class PollClient {
  constructor(base, agent, stats, cfg) {
    this.base = base;
    this.agent = agent;
    this.stats = stats;
    this.cfg = cfg;
    this.sid = null;
    this.outgoing = [];
    this.posting = false;
    this.inflight = 0;
    this.seq = 0;
    this.closed = false;
    this.onConnected = null;
    this.onMessage = null; // verification hook
  }

  async connect() {
    const open = await httpRequest(this.agent, this.base, "GET", "", undefined);
    if (open.status !== 200 || open.body[0] !== "0") throw new Error(`polling open: ${open.status} ${open.body.slice(0, 200)}`);
    this.sid = JSON.parse(open.body.slice(1)).sid;
    this.q = "&sid=" + encodeURIComponent(this.sid);
    const connected = new Promise((resolve) => (this.onConnected = resolve));
    this.outgoing.push("40");
    this.flush();
    this.getLoop();
    await Promise.race([connected, new Promise((_, rej) => setTimeout(() => rej(new Error("polling connect timeout")), 15000))]);
  }

  async getLoop() {
    while (!this.closed) {
      let res;
      try {
        res = await httpRequest(this.agent, this.base, "GET", this.q, undefined);
      } catch (err) {
        if (!this.closed) this.fail(`GET: ${err.message}`);
        return;
      }
      if (this.closed) return;
      if (res.status !== 200) return this.fail(`GET ${res.status}: ${res.body.slice(0, 200)}`);
      this.stats.httpReqs++;
      for (const p of res.body.split("\x1e")) this.onPacket(p);
    }
  }

  fail(message) {
    this.closed = true;
    this.stats.errors++;
    if (this.stats.errorSamples.length < 5) this.stats.errorSamples.push(message);
  }

  onPacket(p) {
    if (p === "2") {
      this.outgoing.push("3");
      this.flush();
    } else if (p.startsWith(ECHO_PREFIX)) {
      if (this.onMessage) return this.onMessage(p);
      const [seq, t] = twoInts(p, ECHO_PREFIX.length);
      checkEcho(this.stats, p, ECHO_PREFIX + seq + "," + t + "," + BODY + "]");
      this.stats.record(t);
      this.inflight--;
      this.fill();
    } else if (p.startsWith("40")) {
      if (this.onConnected) this.onConnected();
      this.onConnected = null;
    } else if (p === "6" || p === "") {
      // noop
    } else if (this.onMessage) {
      this.onMessage(p);
    } else {
      this.fail(`unexpected packet ${p.slice(0, 100)}`);
    }
  }

  fill() {
    if (!this.stats.running || this.closed) return;
    while (this.inflight < this.cfg.inflight) {
      this.outgoing.push(ECHO_PREFIX + this.seq++ + "," + nowUs() + "," + BODY + "]");
      this.inflight++;
    }
    this.flush();
  }

  async flush() {
    if (this.posting || !this.outgoing.length || this.closed) return;
    this.posting = true;
    const body = this.outgoing.join("\x1e");
    this.outgoing = [];
    try {
      const res = await httpRequest(this.agent, this.base, "POST", this.q, body);
      if (res.status !== 200) return this.fail(`POST ${res.status}: ${res.body.slice(0, 200)}`);
      this.stats.httpReqs++;
    } catch (err) {
      if (!this.closed) this.fail(`POST: ${err.message}`);
      return;
    } finally {
      this.posting = false;
    }
    this.flush();
  }

  close() {
    this.closed = true;
    if (this.sid) {
      httpRequest(this.agent, this.base, "POST", this.q, "1").catch(() => {});
    }
  }
}

async function verifyPoll(base) {
  const agent = new http.Agent({ keepAlive: true });
  const stats = newStats();
  const c = new PollClient(base, agent, stats, { inflight: 1 });
  const q = newQueue();
  c.onMessage = (p) => q.push(p);
  try {
    await c.connect();
    for (const args of VERIFY_ARGS) {
      c.outgoing.push("42" + JSON.stringify(["echo", ...args]));
      c.flush();
      const [reply] = await expectMessages(q, 1, "polling echo");
      if (!deepEqual(JSON.parse(reply.slice(2)), ["echo", ...args])) throw new Error(`polling echo differs: sent ${JSON.stringify(args)}, got ${reply}`);
    }
    if (stats.errors) throw new Error(stats.errorSamples.join("; "));
    return { checks: ["polling echo"] };
  } finally {
    c.close();
    setTimeout(() => agent.destroy(), 200);
  }
}

// -- the worker: clients and their load ---------------------------------------------------------

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
    record(t) {
      s.count++;
      s.hist.add(nowUs() - t);
    },
  };
  return s;
}

function checkEcho(stats, got, expected) {
  if (got === expected) return;
  // Not byte-identical: equal once parsed is still a correct reply.
  let same = false;
  try {
    same = deepEqual(JSON.parse(got.slice(got.indexOf("["))), JSON.parse(expected.slice(expected.indexOf("["))));
  } catch {
    same = false;
  }
  if (same) stats.inexact++;
  else {
    stats.mismatches++;
    if (stats.errorSamples.length < 5) stats.errorSamples.push(`reply ${got.slice(0, 120)} != ${expected.slice(0, 120)}`);
  }
}

async function connectAll(ids, make, concurrency) {
  const out = new Array(ids.length);
  let next = 0;
  let failed = 0;
  const errors = [];
  async function lane() {
    while (next < ids.length) {
      const i = next++;
      try {
        out[i] = await make(ids[i]);
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push(err.message);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, lane));
  return { conns: out.filter(Boolean), failed, errors };
}

async function workerMain() {
  const cfg = await new Promise((resolve) => process.once("message", resolve));
  configure(cfg);
  const stats = newStats();
  const base = cfg.url;
  const W = cfg.inflight;
  const ids = cfg.ids;
  let conns = [];
  let agent = null;
  let polls = [];
  process.on("disconnect", () => process.exit(0));

  // bcast flow control (see the header): per-seq delivery counts among this worker's clients.
  const RING = 1 << 14;
  const ring = new Uint32Array(RING);
  let localComplete = -1;
  const remote = new Map(); // worker -> complete (worker 0 only)
  if (cfg.worker === 0) for (let k = 1; k < cfg.procs; k++) remote.set(k, -1);
  let progressScheduled = false;
  let sender = null;
  let bseq = 0;
  const sendProgress = () => {
    progressScheduled = false;
    process.send({ type: "progress", complete: localComplete });
  };
  const globalComplete = () => {
    let m = localComplete;
    for (const v of remote.values()) if (v < m) m = v;
    return m;
  };
  const trySendBcast = () => {
    if (!sender || !stats.running || cfg.rate) return;
    const limit = globalComplete() + W;
    while (bseq <= limit) {
      wsSend(sender, '42["bcast",' + bseq++ + "," + nowUs() + "," + BODY + "]");
    }
  };
  // --rate: broadcast k is due at start + k / rate, whatever was delivered; at most `backlog`
  // undelivered (and never more than the ring holds), else the tick is counted as behind.
  const backlog = Math.min(RING / 2, Math.max(10, Math.ceil(cfg.rate * 2)));
  let rateStart = 0;
  let rateTimer = null;
  const rateTick = () => {
    if (!sender || !stats.running) return;
    const due = Math.floor(((nowUs() - rateStart) * cfg.rate) / 1e6) + 1;
    const limit = globalComplete() + backlog;
    if (bseq < due && bseq > limit) stats.behindTicks++;
    while (bseq < due && bseq <= limit) {
      wsSend(sender, '42["bcast",' + bseq++ + "," + nowUs() + "," + BODY + "]");
      stats.sent++;
    }
  };
  const startRate = () => {
    if (!sender || !cfg.rate || rateTimer) return;
    rateStart = nowUs();
    rateTimer = setInterval(rateTick, Math.max(1, Math.min(10, 500 / cfg.rate)));
    rateTick();
  };

  const blob = Buffer.alloc(cfg.payloadBytes);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 7 + 3) & 0xff;

  function makeClient(id) {
    const c = { id, seq: 0, inflight: 0, pending: null, conn: null };
    let onText;
    let onBinary = () => {
      stats.errors++;
    };
    let fast = null;
    if (cfg.mode === "echo") {
      fast = (b) => {
        const t = seqAndTime(b, ECHO_B);
        if (t < 0) return false;
        stats.record(t);
        c.inflight--;
        c.fill();
        return true;
      };
      c.fill = () => {
        while (stats.running && c.inflight < W) {
          c.inflight++;
          wsSend(c.conn, ECHO_PREFIX + c.seq++ + "," + nowUs() + "," + BODY + "]");
        }
      };
      onText = (s) => {
        if (!s.startsWith(ECHO_PREFIX)) return unexpected(s);
        const [seq, t] = twoInts(s, ECHO_PREFIX.length);
        checkEcho(stats, s, ECHO_PREFIX + seq + "," + t + "," + BODY + "]");
        stats.record(t);
        c.inflight--;
        c.fill();
      };
    } else if (cfg.mode === "ack") {
      fast = (b) => {
        if (!hasAt(b, 0, ACK_B)) return false;
        const id = intAt(b, 2);
        if (b[pos] !== 91) return false; // "["
        const t = seqAndTime(b.subarray(pos + 1), Buffer.alloc(0));
        if (t < 0 || fastSeq !== id) return false;
        stats.record(t);
        c.inflight--;
        c.fill();
        return true;
      };
      c.fill = () => {
        while (stats.running && c.inflight < W) {
          c.inflight++;
          const seq = c.seq++;
          wsSend(c.conn, "42" + seq + '["ack",' + seq + "," + nowUs() + "," + BODY + "]");
        }
      };
      onText = (s) => {
        if (!s.startsWith("43")) return unexpected(s);
        const [seq, t] = twoInts(s, s.indexOf("[") + 1);
        checkEcho(stats, s, "43" + seq + "[" + seq + "," + t + "," + BODY + "]");
        stats.record(t);
        c.inflight--;
        c.fill();
      };
    } else if (cfg.mode === "binary") {
      c.fill = () => {
        while (stats.running && c.inflight < W) {
          c.inflight++;
          wsSend(c.conn, BIN_PREFIX + c.seq++ + "," + nowUs() + "," + PH + "]");
          wsSend(c.conn, blob);
        }
      };
      onText = (s) => {
        if (!s.startsWith(BIN_PREFIX) || c.pending !== null) return unexpected(s);
        c.pending = s;
      };
      onBinary = (buf) => {
        const s = c.pending;
        if (s === null) return unexpected("<binary without its packet>");
        c.pending = null;
        const [seq, t] = twoInts(s, BIN_PREFIX.length);
        checkEcho(stats, s, BIN_PREFIX + seq + "," + t + "," + PH + "]");
        if (!blob.equals(buf)) {
          stats.mismatches++;
          if (stats.errorSamples.length < 5) stats.errorSamples.push(`attachment differs (${buf.length} bytes)`);
        }
        stats.bytes += buf.length;
        stats.record(t);
        c.inflight--;
        c.fill();
      };
    } else if (cfg.mode === "eio") {
      fast = (b) => {
        const t = seqAndTime(b, EIO_B, EIO_TAIL_B);
        if (t < 0) return false;
        stats.record(t);
        c.inflight--;
        c.fill();
        return true;
      };
      c.fill = () => {
        while (stats.running && c.inflight < W) {
          c.inflight++;
          wsSend(c.conn, EIO_PREFIX + c.seq++ + "," + nowUs() + EIO_TAIL);
        }
      };
      onText = (s) => {
        if (s[0] !== EIO_PREFIX) return unexpected(s);
        const [seq, t] = twoInts(s, EIO_PREFIX.length);
        const expected = EIO_PREFIX + seq + "," + t + EIO_TAIL;
        if (s !== expected) {
          stats.mismatches++;
          if (stats.errorSamples.length < 5) stats.errorSamples.push(`reply ${s.slice(0, 120)} != ${expected.slice(0, 120)}`);
        }
        stats.record(t);
        c.inflight--;
        c.fill();
      };
    } else if (cfg.mode === "bcast") {
      c.fill = () => {};
      const n = ids.length;
      const delivered = (seq, t) => {
        stats.record(t);
        if (++ring[seq & (RING - 1)] === n) {
          while (ring[(localComplete + 1) & (RING - 1)] === n) {
            ring[(localComplete + 1) & (RING - 1)] = 0;
            localComplete++;
          }
          if (sender) trySendBcast();
          else if (!progressScheduled) {
            progressScheduled = true;
            setImmediate(sendProgress);
          }
        }
      };
      fast = (b) => {
        const t = seqAndTime(b, FANOUT_B);
        if (t < 0) return false;
        delivered(fastSeq, t);
        return true;
      };
      onText = (s) => {
        if (!s.startsWith(FANOUT_PREFIX)) return unexpected(s);
        const [seq, t] = twoInts(s, FANOUT_PREFIX.length);
        checkEcho(stats, s, FANOUT_PREFIX + seq + "," + t + "," + BODY + "]");
        delivered(seq, t);
      };
    } else {
      // idle
      c.fill = () => {};
      onText = (s) => unexpected(s);
    }
    return openWs(base, onText, onBinary, 15000, fast).then((conn) => {
      c.conn = conn;
      return c;
    });
  }

  function unexpected(s) {
    stats.errors++;
    if (stats.errorSamples.length < 5) stats.errorSamples.push(`unexpected message ${String(s).slice(0, 120)}`);
  }

  let idleResult = null;
  async function connectPhase() {
    if (cfg.mode === "poll") {
      agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 4 * ids.length });
      const r = await connectAll(ids, async () => {
        const p = new PollClient(base, agent, stats, cfg);
        await p.connect();
        return p;
      }, cfg.concurrency);
      polls = r.conns;
      return r;
    }
    const r = await connectAll(ids, makeClient, cfg.concurrency);
    conns = r.conns;
    if (cfg.mode === "bcast" && cfg.worker === 0) {
      const first = conns.find((c) => c.id === 0);
      sender = first ? first.conn : null;
    }
    return r;
  }

  let mark = null;
  process.on("message", async (msg) => {
    if (msg.type === "connect") {
      // Every mode but idle connects before the load starts.
      const r = await connectPhase();
      process.send({ type: "connected", ok: ids.length - r.failed, failed: r.failed, errors: r.errors });
    } else if (msg.type === "idle") {
      const t0 = nowUs();
      const c0 = cpuUs();
      const r = await connectPhase();
      idleResult = { startUs: t0, endUs: nowUs(), cpuUs: cpuUs() - c0 };
      process.send({ type: "idle-done", ok: ids.length - r.failed, failed: r.failed, errors: r.errors, ...idleResult });
    } else if (msg.type === "go") {
      stats.running = true;
      for (const c of conns) c.fill();
      for (const p of polls) p.fill();
      trySendBcast();
      startRate();
    } else if (msg.type === "remote") {
      remote.set(msg.worker, msg.complete);
      trySendBcast();
    } else if (msg.type === "mark") {
      stats.count = 0;
      stats.bytes = 0;
      stats.httpReqs = 0;
      stats.sent = 0;
      stats.behindTicks = 0;
      stats.hist = new Hist();
      mark = { t: nowUs(), cpu: cpuUs(), errors: stats.errors, mismatches: stats.mismatches };
      process.send({ type: "marked" });
    } else if (msg.type === "stop") {
      const t = nowUs();
      process.send({
        type: "stats",
        windowUs: t - mark.t,
        cpuUs: cpuUs() - mark.cpu,
        count: stats.count,
        bytes: stats.bytes,
        httpReqs: stats.httpReqs,
        sent: stats.sent,
        behindTicks: stats.behindTicks,
        backlog: sender ? bseq - 1 - globalComplete() : 0,
        hist: stats.hist.toJSON(),
        errors: stats.errors,
        mismatches: stats.mismatches,
        inexact: stats.inexact,
        errorSamples: stats.errorSamples,
      });
    } else if (msg.type === "exit") {
      stats.running = false;
      if (rateTimer) clearInterval(rateTimer);
      for (const c of conns) c.conn.ws.terminate();
      for (const p of polls) p.close();
      setTimeout(() => process.exit(0), polls.length ? 300 : 0);
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

function procRssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function parentMain(opts) {
  const cfg = {
    url: opts.url,
    mode: opts.mode,
    clients: Number(opts.clients || 100),
    inflight: Number(opts.inflight || 10),
    payloadBytes: Number(opts["payload-bytes"] || 65536),
    concurrency: Number(opts.concurrency || 100),
    path: opts.path || null,
    rate: Number(opts.rate || 0),
  };
  configure(cfg);
  const procs = Math.max(1, Number(opts.procs || 1));
  const duration = Number(opts.duration || 5);
  const warmup = Number(opts.warmup || 1);
  const serverPid = opts["server-pid"] ? Number(opts["server-pid"]) : null;
  const clkTck = Number(opts["clk-tck"] || 100);
  const hardTimeout = Number(opts.timeout || 120);
  const out = { mode: cfg.mode, clients: cfg.clients, inflight: cfg.inflight, procs, ok: false };
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
    if (opts.verify) {
      out.verify =
        cfg.mode === "poll" ? await verifyPoll(cfg.url) : cfg.mode === "eio" ? await verifyEio(cfg.url) : await verifyWs(cfg.url, cfg);
    }
    // Spread the clients over the workers; in bcast mode client 0 (the sender) is in worker 0.
    const shares = Array.from({ length: procs }, () => []);
    for (let i = 0; i < cfg.clients; i++) shares[i % procs].push(i);
    const inbox = Array.from({ length: procs }, () => newQueue());
    for (let k = 0; k < procs; k++) {
      const w = fork(__filename, ["--worker"], { env: { ...process.env, LOADGEN_WORKER: String(k) }, stdio: ["ignore", "ignore", "inherit", "ipc"] });
      w.on("message", (m) => {
        if (m.type === "progress") {
          if (workers[0]) workers[0].send({ type: "remote", worker: k, complete: m.complete });
        } else inbox[k].push(m);
      });
      w.on("exit", (code) => {
        if (code && !out.done) inbox[k].push({ type: "died", code });
      });
      workers.push(w);
      w.send({ ...cfg, ids: shares[k], worker: k, procs });
    }
    const all = async (type, timeoutMs) => {
      const msgs = [];
      for (let k = 0; k < procs; k++) {
        const [m] = await expectMessages(inbox[k], 1, `worker ${k} ${type}`, timeoutMs);
        if (m.type !== type) throw new Error(`worker ${k}: expected ${type}, got ${JSON.stringify(m).slice(0, 300)}`);
        msgs.push(m);
      }
      return msgs;
    };
    await all("ready", 10000);

    if (cfg.mode === "idle") {
      const rss0 = serverPid && procRssKiB(serverPid);
      const cpu0 = serverPid && procCpuUs(serverPid, clkTck);
      const t0 = nowUs();
      for (const w of workers) w.send({ type: "idle" });
      const done = await all("idle-done", hardTimeout * 1000);
      const t1 = nowUs();
      const cpu1 = serverPid && procCpuUs(serverPid, clkTck);
      await sleep(1000); // let the server settle before reading its RSS
      const rss1 = serverPid && procRssKiB(serverPid);
      const okCount = done.reduce((a, m) => a + m.ok, 0);
      const start = Math.min(...done.map((m) => m.startUs));
      const end = Math.max(...done.map((m) => m.endUs));
      Object.assign(out, {
        connected: okCount,
        failed: done.reduce((a, m) => a + m.failed, 0),
        errorSamples: done.flatMap((m) => m.errors).slice(0, 5),
        window_s: (end - start) / 1e6,
        rate: okCount / ((end - start) / 1e6),
        server_cpu_pct: serverPid ? ((cpu1 - cpu0) / (t1 - t0)) * 100 : null,
        loadgen_cpu_pct: done.reduce((a, m) => a + m.cpuUs, 0) / (end - start) * 100,
        loadgen_proc_cpu_pct: done.map((m) => (m.cpuUs / (m.endUs - m.startUs)) * 100),
        rss_before_kib: rss0,
        rss_after_kib: rss1,
        rss_per_conn_kib: rss0 && rss1 && okCount ? (rss1 - rss0) / okCount : null,
      });
      out.ok = out.failed === 0;
    } else {
      for (const w of workers) w.send({ type: "connect" });
      const conn = await all("connected", 60000);
      const failed = conn.reduce((a, m) => a + m.failed, 0);
      if (failed) throw new Error(`${failed} of ${cfg.clients} clients failed to connect: ${conn.flatMap((m) => m.errors).slice(0, 3).join("; ")}`);
      for (const w of workers) w.send({ type: "go" });
      await sleep(warmup * 1000);
      for (const w of workers) w.send({ type: "mark" });
      const cpu0 = serverPid && procCpuUs(serverPid, clkTck);
      const t0 = nowUs();
      await all("marked", 10000);
      await sleep(duration * 1000);
      const cpu1 = serverPid && procCpuUs(serverPid, clkTck);
      const t1 = nowUs();
      for (const w of workers) w.send({ type: "stop" });
      const st = await all("stats", 10000);
      const hist = new Hist();
      for (const m of st) hist.merge(m.hist);
      const rate = st.reduce((a, m) => a + m.count / (m.windowUs / 1e6), 0);
      Object.assign(out, {
        window_s: (t1 - t0) / 1e6,
        count: st.reduce((a, m) => a + m.count, 0),
        rate,
        bytes_per_s: st.reduce((a, m) => a + m.bytes / (m.windowUs / 1e6), 0),
        http_per_s: st.reduce((a, m) => a + m.httpReqs / (m.windowUs / 1e6), 0),
        p50_us: hist.quantile(0.5),
        p99_us: hist.quantile(0.99),
        server_cpu_pct: serverPid ? ((cpu1 - cpu0) / (t1 - t0)) * 100 : null,
        loadgen_cpu_pct: st.reduce((a, m) => a + (m.cpuUs / m.windowUs) * 100, 0),
        loadgen_proc_cpu_pct: st.map((m) => (m.cpuUs / m.windowUs) * 100),
        errors: st.reduce((a, m) => a + m.errors, 0),
        mismatches: st.reduce((a, m) => a + m.mismatches, 0),
        inexact: st.reduce((a, m) => a + m.inexact, 0),
        errorSamples: st.flatMap((m) => m.errorSamples).slice(0, 5),
      });
      if (cfg.rate) {
        out.target_bcasts_per_s = cfg.rate;
        out.sent_bcasts_per_s = st.reduce((a, m) => a + m.sent / (m.windowUs / 1e6), 0);
        out.behind_ticks = st.reduce((a, m) => a + m.behindTicks, 0);
        out.backlog_at_end = st.reduce((a, m) => a + m.backlog, 0);
      }
      out.ok = out.count > 0 && out.errors === 0 && out.mismatches === 0;
      if (!out.ok && !out.error) out.error = out.count === 0 ? "no replies in the measured window" : "errors or mismatched replies";
    }
  } catch (err) {
    out.error = err.message;
  }
  out.done = true;
  for (const w of workers) if (w.connected) w.send({ type: "exit" });
  await sleep(500);
  kill();
  clearTimeout(hard);
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(out.ok ? 0 : 1);
}

const opts = parseArgs(process.argv.slice(2));
if (opts.worker) workerMain();
else parentMain(opts);
