// A WebSocket relay on loopback between a client and a real server that can drop chosen
// server frames: the honest way to make a live seq jump reach the client.
import WebSocket, { WebSocketServer } from "ws";

export class DroppingRelay {
  /** `drop(frame)` returns true for a parsed server frame the client must not see. */
  constructor(upstreamPort, drop) {
    this.upstreamPort = upstreamPort;
    this.drop = drop;
    this.dropped = [];
    this.server = null;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.server.address().port}/ws`;
  }

  async start() {
    this.server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    this.server.on("connection", (client, request) => this.bridge(client, request.url));
    await new Promise((resolve) => this.server.once("listening", resolve));
  }

  bridge(client, path) {
    const upstream = new WebSocket(`ws://127.0.0.1:${this.upstreamPort}${path}`);
    const early = [];
    upstream.on("open", () => early.splice(0).forEach((text) => upstream.send(text)));
    client.on("message", (data) => {
      const text = data.toString();
      if (upstream.readyState === WebSocket.OPEN) {
        upstream.send(text);
      } else {
        early.push(text);
      }
    });
    upstream.on("message", (data) => {
      const text = data.toString();
      const frame = JSON.parse(text);
      if (this.drop(frame)) {
        this.dropped.push(frame);
      } else {
        client.send(text);
      }
    });
    upstream.on("close", (code, reason) => client.close(sendable(code), reason.toString()));
    client.on("close", () => upstream.close());
    upstream.on("error", () => client.terminate());
    client.on("error", () => upstream.terminate());
  }

  async stop() {
    for (const socket of this.server.clients) {
      socket.terminate();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }
}

function sendable(code) {
  return code === 1005 || code === 1006 ? 1011 : code;
}
