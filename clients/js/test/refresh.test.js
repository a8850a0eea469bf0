// Against a real server with short-lived tokens and no leeway: the client refreshes before
// `exp` on the same connection; without a token to refresh with, 4401 leads to fresh
// credentials and a reconnect with since, once per expiry (no loop).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import WebSocket from "ws";

import { TidingsClient, tokenExpiry } from "../dist/index.js";
import { TidingsServer } from "./support/server.js";
import { token, uniqueUser } from "./support/tokens.js";
import { until } from "./support/wait.js";

const TTL_SECONDS = 3;
let server;

before(async () => {
  server = new TidingsServer({ env: { TIDINGS_JWT_LEEWAY_SECONDS: "0" } });
  await server.start();
});

after(async () => {
  await server.dispose();
});

test("a short-lived token is refreshed on the open connection, not by reconnecting", async () => {
  const user = uniqueUser("fresh");
  const reasons = [];
  const errors = [];
  const received = [];
  let firstExp = null;
  const client = new TidingsClient({
    url: server.url,
    getToken: (reason) => {
      reasons.push(reason);
      const issued = token(user, { ttlSeconds: TTL_SECONDS });
      firstExp ??= tokenExpiry(issued);
      return issued;
    },
    WebSocket,
    onNotification: (n) => received.push(n),
    onError: (error) => errors.push(error),
  });
  client.start();
  try {
    await until(() => client.state === "live", "live");
    // The server checks expiry every second: wait past the first token's exp plus two checks.
    await until(
      () => Date.now() > firstExp * 1000 + 2_000 && client.stats.refreshes >= 2,
      "two refreshes and the first token's expiry",
    );
    await server.emit(user, 1);
    await until(() => received.length === 1, "a notification after the first exp");
    assert.equal(client.stats.attempts, 1);
    assert.equal(client.stats.connections, 1);
    assert.equal(client.state, "live");
    assert.deepEqual(errors, []);
    assert.equal(reasons[0], "connect");
    assert.ok(reasons.slice(1).every((reason) => reason === "refresh"), reasons.join(","));
  } finally {
    await client.stop();
  }
});

test("without getToken, 4401 at exp gets a fresh ticket and resumes with since", async () => {
  const user = uniqueUser("ticket");
  const reasons = [];
  const received = [];
  const urls = [];
  class RecordingWebSocket extends WebSocket {
    constructor(url) {
      super(url);
      urls.push(new URL(url));
    }
  }
  const client = new TidingsClient({
    url: server.url,
    // The application buys tickets with its own (short-lived) token.
    getTicket: async (reason) => {
      reasons.push(reason);
      const response = await fetch(`${server.url}/ws/ticket`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token(user, { ttlSeconds: TTL_SECONDS })}` },
      });
      return (await response.json()).ticket;
    },
    WebSocket: RecordingWebSocket,
    onNotification: (n) => received.push(n),
  });
  client.start();
  try {
    await until(() => client.state === "live", "live");
    await server.emit(user, 1);
    await until(() => received.length === 1, "seq 1");
    await until(() => client.stats.connections === 2 && client.state === "live", "the reconnect after 4401", 15_000);
    assert.deepEqual(reasons, ["connect", "unauthorized"]);
    assert.equal(urls[1].searchParams.get("since"), "1");
    await server.emit(user, 1, { start: 1 });
    await until(() => received.length === 2, "seq 2");
    assert.deepEqual(
      received.map((n) => n.seq),
      [1, 2],
    );
  } finally {
    await client.stop();
  }
});
