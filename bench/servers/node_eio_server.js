#!/usr/bin/env node
// Engine.IO echo on Node's engine.io 6 (the transport under socket.io 4.8), for
// `python -m bench eio --servers ...,d`: a reference for what the Engine.IO layer alone costs
// in Node. Every message, text or binary, goes back unchanged.
//
//   node bench/servers/node_eio_server.js --port P
//
// Path /engine.io/ and ping interval 25 s, as the Python servers; defaults otherwise.
"use strict";

const path = require("node:path");
const http = require("node:http");
const { createRequire } = require("node:module");

const interop = path.resolve(__dirname, "..", "..", "tests", "interop");
const engine = createRequire(path.join(interop, "package.json"))("engine.io");

function main() {
  const i = process.argv.indexOf("--port");
  const port = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  if (!Number.isInteger(port) || port <= 0) throw new Error("usage: node_eio_server.js --port P");

  const httpServer = http.createServer();
  const server = engine.attach(httpServer, { path: "/engine.io/", pingInterval: 25000, pingTimeout: 20000 });
  server.on("connection", (socket) => {
    socket.on("message", (data) => socket.send(data));
  });
  httpServer.listen(port, "127.0.0.1", () => {
    process.stdout.write(`listening ${port}\n`);
  });
  const stop = () => {
    setTimeout(() => process.exit(0), 1000).unref();
    server.close();
    httpServer.close(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main();
