// Pure pieces: backoff, ack batching, dedup and gap logic, JWT expiry, close codes, cursors.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  AckBatcher,
  Backoff,
  decideClose,
  fillGap,
  LocalStorageCursorStore,
  parseServerFrame,
  refreshTime,
  Sequencer,
  tokenExpiry,
} from "../dist/index.js";
import { token } from "./support/tokens.js";

describe("Backoff", () => {
  const options = { initialDelayMs: 100, maxDelayMs: 1_000, resetAfterMs: 5_000, throttledMinDelayMs: 3_000 };

  test("full jitter: uniform below a ceiling that doubles up to the max", () => {
    const top = new Backoff(options, () => 0.999_999);
    assert.deepEqual(
      Array.from({ length: 6 }, () => top.next("backoff")),
      [99, 199, 399, 799, 999, 999],
    );
    const bottom = new Backoff(options, () => 0);
    assert.deepEqual(
      Array.from({ length: 3 }, () => bottom.next("backoff")),
      [0, 0, 0],
    );
  });

  test("immediate is free only after a healthy connection; none never counts", () => {
    const backoff = new Backoff(options, () => 0.5);
    assert.equal(backoff.next("immediate"), 0);
    assert.equal(backoff.next("immediate"), 100);
    assert.equal(backoff.next("none"), 0);
    assert.equal(backoff.attempts, 2);
  });

  test("throttled (4429) adds a floor", () => {
    const backoff = new Backoff(options, () => 0.5);
    assert.equal(backoff.next("throttled"), 3_050);
    assert.equal(backoff.next("throttled"), 3_100);
  });

  test("reset after a connection stayed up for resetAfterMs, not before", () => {
    const backoff = new Backoff(options, () => 0.5);
    backoff.next("backoff");
    backoff.next("backoff");
    backoff.connected(1_000);
    backoff.disconnected(5_999);
    assert.equal(backoff.attempts, 2);
    backoff.connected(10_000);
    backoff.disconnected(15_000);
    assert.equal(backoff.attempts, 0);
    assert.equal(backoff.next("backoff"), 50);
  });

  test("refuses a max below the initial delay", () => {
    assert.throws(() => new Backoff({ initialDelayMs: 10, maxDelayMs: 5 }), RangeError);
  });
});

describe("AckBatcher", () => {
  test("due at once after maxItems, else maxDelayMs after the first waiting seq", () => {
    const acks = new AckBatcher({ maxDelayMs: 100, maxItems: 3 });
    assert.equal(acks.dueAt(), null);
    assert.equal(acks.processed(1, 1_000), false);
    assert.equal(acks.processed(2, 1_050), false);
    assert.equal(acks.dueAt(), 1_100);
    assert.equal(acks.processed(3, 1_060), true);
    assert.equal(acks.take(), 3);
    assert.equal(acks.take(), null);
    assert.equal(acks.dueAt(), null);
  });

  test("cumulative: lower or equal seqs are ignored", () => {
    const acks = new AckBatcher({ maxDelayMs: 100, maxItems: 10 });
    acks.processed(5, 0);
    assert.equal(acks.processed(4, 1), false);
    assert.equal(acks.processed(5, 2), false);
    assert.equal(acks.take(), 5);
    assert.equal(acks.processed(5, 3), false);
    assert.equal(acks.hasPending, false);
  });

  test("rearm acknowledges the position again on a new connection", () => {
    const acks = new AckBatcher({ maxDelayMs: 100, maxItems: 10 });
    acks.processed(7, 0);
    acks.take();
    acks.rearm(7, 500);
    assert.equal(acks.dueAt(), 600);
    assert.equal(acks.take(), 7);
    acks.rearm(0, 700);
    assert.equal(acks.hasPending, false);
  });
});

describe("Sequencer", () => {
  test("duplicate, next and gap", () => {
    const sequencer = new Sequencer(3);
    assert.equal(sequencer.verdict(2), "duplicate");
    assert.equal(sequencer.verdict(3), "duplicate");
    assert.equal(sequencer.verdict(4), "next");
    assert.equal(sequencer.verdict(6), "gap");
    sequencer.advance(6);
    sequencer.advance(5);
    assert.equal(sequencer.position, 6);
    sequencer.reset(2);
    assert.equal(sequencer.verdict(3), "next");
  });

  test("unknown position before the welcome", () => {
    assert.throws(() => new Sequencer().verdict(1));
  });
});

describe("fillGap", () => {
  const item = (seq) => ({ seq, id: `n${seq}`, event: "e", data: {}, createdAt: "", originSession: null });
  const page = (seqs, extra = {}) => ({ items: seqs.map(item), head: 100, hasMore: false, recovered: true, ...extra });

  async function fill(position, target, pages, limit = 100) {
    const sequencer = new Sequencer(position);
    const delivered = [];
    const reads = [];
    const outcome = await fillGap(
      sequencer,
      target,
      async (since, size) => {
        reads.push([since, size]);
        return pages.shift();
      },
      async (n) => {
        delivered.push(n.seq);
        sequencer.advance(n.seq);
      },
      limit,
    );
    return { outcome, delivered, reads, position: sequencer.position };
  }

  test("fills exactly the missing seqs, over several pages", async () => {
    const result = await fill(2, 7, [page([3, 4]), page([5, 6, 7])], 2);
    assert.deepEqual(result.outcome, { kind: "filled" });
    assert.deepEqual(result.delivered, [3, 4, 5, 6, 7]);
    assert.deepEqual(result.reads, [
      [2, 2],
      [4, 2],
    ]);
  });

  test("overlapping items are skipped", async () => {
    const result = await fill(4, 6, [page([3, 4, 5, 6])]);
    assert.deepEqual(result.delivered, [5, 6]);
  });

  test("nothing more on the server: gone", async () => {
    const result = await fill(2, 9, [page([3]), page([])]);
    assert.deepEqual(result.outcome, { kind: "gone" });
    assert.equal(result.position, 3);
  });

  test("recovered false: trimmed, with the head", async () => {
    const result = await fill(2, 9, [page([8, 9], { recovered: false, head: 12 })]);
    assert.deepEqual(result.outcome, { kind: "trimmed", head: 12 });
    assert.deepEqual(result.delivered, []);
  });

  test("a failing read rejects and keeps what was delivered", async () => {
    const sequencer = new Sequencer(1);
    let calls = 0;
    await assert.rejects(
      fillGap(
        sequencer,
        5,
        async () => {
          calls += 1;
          if (calls > 1) {
            throw new Error("network");
          }
          return page([2, 3]);
        },
        async (n) => sequencer.advance(n.seq),
        2,
      ),
      /network/,
    );
    assert.equal(sequencer.position, 3);
  });
});

describe("JWT expiry and refresh time", () => {
  test("reads exp without verifying", () => {
    const issued = token("alice", { ttlSeconds: 100, nowMs: 1_000_000, name: "Zoë ✓" });
    assert.equal(tokenExpiry(issued), 1_100);
    assert.equal(tokenExpiry("not.a-token"), null);
    assert.equal(tokenExpiry("a.b.c"), null);
  });

  test("lead before exp, or halfway for short tokens", () => {
    assert.equal(refreshTime(1_000, 0, 60_000), 940_000);
    assert.equal(refreshTime(10, 6_000, 60_000), 8_000);
    assert.equal(refreshTime(10, 20_000, 60_000), 20_000);
  });
});

describe("close codes", () => {
  test("the protocol's table", () => {
    assert.deepEqual(decideClose(4400), { action: "stop", reason: "bad_query" });
    assert.deepEqual(decideClose(4403), { action: "stop", reason: "revoked" });
    assert.deepEqual(decideClose(1009), { action: "stop", reason: "frame_too_big" });
    assert.deepEqual(decideClose(1003), { action: "stop", reason: "unsupported_data" });
    assert.deepEqual(decideClose(4401), { action: "reconnect", delay: "immediate", renewAuth: true });
    assert.deepEqual(decideClose(4408), { action: "reconnect", delay: "immediate", renewAuth: false });
    assert.deepEqual(decideClose(4429), { action: "reconnect", delay: "throttled", renewAuth: false });
    for (const code of [1001, 1006, 1011, 1012, 1000]) {
      assert.deepEqual(decideClose(code), { action: "reconnect", delay: "backoff", renewAuth: false });
    }
  });
});

describe("cursor stores and frames", () => {
  test("LocalStorageCursorStore round-trips and ignores junk", () => {
    const data = new Map();
    const storage = {
      getItem: (key) => data.get(key) ?? null,
      setItem: (key, value) => data.set(key, value),
      removeItem: (key) => data.delete(key),
    };
    const store = new LocalStorageCursorStore("k", storage);
    assert.equal(store.load(), null);
    store.save({ userId: "alice", seq: 9 });
    assert.deepEqual(new LocalStorageCursorStore("k", storage).load(), { userId: "alice", seq: 9 });
    data.set("k", "{not json");
    assert.equal(store.load(), null);
    data.set("k", JSON.stringify({ userId: "alice", seq: -1 }));
    assert.equal(store.load(), null);
    store.clear();
    assert.equal(data.has("k"), false);
  });

  test("LocalStorageCursorStore needs a storage", () => {
    assert.throws(() => new LocalStorageCursorStore("k"), /localStorage/);
  });

  test("server frames are parsed strictly; unknown ones are ignored", () => {
    const notification = parseServerFrame(
      '{"type":"notification","seq":3,"id":"x","event":"e","data":{"a":1},"created_at":"2024-05-01T12:00:00Z","origin_session":null}',
    );
    assert.deepEqual(notification, {
      type: "notification",
      notification: { seq: 3, id: "x", event: "e", data: { a: 1 }, createdAt: "2024-05-01T12:00:00Z", originSession: null },
    });
    assert.equal(parseServerFrame('{"type":"notification","seq":"3"}'), null);
    assert.equal(parseServerFrame('{"type":"something_new"}'), null);
    assert.equal(parseServerFrame("not json"), null);
    assert.deepEqual(parseServerFrame('{"type":"caught_up","seq":4}'), { type: "caught_up", seq: 4 });
  });
});

describe("Refresher", () => {
  async function run(tokens, { tokenExp = 100 } = {}) {
    const { Refresher } = await import("../dist/refresh.js");
    const { ManualClock } = await import("./support/clock.js");
    const clock = new ManualClock(0);
    const sent = [];
    const asked = [];
    const refresher = new Refresher({
      getToken: async () => {
        asked.push(clock.now());
        return tokens.length > 1 ? tokens.shift() : tokens[0];
      },
      send: (text) => sent.push([clock.now(), JSON.parse(text)]),
      tokenExp,
      leadMs: 60_000,
      clock,
      report: () => undefined,
      onSent: () => undefined,
    });
    refresher.start();
    return { clock, sent, asked, refresher };
  }

  test("a token that is not fresher is asked for again, halfway to exp", async () => {
    const same = token("alice", { ttlSeconds: 100, nowMs: 0 });
    const fresher = token("alice", { ttlSeconds: 300, nowMs: 0 });
    const { clock, sent, asked, refresher } = await run([same, fresher]);
    await clock.advance(80_000);
    assert.deepEqual(asked, [50_000, 75_000]);
    assert.deepEqual(sent, [[75_000, { type: "refresh", token: fresher }]]);
    assert.equal(refresher.tokenExp, 300);
    refresher.cancel();
    await clock.advance(1_000_000);
    assert.equal(asked.length, 2);
  });

  test("never a fresher token: it stops asking once the old one expired", async () => {
    const { clock, sent, asked } = await run([token("alice", { ttlSeconds: 100, nowMs: 0 })]);
    await clock.advance(200_000);
    assert.deepEqual(sent, []);
    assert.ok(asked.every((at) => at < 100_000));
    assert.deepEqual(clock.pendingDelays(), []);
  });
});
