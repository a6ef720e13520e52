// A polling Engine.IO session driven by node-fetch, which sends "Connection: close" on every
// request (a new TCP connection each time): usage `node fetch_poller.js URL HEARTBEATS`.
// Answers each ping with a pong and prints one JSON line: the heartbeats seen, what the
// server's answers said about the connection, and the first error if any.
const fetch = require("node-fetch");

async function main() {
  const [url, beatsArg] = process.argv.slice(2);
  const beats = Number(beatsArg);
  const base = `${url}?EIO=4&transport=polling`;
  const result = { heartbeats: 0, connectionHeaders: [], statuses: [], error: null };
  const note = (res) => {
    result.statuses.push(res.status);
    result.connectionHeaders.push(res.headers.get("connection"));
  };
  try {
    let res = await fetch(base);
    note(res);
    const sid = JSON.parse((await res.text()).slice(1)).sid;
    const target = `${base}&sid=${sid}`;
    for (let i = 0; i < beats * 3 && result.heartbeats < beats; i++) {
      res = await fetch(target);
      note(res);
      const body = await res.text();
      if (res.status !== 200) throw new Error(`GET answered ${res.status}: ${body}`);
      for (const packet of body.split("\x1e")) {
        if (packet === "2") {
          result.heartbeats++;
          const pong = await fetch(target, { method: "POST", body: "3" });
          note(pong);
          if (pong.status !== 200) throw new Error(`POST answered ${pong.status}`);
          await pong.text();
        }
      }
    }
  } catch (e) {
    result.error = String(e && e.message ? e.message : e);
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}

main();
