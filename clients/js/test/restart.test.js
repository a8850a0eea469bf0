// Against a real server: SIGKILL it mid-stream, restart it on the same port and data dir, and
// the application still sees one contiguous stream with no duplicate.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import WebSocket from "ws";

import { TidingsClient } from "../dist/index.js";
import { TidingsServer } from "./support/server.js";
import { token, uniqueUser } from "./support/tokens.js";
import { until } from "./support/wait.js";

const server = new TidingsServer();

after(async () => {
  await server.dispose();
});

test("a server killed mid-stream and restarted: contiguous, no duplicate", async () => {
  await server.start();
  const user = uniqueUser("kill");
  const received = [];
  let killed = null;
  const client = new TidingsClient({
    url: server.url,
    getToken: () => token(user),
    WebSocket,
    backoff: { initialDelayMs: 50, maxDelayMs: 400, resetAfterMs: 1_000 },
    acks: { maxDelayMs: 20, maxItems: 10 },
    onNotification: async (n) => {
      received.push(n);
      if (received.length === 5 && killed === null) {
        killed = server.kill(); // while the rest of the batch is in flight
        await killed;
      }
    },
  });
  client.start();
  try {
    await until(() => client.state === "live", "live");
    await server.emit(user, 200, { start: 0 });
    await until(() => killed !== null, "the kill");
    await killed;
    await server.emit(user, 50, { start: 200 }); // committed while the server is down
    await server.start();
    await server.emit(user, 50, { start: 250 });
    await until(() => received.length >= 300, "all 300 notifications", 30_000);
    await until(async () => (await server.cursor(token(user))).acked === 300, "the final ack");
  } finally {
    await client.stop();
  }
  assert.equal(received.length, 300);
  assert.deepEqual(
    received.map((n) => n.seq),
    Array.from({ length: 300 }, (_, k) => k + 1),
  );
  assert.deepEqual(
    received.map((n) => n.data.i),
    Array.from({ length: 300 }, (_, k) => k),
  );
  assert.equal(new Set(received.map((n) => n.id)).size, 300);
  assert.ok(client.stats.connections >= 2, "reconnected after the kill");
});
