#!/usr/bin/env node
// Node's socket.io-client 4.8 as a load generator, for `python -m bench client`: the reference
// the Python clients (bench/loadgen/py_clients.py) are compared with. Same phases, same
// options, same JSON line on stdout, so the harness reads all three alike:
//
//   node bench/loadgen/node_clients.js --url http://127.0.0.1:PORT [--phases connect,echo,ack]
//        [--connects 500] [--concurrency 50] [--clients 50] [--inflight 10] [--duration 3]
//        [--warmup 1] [--server-pid PID] [--clk-tck 100] [--op-timeout 10] [--timeout 120]
//
// verify   one client: echo and ack round trips of varied arguments, equal once parsed;
// connect  `connects` clients created (forceNew, websocket only, no reconnection), connected
//          and disconnected, `concurrency` at a time: connects/s and connect latency;
// echo     `clients` x `inflight` "echo" events; the listener records the round trip and
//          emits the next;
// ack      `clients` x `inflight` loops awaiting emit("ack", ..., callback) in turn.
// Every timed reply is compared with what was sent. CPU: process.cpuUsage (this process) and
// /proc/<pid>/stat (the server) over each measured window.
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { createRequire } = require("node:module");

const interop = path.resolve(__dirname, "..", "..", "tests", "interop");
const { io } = createRequire(path.join(interop, "package.json"))("socket.io-client");

const BODY = { user: "alice", text: "hello world", n: 42 };
const VERIFY_ARGS = [
  ["plain", 1, -2.5, true, false, null, 'h\u00e9llo w\u00f6rld \u2713 \u2028 "quoted" \\ /', { a: [1, { b: "c" }], e: {}, l: [] }],
  [7, 123, BODY],
  [],
];

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--")) throw new Error(`unexpected argument ${argv[i]}`);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  return out;
}

function nowUs() {
  const t = process.hrtime();
  return t[0] * 1e6 + Math.floor(t[1] / 1000);
}

function cpuUs() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function procCpuUs(pid, clkTck) {
  if (!pid) return null;
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) / clkTck) * 1e6;
  } catch {
    return null;
  }
}

function deepEqual(a, b) {
  return JSON.stringify(a) === JSON.stringify(b); // key order is preserved by every hop here
}

function quantile(values, q) {
  if (!values.length) return null;
  values.sort((x, y) => x - y);
  return values[Math.min(values.length - 1, Math.floor(q * values.length))];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function connectClient(url, opTimeoutMs) {
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: opTimeoutMs });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

// emit with an ack callback (socket.io-client's classic form): every argument of the answer,
// where emitWithAck would give the first only.
function ackAll(socket, ms, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(ms).emit("ack", ...args, (err, ...answer) => (err ? reject(err) : resolve(answer)));
  });
}

class Window {
  constructor(serverPid, clkTck) {
    this.serverPid = serverPid;
    this.clkTck = clkTck;
    this.t0 = nowUs();
    this.cpu0 = cpuUs();
    this.srv0 = procCpuUs(serverPid, clkTck);
  }
  close() {
    const wall = nowUs() - this.t0;
    const srv1 = procCpuUs(this.serverPid, this.clkTck);
    return {
      window_s: wall / 1e6,
      cpu_pct: ((cpuUs() - this.cpu0) / wall) * 100,
      server_cpu_pct: srv1 !== null && this.srv0 !== null ? ((srv1 - this.srv0) / wall) * 100 : null,
    };
  }
}

async function verify(cfg) {
  const socket = await connectClient(cfg.url, cfg.opTimeoutMs);
  const replies = [];
  let waiter = null;
  socket.on("echo", (...args) => {
    replies.push(args);
    if (waiter) waiter();
  });
  const nextReply = () =>
    withTimeout(
      new Promise((resolve) => {
        const check = () => {
          if (replies.length) {
            waiter = null;
            resolve(replies.shift());
          }
        };
        waiter = check;
        check();
      }),
      cfg.opTimeoutMs,
      "echo",
    );
  try {
    for (const args of VERIFY_ARGS) {
      socket.emit("echo", ...args);
      const got = await nextReply();
      if (!deepEqual(got, args)) throw new Error(`echo reply differs: sent ${JSON.stringify(args)}, got ${JSON.stringify(got)}`);
      const answer = await ackAll(socket, cfg.opTimeoutMs, ...args);
      if (!deepEqual(answer, args)) {
        throw new Error(`ack answer differs: sent ${JSON.stringify(args)}, got ${JSON.stringify(answer)}`);
      }
    }
  } finally {
    socket.disconnect();
  }
  return { checks: ["echo", "ack"] };
}

async function connectPhase(cfg) {
  const latencies = [];
  const errors = [];
  let failed = 0;
  let next = 0;
  async function lane() {
    while (next < cfg.connects) {
      next++;
      const t0 = nowUs();
      try {
        const socket = await connectClient(cfg.url, cfg.opTimeoutMs);
        latencies.push(nowUs() - t0);
        socket.disconnect();
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push(String(err && err.message));
      }
    }
  }
  const w = new Window(cfg.serverPid, cfg.clkTck);
  await Promise.all(Array.from({ length: Math.min(cfg.concurrency, cfg.connects) }, lane));
  const out = w.close();
  return { ...out, count: latencies.length, failed, errors, rate: latencies.length / out.window_s, p50_us: quantile(latencies, 0.5), p99_us: quantile(latencies, 0.99) };
}

async function openClients(cfg) {
  const sockets = [];
  let next = 0;
  async function lane() {
    while (next < cfg.clients) {
      next++;
      sockets.push(await connectClient(cfg.url, cfg.opTimeoutMs));
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(cfg.concurrency, cfg.clients) }, lane));
  } catch (err) {
    for (const s of sockets) s.disconnect();
    throw err;
  }
  return sockets;
}

async function echoPhase(cfg) {
  const st = { running: false, measuring: false, count: 0, latencies: [], bad: 0, samples: [] };
  const sockets = await openClients(cfg);
  try {
    for (const socket of sockets) {
      socket.on("echo", (seq, t, body, ...rest) => {
        if (!deepEqual(body, BODY) || rest.length || typeof t !== "number") {
          st.bad++;
          if (st.samples.length < 5) st.samples.push(`reply ${JSON.stringify([seq, t, body, ...rest])}`);
          return;
        }
        if (st.measuring) {
          st.count++;
          st.latencies.push(nowUs() - t);
        }
        if (st.running) socket.emit("echo", seq, nowUs(), BODY);
      });
    }
    st.running = true;
    for (const socket of sockets) for (let i = 0; i < cfg.inflight; i++) socket.emit("echo", i, nowUs(), BODY);
    await sleep(cfg.warmup * 1000);
    st.measuring = true;
    const w = new Window(cfg.serverPid, cfg.clkTck);
    await sleep(cfg.duration * 1000);
    const out = w.close();
    st.measuring = false;
    st.running = false;
    return { ...out, count: st.count, rate: st.count / out.window_s, p50_us: quantile(st.latencies, 0.5), p99_us: quantile(st.latencies, 0.99), mismatches: st.bad, errors: st.samples };
  } finally {
    st.running = false;
    await sleep(200);
    for (const s of sockets) s.disconnect();
  }
}

async function ackPhase(cfg) {
  const st = { running: true, measuring: false, count: 0, latencies: [], bad: 0, samples: [] };
  const sockets = await openClients(cfg);
  const loops = [];
  async function loop(socket) {
    let seq = 0;
    while (st.running) {
      const t = nowUs();
      const answer = await ackAll(socket, cfg.opTimeoutMs, seq, t, BODY);
      if (answer.length !== 3 || answer[0] !== seq || answer[1] !== t || !deepEqual(answer[2], BODY)) {
        st.bad++;
        if (st.samples.length < 5) st.samples.push(`ack ${JSON.stringify(answer)} for ${seq}`);
      } else if (st.measuring) {
        st.count++;
        st.latencies.push(nowUs() - t);
      }
      seq++;
    }
  }
  try {
    for (const s of sockets) for (let i = 0; i < cfg.inflight; i++) loops.push(loop(s));
    await sleep(cfg.warmup * 1000);
    st.measuring = true;
    const w = new Window(cfg.serverPid, cfg.clkTck);
    await sleep(cfg.duration * 1000);
    const out = w.close();
    st.measuring = false;
    return { ...out, count: st.count, rate: st.count / out.window_s, p50_us: quantile(st.latencies, 0.5), p99_us: quantile(st.latencies, 0.99), mismatches: st.bad, errors: st.samples };
  } finally {
    st.running = false;
    await withTimeout(Promise.allSettled(loops), cfg.opTimeoutMs, "ack loops").catch(() => {});
    for (const s of sockets) s.disconnect();
  }
}

const PHASES = { connect: connectPhase, echo: echoPhase, ack: ackPhase };

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const cfg = {
    url: o.url,
    phases: (o.phases || "connect,echo").split(","),
    connects: Number(o.connects || 500),
    concurrency: Number(o.concurrency || 50),
    clients: Number(o.clients || 50),
    inflight: Number(o.inflight || 10),
    duration: Number(o.duration || 3),
    warmup: Number(o.warmup || 1),
    serverPid: o["server-pid"] ? Number(o["server-pid"]) : null,
    clkTck: Number(o["clk-tck"] || 100),
    opTimeoutMs: Number(o["op-timeout"] || 10) * 1000,
  };
  const out = { lib: "node", ok: false };
  const hard = setTimeout(() => {
    out.error = `hard timeout ${o.timeout || 120} s`;
    process.stdout.write(JSON.stringify(out) + "\n");
    process.exit(3);
  }, Number(o.timeout || 120) * 1000);
  try {
    for (const name of cfg.phases) if (!PHASES[name]) throw new Error(`unknown phase ${name}`);
    out.verify = await verify(cfg);
    for (const name of cfg.phases) {
      const r = await PHASES[name](cfg);
      r.ok = r.count > 0 && !r.failed && !r.mismatches;
      out[name] = r;
    }
    out.ok = cfg.phases.every((n) => out[n].ok);
  } catch (err) {
    out.error = String(err && err.message);
  }
  clearTimeout(hard);
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(out.ok ? 0 : 1);
}

main();
