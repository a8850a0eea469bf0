// Protocol v2 against a real server: two devices of one user converge by resuming, with no
// REST read; counts follow marks made on the other device.
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

/** A v2 client of `user` that records its REST calls; it starts from the stream's start. */
function device(user, name) {
  const fetches = [];
  const store = new MemoryCursorStore();
  store.save({ userId: user, seq: 0, protocol: 2 });
  const instance = new TidingsClient({
    url: server.url,
    protocol: 2,
    device: name,
    store,
    getToken: () => token(user),
    WebSocket,
    fetch: (url, init) => {
      fetches.push(`${init.method} ${new URL(url).pathname}`);
      return fetch(url, init);
    },
    acks: { maxDelayMs: 20, maxItems: 100 },
  });
  return { instance, fetches };
}

const plain = (items) => Object.fromEntries([...items].map(([seq, state]) => [seq, { ...state }]));

test("an offline device resumes from its position and shows the other's marks and counts", async () => {
  const user = uniqueUser("ann");
  await server.emit(user, 5);
  await until(async () => (await server.cursor(token(user))).head === 5, "five routed");
  const phone = device(user, "phone");
  const laptop = device(user, "laptop");
  phone.instance.start();
  laptop.instance.start();
  try {
    await until(() => phone.instance.items().size === 5 && laptop.instance.items().size === 5, "both hold five");
    await laptop.instance.stop(); // offline
    await phone.instance.markRead([1, 2, 3]);
    await phone.instance.archive([4]);
    await until(() => phone.instance.counts?.unarchived === 4 && phone.instance.counts?.unread === 2, "the phone's counts");
    assert.deepEqual(laptop.instance.counts, { unread: 5, unarchived: 5 });

    const before = laptop.fetches.length;
    laptop.instance.start(); // back online: resumes from its position
    await until(() => laptop.instance.position === phone.instance.position, "the laptop to catch up");
    assert.deepEqual(plain(laptop.instance.items()), plain(phone.instance.items()));
    assert.deepEqual(laptop.instance.counts, { unread: 2, unarchived: 4 });
    assert.deepEqual(laptop.instance.itemState(4), { read: false, archived: true, retracted: false });
    // Only a ticket was bought: no listing, no stream read over REST.
    assert.deepEqual(laptop.fetches.slice(before), ["POST /ws/ticket"]);

    await laptop.instance.markAllRead();
    await until(() => phone.instance.counts?.unread === 0, "mark all read to reach the phone");
    assert.deepEqual(plain(laptop.instance.items()), plain(phone.instance.items()));
  } finally {
    await phone.instance.stop();
    await laptop.instance.stop();
  }
});
