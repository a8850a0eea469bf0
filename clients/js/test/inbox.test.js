// Protocol v2 in the client: state and counts from the stream, marks, positions, gap fills
// over GET /stream; a scripted server (FakeSocket), fake REST and a manual clock.
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { InboxState, MemoryCursorStore, TidingsClient } from "../dist/index.js";
import { ManualClock } from "./support/clock.js";
import { FakeSocket, note } from "./support/fake-socket.js";
import { token } from "./support/tokens.js";
import { settle } from "./support/wait.js";

beforeEach(() => FakeSocket.reset());

const json = (status, body) => ({ ok: status >= 200 && status < 300, status, json: async () => body });
const counts = (unread, unarchived = unread) => ({ unread, unarchived });

/** A v2 notification frame at `pos` for `seq`. */
const placed = (pos, seq, extra = {}) => note(seq, { pos, replaces: null, counts: counts(seq), ...extra });

/** A v2 state frame. */
function change(pos, op, { seqs = [], upto = null, unread = 0, unarchived = 0 } = {}) {
  return { type: "state", pos, op, seqs, upto, at: "2024-05-01T12:00:01Z", counts: counts(unread, unarchived) };
}

function welcome(socket, { head = 0, since = 0, seqHead = 0, unread = 0, unarchived = unread, recovered = true } = {}) {
  return socket
    .open()
    .then(() =>
      socket.push({
        type: "welcome",
        v: 2,
        user_id: "alice",
        head,
        since,
        recovered,
        device: "default",
        seq_head: seqHead,
        counts: counts(unread, unarchived),
      }),
    );
}

function setup(options = {}) {
  const clock = new ManualClock();
  const seen = { notes: [], changes: [], counts: [], errors: [], fetches: [] };
  const { rest = () => json(500, { code: "boom", message: "no REST here" }), ...others } = options;
  const fakeFetch = async (url, init) => {
    const parsed = new URL(url);
    seen.fetches.push({ method: init.method, path: parsed.pathname + parsed.search, body: init.body });
    if (parsed.pathname.endsWith("/ws/ticket")) {
      return json(200, { ticket: "t", expires_in: 30 });
    }
    return rest(parsed, init);
  };
  const client = new TidingsClient({
    url: "http://tidings.test/",
    protocol: 2,
    getToken: () => token("alice", { nowMs: clock.now() }),
    WebSocket: FakeSocket,
    fetch: fakeFetch,
    clock,
    random: () => 0.5,
    acks: { maxDelayMs: 100, maxItems: 3 },
    onNotification: (n) => seen.notes.push(n.seq),
    onChange: (c) => seen.changes.push([c.pos, c.op]),
    onCounts: (c) => seen.counts.push([c.unread, c.unarchived]),
    onError: (error) => seen.errors.push(error.code),
    ...others,
  });
  return { client, clock, seen };
}

async function started(client) {
  client.start();
  await settle();
  return FakeSocket.last;
}

test("v2 connects with v=2 and keeps state and counts from the stream", async () => {
  const { client, seen } = setup();
  const socket = await started(client);
  assert.equal(socket.url.searchParams.get("v"), "2");
  await welcome(socket, { head: 0, since: 0 });
  await socket.push(placed(1, 1), placed(2, 2), change(3, "read", { seqs: [1], unread: 1, unarchived: 2 }));
  await socket.push(change(4, "archive", { upto: 2, unread: 1, unarchived: 0 }), { type: "caught_up", pos: 4 });

  assert.deepEqual(seen.notes, [1, 2]);
  assert.deepEqual(seen.changes, [[3, "read"], [4, "archive"]]);
  assert.deepEqual(client.counts, counts(1, 0));
  assert.deepEqual(client.itemState(1), { read: true, archived: true, retracted: false });
  assert.deepEqual(client.itemState(2), { read: false, archived: true, retracted: false });
  assert.deepEqual(seen.counts.at(-1), [1, 0]);
  assert.equal(client.position, 4);
  assert.equal(client.state, "live");
  await client.stop();
});

test("acks and the saved cursor are stream positions", async () => {
  const store = new MemoryCursorStore();
  const { client, clock } = setup({ store });
  const socket = await started(client);
  await welcome(socket);
  await socket.push(placed(1, 1), change(2, "read", { seqs: [1] }));
  await clock.advance(100);
  assert.deepEqual(socket.frames, [{ type: "ack", pos: 2 }]);
  assert.deepEqual(store.load(), { userId: "alice", seq: 2, protocol: 2 });
  await client.stop();
});

test("a v1 cursor is not taken for a stream position", async () => {
  const store = new MemoryCursorStore();
  store.save({ userId: "alice", seq: 9 });
  const { client } = setup({ store });
  const socket = await started(client);
  assert.equal(socket.url.searchParams.get("since"), null);
  await client.stop();
});

test("counts of entries at or below the welcome's head are history; later ones count", async () => {
  const { client, seen } = setup();
  const socket = await started(client);
  await welcome(socket, { head: 3, since: 1, seqHead: 2, unread: 0 });
  await socket.push(placed(2, 2, { counts: counts(2) }), change(3, "read", { upto: 2, unread: 0, unarchived: 2 }));
  assert.deepEqual(client.counts, counts(0, 0));
  await socket.push(placed(4, 3, { counts: counts(1, 3) }));
  assert.deepEqual(client.counts, counts(1, 3));
  assert.deepEqual(seen.counts, [
    [0, 0],
    [1, 3],
  ]);
  await client.stop();
});

test("own-origin notifications are not delivered but still update state and counts", async () => {
  const { client, seen } = setup({ sessionId: "me" });
  const socket = await started(client);
  await welcome(socket);
  await socket.push(placed(1, 1, { origin_session: "me", counts: counts(1) }));
  assert.deepEqual(seen.notes, []);
  assert.deepEqual(client.itemState(1), { read: false, archived: false, retracted: false });
  assert.deepEqual(client.counts, counts(1));
  await client.stop();
});

test("a collapsed notification retracts what it replaces; retract and trim changes apply", async () => {
  const { client } = setup();
  const socket = await started(client);
  await welcome(socket);
  await socket.push(placed(1, 1), placed(2, 2, { replaces: 1, counts: counts(1) }));
  assert.equal(client.itemState(1).retracted, true);
  await socket.push(change(3, "retract", { seqs: [2] }), change(4, "trim", { seqs: [1] }));
  assert.equal(client.itemState(2).retracted, true);
  assert.equal(client.itemState(1), undefined);
  await client.stop();
});

test("marks go over the socket when it is up, over REST when it is not", async () => {
  const { client, seen } = setup({
    rest: (url, init) => json(200, { change: null, head: 2, pos: 3, counts: counts(0), url: url.pathname, body: init.body }),
  });
  const socket = await started(client);
  await welcome(socket, { head: 2, since: 2, seqHead: 2, unread: 2 });
  await client.markRead([1, 2]);
  await client.archive([2]);
  await client.markAllRead();
  assert.deepEqual(socket.frames, [
    { type: "mark", op: "read", seqs: [1, 2] },
    { type: "mark", op: "archive", seqs: [2] },
    { type: "mark", op: "read", upto: 2 },
  ]);
  await socket.serverClose(1001);
  await client.markUnread([1]);
  const posted = seen.fetches.filter((f) => f.method === "POST" && f.path === "/notifications/state");
  assert.deepEqual(JSON.parse(posted[0].body), { op: "unread", seqs: [1] });
  await client.stop();
});

test("marks need protocol 2", async () => {
  const client = new TidingsClient({ url: "http://x/", getToken: () => "t" });
  await assert.rejects(client.markRead([1]), TypeError);
});

test("a gap is filled from GET /stream by position", async () => {
  const asked = [];
  const { client, seen } = setup({
    rest: (url) => {
      asked.push(url.pathname + url.search);
      const items = [change(2, "read", { seqs: [1] }), { ...placed(3, 2), type: "notification" }];
      return json(200, { items, head: 2, pos: 4, counts: counts(1), next_since: 3, has_more: false, recovered: true });
    },
  });
  const socket = await started(client);
  await welcome(socket);
  await socket.push(placed(1, 1), placed(4, 3));
  assert.deepEqual(asked, ["/stream?since=1&limit=2"]);
  assert.deepEqual(seen.notes, [1, 2, 3]);
  assert.deepEqual(seen.changes, [[2, "read"]]);
  assert.equal(client.itemState(1).read, true);
  await client.stop();
});

test("a resync forgets the state held", async () => {
  const store = new MemoryCursorStore();
  store.save({ userId: "alice", seq: 1, protocol: 2 });
  const { client } = setup({ store, onResync: () => undefined });
  const socket = await started(client);
  await welcome(socket, { head: 5, since: 5, recovered: false, unread: 3 });
  assert.equal(client.items().size, 0);
  assert.deepEqual(client.counts, counts(3));
  await client.stop();
});

test("InboxState applies changes as set operations", () => {
  const inbox = new InboxState();
  inbox.welcome({ type: "welcome", userId: "a", head: 0, since: 0, recovered: true, device: "d", seqHead: 0, counts: counts(0) });
  const read = { kind: "state", pos: 2, change: { pos: 2, op: "read", seqs: [], upto: 1, at: "x", counts: counts(0) } };
  inbox.apply({ kind: "notification", pos: 1, notification: { seq: 1, replaces: null, counts: counts(1) } });
  inbox.apply(read);
  inbox.apply(read);
  assert.deepEqual(inbox.state(1), { read: true, archived: false, retracted: false });
  assert.equal(inbox.seqHead, 1);
});
