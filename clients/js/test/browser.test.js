// In a real browser (headless Chromium, when installed): dist/index.js loads as a plain ES
// module with no build step, connects to a real server with the browser's own WebSocket,
// and keeps its cursor in localStorage. Skipped when no Chromium is found.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, normalize, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import WebSocket from "ws";

import { TidingsServer } from "./support/server.js";
import { token, uniqueUser } from "./support/tokens.js";
import { until } from "./support/wait.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const chromium = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find(
  (path) => path && existsSync(path),
);

let server;
let pages;
let browser;
let profile;

/** Serves dist/ and one generated page on loopback. */
function servePages(pageHtml) {
  const http = createServer((request, response) => {
    const path = new URL(request.url, "http://x").pathname;
    if (path === "/page.html") {
      response.writeHead(200, { "content-type": "text/html" }).end(pageHtml());
      return;
    }
    const file = normalize(join(root, path));
    if (!file.startsWith(join(root, "dist")) || !existsSync(file)) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": "text/javascript" }).end(readFileSync(file));
  });
  return new Promise((resolveServer) => http.listen(0, "127.0.0.1", () => resolveServer(http)));
}

/** Evaluates `expression` in the page through the DevTools protocol. */
async function evaluate(debuggerUrl, expression) {
  const socket = new WebSocket(debuggerUrl);
  await new Promise((resolveOpen, reject) => {
    socket.once("open", resolveOpen);
    socket.once("error", reject);
  });
  try {
    socket.send(JSON.stringify({ id: 1, method: "Runtime.evaluate", params: { expression, returnByValue: true } }));
    const reply = await new Promise((resolveReply) => socket.once("message", (data) => resolveReply(JSON.parse(data))));
    return reply.result?.result?.value;
  } finally {
    socket.close();
  }
}

before(async () => {
  if (!chromium) {
    return;
  }
  server = new TidingsServer();
  await server.start();
});

after(async () => {
  if (browser && browser.exitCode === null && browser.signalCode === null) {
    const exited = new Promise((resolveExit) => browser.once("exit", resolveExit));
    browser.kill("SIGKILL");
    await exited; // before deleting the profile it writes to
  }
  pages?.close();
  await server?.dispose();
  if (profile) {
    rmSync(profile, { recursive: true, force: true, maxRetries: 5 });
  }
});

test("dist/index.js works in a browser: live notifications, acks, localStorage cursor", { skip: !chromium && "no Chromium here" }, async () => {
  const user = uniqueUser("browser");
  const config = { url: server.url, token: token(user) };
  pages = await servePages(
    () => `<!doctype html><script type="module">
      import { LocalStorageCursorStore, TidingsClient } from "/dist/index.js";
      window.seqs = [];
      const client = new TidingsClient({
        url: ${JSON.stringify(config.url)},
        auth: "token",
        getToken: () => ${JSON.stringify(config.token)},
        store: new LocalStorageCursorStore("tidings:cursor"),
        acks: { maxDelayMs: 50 },
        onNotification: (n) => window.seqs.push(n.seq),
        onStateChange: (state) => { window.clientState = state; },
      });
      client.start();
    </script>`,
  );
  const pageUrl = `http://127.0.0.1:${pages.address().port}/page.html`;
  profile = mkdtempSync(join(tmpdir(), "tidings-chromium-"));
  browser = spawn(
    chromium,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      pageUrl,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  browser.stderr.on("data", (chunk) => (stderr += chunk));
  await until(() => /DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.test(stderr), "Chromium's DevTools", 20_000);
  const port = stderr.match(/DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//)[1];
  let debuggerUrl = null;
  await until(async () => {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    debuggerUrl = targets.find((target) => target.url === pageUrl)?.webSocketDebuggerUrl ?? null;
    return debuggerUrl !== null;
  }, "the page target");
  await until(async () => (await evaluate(debuggerUrl, "window.clientState")) === "live", "the page's client to be live", 15_000);
  await server.emit(user, 2);
  await until(async () => (await evaluate(debuggerUrl, "JSON.stringify(window.seqs)")) === "[1,2]", "two notifications in the page");
  await until(
    async () => (await evaluate(debuggerUrl, "localStorage.getItem('tidings:cursor')")) === JSON.stringify({ userId: user, seq: 2 }),
    "the cursor in localStorage",
  );
  await until(async () => (await server.cursor(token(user))).acked === 2, "the browser's ack on the server");
  assert.equal(await evaluate(debuggerUrl, "typeof WebSocket"), "function");
});
