// A small browser client for tidings protocol v1. It offers a subset of the JS SDK's surface
// (clients/js: `new TidingsClient(options)`, `start()`, `stop()`, `position`, `state`,
// `sessionId`, the `on*` callbacks and a `store` with load/save), so the page can import the
// SDK instead without other changes.
//
//   const client = new TidingsClient({ url: location.origin, getToken, device: "web",
//                                      onNotification: (n) => render(n) });
//   client.start();
//
// It authenticates with a single-use ticket (POST /ws/ticket, then /ws?ticket=...), so the JWT
// never appears in a URL. It remembers the last seq it delivered, drops repeats, acknowledges
// what it delivered (cumulative `ack` frames, batched), and after an unexpected close it
// reconnects with since=<last seq>, so nothing is missed across reconnects.
// States: idle, connecting, syncing (replaying), live, backoff, stopped.

const STOP_CODES = new Map([
  [1003, "unsupported_data"],
  [1009, "frame_too_big"],
  [4400, "bad_query"],
  [4403, "revoked"],
]);
const MAX_BACKOFF_MS = 10000;
const ACK_DELAY_MS = 100;

function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Keeps the position in memory: resumes across reconnects, not across page loads. */
export class MemoryCursorStore {
  constructor(cursor = null) {
    this.cursor = cursor;
  }
  load() {
    return this.cursor;
  }
  save(cursor) {
    this.cursor = cursor;
  }
  clear() {
    this.cursor = null;
  }
}

export class TidingsClient {
  /**
   * @param {object} options
   * @param {string} options.url the service's http(s) base URL
   * @param {(reason: string) => Promise<string>} options.getToken a valid access token (asked
   *   for every ticket, so it may refresh an expired one)
   * @param {string} [options.device] acks are stored per device
   * @param {string} [options.sessionId] this client's session: own-origin notifications are
   *   acknowledged but not delivered, unless `deliverOwn`
   * @param {boolean} [options.deliverOwn]
   * @param {{load(): ({userId: string, seq: number}|null), save(cursor): void}} [options.store]
   * @param {(notification) => void} [options.onNotification] camelCase fields: seq, id, event,
   *   data, createdAt, originSession
   * @param {(broadcast) => void} [options.onBroadcast]
   * @param {(info) => void} [options.onResync] the server could not continue from the position
   * @param {(state: string, previous: string) => void} [options.onStateChange]
   * @param {(error: {code: string, message: string}) => void} [options.onError]
   */
  constructor(options) {
    this.options = options;
    this.url = options.url.replace(/\/$/, "");
    this.sessionId = options.sessionId || randomId();
    this.store = options.store || new MemoryCursorStore();
    this.state = "idle";
    this.position = null; // the last seq delivered (or suppressed) and so acknowledged
    this.userId = null;
    this.socket = null;
    this.running = false;
    this.retries = 0;
    this.retryTimer = null;
    this.ackTimer = null;
    this.acked = null;
  }

  /** Connect, and reconnect after unexpected closes, until stop(). Idempotent. */
  start() {
    if (this.running) return;
    this.running = true;
    this.retries = 0;
    const cursor = this.store.load();
    if (cursor && this.position === null) this.position = cursor.seq;
    this.open();
  }

  /** Acknowledge what was delivered, close the socket (1000), stop reconnecting. */
  async stop() {
    this.running = false;
    clearTimeout(this.retryTimer);
    this.flushAcks();
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000, "client stopped");
    this.setState("stopped");
  }

  async open() {
    this.setState("connecting");
    let ticket;
    try {
      ticket = await this.ticket();
    } catch (error) {
      this.options.onError?.({ code: "ticket_failed", message: String(error) });
      this.retry();
      return;
    }
    if (!this.running) return; // stop() was called meanwhile
    const query = new URLSearchParams({ ticket });
    if (this.options.device) query.set("device", this.options.device);
    if (this.position !== null) query.set("since", String(this.position));
    const socket = new WebSocket(`${this.url.replace(/^http/, "ws")}/ws?${query}`);
    this.socket = socket;
    socket.onmessage = (event) => {
      if (socket === this.socket) this.receive(JSON.parse(event.data));
    };
    socket.onclose = (event) => this.closed(socket, event);
  }

  async ticket() {
    const token = await this.options.getToken("connect");
    const response = await fetch(`${this.url}/ws/ticket`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    });
    const body = await response.json();
    if (!response.ok) throw new Error(`${body.code}: ${body.message}`);
    return body.ticket;
  }

  receive(frame) {
    switch (frame.type) {
      case "welcome":
        this.welcome(frame);
        break;
      case "notification":
        this.notification(frame);
        break;
      case "caught_up":
        this.retries = 0;
        this.setState("live");
        break;
      case "broadcast":
        this.options.onBroadcast?.({
          id: frame.id,
          event: frame.event,
          data: frame.data,
          createdAt: frame.created_at,
        });
        break;
      case "error":
        // ack_stale: the server holds a later ack for this device already (another tab).
        if (frame.code !== "ack_stale") {
          this.options.onError?.({ code: frame.code, message: frame.message });
        }
        break;
      default:
        break; // frames of later protocol versions are ignored
    }
  }

  welcome(frame) {
    const requested = this.position;
    this.userId = frame.user_id;
    this.position = frame.since; // where the server starts: our position from now on
    if (this.acked === null) this.acked = frame.since;
    this.setState("syncing");
    if (!frame.recovered) {
      this.options.onResync?.({
        userId: frame.user_id,
        requestedSince: requested,
        head: frame.head,
        source: "welcome",
      });
    }
  }

  notification(frame) {
    if (this.position !== null && frame.seq <= this.position) return; // a repeat
    if (this.position !== null && frame.seq > this.position + 1) {
      this.options.onError?.({ code: "gap", message: `after ${this.position} came ${frame.seq}` });
    }
    this.position = frame.seq;
    const own = frame.origin_session !== null && frame.origin_session === this.sessionId;
    if (!own || this.options.deliverOwn) {
      this.options.onNotification?.({
        seq: frame.seq,
        id: frame.id,
        event: frame.event,
        data: frame.data,
        createdAt: frame.created_at,
        originSession: frame.origin_session,
      });
    }
    clearTimeout(this.ackTimer);
    this.ackTimer = setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
  }

  flushAcks() {
    clearTimeout(this.ackTimer);
    const seq = this.position;
    if (seq === null || (this.acked !== null && seq <= this.acked)) return;
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: "ack", seq }));
      this.acked = seq;
      if (this.userId !== null) this.store.save({ userId: this.userId, seq });
    }
  }

  closed(socket, event) {
    if (socket !== this.socket) return; // an old socket, already replaced or dropped
    this.socket = null;
    clearTimeout(this.ackTimer);
    if (!this.running) return;
    if (STOP_CODES.has(event.code)) {
      this.running = false;
      this.options.onError?.({ code: STOP_CODES.get(event.code), message: event.reason });
      this.setState("stopped");
    } else {
      this.retry(); // 1001, 1006, 4401 (a fresh ticket), 4408, 4429...
    }
  }

  retry() {
    if (!this.running) return;
    this.setState("backoff");
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.retries) * (0.5 + Math.random() / 2);
    this.retries += 1;
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  setState(state) {
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    this.options.onStateChange?.(state, previous);
  }
}
