#!/usr/bin/env node
// Interop driver: lets Python tests steer the *official* socket.io-client
// (and raw engine.io-client sockets) over a line-oriented JSON protocol.
//
//   stdin : one JSON command per line   {"cmd": "...", "req": N, ...}
//   stdout: one JSON object per line, either a reply to a command
//           {"req": N, "ok": true|false, ...} or an unsolicited event
//           {"id": "c1", "type": "...", "t": <ms epoch>, ...}
//
// stdout carries nothing but protocol lines; diagnostics go to stderr.
// Binary values travel as {"$bin": "<base64>"} in both directions.
//
// Manager-level (reconnect_*, ping) and engine-level (upgrade) events are
// reported under the id of every socket that uses that Manager, so a test
// can wait on them through the socket it cares about even when several
// sockets are multiplexed over one connection.

"use strict";

const readline = require("node:readline");
const { io, Manager } = require("socket.io-client");
const eio = require("engine.io-client");

// ---------------------------------------------------------------- encoding

function isBinary(value) {
  return (
    Buffer.isBuffer(value) ||
    value instanceof ArrayBuffer ||
    ArrayBuffer.isView(value)
  );
}

function toBuffer(value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  // Typed arrays and DataViews may be windows onto a larger buffer.
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

// Turns anything a socket hands us into something JSON can carry. Functions
// (ack callbacks) are dropped here; callers record their presence separately.
function toJs(value) {
  if (value === undefined) return null;
  if (value === null || typeof value !== "object") {
    return typeof value === "function" || typeof value === "symbol"
      ? null
      : typeof value === "bigint"
        ? value.toString()
        : value;
  }
  if (isBinary(value)) return { $bin: toBuffer(value).toString("base64") };
  if (Array.isArray(value)) return value.map(toJs);
  if (value instanceof Error) return errorInfo(value);
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "function") out[k] = toJs(v);
  }
  return out;
}

function fromJs(value) {
  if (Array.isArray(value)) return value.map(fromJs);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin" && typeof value.$bin === "string") {
      return Buffer.from(value.$bin, "base64");
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromJs(v);
    return out;
  }
  return value;
}

// Transport errors carry `description`/`context` fields that may be
// XHR/ws objects (huge, sometimes cyclic); keep only the JSON-safe parts.
function errorInfo(err) {
  if (err === null || err === undefined) return null;
  if (typeof err !== "object") return { message: String(err) };
  const info = { message: err.message !== undefined ? String(err.message) : String(err) };
  if (err.data !== undefined) info.data = toJs(err.data);
  if (typeof err.type === "string") info.errorType = err.type;
  const d = err.description;
  if (d !== undefined && d !== null) {
    info.description =
      typeof d === "object" ? (d.message !== undefined ? String(d.message) : String(d)) : d;
  }
  return info;
}

// ------------------------------------------------------------------ output

function write(obj) {
  let line;
  try {
    line = JSON.stringify(obj);
  } catch (e) {
    // Never let an unserialisable payload kill the protocol stream.
    line = JSON.stringify({ ...("req" in obj ? { req: obj.req } : { id: obj.id, type: obj.type }),
      ok: false, error: `unserialisable output: ${e.message}` });
  }
  process.stdout.write(line + "\n");
}

function report(id, type, fields = {}) {
  write({ id, type, ...fields, t: Date.now() });
}

// ------------------------------------------------------------------- state

// id -> { kind: "sio", socket, manager, opts, ackReplies: Map, offs: [] }
//     | { kind: "eio", socket, offs: [] }
const clients = new Map();
// manager name -> Manager (for explicitly shared managers)
const managers = new Map();

function listen(entry, emitter, event, fn) {
  emitter.on(event, fn);
  entry.offs.push(() => emitter.off(event, fn));
}

function getClient(id, kind) {
  const entry = clients.get(id);
  if (!entry) throw new Error(`unknown id ${JSON.stringify(id)}`);
  if (kind && entry.kind !== kind) throw new Error(`id ${id} is not a ${kind} client`);
  return entry;
}

// A finished client may be replaced under the same id (e.g. reconnect with a
// fresh socket); a live one may not, since its events would interleave.
function claimId(id, kind) {
  if (typeof id !== "string" || id === "") throw new Error("missing string id");
  const old = clients.get(id);
  if (!old) return;
  const live =
    old.kind === "sio" ? old.socket.active : old.socket.readyState !== "closed";
  if (live) throw new Error(`id ${id} is already in use by a live ${old.kind} client`);
  old.offs.forEach((off) => off());
  clients.delete(id);
}

// ------------------------------------------------------- socket.io clients

// Options for io()/Manager pass straight through, except the ones that name
// something the JSON side cannot express directly.
function clientOptions(raw) {
  const opts = { ...(raw || {}) };
  delete opts.manager;
  if (opts.parser === "msgpack") opts.parser = require("socket.io-msgpack-parser");
  else if (opts.parser !== undefined) throw new Error(`unknown parser ${opts.parser}`);
  if (opts.auth !== undefined) opts.auth = fromJs(opts.auth);
  // A source address of its own (127.0.0.2, ...), for both transports: what lets tests spread
  // clients over nodes behind a balancer that hashes the client's address.
  if (opts.localAddress !== undefined) opts.agent = new (require("node:http").Agent)({ localAddress: opts.localAddress });
  return opts;
}

// Ack callbacks are error-first whenever the client may time out or retry
// on its own; otherwise they receive the server's arguments directly.
function ackIsErrorFirst(entry, timeout) {
  return (
    (timeout !== undefined && timeout !== null) ||
    entry.opts.ackTimeout !== undefined ||
    Boolean(entry.opts.retries)
  );
}

function wireSocket(id, entry) {
  const { socket, manager } = entry;

  listen(entry, socket, "connect", () =>
    report(id, "connect", {
      sid: socket.id,
      recovered: Boolean(socket.recovered),
      transport: manager.engine?.transport?.name ?? null,
    }),
  );
  listen(entry, socket, "connect_error", (err) =>
    report(id, "connect_error", errorInfo(err)),
  );
  listen(entry, socket, "disconnect", (reason, details) =>
    report(id, "disconnect", {
      reason,
      ...(details ? { details: errorInfo(details) } : {}),
    }),
  );

  const onAny = (event, ...args) => {
    let ack = null;
    if (args.length && typeof args[args.length - 1] === "function") ack = args.pop();
    report(id, "event", { event, args: toJs(args), ack: ack !== null });
    if (ack && entry.ackReplies.has(event)) ack(...fromJs(entry.ackReplies.get(event)));
  };
  socket.onAny(onAny);
  entry.offs.push(() => socket.offAny(onAny));

  // Manager events concern this socket only while it is active: a socket
  // that was refused or closed by the user stays on a multiplexed Manager
  // but will not be reconnected, so its stream should stay quiet.
  const mgrReport = (type, fields) => {
    if (socket.active) report(id, type, fields);
  };
  listen(entry, manager, "reconnect_attempt", (n) => mgrReport("reconnect_attempt", { attempt: n }));
  listen(entry, manager, "reconnect", (n) => mgrReport("reconnect", { attempt: n }));
  listen(entry, manager, "reconnect_error", (err) => mgrReport("reconnect_error", errorInfo(err)));
  listen(entry, manager, "reconnect_failed", () => mgrReport("reconnect_failed"));
  listen(entry, manager, "ping", () => mgrReport("ping"));

  // Each (re)connection builds a new engine, so upgrade listeners must be
  // re-attached whenever the manager opens; a WeakSet stops double wiring
  // when the socket joins a manager whose engine is still opening.
  const wired = new WeakSet();
  const wireEngine = () => {
    const engine = manager.engine;
    if (!engine || wired.has(engine)) return;
    wired.add(engine);
    listen(entry, engine, "upgrade", (transport) =>
      mgrReport("upgrade", { transport: transport?.name ?? null }),
    );
    listen(entry, engine, "upgradeError", (err) => mgrReport("upgrade_error", errorInfo(err)));
  };
  wireEngine();
  listen(entry, manager, "open", wireEngine);
}

function cmdConnect(msg) {
  const id = msg.id;
  claimId(id);
  if (typeof msg.url !== "string") throw new Error("missing url");
  const raw = msg.opts || {};
  const opts = clientOptions(raw);
  const managerName = msg.manager ?? raw.manager;

  let socket;
  let manager;
  if (managerName !== undefined) {
    // One Manager (one engine.io connection) shared by several namespaces.
    const url = new URL(msg.url);
    const nsp = url.pathname || "/";
    manager = managers.get(managerName);
    if (!manager) {
      manager = new Manager(url.origin + url.search, opts);
      managers.set(managerName, manager);
    }
    const socketOpts = {};
    for (const k of ["auth", "retries", "ackTimeout"]) {
      if (opts[k] !== undefined) socketOpts[k] = opts[k];
    }
    socket = manager.socket(nsp, socketOpts);
    // Manager.socket() reuses an existing Socket per namespace and only
    // auto-connects a brand-new one, so connect explicitly if needed.
    if (!socket.active) socket.connect();
  } else {
    socket = io(msg.url, opts);
    manager = socket.io;
  }

  const entry = { kind: "sio", socket, manager, opts, ackReplies: new Map(), offs: [] };
  clients.set(id, entry);
  wireSocket(id, entry);
  return {};
}

function cmdEmit(msg) {
  const entry = getClient(msg.id, "sio");
  if (typeof msg.event !== "string") throw new Error("missing event name");
  const args = fromJs(msg.args || []);
  if (!Array.isArray(args)) throw new Error("args must be a list");

  let target = entry.socket;
  if (msg.volatile) target = target.volatile;
  const timeout = msg.timeout ?? undefined;
  if (timeout !== undefined) target = target.timeout(timeout);

  if (!msg.ack) {
    target.emit(msg.event, ...args);
    return {};
  }
  const errorFirst = ackIsErrorFirst(entry, timeout);
  // The reply is deferred until the server acknowledges (or time runs out).
  return new Promise((resolve, reject) => {
    target.emit(msg.event, ...args, (...res) => {
      if (errorFirst) {
        const err = res.shift();
        if (err) {
          const m = err.message || String(err);
          reject(new Error(m === "operation has timed out" ? "timeout" : m));
          return;
        }
      }
      resolve({ ack: toJs(res) });
    });
  });
}

function cmdOnAck(msg) {
  const entry = getClient(msg.id, "sio");
  if (typeof msg.event !== "string") throw new Error("missing event name");
  entry.ackReplies.set(msg.event, msg.reply || []);
  return {};
}

function cmdDisconnect(msg) {
  getClient(msg.id, "sio").socket.disconnect();
  return {};
}

function cmdCloseEngine(msg) {
  const engine = getClient(msg.id, "sio").manager.engine;
  if (!engine) throw new Error("no engine to close");
  engine.close();
  return {};
}

function cmdState(msg) {
  const { socket, manager } = getClient(msg.id, "sio");
  return {
    connected: socket.connected,
    active: socket.active,
    id: socket.id ?? null,
    recovered: Boolean(socket.recovered),
    transport: manager.engine?.transport?.name ?? null,
  };
}

// ------------------------------------------------------ engine.io clients

function cmdEioOpen(msg) {
  const id = msg.id;
  claimId(id);
  if (typeof msg.url !== "string") throw new Error("missing url");
  const socket = new eio.Socket(msg.url, { ...(msg.opts || {}) });
  const entry = { kind: "eio", socket, offs: [] };
  clients.set(id, entry);

  listen(entry, socket, "handshake", (data) => report(id, "handshake", { data: toJs(data) }));
  listen(entry, socket, "open", () =>
    report(id, "open", { sid: socket.id, transport: socket.transport?.name ?? null }),
  );
  listen(entry, socket, "message", (data) => report(id, "message", { data: toJs(data) }));
  listen(entry, socket, "upgrade", (transport) =>
    report(id, "upgrade", { transport: transport?.name ?? null }),
  );
  listen(entry, socket, "error", (err) => report(id, "error", errorInfo(err)));
  listen(entry, socket, "close", (reason, description) =>
    report(id, "close", {
      reason,
      ...(description ? { details: errorInfo(description) } : {}),
    }),
  );
  return {};
}

function cmdEioSend(msg) {
  const { socket } = getClient(msg.id, "eio");
  if (msg.data === undefined) throw new Error("missing data");
  socket.send(fromJs(msg.data));
  return {};
}

function cmdEioClose(msg) {
  getClient(msg.id, "eio").socket.close();
  return {};
}

// ---------------------------------------------------------------- dispatch

// Closing clients emits their disconnect/close events synchronously, so
// they land before the final reply: "exit" acknowledged means nothing follows.
let exiting = false;
function shutdown(code, finalReply) {
  if (exiting) return;
  exiting = true;
  for (const entry of clients.values()) {
    try {
      if (entry.kind === "sio") entry.socket.disconnect();
      else entry.socket.close();
    } catch {
      // Best effort: we are exiting anyway.
    }
  }
  if (finalReply) write(finalReply);
  // Write an empty chunk so exit waits for everything queued before it.
  process.stdout.write("", () => process.exit(code));
}

const handlers = {
  connect: cmdConnect,
  emit: cmdEmit,
  on_ack: cmdOnAck,
  disconnect: cmdDisconnect,
  close_engine: cmdCloseEngine,
  state: cmdState,
  eio_open: cmdEioOpen,
  eio_send: cmdEioSend,
  eio_close: cmdEioClose,
};

function handleLine(line) {
  if (exiting || !line.trim()) return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    write({ req: null, ok: false, error: `bad json: ${e.message}` });
    return;
  }
  const req = msg && typeof msg === "object" ? msg.req ?? null : null;
  if (!msg || typeof msg !== "object" || Array.isArray(msg)) {
    write({ req, ok: false, error: "command must be a JSON object" });
    return;
  }
  if (msg.cmd === "exit") {
    shutdown(0, { req, ok: true });
    return;
  }
  const handler = handlers[msg.cmd];
  if (!handler) {
    write({ req, ok: false, error: `unknown cmd ${JSON.stringify(msg.cmd)}` });
    return;
  }
  const fail = (e) => write({ req, ok: false, error: e && e.message ? e.message : String(e) });
  let result;
  try {
    result = handler(msg);
  } catch (e) {
    fail(e);
    return;
  }
  // Synchronous results are answered at once, so a reply precedes any event
  // the command causes; only acked emits reply later.
  if (result instanceof Promise) result.then((r) => write({ req, ok: true, ...r }), fail);
  else write({ req, ok: true, ...result });
}

// Commands run in arrival order; an acked emit does not block the ones after
// it (its ack may take seconds), it just replies when the ack comes.
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on("line", (line) => {
  try {
    handleLine(line);
  } catch (e) {
    process.stderr.write(`driver: ${e.stack || e}\n`);
  }
});
// Parent went away: nobody is left to read our output.
rl.on("close", () => shutdown(0, null));

// A library bug surfacing asynchronously must not take the whole harness down
// with it; log it so the Python side can show it on failure.
process.on("uncaughtException", (e) => process.stderr.write(`driver uncaught: ${e.stack || e}\n`));
process.on("unhandledRejection", (e) => process.stderr.write(`driver unhandled: ${e && e.stack || e}\n`));
