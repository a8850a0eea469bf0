// The publisher for the Node socket.io peer of bench/bench_delivery.py: @socket.io/redis-emitter.
//
// Run: node publisher.mjs REDIS_URL FLOW_LIMIT_BYTES CHUNK. Driven like bench/loadgen.py: one
// JSON line per command on stdin, one JSON line answered on stdout.
//
// The emitter publishes one Redis message per `to(room).emit`, so each notification is its own
// pub/sub message (msgpack of [uid, packet, {rooms, except, flags}] on the channel
// `socket.io#/#user:<id>#`, which the adapter's pattern subscription receives). The traffic
// is otherwise shaped as for the other servers: the same notification frames, in batches of
// `batch` users with one publish time per batch, the batch's emits issued in one tick (the
// Redis client writes them to its socket together).
//
// Commands (each fills `seq` first_seq, first_seq + 1, ... for every user in turn):
// - {"cmd": "prepare", "users", "first_seq", "rounds", "batch", "template"}: encode every
//   message with the emitter ahead of publishing (as the Python publisher encodes its batches
//   ahead), keeping them; answers {"messages": N}.
// - {"cmd": "publish"}: publish the prepared messages as fast as the subscriber takes them:
//   CHUNK messages per round trip, then a pause while a pub/sub client of Redis has over
//   FLOW_LIMIT_BYTES queued (so Redis never drops the server's subscription).
// - {"cmd": "paced", "users", "first_seq", "rounds", "batch", "rate", "template"}: emit at
//   `rate` notifications/s on an absolute schedule, each batch encoded right before it is
//   published, with its publish time.
// - {"cmd": "exit"}.
//
// `data.t` is process.hrtime.bigint() (libuv's clock: CLOCK_MONOTONIC, the clock the load
// generator reads with time.monotonic_ns()).

import { createInterface } from "node:readline";
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";

const [redisUrl, flowLimit, chunk] = process.argv.slice(2);
const FLOW_LIMIT = Number(flowLimit);
const CHUNK = Number(chunk);
const client = createClient({ url: redisUrl });
client.on("error", (error) => console.error("redis:", error));
await client.connect();

let pending = [];
const live = new Emitter({ publish: (channel, message) => pending.push(client.publish(channel, message)) });
let prepared = [];
const capture = new Emitter({ publish: (channel, message) => prepared.push([channel, message]) });
let noteIds = 0;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function emitBatch(emitter, users, seq, template) {
  const stamp = Number(process.hrtime.bigint());
  for (const user of users) {
    noteIds += 1;
    const id = noteIds.toString(16).padStart(32, "0");
    const frame = { ...template, seq, id, data: { t: stamp, pad: template.data.pad } };
    emitter.to(`user:${user}`).emit("notification", frame);
  }
}

function* batches(command) {
  const { users, first_seq: first, rounds, batch } = command;
  for (let seq = first; seq < first + rounds; seq++) {
    for (let start = 0; start < users.length; start += batch) {
      yield [users.slice(start, start + batch), seq];
    }
  }
}

async function backlog() {
  const clients = await client.sendCommand(["CLIENT", "LIST", "TYPE", "pubsub"]);
  let most = 0;
  for (const match of String(clients).matchAll(/ omem=(\d+)/g)) most = Math.max(most, Number(match[1]));
  return most;
}

async function publish() {
  const messages = prepared;
  prepared = [];
  for (let start = 0; start < messages.length; start += CHUNK) {
    const slice = messages.slice(start, start + CHUNK);
    await Promise.all(slice.map(([channel, message]) => client.publish(channel, message)));
    while ((await backlog()) > FLOW_LIMIT) await sleep(2);
  }
  return { published: messages.length };
}

async function paced(command) {
  const interval = (1000 * command.batch) / command.rate;
  const started = performance.now();
  let sent = 0;
  for (const [users, seq] of batches(command)) {
    const delay = started + sent * interval - performance.now();
    if (delay > 0) await sleep(delay);
    emitBatch(live, users, seq, command.template);
    await Promise.all(pending);
    pending = [];
    sent += 1;
  }
  return { batches: sent };
}

async function answer(command) {
  switch (command.cmd) {
    case "prepare":
      prepared = [];
      for (const [users, seq] of batches(command)) emitBatch(capture, users, seq, command.template);
      return { messages: prepared.length };
    case "publish":
      return await publish();
    case "paced":
      return await paced(command);
    default:
      return { error: `unknown command ${command.cmd}` };
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.cmd === "exit") break;
  process.stdout.write(JSON.stringify(await answer(command)) + "\n");
}
await client.quit();
process.stdout.write("{}\n");
