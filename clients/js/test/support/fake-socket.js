// A WebSocket double for unit tests: the test plays the server.
import { settle } from "./wait.js";

export class FakeSocket {
  static instances = [];

  constructor(url) {
    this.url = new URL(url);
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    FakeSocket.instances.push(this);
  }

  static reset() {
    FakeSocket.instances = [];
  }

  static get last() {
    return FakeSocket.instances.at(-1);
  }

  /** Frames the client sent, parsed. */
  get frames() {
    return this.sent.map((text) => JSON.parse(text));
  }

  send(text) {
    if (this.readyState !== 1) {
      throw new Error("send on a socket that is not open");
    }
    this.sent.push(text);
  }

  close(code = 1000, reason = "") {
    if (this.readyState >= 2) {
      return;
    }
    this.closedWith = { code, reason };
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }

  /** The server side: open, then send frames. */
  async open() {
    this.readyState = 1;
    this.onopen?.({});
    await settle();
  }

  async push(...frames) {
    for (const frame of frames) {
      this.onmessage?.({ data: JSON.stringify(frame) });
    }
    await settle();
  }

  async welcome({ user = "alice", head = 0, since = 0, recovered = true } = {}) {
    if (this.readyState === 0) {
      await this.open();
    }
    await this.push({ type: "welcome", user_id: user, head, since, recovered, device: "default" });
  }

  /** The server closes with `code`. */
  async serverClose(code, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
    await settle();
  }
}

/** A notification frame for seq `seq`. */
export function note(seq, extra = {}) {
  return {
    type: "notification",
    seq,
    id: `n${seq}`,
    event: "test.note",
    data: { seq },
    created_at: "2024-05-01T12:00:00Z",
    origin_session: null,
    ...extra,
  };
}
