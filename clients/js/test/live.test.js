// Against a real server: connect (ticket by default), receive, acknowledge, suppress own-origin.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import WebSocket from "ws";

import { MemoryCursorStore, TidingsClient } from "../dist/index.js";
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

function client(user, options = {}) {
  const received = [];
  const errors = [];
  const states = [];
  const instance = new TidingsClient({
    url: server.url,
    getToken: () => token(user),
    WebSocket,
    acks: { maxDelayMs: 50, maxItems: 100 },
    onNotification: (n) => received.push(n),
    onStateChange: (state) => states.push(state),
    onError: (error) => errors.push(error),
    ...options,
  });
  return { instance, received, errors, states };
}

test("receives replay then live notifications and acknowledges them", async () => {
  const user = uniqueUser("alice");
  await server.emit(user, 3);
  await until(async () => (await server.cursor(token(user))).head === 3, "three routed");
  const { instance, received, states } = client(user);
  instance.start();
  try {
    // A new device with nothing acknowledged starts at the head.
    await until(() => instance.state === "live", "live");
    assert.equal(instance.position, 3);
    assert.equal(instance.userId, user);
    await server.emit(user, 2, { start: 3 });
    await until(() => received.length === 2, "two live notifications");
    assert.deepEqual(
      received.map((n) => [n.seq, n.data.i]),
      [
        [4, 3],
        [5, 4],
      ],
    );
    assert.equal(received[0].event, "test.note");
    assert.match(received[0].createdAt, /Z$/);
    await until(async () => (await server.cursor(token(user))).acked === 5, "the ack to reach the server");
    assert.deepEqual(states.slice(0, 3), ["connecting", "syncing", "live"]);
  } finally {
    await instance.stop();
  }
  assert.equal(instance.state, "stopped");
});

test("resumes from a stored cursor with since and never redelivers", async () => {
  const user = uniqueUser("bob");
  await server.emit(user, 5);
  await until(async () => (await server.cursor(token(user))).head === 5, "five routed");
  const store = new MemoryCursorStore();
  store.save({ userId: user, seq: 2 });
  const { instance, received } = client(user, { store, device: "phone" });
  instance.start();
  try {
    await until(() => received.length === 3, "the replay after seq 2");
    assert.deepEqual(
      received.map((n) => n.seq),
      [3, 4, 5],
    );
    await until(() => store.load()?.seq === 5, "the cursor to be saved");
    await until(async () => (await server.cursor(token(user), "phone")).acked === 5, "the device's ack");
  } finally {
    await instance.stop();
  }
});

test("own-origin notifications are acknowledged but not delivered", async () => {
  const user = uniqueUser("carol");
  const { instance, received } = client(user, { sessionId: "tab-1" });
  instance.start();
  try {
    await until(() => instance.state === "live", "live");
    await server.emit(user, 2, { origin: "tab-1" });
    await server.emit(user, 1, { start: 2, origin: "tab-2" });
    await until(() => received.length === 1, "the other tab's notification");
    assert.equal(received[0].seq, 3);
    assert.equal(received[0].originSession, "tab-2");
    assert.equal(instance.stats.suppressed, 2);
    await until(async () => (await server.cursor(token(user))).acked === 3, "all three acknowledged");
  } finally {
    await instance.stop();
  }
});

test("token auth over ?token= works like tickets", async () => {
  const user = uniqueUser("dave");
  const { instance, received } = client(user, { auth: "token" });
  instance.start();
  try {
    await until(() => instance.state === "live", "live");
    await server.emit(user, 1);
    await until(() => received.length === 1, "one notification");
  } finally {
    await instance.stop();
  }
});

test("4400 (bad query) stops the client instead of retrying", async () => {
  const user = uniqueUser("erin");
  const { instance, errors } = client(user, { device: "not a device!" });
  instance.start();
  const stopped = await instance.waitStopped();
  assert.deepEqual(stopped, { reason: "bad_query", closeCode: 4400 });
  assert.equal(instance.stats.attempts, 1);
  assert.equal(instance.state, "stopped");
  assert.ok(errors.some((error) => error.fatal && error.closeCode === 4400));
});

test("a position the server no longer has: onResync, then live from its head", async () => {
  const user = uniqueUser("resync");
  await server.emit(user, 3);
  await until(async () => (await server.cursor(token(user))).head === 3, "three routed");
  const store = new MemoryCursorStore();
  store.save({ userId: user, seq: 50 }); // from a history this server does not have
  const resyncs = [];
  const { instance, received } = client(user, { store, onResync: (info) => resyncs.push(info) });
  instance.start();
  try {
    await until(() => instance.state === "live", "live");
    assert.deepEqual(resyncs, [{ userId: user, requestedSince: 50, head: 3, source: "welcome" }]);
    assert.equal(instance.position, 3);
    await server.emit(user, 1, { start: 3 });
    await until(() => received.length === 1, "the next live notification");
    assert.equal(received[0].seq, 4);
    await until(async () => (await server.cursor(token(user))).acked === 4, "the ack");
  } finally {
    await instance.stop();
  }
});
