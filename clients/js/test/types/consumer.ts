// Compiled (not run) by dist.test.js: the published types accept what applications pass.
import WebSocket from "ws";

import {
  type ClientState,
  type Counts,
  LocalStorageCursorStore,
  type Notification,
  type StateChange,
  type ResyncInfo,
  TidingsClient,
  type TidingsError,
} from "../../dist/index.js";

const inNode = new TidingsClient({
  url: "https://api.example.com/tidings",
  getToken: async (reason) => (reason === "refresh" ? "fresh" : "token"),
  WebSocket,
  onNotification: (notification: Notification) => console.log(notification.seq, notification.data),
  onResync: async (info: ResyncInfo) => console.log(info.head),
  onStateChange: (state: ClientState, previous: ClientState) => console.log(previous, state),
  onError: (error: TidingsError) => console.log(error.code, error.fatal),
});

const inBrowser = new TidingsClient({
  url: "https://api.example.com/tidings",
  getTicket: () => "ticket",
  WebSocket: globalThis.WebSocket,
  store: new LocalStorageCursorStore("tidings:cursor", globalThis.localStorage),
  backoff: { maxDelayMs: 60_000 },
  acks: { maxItems: 50 },
});

const withState = new TidingsClient({
  url: "https://api.example.com/tidings",
  getToken: () => "token",
  protocol: 2,
  onChange: (change: StateChange) => console.log(change.op, change.seqs, change.upto),
  onCounts: (counts: Counts) => console.log(counts.unread, counts.unarchived),
});
void withState.markRead([1, 2]).then(() => withState.markAllRead());
console.log(withState.counts?.unread, withState.itemState(1)?.archived);

inNode.start();
void inBrowser.stop();
