// Encodes JSON-described values with notepack.io (the msgpack of @socket.io/redis-adapter)
// and prints the bytes as hex, one line per value. Input (stdin): a JSON array of values;
// {"$bin": "<hex>"} stands for a Buffer, so binary arguments survive the JSON trip.
const msgpack = require("notepack.io");

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

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  for (const value of JSON.parse(input)) process.stdout.write(msgpack.encode(revive(value)).toString("hex") + "\n");
});
