// The Node peer of bench/bench_delivery.py: socket.io 4.8 with @socket.io/redis-adapter.
//
// Run: node --expose-gc server.mjs PORT REDIS_URL, with BENCH_JWT_SECRET set. Prints "ready"
// once it listens and the adapter's subscriptions are in place.
//
// What a socket.io application would do for one user per connection: the client sends its
// token in the namespace CONNECT packet (`40{"token":...}`), a middleware checks it (HS256,
// `sub` and `exp` required), the socket joins the room `user:<sub>`, and the server emits
// `caught_up` (the peer has no replay; the event lets the load generator treat it like the
// other servers). Notifications arrive from Redis through the adapter, published by
// @socket.io/redis-emitter (publisher.mjs): one Redis message per `to(room).emit`.

import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const [port, redisUrl] = process.argv.slice(2);
const secret = process.env.BENCH_JWT_SECRET;
if (!port || !redisUrl || !secret) {
  console.error("usage: BENCH_JWT_SECRET=... node server.mjs PORT REDIS_URL");
  process.exit(2);
}

function decodePart(part) {
  return JSON.parse(Buffer.from(part, "base64url").toString());
}

/** The `sub` of a valid, unexpired HS256 token, or null. */
function userOf(token) {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3) return null;
  const expected = createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const header = decodePart(parts[0]);
    const claims = decodePart(parts[1]);
    const live = typeof claims.exp === "number" && claims.exp * 1000 > Date.now();
    return header.alg === "HS256" && live && typeof claims.sub === "string" ? claims.sub : null;
  } catch {
    return null;
  }
}

const pub = createClient({ url: redisUrl });
const sub = pub.duplicate();
for (const client of [pub, sub]) client.on("error", (error) => console.error("redis:", error));
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const io = new Server(http, { serveClient: false });
io.adapter(createAdapter(pub, sub));

io.use((socket, next) => {
  const user = userOf(socket.handshake.auth?.token);
  if (user === null) return next(new Error("unauthorized"));
  socket.data.user = user;
  next();
});

io.on("connection", (socket) => {
  socket.join(`user:${socket.data.user}`);
  socket.emit("caught_up", { type: "caught_up", seq: 0 });
});

// The adapter does not expose its subscriptions' promises; Redis answers one connection's
// commands in order, so once its request channel has a subscriber its pattern has one too.
const requestChannel = "socket.io-request#/#";
while (Number((await pub.sendCommand(["PUBSUB", "NUMSUB", requestChannel]))[1]) < 1) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}

await new Promise((resolve) => http.listen({ port: Number(port), host: "127.0.0.1", backlog: 2048 }, resolve));
console.log("ready");

// V8 collects lazily, so the RSS of an idle process depends on when it last did: the
// benchmark reads the RSS after a full collection, asked for with SIGUSR2 (node --expose-gc).
process.on("SIGUSR2", () => {
  globalThis.gc?.();
  console.log(globalThis.gc ? "collected" : "no gc: run node with --expose-gc");
});

function stop() {
  io.close();
  Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
