// A Node.js socket.io node in a Redis cluster (@socket.io/redis-adapter, classic pub/sub), for
// the mixed-cluster tests: `node cluster_node.js REDIS_URL KEY` (REDIS_URL may be
// "cluster:URL,URL,..." for a Redis Cluster). Prints {"port": N} once it
// listens. Its clients drive it with events:
//   "emit" (event, ...args)            -> io.emit(event, ...args)
//   "emit_to" (room, event, ...args)   -> io.to(room).emit(event, ...args)
//   "emit_except" (room, event, ...)   -> io.except(room).emit(event, ...args)
//   "emit_local" (event, ...args)      -> io.local.emit(event, ...args)
//   "join" (room), ack                 -> socket.join(room), then ack()
//   "server_side" (event, ...args)     -> io.serverSideEmit(event, ...args)
//   "server_count", ack                -> ack(await io.of("/").adapter.serverCount())
//   "emit_ack" (room|null, ms, event, ...args), ack -> io[.to(room)].timeout(ms).emit(...) ->
//                                         ack({err, responses})
//   "fetch" (room|null), ack           -> ack(sockets of io[.in(room)].fetchSockets(), as JSON)
//   "remote" (sid, op, ...args), ack   -> the fetched socket `sid`: emit/join/leave/disconnect
//   "sockets_join"/"sockets_leave" (room|null, rooms), "disconnect_sockets" (room|null, close)
//   "set_data" (data), ack             -> socket.data = data
//   "whoami", ack                      -> ack("node")
//   "rooms_of", ack                    -> ack([...socket.rooms])
//   "all_rooms", ack                   -> ack([...await io.of("/").adapter.allRooms()])
//   "ss_ack" (event, ...args), ack     -> io.serverSideEmitWithAck(...) -> ack({err, responses})
// Every server-side event it receives is re-emitted to its clients as "from_server_side"
// [event, ...args]; "question" server-side events are answered with {node: "node", args}.
// Each socket's disconnection is printed as a line {"disconnect": id, "reason": reason}.
// The namespace "/chat" has "emit" too (chat.emit). A third argument sets requestsTimeout
// (ms); a fourth picks the flavour: "classic" (the default), "classic+json" (a JSON parser), "sharded:<subscriptionMode>" (createShardedAdapter, KEY as its channelPrefix) or
// "streams" / "streams+recovery" (@socket.io/redis-streams-adapter, KEY as its stream name,
// channel prefix and session key prefix; with connection state recovery for the latter).
const http = require("http");
const { Server } = require("socket.io");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { createClient, createCluster } = require("redis");
const { createAdapter: createStreamsAdapter } = require("@socket.io/redis-streams-adapter");

async function main() {
  const [url, key, requestsTimeout, flavour = "classic"] = process.argv.slice(2);
  // "cluster:redis://h:p,redis://h:q" is a Redis Cluster, known by those seeds.
  const pub = url.startsWith("cluster:")
    ? createCluster({ rootNodes: url.slice("cluster:".length).split(",").map((u) => ({ url: u })) })
    : createClient({ url });
  const sub = pub.duplicate();
  pub.on("error", (e) => console.error("redis pub", e.message));
  sub.on("error", (e) => console.error("redis sub", e.message));
  await Promise.all([pub.connect(), sub.connect()]);
  const srv = http.createServer();
  let adapter;
  const options = {};
  if (flavour.startsWith("sharded:")) {
    adapter = createShardedAdapter(pub, sub, { channelPrefix: key, subscriptionMode: flavour.slice("sharded:".length) });
  } else if (flavour.startsWith("streams")) {
    adapter = createStreamsAdapter(pub, { streamName: key, channelPrefix: key, sessionKeyPrefix: `${key}:session:` });
    if (flavour === "streams+recovery") options.connectionStateRecovery = { maxDisconnectionDuration: 60000 };
  } else {
    const json = { encode: (value) => JSON.stringify(value), decode: (data) => JSON.parse(data.toString()) };
    adapter = createAdapter(pub, sub, {
      key, requestsTimeout: Number(requestsTimeout) || 5000, ...(flavour === "classic+json" ? { parser: json } : {}),
    });
  }
  const io = new Server(srv, { adapter, ...options });
  io.on("connection", (socket) => {
    socket.on("emit", (event, ...args) => io.emit(event, ...args));
    socket.on("emit_to", (room, event, ...args) => io.to(room).emit(event, ...args));
    socket.on("emit_except", (room, event, ...args) => io.except(room).emit(event, ...args));
    socket.on("emit_local", (event, ...args) => io.local.emit(event, ...args));
    socket.on("join", (room, ack) => { socket.join(room); if (typeof ack === "function") ack(); });
    socket.on("server_side", (event, ...args) => io.serverSideEmit(event, ...args));
    socket.on("server_count", async (ack) => ack(await io.of("/").adapter.serverCount()));
    const target = (room) => (room === null ? io : io.in(room));
    socket.on("emit_ack", (room, ms, event, ...args) => {
      const ack = args.pop();
      target(room).timeout(ms).emit(event, ...args, (err, responses) =>
        ack({ err: err ? err.message : null, responses }));
    });
    const details = (s) => ({ id: s.id, rooms: [...s.rooms].sort(), data: s.data,
      auth: s.handshake.auth, query: s.handshake.query, address: s.handshake.address,
      remote: !(s.server) });
    socket.on("fetch", async (room, ack) => {
      const found = await target(room).fetchSockets();
      ack(found.map(details).sort((a, b) => (a.id < b.id ? -1 : 1)));
    });
    socket.on("remote", async (sid, op, ...args) => {
      const ack = args.pop();
      const found = (await io.fetchSockets()).find((s) => s.id === sid);
      if (!found) return ack(false);
      if (op === "emit") found.emit(...args);
      else if (op === "join") found.join(args[0]);
      else if (op === "leave") found.leave(args[0]);
      else if (op === "disconnect") found.disconnect(args[0] === true);
      ack(true);
    });
    socket.on("sockets_join", (room, rooms, ack) => { target(room).socketsJoin(rooms); if (ack) ack(); });
    socket.on("sockets_leave", (room, rooms, ack) => { target(room).socketsLeave(rooms); if (ack) ack(); });
    socket.on("disconnect_sockets", (room, close, ack) => { if (ack) ack(); target(room).disconnectSockets(close); });
    socket.on("set_data", (data, ack) => { socket.data = data; ack(); });
    socket.on("whoami", (ack) => ack("node"));
    socket.on("rooms_of", (ack) => ack([...socket.rooms].sort()));
    socket.on("all_rooms", async (ack) => ack([...(await io.of("/").adapter.allRooms())].sort()));
    socket.on("ss_ack", async (event, ...args) => {
      const ack = args.pop();
      try {
        ack({ err: null, responses: await io.serverSideEmitWithAck(event, ...args) });
      } catch (err) {
        ack({ err: err.message, responses: err.responses ?? null });
      }
    });
    socket.on("disconnect", (reason) =>
      process.stdout.write(JSON.stringify({ disconnect: socket.id, reason }) + "\n"));
  });
  const chat = io.of("/chat");
  chat.on("connection", (socket) => {
    socket.on("emit", (event, ...args) => chat.emit(event, ...args));
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
