// The demo page: sign in as a demo user, act on the example app's API, watch the live feed.
// Notifications come from tidings through its JavaScript client (clients/js, served by the
// example app at /sdk/ from its built dist/ folder: no build step), in protocol v2: items can
// be marked read or archived, "mark all read" reads everything, and the unread badge comes
// from the stream, the same in every window of the user (inbox.js). Everything processed is
// acknowledged; the acknowledged position is what GET /stream/cursor reports, read again each
// time the client sends an ack (and, while the page is offline, the server's counts too).

import { MemoryCursorStore, TidingsClient } from "/sdk/index.js";
import { SESSION_ID, api, fromThisTab, state, whenRevoked } from "/static/api.js";
import { addToFeed, describe, suppress } from "/static/feed.js";
import { renderState, showCounts, wireMarkAllRead, withStateButtons } from "/static/inbox.js";
import { clearErrors, form, render, say, showError, wireForms } from "/static/panels.js";

const DEVICE = "web";
const CURSOR_REFRESH_MS = 2000;
// The client's default ack delay is 1 s (it batches acks on busy streams); the page acks
// within 100 ms so that the acknowledged position follows what is on screen.
const ACK_DELAY_MS = 100;
const $ = (id) => document.getElementById(id);

const timers = {};
function later(name, action, delay) {
  clearTimeout(timers[name]);
  timers[name] = setTimeout(action, delay);
}

async function refreshCursor() {
  if (state.ended) return;
  try {
    const cursor = await api(`/stream/cursor?device=${DEVICE}`);
    $("acked").textContent = String(cursor.acked);
    // Live, the counts come from the stream (onCounts); offline, the server says what it has.
    if (state.client?.state !== "live") showCounts(cursor.counts);
  } catch {
    /* the server is away (the next refresh tries again) or the session ended */
  }
}

async function refreshMe() {
  if (state.ended) return;
  try {
    render(await api("/api/me"), refreshMe);
  } catch {
    /* as above */
  }
}

async function refreshShop() {
  try {
    state.shop = (await api("/api/shop")).items;
    if (state.me) render(state.me, refreshMe);
  } catch {
    /* as above */
  }
}

// A WebSocket that tells the page when the client acknowledges, to show the server's count.
class AckWatchingSocket extends WebSocket {
  send(data) {
    super.send(data);
    if (typeof data === "string" && data.includes('"type":"ack"')) later("cursor", refreshCursor, 50);
  }
}

// The page's role as of the last role_changed it processed (or sign-in): a role_changed that
// moves it to the new role is about this user, any other is a notice about another member.
let roleSeen = null;

async function roleContext(notification) {
  if (notification.event !== "role_changed") return {};
  await refreshMe();
  const now = state.me?.family?.role ?? null;
  const roleIsMine = now === notification.data.new_role && roleSeen !== notification.data.new_role;
  roleSeen = now;
  return { roleIsMine };
}

async function onNotification(notification) {
  const context = await roleContext(notification);
  const item = addToFeed({
    seq: notification.seq,
    event: notification.event,
    text: describe(notification.event, notification.data, context),
    createdAt: notification.createdAt,
  });
  // About a change made in this tab, already shown as its result: hidden, still acked.
  if (notification.originSession === SESSION_ID) suppress(item);
  withStateButtons(item, notification.seq);
  $("last-seq").textContent = String(notification.seq);
  $("position").textContent = String(notification.pos);
  renderState();
  later("me", refreshMe, 100);
}

function onChange(change) {
  $("position").textContent = String(change.pos);
  renderState();
}

function showStatus() {
  const clientState = state.client?.state ?? "idle";
  let shown = clientState;
  if (state.ended) shown = "ended";
  else if (!navigator.onLine) shown = "offline";
  else if (clientState === "stopped" || clientState === "backoff") shown = "offline";
  else if (clientState === "connecting" && state.wasLive) shown = "offline";
  const texts = { ended: "session ended", offline: clientState === "stopped" ? "offline" : "offline · reconnecting" };
  const status = $("status");
  status.textContent = texts[shown] ?? shown;
  status.dataset.status = clientState;
  status.dataset.shown = shown;
  $("disconnect").disabled = state.ended || clientState === "stopped" || clientState === "idle";
  $("reconnect").disabled = state.ended || clientState !== "stopped";
}

// How long a refusal from the API waits for the socket's own close (see onApiRevoked).
const REVOKED_GRACE_MS = 5000;

/** This tab's token was revoked (the server said so): stop for good and say why. `closeCode`
 * is 4403 when the server closed the socket, null when the API refused the token. */
async function endSession(closeCode = null) {
  if (state.ended) return;
  state.ended = true;
  clearInterval(timers.cursorInterval);
  clearTimeout(timers.revoked);
  const ended = $("session-ended");
  ended.textContent =
    closeCode === 4403
      ? "Session ended: the server closed this sign-in's connection (its token was revoked: was the password changed?). Switch user to sign in again."
      : "Session ended: this sign-in is no longer valid (was the password changed?). Switch user to sign in again.";
  ended.dataset.closeCode = closeCode === null ? "" : String(closeCode);
  ended.hidden = false;
  for (const control of document.querySelectorAll("#workspace button, #workspace input, #workspace select")) {
    control.disabled = true;
  }
  showStatus();
  await state.client?.stop();
  showStatus();
}

/** The API refused this tab's token. While the socket is live, the server closes it (4403)
 * once it has delivered what the revocation came with (e.g. password_changed): let that
 * close end the session, or end it after a grace period. */
function onApiRevoked() {
  if (state.client?.state === "live") later("revoked", () => endSession(null), REVOKED_GRACE_MS);
  else endSession(null);
}

function start() {
  const client = state.client;
  client.start();
  client.waitStopped().then((info) => {
    // 4403 on the socket (closeCode), or 403 for a ticket (no closeCode)
    if (info.reason === "revoked") endSession(info.closeCode ?? null);
  });
}

function startFromTheBeginning(user) {
  const store = new MemoryCursorStore();
  store.save({ userId: user, seq: 0, protocol: 2 });
  return store;
}

function createClient(user) {
  state.client = new TidingsClient({
    url: window.location.origin,
    getToken: async () => state.token,
    protocol: 2, // read, archive and the counts on the stream, the same in every window
    onChange,
    onCounts: showCounts,
    device: DEVICE,
    sessionId: SESSION_ID,
    deliverOwn: true, // the page shows its own changes as hidden items, to keep seqs visible
    store: startFromTheBeginning(user), // the whole retained history
    acks: { maxDelayMs: ACK_DELAY_MS },
    WebSocket: AckWatchingSocket,
    onNotification,
    onBroadcast: (broadcast) => {
      addToFeed({
        kind: "broadcast",
        event: broadcast.event,
        text: describe(broadcast.event, broadcast.data),
        createdAt: broadcast.createdAt,
      });
      if (broadcast.event === "shop_updated") later("shop", refreshShop, 100);
    },
    onResync: () => addToFeed({ kind: "notice", text: "Some older notifications are no longer retained." }),
    onStateChange: (clientState) => {
      if (clientState === "live") {
        state.wasLive = true;
        refreshCursor();
      }
      showStatus();
    },
    onError: (error) => {
      if (error.code === "gap") addToFeed({ kind: "notice", text: `Gap: ${error.message}` });
    },
  });
}

/** Change the password: this tab closes its socket first (its token is about to be revoked)
 * and reconnects with the fresh token the app answers; the other sessions are signed out. */
async function changePassword(newPassword) {
  const target = form("password");
  clearErrors(target);
  const wasRunning = state.client.state !== "stopped";
  await state.client.stop();
  state.renewing = true;
  try {
    const { token } = await api("/api/password", { new_password: newPassword }, fromThisTab);
    state.token = token;
    target.reset();
    say("Password changed; your other sessions were signed out", "ok");
  } catch (error) {
    showError(target, error);
  } finally {
    state.renewing = false;
    if (wasRunning && !state.ended) start();
  }
}

function wireConnection() {
  $("disconnect").onclick = () => state.client.stop();
  $("reconnect").onclick = () => start(); // resumes after client.position
  $("switch-user").onclick = () => window.location.reload();
  wireMarkAllRead();
  window.addEventListener("offline", showStatus);
  window.addEventListener("online", () => {
    showStatus();
    // Back online: try now rather than at the end of a backoff delay.
    if (!state.ended && state.client.state === "backoff") state.client.stop().then(start);
  });
}

async function signIn(user) {
  const { token } = await api("/demo/token", { user, session_id: SESSION_ID });
  state.user = user;
  state.token = token;
  document.title = `${user} · Second Brain`;
  $("login").hidden = true;
  $("workspace").hidden = false;
  $("session-bar").hidden = false;
  form("profile").elements.display_name.value = `${user[0].toUpperCase()}${user.slice(1)} ${SESSION_ID.slice(0, 4)}`;
  state.users = (await api("/api/users")).users;
  await refreshShop();
  wireForms({ refresh: refreshMe, changePassword });
  wireConnection();
  whenRevoked(onApiRevoked);
  await refreshMe();
  roleSeen = state.me?.family?.role ?? null;
  await refreshCursor();
  createClient(user);
  timers.cursorInterval = setInterval(refreshCursor, CURSOR_REFRESH_MS);
  start();
}

async function main() {
  const { users } = await api("/api/users");
  $("user-buttons").replaceChildren(
    ...users.map((user) => {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = user;
      button.dataset.testid = `login-${user}`;
      button.addEventListener("click", () =>
        signIn(user).catch((error) => {
          $("login-error").textContent = error.message;
        }),
      );
      return button;
    }),
  );
  showStatus();
}

main();
