#!/usr/bin/env node
// The benchmark application on Node's socket.io 4.8 (from tests/interop/node_modules).
//
//   node bench/servers/node_server.js --port P
//
// echo (...args)        -> emits "echo" back with the same args (binary included)
// ack  (...args, cb)    -> cb(...args)
// bcast(...args)        -> io.emit("fanout", ...args) to every client
// Ping interval 25 s, as the other servers; everything else at socket.io's defaults.
"use strict";

const path = require("node:path");
const http = require("node:http");
const { createRequire } = require("node:module");

const interop = path.resolve(__dirname, "..", "..", "tests", "interop");
const requireInterop = createRequire(path.join(interop, "package.json"));
const { Server } = requireInterop("socket.io");

function main() {
  const i = process.argv.indexOf("--port");
  const port = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  if (!Number.isInteger(port) || port <= 0) throw new Error("usage: node_server.js --port P");

  const httpServer = http.createServer();
  const io = new Server(httpServer, { pingInterval: 25000, pingTimeout: 20000, serveClient: false });

  io.on("connection", (socket) => {
    socket.on("echo", (...args) => {
      socket.emit("echo", ...args);
    });
    socket.on("ack", (...args) => {
      const cb = args.length && typeof args[args.length - 1] === "function" ? args.pop() : null;
      if (cb) cb(...args);
    });
    socket.on("bcast", (...args) => {
      io.emit("fanout", ...args);
    });
  });

  httpServer.listen(port, "127.0.0.1", () => {
    process.stdout.write(`listening ${port}\n`);
  });
  const stop = () => {
    setTimeout(() => process.exit(0), 1000).unref();
    io.close(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main();
