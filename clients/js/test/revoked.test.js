// Against a real server whose revocation check refuses users named "revoked-*": the client
// stops (4403 over ?token=, 403 when buying a ticket) and never tries again.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import WebSocket from "ws";

import { TidingsClient } from "../dist/index.js";
import { TidingsServer } from "./support/server.js";
import { token, uniqueUser } from "./support/tokens.js";
import { until } from "./support/wait.js";

let server;

before(async () => {
  server = new TidingsServer({ revokedPrefix: "revoked-" });
  await server.start();
});

after(async () => {
  await server.dispose();
});

function client(user, options) {
  const errors = [];
  const states = [];
  const instance = new TidingsClient({
    url: server.url,
    getToken: () => token(user),
    WebSocket,
    backoff: { initialDelayMs: 10, maxDelayMs: 20 },
    onStateChange: (state) => states.push(state),
    onError: (error) => errors.push(error),
    ...options,
  });
  return { instance, errors, states };
}

test("4403 (revoked) stops the client", async () => {
  const { instance, errors, states } = client(uniqueUser("revoked-"), { auth: "token" });
  instance.start();
  const stopped = await instance.waitStopped();
  assert.deepEqual(stopped, { reason: "revoked", closeCode: 4403 });
  assert.equal(instance.stats.attempts, 1);
  assert.equal(instance.stats.connections, 0);
  assert.deepEqual(states, ["connecting", "stopped"]);
  assert.ok(errors.some((error) => error.fatal && error.closeCode === 4403));
});

test("a revoked token refused at the ticket endpoint stops the client too", async () => {
  const { instance, errors } = client(uniqueUser("revoked-"), {});
  instance.start();
  const stopped = await instance.waitStopped();
  assert.deepEqual(stopped, { reason: "revoked", closeCode: null });
  assert.equal(instance.stats.attempts, 1);
  assert.ok(errors.some((error) => error.fatal && error.code === "token_revoked" && error.status === 403));
});

test("other users of the same server are served", async () => {
  const { instance } = client(uniqueUser("kept"), {});
  instance.start();
  try {
    await until(() => instance.state === "live", "live");
  } finally {
    await instance.stop();
  }
});
