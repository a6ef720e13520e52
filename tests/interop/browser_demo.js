// Drives the demo chat in headless Chromium: two pages, one room, a message each way,
// an image, delivery ticks, and the WebSocket upgrade. Prints one JSON line of findings.
// Usage: node browser_demo.js <url> <screenshot.png>
const { chromium } = require("playwright-core");

const [url, shot] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
// 1x1 PNG
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");

async function login(page, nick) {
  await page.goto(url);
  await page.fill("#nick", nick);
  await page.click("#login-form button");
  await page.waitForSelector("#login.hidden", { state: "attached" });
  await page.waitForFunction((n) => document.querySelector("#members").textContent.includes(n), nick);
}

(async () => {
  const browser = await chromium.launch({ executablePath, args: ARGS });
  const result = {};
  try {
    const alice = await (await browser.newContext()).newPage();
    const bob = await (await browser.newContext()).newPage();
    const errors = [];
    for (const p of [alice, bob]) p.on("pageerror", (e) => errors.push(String(e)));

    // Refusal first: an empty nickname is refused by the middleware with its data.
    await alice.goto(url);
    await alice.click("#login-form button");
    await alice.waitForFunction(() => document.querySelector("#login-error").textContent.length > 0);
    result.refusal = await alice.textContent("#login-error");

    await login(alice, "alice");
    await login(bob, "bob");
    await alice.waitForFunction(() => document.querySelector("#members").textContent.includes("bob"));
    result.members = await alice.$$eval("#members li", (lis) => lis.map((li) => li.textContent));

    await alice.waitForFunction(() => /websocket/.test(document.querySelector("#status").textContent));
    result.transport = await alice.textContent("#status");

    await bob.type("#text", "hello alice");
    await alice.waitForFunction(() => document.querySelector("#typing").textContent.includes("bob is typing"));
    result.typing = await alice.textContent("#typing");
    await bob.click("#send");
    await alice.waitForFunction(() => [...document.querySelectorAll(".msg .text")].some((e) => e.textContent === "hello alice"));
    await bob.waitForSelector(".msg.me .tick.delivered");
    result.bobTick = await bob.textContent(".msg.me .tick");

    await alice.fill("#text", "hi bob 👋");
    await alice.click("#send");
    await bob.waitForFunction(() => [...document.querySelectorAll(".msg .text")].some((e) => e.textContent === "hi bob 👋"));
    result.received = await bob.$$eval(".msg:not(.me) .text", (els) => els.map((e) => e.textContent));

    await alice.setInputFiles("#image", { name: "dot.png", mimeType: "image/png", buffer: PNG });
    await bob.waitForSelector(".msg:not(.me) img");
    await alice.waitForSelector(".msg.me img ~ .tick.delivered");
    result.image = await bob.$eval(".msg:not(.me) img", (img) => img.naturalWidth);

    await alice.screenshot({ path: shot });
    result.errors = errors;
    result.ok = true;
  } catch (err) {
    result.ok = false;
    result.error = String(err && err.stack || err);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
})();
