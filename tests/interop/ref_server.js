#!/usr/bin/env node
// Reference socket.io 4.8 server: the behaviour socketeer is compared against
// in differential tests and benchmarks.
//
//   node ref_server.js --port P [--options JSON]
//
// --port 0 picks a free port. Once listening, prints "listening <port>" on
// stdout (the only stdout line), so callers can wait for it and learn the port.
// --options goes to new Server(httpServer, options); "parser": "msgpack"
// selects socket.io-msgpack-parser.
//
// Namespaces "/", /^\/dyn-\d+$/ and "/admin" (auth.token must be "ok") share
// these handlers; a trailing ack callback, when sent, is always answered so
// callers can use acks to sequence their steps:
//   echo       (...args)            -> emits "echo" back with the same args
//   ack        (...args, cb)        -> cb(...args)
//   join       (room, cb?)          -> joins room
//   broadcast  (room, event, ...args, cb?) -> nsp.to(room).emit(event, ...args);
//                                     room null/"" broadcasts to the namespace
//   call_client(event, ...args, cb) -> emits event to this client with an ack
//                                     and returns {reply: [...]} or {error}

"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

function parseArgs(argv) {
  const out = { port: 0, options: {} };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--port") out.port = Number(argv[++i]);
    else if (argv[i] === "--options") out.options = JSON.parse(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!Number.isInteger(out.port) || out.port < 0) throw new Error("bad --port");
  return out;
}

// Splits off the optional trailing ack callback socket.io appends.
function splitAck(args) {
  return typeof args[args.length - 1] === "function"
    ? [args.slice(0, -1), args[args.length - 1]]
    : [args, null];
}

function registerHandlers(socket) {
  socket.on("echo", (...raw) => {
    const [args, cb] = splitAck(raw);
    socket.emit("echo", ...args);
    if (cb) cb();
  });

  socket.on("ack", (...raw) => {
    const [args, cb] = splitAck(raw);
    if (cb) cb(...args);
  });

  socket.on("join", (room, cb) => {
    socket.join(room);
    if (typeof cb === "function") cb();
  });

  socket.on("broadcast", (...raw) => {
    const [[room, event, ...args], cb] = splitAck(raw);
    // Namespace-level, so a dynamic child namespace stays within itself.
    const target = room ? socket.nsp.to(room) : socket.nsp;
    target.emit(event, ...args);
    if (cb) cb();
  });

  socket.on("call_client", (...raw) => {
    const [[event, ...args], cb] = splitAck(raw);
    socket.timeout(5000).emit(event, ...args, (err, ...reply) => {
      if (cb) cb(err ? { error: err.message } : { reply });
    });
  });
}

function main() {
  const { port, options } = parseArgs(process.argv.slice(2));
  if (options.parser === "msgpack") options.parser = require("socket.io-msgpack-parser");

  const httpServer = http.createServer();
  const io = new Server(httpServer, options);

  io.on("connection", registerHandlers);
  io.of(/^\/dyn-\d+$/).on("connection", registerHandlers);

  const admin = io.of("/admin");
  admin.use((socket, next) => {
    if (socket.handshake.auth?.token === "ok") return next();
    const err = new Error("Not authorized");
    err.data = { reason: "token" };
    next(err);
  });
  admin.on("connection", registerHandlers);

  httpServer.listen(port, "127.0.0.1", () => {
    process.stdout.write(`listening ${httpServer.address().port}\n`);
  });

  const stop = () => {
    // Lingering keep-alive connections must not keep a test waiting.
    setTimeout(() => process.exit(0), 1000).unref();
    io.close(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main();
