// The client's behaviour with a scripted server (FakeSocket), fake REST and a manual clock.
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { MemoryCursorStore, TidingsClient } from "../dist/index.js";
import { ManualClock } from "./support/clock.js";
import { FakeSocket, note } from "./support/fake-socket.js";
import { token } from "./support/tokens.js";
import { settle } from "./support/wait.js";

beforeEach(() => FakeSocket.reset());

function json(status, body) {
  return { ok: status >= 200 && status < 300, status, json: async () => body };
}

/** A client wired to fakes; `pages(since, limit)` answers GET /notifications. */
function setup(options = {}) {
  const clock = new ManualClock();
  const seen = { received: [], errors: [], states: [], resyncs: [], broadcasts: [], fetches: [], reasons: [] };
  const { pages = () => json(500, { code: "boom", message: "no pages here" }), ...rest } = options;
  let tickets = 0;
  const fakeFetch = async (url, init) => {
    const parsed = new URL(url);
    seen.fetches.push({ method: init.method, path: parsed.pathname + parsed.search, auth: init.headers.Authorization });
    if (parsed.pathname.endsWith("/ws/ticket")) {
      tickets += 1;
      return json(200, { ticket: `ticket-${tickets}`, expires_in: 30 });
    }
    const since = Number(parsed.searchParams.get("since"));
    const limit = Number(parsed.searchParams.get("limit"));
    return pages(since, limit);
  };
  const client = new TidingsClient({
    url: "http://tidings.test/base/",
    getToken: (reason) => {
      seen.reasons.push(reason);
      return token("alice", { ttlSeconds: 3600, nowMs: clock.now() });
    },
    WebSocket: FakeSocket,
    fetch: fakeFetch,
    clock,
    random: () => 0.5,
    acks: { maxDelayMs: 100, maxItems: 3 },
    onNotification: (n) => seen.received.push(n.seq),
    onBroadcast: (b) => seen.broadcasts.push(b.event),
    onResync: (info) => seen.resyncs.push(info),
    onStateChange: (state) => seen.states.push(state),
    onError: (error) => seen.errors.push(error),
    ...rest,
  });
  return { client, clock, seen };
}

async function started(client) {
  client.start();
  await settle();
  return FakeSocket.last;
}

function item(seq, extra = {}) {
  const { type: _type, ...fields } = note(seq, extra);
  return fields;
}

const page = (items, { head = items.at(-1)?.seq ?? 0, hasMore = false, recovered = true } = {}) =>
  json(200, { items, head, next_since: items.at(-1)?.seq ?? 0, has_more: hasMore, recovered });

test("connects with a ticket bought with the token and since from the stored cursor", async () => {
  const store = new MemoryCursorStore();
  store.save({ userId: "alice", seq: 4 });
  const { client, seen } = setup({ store, device: "phone" });
  const socket = await started(client);
  assert.equal(socket.url.origin + socket.url.pathname, "ws://tidings.test/base/ws");
  assert.equal(socket.url.searchParams.get("ticket"), "ticket-1");
  assert.equal(socket.url.searchParams.get("since"), "4");
  assert.equal(socket.url.searchParams.get("device"), "phone");
  assert.equal(socket.url.searchParams.get("token"), null);
  assert.equal(seen.fetches[0].method, "POST");
  assert.match(seen.fetches[0].auth, /^Bearer ey/);
  await socket.welcome({ head: 6, since: 4 });
  await socket.push(note(5), note(6), { type: "caught_up", seq: 6 });
  assert.deepEqual(seen.received, [5, 6]);
  assert.equal(client.state, "live");
  await client.stop();
});

test("auth: token puts the token in the URL and buys no ticket", async () => {
  const { client, seen } = setup({ auth: "token" });
  const socket = await started(client);
  assert.match(socket.url.searchParams.get("token"), /^ey/);
  assert.equal(socket.url.searchParams.get("since"), null);
  assert.deepEqual(seen.fetches, []);
  await client.stop();
});

test("dedup: replayed and repeated seqs reach the application once", async () => {
  const { client, seen } = setup();
  const socket = await started(client);
  await socket.welcome({ head: 0, since: 0 });
  await socket.push(note(1), note(2), note(2), note(1), note(3));
  assert.deepEqual(seen.received, [1, 2, 3]);
  assert.equal(client.stats.duplicates, 2);
  await client.stop();
});

test("acks are cumulative and batched: every maxItems, or after maxDelayMs", async () => {
  const store = new MemoryCursorStore();
  const { client, clock } = setup({ store });
  const socket = await started(client);
  await socket.welcome({ head: 0, since: 0 });
  await socket.push(note(1), note(2));
  assert.deepEqual(socket.frames, []);
  await clock.advance(99);
  assert.deepEqual(socket.frames, []);
  await clock.advance(1);
  assert.deepEqual(socket.frames, [{ type: "ack", seq: 2 }]);
  assert.deepEqual(store.load(), { userId: "alice", seq: 2 });
  await socket.push(note(3), note(4), note(5));
  assert.deepEqual(socket.frames.at(-1), { type: "ack", seq: 5 });
  assert.equal(client.stats.acksSent, 2);
  await client.stop();
});

test("a live gap is filled over REST first; frames arriving meanwhile wait their turn", async () => {
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const asked = [];
  const { client, seen } = setup({
    pages: async (since, limit) => {
      asked.push([since, limit]);
      await gate;
      return page([item(2), item(3)], { head: 5 });
    },
  });
  const socket = await started(client);
  await socket.welcome({ head: 0, since: 0 });
  await socket.push(note(1), note(4));
  await socket.push(note(5));
  assert.deepEqual(seen.received, [1]);
  release();
  await settle();
  assert.deepEqual(seen.received, [1, 2, 3, 4, 5]);
  assert.deepEqual(asked, [[1, 2]]);
  assert.equal(client.stats.gapFills, 1);
  assert.equal(FakeSocket.instances.length, 1);
  await client.stop();
});

test("a gap REST cannot fill is recovered by reconnecting with since", async () => {
  const { client, seen } = setup();
  const socket = await started(client);
  await socket.welcome({ head: 0, since: 0 });
  await socket.push(note(1), note(3), note(4));
  await settle();
  assert.deepEqual(seen.received, [1]);
  assert.equal(socket.closedWith.code, 1000);
  assert.ok(seen.errors.some((error) => error.code === "gap_fill_failed"));
  const second = FakeSocket.last;
  assert.notEqual(second, socket);
  assert.equal(second.url.searchParams.get("since"), "1");
  await second.welcome({ head: 4, since: 1 });
  await second.push(note(2), note(3), note(4));
  assert.deepEqual(seen.received, [1, 2, 3, 4]);
  await client.stop();
});

test("trimmed history: onResync, then the stream continues from the server's head", async () => {
  const store = new MemoryCursorStore();
  store.save({ userId: "alice", seq: 3 });
  const { client, seen } = setup({ store });
  const socket = await started(client);
  await socket.welcome({ head: 10, since: 3, recovered: false });
  assert.deepEqual(seen.resyncs, [{ userId: "alice", requestedSince: 3, head: 10, source: "welcome" }]);
  assert.deepEqual(socket.frames, [{ type: "ack", seq: 10 }]);
  await socket.push(note(8), note(9), note(10), { type: "caught_up", seq: 10 }, note(11));
  assert.deepEqual(seen.received, [11]);
  assert.equal(client.position, 11);
  await client.stop();
});

test("a REST fill that finds history trimmed resyncs too", async () => {
  const { client, seen } = setup({ pages: () => page([], { head: 7, recovered: false }) });
  const socket = await started(client);
  await socket.welcome({ head: 1, since: 1 });
  await socket.push(note(5), note(7), note(8));
  assert.equal(seen.resyncs.length, 1);
  assert.equal(seen.resyncs[0].source, "fill");
  assert.equal(seen.resyncs[0].head, 7);
  assert.deepEqual(seen.received, [8]);
  await client.stop();
});

test("own-origin notifications are suppressed but acknowledged", async () => {
  const { client, seen, clock } = setup({ sessionId: "tab-1" });
  const socket = await started(client);
  await socket.welcome({ head: 0, since: 0 });
  await socket.push(note(1, { origin_session: "tab-1" }), note(2, { origin_session: "tab-2" }));
  await clock.advance(100);
  assert.deepEqual(seen.received, [2]);
  assert.equal(client.stats.suppressed, 1);
  assert.deepEqual(socket.frames, [{ type: "ack", seq: 2 }]);
  await client.stop();
});

test("deliverOwn delivers own-origin notifications", async () => {
  const { client, seen } = setup({ sessionId: "tab-1", deliverOwn: true });
  const socket = await started(client);
  await socket.welcome();
  await socket.push(note(1, { origin_session: "tab-1" }));
  assert.deepEqual(seen.received, [1]);
  await client.stop();
});

for (const [code, reason] of [
  [4400, "bad_query"],
  [4403, "revoked"],
  [1009, "frame_too_big"],
  [1003, "unsupported_data"],
]) {
  test(`close ${code} stops the client for good`, async () => {
    const { client, clock, seen } = setup();
    const socket = await started(client);
    await socket.welcome();
    await socket.serverClose(code);
    assert.deepEqual(await client.waitStopped(), { reason, closeCode: code });
    await clock.advance(120_000);
    assert.equal(FakeSocket.instances.length, 1);
    assert.equal(client.state, "stopped");
    assert.ok(seen.errors.at(-1).fatal);
  });
}

test("4401: fresh credentials, then an immediate reconnect with since", async () => {
  const { client, seen } = setup();
  const socket = await started(client);
  await socket.welcome();
  await socket.push(note(1));
  await socket.serverClose(4401);
  const second = FakeSocket.last;
  assert.notEqual(second, socket);
  assert.equal(second.url.searchParams.get("since"), "1");
  assert.deepEqual(seen.reasons, ["connect", "unauthorized"]);
  await client.stop();
});

test("4401 again without a welcome backs off instead of looping", async () => {
  const { client, clock } = setup();
  const socket = await started(client);
  await socket.serverClose(4401);
  assert.equal(FakeSocket.instances.length, 2);
  await FakeSocket.last.serverClose(4401);
  assert.equal(FakeSocket.instances.length, 2);
  await clock.advance(499);
  assert.equal(FakeSocket.instances.length, 2);
  await clock.advance(1);
  assert.equal(FakeSocket.instances.length, 3);
  await client.stop();
});

test("4408: reconnect with since at once", async () => {
  const { client } = setup();
  const socket = await started(client);
  await socket.welcome({ head: 2, since: 2 });
  await socket.serverClose(4408);
  assert.equal(FakeSocket.instances.length, 2);
  assert.equal(FakeSocket.last.url.searchParams.get("since"), "2");
  await client.stop();
});

test("1001 (going away): reconnect after a jittered delay", async () => {
  const { client, clock } = setup();
  const socket = await started(client);
  await socket.welcome();
  await socket.serverClose(1001);
  assert.equal(client.state, "backoff");
  await clock.advance(249);
  assert.equal(FakeSocket.instances.length, 1);
  await clock.advance(1);
  assert.equal(FakeSocket.instances.length, 2);
  await client.stop();
});

test("4429: back off longer than for other closes", async () => {
  const { client, clock } = setup({ backoff: { throttledMinDelayMs: 5_000 } });
  const socket = await started(client);
  await socket.welcome();
  await socket.serverClose(4429);
  await clock.advance(5_249);
  assert.equal(FakeSocket.instances.length, 1);
  await clock.advance(1);
  assert.equal(FakeSocket.instances.length, 2);
  await client.stop();
});

test("while the server is down the delay doubles; a healthy connection resets it", async () => {
  const { client, clock } = setup({ backoff: { initialDelayMs: 100, maxDelayMs: 1_000, resetAfterMs: 5_000 } });
  await started(client);
  const delays = [];
  for (let i = 0; i < 6; i += 1) {
    await FakeSocket.last.serverClose(1006);
    delays.push(...clock.pendingDelays());
    await clock.advance(clock.pendingDelays()[0]);
  }
  assert.deepEqual(delays, [50, 100, 200, 400, 500, 500]);
  await FakeSocket.last.welcome();
  await clock.advance(5_000);
  await FakeSocket.last.serverClose(1006);
  assert.deepEqual(clock.pendingDelays(), [50]);
  await client.stop();
});

test("refresh: a fresher token is sent before exp on the same connection", async () => {
  const { client, clock, seen } = setup({ refreshLeadMs: 60_000 });
  const socket = await started(client);
  await socket.welcome();
  // The token's exp is whole seconds: the refresh is due 59-60 s before the hour is up.
  await clock.advance(3_539_000 - 1);
  assert.deepEqual(socket.frames, []);
  await clock.advance(1_001);
  const refresh = socket.frames.find((frame) => frame.type === "refresh");
  assert.match(refresh.token, /^ey/);
  assert.equal(client.stats.refreshes, 1);
  assert.equal(FakeSocket.instances.length, 1);
  assert.deepEqual(seen.reasons, ["connect", "refresh"]);
  // The next one comes an hour after that one, still without reconnecting.
  await clock.advance(3_600_000);
  assert.equal(client.stats.refreshes, 2);
  assert.equal(FakeSocket.instances.length, 1);
  await client.stop();
});

test("a cursor of another user is dropped: reconnect without since", async () => {
  const store = new MemoryCursorStore();
  store.save({ userId: "mallory", seq: 40 });
  const { client } = setup({ store });
  const socket = await started(client);
  assert.equal(socket.url.searchParams.get("since"), "40");
  await socket.welcome({ user: "alice", head: 3, since: 3 });
  await settle();
  const second = FakeSocket.last;
  assert.notEqual(second, socket);
  assert.equal(second.url.searchParams.get("since"), null);
  assert.equal(store.load(), null);
  await second.welcome({ user: "alice", head: 3, since: 3 });
  assert.equal(client.position, 3);
  await client.stop();
});

test("stop() sends the last ack, saves the cursor and closes with 1000", async () => {
  const store = new MemoryCursorStore();
  const { client } = setup({ store });
  const socket = await started(client);
  await socket.welcome();
  await socket.push(note(1));
  await client.stop();
  assert.deepEqual(socket.frames, [{ type: "ack", seq: 1 }]);
  assert.deepEqual(socket.closedWith, { code: 1000, reason: "client stopped" });
  assert.deepEqual(store.load(), { userId: "alice", seq: 1 });
  assert.deepEqual(await client.waitStopped(), { reason: "stopped", closeCode: null });
});

test("a handler that throws is reported and the stream moves on", async () => {
  const { client, seen } = setup({
    onNotification: (n) => {
      if (n.seq === 1) {
        throw new Error("app bug");
      }
      seen.received.push(n.seq);
    },
  });
  const socket = await started(client);
  await socket.welcome();
  await socket.push(note(1), note(2));
  assert.deepEqual(seen.received, [2]);
  assert.equal(seen.errors[0].code, "handler_failed");
  await client.stop();
});

test("broadcasts and error frames reach their handlers", async () => {
  const { client, seen } = setup();
  const socket = await started(client);
  await socket.welcome();
  await socket.push(
    { type: "broadcast", id: "b1", event: "maintenance", data: {}, created_at: "2024-05-01T12:00:00Z" },
    { type: "error", code: "ack_stale", message: "ack 1 is below the stored ack" },
  );
  assert.deepEqual(seen.broadcasts, ["maintenance"]);
  assert.equal(seen.errors[0].code, "ack_stale");
  assert.equal(seen.errors[0].fatal, false);
  await client.stop();
});

test("no welcome within openTimeoutMs: give up on the socket and retry", async () => {
  const { client, clock } = setup({ openTimeoutMs: 1_000 });
  const socket = await started(client);
  await clock.advance(1_000);
  assert.equal(socket.closedWith.code, 1000);
  await clock.advance(250);
  assert.equal(FakeSocket.instances.length, 2);
  await client.stop();
});

test("a handler may call stop()", async () => {
  let client;
  ({ client } = setup({ onNotification: () => client.stop() }));
  const socket = await started(client);
  await socket.welcome();
  await socket.push(note(1));
  assert.deepEqual(await client.waitStopped(), { reason: "stopped", closeCode: null });
});
