// Against a real server: a live seq jump (a frame lost between server and client) is filled
// over REST before later notifications are delivered.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import WebSocket from "ws";

import { TidingsClient } from "../dist/index.js";
import { DroppingRelay } from "./support/relay.js";
import { TidingsServer } from "./support/server.js";
import { token, uniqueUser } from "./support/tokens.js";
import { until } from "./support/wait.js";

let server;

before(async () => {
  server = new TidingsServer();
  await server.start();
});

after(async () => {
  await server.dispose();
});

test("a live gap is filled over REST, in order, before later notifications", async () => {
  const user = uniqueUser("gap");
  const relay = new DroppingRelay(server.port, (frame) => frame.type === "notification" && frame.seq === 2);
  await relay.start();
  const received = [];
  const fetched = [];
  const client = new TidingsClient({
    url: server.url,
    wsUrl: relay.wsUrl,
    getToken: () => token(user),
    WebSocket,
    fetch: (url, init) => {
      fetched.push(new URL(url).pathname + new URL(url).search);
      return fetch(url, init);
    },
    onNotification: (n) => received.push(n),
  });
  client.start();
  try {
    await until(() => client.state === "live", "live");
    await server.emit(user, 1);
    await until(() => received.length === 1, "seq 1");
    await server.emit(user, 2, { start: 1 });
    await until(() => received.length === 3, "seqs 2 and 3");
    assert.deepEqual(
      received.map((n) => [n.seq, n.data.i]),
      [
        [1, 0],
        [2, 1],
        [3, 2],
      ],
    );
    assert.equal(relay.dropped.length, 1);
    assert.equal(client.stats.gapFills, 1);
    assert.equal(client.stats.connections, 1, "filled without reconnecting");
    assert.ok(fetched.includes("/notifications?since=1&limit=1"), fetched.join(", "));
  } finally {
    await client.stop();
    await relay.stop();
  }
});
