// @socket.io/redis-emitter, driven line by line for the emitter tests:
// `node node_emitter.js REDIS_URL KEY`; each stdin line is a JSON command, answered by a line
// "ok" once published (or "error: ..."):
//   {"op": "emit", "nsp": "/", "to": [...], "except": [...], "volatile": true, "compress": false,
//    "event": "e", "args": [...]}      ({"$bin": "<hex>"} stands for a Buffer)
//   {"op": "sockets_join" | "sockets_leave", "nsp", "to", "except", "rooms": [...]}
//   {"op": "disconnect_sockets", "nsp", "to", "except", "close": bool}
//   {"op": "server_side_emit", "nsp", "args": [event, ...]}
const readline = require("readline");
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");

function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string" && Object.keys(value).length === 1) return Buffer.from(value.$bin, "hex");
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = revive(v);
    return out;
  }
  return value;
}

async function main() {
  const [url, key] = process.argv.slice(2);
  const client = createClient({ url });
  client.on("error", (e) => console.error("redis", e.message));
  await client.connect();
  const root = new Emitter(client, { key });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    try {
      const cmd = revive(JSON.parse(line));
      const emitter = cmd.nsp && cmd.nsp !== "/" ? root.of(cmd.nsp) : root;
      let op = emitter;
      if (cmd.to) op = op.to(cmd.to);
      if (cmd.except) op = op.except(cmd.except);
      if (cmd.volatile) op = op.volatile;
      if (cmd.compress !== undefined) op = op.compress(cmd.compress);
      if (cmd.op === "emit") op.emit(cmd.event, ...(cmd.args || []));
      else if (cmd.op === "sockets_join") op.socketsJoin(cmd.rooms);
      else if (cmd.op === "sockets_leave") op.socketsLeave(cmd.rooms);
      else if (cmd.op === "disconnect_sockets") op.disconnectSockets(cmd.close);
      else if (cmd.op === "server_side_emit") emitter.serverSideEmit(...cmd.args);
      else throw new Error(`unknown op ${cmd.op}`);
      await client.ping(); // after the publish, on the same connection: it went out
      process.stdout.write("ok\n");
    } catch (e) {
      process.stdout.write(`error: ${e.message}\n`);
    }
  }
  await client.quit();
}

main().catch((e) => { console.error(e); process.exit(1); });
