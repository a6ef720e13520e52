#!/usr/bin/env node
// One node of `python -m bench cluster` on Node's socket.io 4.8 with @socket.io/redis-adapter
// and the npm `redis` client, all from tests/interop/node_modules: `--adapter classic` (the
// default) is createAdapter(pub, sub, {key: KEY}), the classic pub/sub adapter; `--adapter
// sharded` is createShardedAdapter(pub, sub, {channelPrefix: KEY, subscriptionMode}), with
// `--subscription-mode` (default "dynamic").
//
//   node bench/servers/cluster_node_server.js --port P --redis redis://127.0.0.1:6379 --key KEY
//   node bench/servers/cluster_node_server.js --port P --redis URL --key KEY --adapter sharded
//
// bcast (...args)           -> io.emit("fanout", ...args): to every client of every node
// bcast_to (room, ...args)  -> io.to(room).emit("fanout", ...args)
// join (room), ack          -> socket.join(room), then ack(true)
// Ping interval 25 s, as the other benchmark servers; the adapter at its defaults otherwise.
// It listens only once both Redis connections are up, so an accepting port means a node that
// publishes; the harness still waits for its subscriptions (PUBSUB NUMSUB) before any load.
"use strict";

const path = require("node:path");
const http = require("node:http");
const { createRequire } = require("node:module");

const interop = path.resolve(__dirname, "..", "..", "tests", "interop");
const requireInterop = createRequire(path.join(interop, "package.json"));
const { Server } = requireInterop("socket.io");
const { createAdapter, createShardedAdapter } = requireInterop("@socket.io/redis-adapter");
const { createClient } = requireInterop("redis");

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main() {
  const port = Number(arg("--port"));
  const url = arg("--redis");
  const key = arg("--key");
  const flavour = arg("--adapter") || "classic";
  const subscriptionMode = arg("--subscription-mode") || "dynamic";
  if (!Number.isInteger(port) || port <= 0 || !url || !key || !["classic", "sharded"].includes(flavour)) {
    throw new Error("usage: cluster_node_server.js --port P --redis URL --key KEY [--adapter classic|sharded]"
      + " [--subscription-mode static|dynamic|dynamic-private]");
  }
  const pub = createClient({ url });
  const sub = pub.duplicate();
  pub.on("error", (e) => process.stderr.write(`redis pub: ${e.message}\n`));
  sub.on("error", (e) => process.stderr.write(`redis sub: ${e.message}\n`));
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    pingInterval: 25000,
    pingTimeout: 20000,
    serveClient: false,
    adapter: flavour === "sharded"
      ? createShardedAdapter(pub, sub, { channelPrefix: key, subscriptionMode })
      : createAdapter(pub, sub, { key }),
  });
  io.on("connection", (socket) => {
    socket.on("bcast", (...args) => {
      io.emit("fanout", ...args);
    });
    socket.on("bcast_to", (room, ...args) => {
      io.to(room).emit("fanout", ...args);
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(true);
    });
  });

  httpServer.listen(port, "127.0.0.1", () => {
    process.stdout.write(`listening ${port}\n`);
  });
  const stop = () => {
    setTimeout(() => process.exit(0), 1000).unref();
    io.close(() => {
      Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
