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
//
// What it shares with bench/loadgen/cluster_loadgen.js (the wire, the WebSocket session, the
// histogram, the broadcast flow control, the workers and /proc) is in bench/loadgen/wire.js.
"use strict";

const http = require("node:http");
const wire = require("./wire.js");
const { nowUs, cpuUs, sleep, parseArgs, makeLog, deepEqual, newQueue, expectMessages } = wire;
const { BODY, FANOUT_PREFIX, FANOUT_B, twoInts, scan, intAt, hasAt, seqAndTime } = wire;
const { openWs: openSession, wsSend, connectAll, newStats, checkEcho, loadMessage, BroadcastFlow } = wire;
const { procCpuUs, procRssKiB, Workers, workerTotals, perSecond } = wire;

const log = makeLog("loadgen", "LOADGEN_WORKER");

// -- wire (the rest is in wire.js) -------------------------------------------------------------

const PH = '{"_placeholder":true,"num":0}';
const ECHO_PREFIX = '42["echo",';
const BIN_PREFIX = '451-["echo",';

const ECHO_B = Buffer.from(ECHO_PREFIX);
const ACK_B = Buffer.from("43");

// Mode eio: the message is `4<seq>,<t>,BODY`, opaque to Engine.IO, echoed byte for byte.
const EIO_PREFIX = "4";
const EIO_B = Buffer.from(EIO_PREFIX);
const EIO_TAIL = "," + BODY;
const EIO_TAIL_B = Buffer.from(EIO_TAIL);

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
  const onMessage = (data, isBinary) => {
    if (isBinary) return onBinary(data);
    if (fast !== null && fast(data)) return;
    return onText(data.toString());
  };
  return openSession(base, { path: WS_PATH, engineOnly: ENGINE_ONLY, onMessage, timeoutMs, log });
}

// Next messages on a verification connection, with a timeout.
function expectReply(queue, n, what, timeoutMs = 5000) {
  return expectMessages(queue, n, "reply to " + what, timeoutMs);
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
      const [reply] = await expectReply(qa, 1, "echo");
      if (typeof reply !== "string" || !reply.startsWith("42")) throw new Error(`echo reply ${String(reply).slice(0, 200)}`);
      if (!deepEqual(JSON.parse(reply.slice(2)), ["echo", ...args])) throw new Error(`echo reply differs: sent ${JSON.stringify(args)}, got ${reply}`);
      a.ws.send("4217" + JSON.stringify(["ack", ...args]));
      const [ack] = await expectReply(qa, 1, "ack");
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
      const [got] = await expectReply(qa, 1, "frame " + sent);
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
    const [head, b0, b1] = await expectReply(qa, 3, "binary echo");
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
    const [fa] = await expectReply(qa, 1, "bcast (sender)");
    const [fb] = await expectReply(qb, 1, "bcast (other client)");
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
    const got = await expectReply(q, texts.length, "eio text echo");
    for (let i = 0; i < texts.length; i++) {
      if (got[i] !== EIO_PREFIX + texts[i]) throw new Error(`eio echo of ${JSON.stringify(texts[i].slice(0, 60))} is ${JSON.stringify(String(got[i]).slice(0, 120))}`);
    }
    const bins = [Buffer.from([0, 1, 2, 255]), Buffer.alloc(70000, 7)];
    for (const b of bins) a.ws.send(b);
    const gotB = await expectReply(q, bins.length, "eio binary echo");
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
      const [reply] = await expectReply(q, 1, "polling echo");
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

  // bcast flow control (see the header and wire.js): per-seq delivery counts among this worker's clients.
  const flow = new BroadcastFlow(cfg, ids.length, stats, (seq) => '42["bcast",' + seq + "," + nowUs() + "," + BODY + "]");

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
        if (b[scan.pos] !== 91) return false; // "["
        const t = seqAndTime(b.subarray(scan.pos + 1), Buffer.alloc(0));
        if (t < 0 || scan.seq !== id) return false;
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
      const delivered = (seq, t) => {
        stats.record(t);
        if (flow.delivered(seq)) {
          if (flow.sender) flow.trySend();
          else flow.scheduleProgress();
        }
      };
      fast = (b) => {
        const t = seqAndTime(b, FANOUT_B);
        if (t < 0) return false;
        delivered(scan.seq, t);
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
      flow.sender = first ? first.conn : null;
    }
    return r;
  }

  const onGo = () => {
    for (const c of conns) c.fill();
    for (const p of polls) p.fill();
  };
  const extra = () => ({
    bytes: stats.bytes,
    httpReqs: stats.httpReqs,
    backlog: flow.sender ? flow.bseq - 1 - flow.globalComplete() : 0,
  });
  process.on("message", async (msg) => {
    if (loadMessage(msg, stats, flow, onGo, extra)) return;
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
    } else if (msg.type === "exit") {
      stats.running = false;
      flow.stop();
      for (const c of conns) c.conn.ws.terminate();
      for (const p of polls) p.close();
      setTimeout(() => process.exit(0), polls.length ? 300 : 0);
    }
  });
  process.send({ type: "ready" });
}

// -- the parent: workers, phases, /proc ---------------------------------------------------------

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
  const workers = new Workers(out, hardTimeout, "reply to ");

  try {
    if (opts.verify) {
      out.verify =
        cfg.mode === "poll" ? await verifyPoll(cfg.url) : cfg.mode === "eio" ? await verifyEio(cfg.url) : await verifyWs(cfg.url, cfg);
    }
    // Spread the clients over the workers; in bcast mode client 0 (the sender) is in worker 0.
    const shares = Array.from({ length: procs }, () => []);
    for (let i = 0; i < cfg.clients; i++) shares[i % procs].push(i);
    workers.fork(__filename, "LOADGEN_WORKER", procs, (k) => ({ ...cfg, ids: shares[k], worker: k, procs }));
    await workers.all("ready", 10000);

    if (cfg.mode === "idle") {
      const rss0 = serverPid && procRssKiB(serverPid);
      const cpu0 = serverPid && procCpuUs(serverPid, clkTck);
      const t0 = nowUs();
      workers.send({ type: "idle" });
      const done = await workers.all("idle-done", hardTimeout * 1000);
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
      await workers.connect(60000, cfg.clients);
      const { st, hist, before: cpu0, after: cpu1, t0, t1 } = await workers.measure(warmup, duration, () => serverPid && procCpuUs(serverPid, clkTck));
      Object.assign(out, {
        window_s: (t1 - t0) / 1e6,
        count: st.reduce((a, m) => a + m.count, 0),
        rate: perSecond(st, "count"),
        bytes_per_s: perSecond(st, "bytes"),
        http_per_s: perSecond(st, "httpReqs"),
        p50_us: hist.quantile(0.5),
        p99_us: hist.quantile(0.99),
        server_cpu_pct: serverPid ? ((cpu1 - cpu0) / (t1 - t0)) * 100 : null,
        ...workerTotals(st),
      });
      if (cfg.rate) {
        out.target_bcasts_per_s = cfg.rate;
        out.sent_bcasts_per_s = perSecond(st, "sent");
        out.behind_ticks = st.reduce((a, m) => a + m.behindTicks, 0);
        out.backlog_at_end = st.reduce((a, m) => a + m.backlog, 0);
      }
      out.ok = out.count > 0 && out.errors === 0 && out.mismatches === 0;
      if (!out.ok && !out.error) out.error = out.count === 0 ? "no replies in the measured window" : "errors or mismatched replies";
    }
  } catch (err) {
    out.error = err.message;
  }
  await workers.finish(500);
}

const opts = parseArgs(process.argv.slice(2), ["verify", "worker"]);
if (opts.worker) workerMain();
else parentMain(opts);
