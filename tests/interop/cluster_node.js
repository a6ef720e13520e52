// A Node.js socket.io node in a Redis cluster (@socket.io/redis-adapter, classic pub/sub), for
// the mixed-cluster tests: `node cluster_node.js REDIS_URL KEY`. Prints {"port": N} once it
// listens. Its clients drive it with events:
//   "emit" (event, ...args)            -> io.emit(event, ...args)
//   "emit_to" (room, event, ...args)   -> io.to(room).emit(event, ...args)
//   "emit_except" (room, event, ...)   -> io.except(room).emit(event, ...args)
//   "emit_local" (event, ...args)      -> io.local.emit(event, ...args)
//   "join" (room), ack                 -> socket.join(room), then ack()
//   "server_side" (event, ...args)     -> io.serverSideEmit(event, ...args)
//   "server_count", ack                -> ack(await io.of("/").adapter.serverCount())
// and every server-side event it receives is re-emitted to its clients as
// "from_server_side" [event, ...args]; "question" server-side events are answered with
// {node: "node", args}.
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
  const [url, key] = process.argv.slice(2);
  const pub = createClient({ url });
  const sub = pub.duplicate();
  pub.on("error", (e) => console.error("redis pub", e.message));
  sub.on("error", (e) => console.error("redis sub", e.message));
  await Promise.all([pub.connect(), sub.connect()]);
  const srv = http.createServer();
  const io = new Server(srv, { adapter: createAdapter(pub, sub, { key }) });
  io.on("connection", (socket) => {
    socket.on("emit", (event, ...args) => io.emit(event, ...args));
    socket.on("emit_to", (room, event, ...args) => io.to(room).emit(event, ...args));
    socket.on("emit_except", (room, event, ...args) => io.except(room).emit(event, ...args));
    socket.on("emit_local", (event, ...args) => io.local.emit(event, ...args));
    socket.on("join", (room, ack) => { socket.join(room); if (typeof ack === "function") ack(); });
    socket.on("server_side", (event, ...args) => io.serverSideEmit(event, ...args));
    socket.on("server_count", async (ack) => ack(await io.of("/").adapter.serverCount()));
  });
  for (const event of ["hello", "question"]) {
    io.on(event, (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      io.local.emit("from_server_side", event, ...args);
      if (ack) ack({ node: "node", args });
    });
  }
  srv.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: srv.address().port }) + "\n"));
  const stop = async () => {
    io.close();
    await Promise.allSettled([pub.quit(), sub.quit()]);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.stdin.on("end", stop);
  process.stdin.resume();
}

main().catch((e) => { console.error(e); process.exit(1); });
