// The demo page: sign in as a demo user, act on the example app's API, watch the live feed.
// Notifications come from tidings through its JavaScript client (clients/js, served by the
// example app at /sdk/ from its built dist/ folder: no build step), in protocol v2: each
// notification can be marked read or archived, "mark all read" reads everything, and the
// unread badge is the same in every window of the user (state changes are on the stream).
// Everything processed is acknowledged; the acknowledged position comes from GET /stream/cursor.

import { MemoryCursorStore, TidingsClient } from "/sdk/index.js";

const DEVICE = "web";
const CURSOR_REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);

// This tab's session id: the app stamps it on the changes made here (origin_session), and
// the page hides notifications about its own changes, while still acknowledging them.
const SESSION_ID = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) =>
  b.toString(16).padStart(2, "0"),
).join("");

const state = { user: null, token: null, client: null };

function describe(event, data) {
  switch (event) {
    case "sbd_tokens_received":
      return `${data.from_username} sent you ${data.amount} SBD · new balance ${data.new_balance}`;
    case "sbd_tokens_sent":
      return `You sent ${data.amount} SBD to ${data.to_username} · new balance ${data.new_balance}`;
    case "family_invitation_received":
      return `${data.inviter_username} invited you to ${data.family_name}`;
    case "family_invitation_responded":
      return `${data.invitee_username} ${data.action} your invitation`;
    case "family_member_joined":
      return `${data.new_member_username} joined the family`;
    case "profile_updated":
      return data.message || `Profile updated (${(data.updated_fields || []).join(", ")})`;
    case "shop_updated":
      return `Shop: new ${(data.new_items || []).map((i) => `${i.item_type} "${i.name}" (${i.price} SBD)`).join(", ")}`;
    default:
      return JSON.stringify(data);
  }
}

function say(text, kind = "ok") {
  const message = $("message");
  message.textContent = text;
  message.className = `message ${kind}`;
}

async function api(path, body, headers = {}) {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: {
      ...headers,
      ...(state.token ? { Authorization: `Bearer ${state.token}` } : {}),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.message || payload.code);
  return payload;
}

function time(iso) {
  const element = document.createElement("time");
  element.dateTime = iso;
  element.textContent = new Date(iso).toLocaleTimeString();
  return element;
}

function stateButton(label, testId, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "tiny secondary";
  button.textContent = label;
  button.dataset.testid = testId;
  button.addEventListener("click", () => action().catch((error) => say(error.message, "error")));
  return button;
}

// The read, archived and retracted state of every item shown, as the client holds it.
function renderState() {
  for (const item of document.querySelectorAll("#feed li[data-seq]")) {
    const held = state.client?.itemState(Number(item.dataset.seq));
    item.dataset.read = String(Boolean(held?.read));
    item.dataset.archived = String(Boolean(held?.archived));
    item.dataset.retracted = String(Boolean(held?.retracted));
  }
}

function showCounts(counts) {
  $("unread").textContent = String(counts.unread);
  $("unarchived").textContent = String(counts.unarchived);
  $("badge").textContent = String(counts.unread);
  $("badge").hidden = false;
  document.title = `${counts.unread ? `(${counts.unread}) ` : ""}${state.user} · Second Brain`;
}

function addToFeed({ seq, event, text, createdAt, kind }) {
  const item = document.createElement("li");
  item.className = `note ${kind || ""} fresh`;
  item.dataset.testid = kind === "broadcast" ? "broadcast" : kind === "notice" ? "notice" : "notification";
  if (seq !== undefined) item.dataset.seq = String(seq);
  if (event) item.dataset.event = event;
  const label = document.createElement("span");
  label.className = "seq";
  label.textContent = seq !== undefined ? `#${seq}` : kind === "broadcast" ? "all" : "!";
  const name = document.createElement("span");
  name.className = "event";
  name.textContent = event || "";
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(label, name, createdAt ? time(createdAt) : document.createElement("span"), body);
  if (seq !== undefined) {
    const actions = document.createElement("span");
    actions.className = "actions";
    actions.append(
      stateButton("Mark read", "mark-read", () => state.client.markRead([seq])),
      stateButton("Archive", "archive", () => state.client.archive([seq])),
    );
    item.append(actions);
  }
  $("feed").prepend(item);
  $("feed-empty").hidden = true;
  return item;
}

function onNotification(notification) {
  const item = addToFeed({
    seq: notification.seq,
    event: notification.event,
    text: describe(notification.event, notification.data),
    createdAt: notification.createdAt,
  });
  if (notification.originSession === SESSION_ID) {
    // About a change made in this tab, already shown as its result: hidden, still acked.
    item.hidden = true;
    item.dataset.suppressed = "true";
    const hidden = document.querySelectorAll("#feed li[data-suppressed]").length;
    $("suppressed-note").textContent =
      `${hidden} notification${hidden === 1 ? "" : "s"} about changes made in this tab hidden (still acknowledged).`;
    $("suppressed-note").hidden = false;
  }
  $("last-seq").textContent = String(notification.seq);
  $("position").textContent = String(notification.pos);
  renderState();
  later("cursor", refreshCursor, 400); // the client acks within 100 ms
  later("me", refreshMe, 100);
}

function onChange(change) {
  $("position").textContent = String(change.pos);
  renderState();
  later("cursor", refreshCursor, 400);
}

const timers = {};
function later(name, action, delay) {
  clearTimeout(timers[name]);
  timers[name] = setTimeout(action, delay);
}

async function refreshCursor() {
  try {
    const cursor = await api(`/stream/cursor?device=${DEVICE}`);
    $("acked").textContent = String(cursor.acked);
  } catch (error) {
    /* the server is away: the next refresh tries again */
  }
}

function renderInvitations(invitations) {
  const list = $("invitations");
  list.replaceChildren(
    ...invitations.map((invitation) => {
      const item = document.createElement("li");
      const text = document.createElement("span");
      text.textContent = `${invitation.family_name} · from ${invitation.inviter}`;
      const accept = document.createElement("button");
      accept.type = "button";
      accept.textContent = "Accept";
      accept.dataset.testid = "accept-invite";
      accept.dataset.invitationId = invitation.id;
      accept.addEventListener("click", () =>
        act(`/api/family/invitations/${encodeURIComponent(invitation.id)}/accept`, {}, "Joined the family"),
      );
      item.append(text, accept);
      return item;
    }),
  );
  $("no-invitations").hidden = invitations.length > 0;
}

async function refreshMe() {
  const me = await api("/api/me");
  $("display-name").textContent = me.display_name;
  $("username").textContent = me.username;
  $("balance").textContent = String(me.balance);
  $("family").textContent = me.family
    ? `${me.family.name} (${me.family.role}) · ${me.family.members.join(", ")}`
    : "none";
  renderInvitations(me.invitations);
}

async function act(path, body, done, headers) {
  try {
    await api(path, body, headers);
    say(done, "ok");
    await refreshMe();
  } catch (error) {
    say(error.message, "error");
  }
}

function wireActions(users) {
  const target = $("target");
  target.replaceChildren(
    ...users.filter((u) => u !== state.user).map((u) => new Option(u, u)),
  );
  $("transfer").onclick = () => {
    const amount = Number($("amount").value);
    act("/api/transfer", { to: target.value, amount }, `Sent ${amount} SBD to ${target.value}`);
  };
  $("invite").onclick = () =>
    act("/api/family/invite", { username: target.value }, `Invited ${target.value}`);
  $("update-profile").onclick = () =>
    act(
      "/api/profile",
      { display_name: $("new-name").value || state.user },
      "Profile updated",
      { "X-Session-Id": SESSION_ID },
    );
  $("shop-update").onclick = () => act("/api/shop/items", {}, "Shop updated for everyone");
  $("disconnect").onclick = () => state.client.stop();
  $("reconnect").onclick = () => state.client.start(); // resumes after client.position
  $("mark-all-read").onclick = () =>
    state.client.markAllRead().catch((error) => say(error.message, "error"));
  $("switch-user").onclick = () => window.location.reload();
}

function showState(clientState) {
  const status = $("status");
  status.textContent = clientState === "stopped" ? "offline" : clientState;
  status.dataset.status = clientState;
  $("disconnect").disabled = clientState === "stopped" || clientState === "idle";
  $("reconnect").disabled = clientState !== "stopped";
}

function startFromTheBeginning(user) {
  const store = new MemoryCursorStore();
  store.save({ userId: user, seq: 0, protocol: 2 });
  return store;
}

function startClient(user) {
  const client = new TidingsClient({
    url: window.location.origin,
    getToken: async () => state.token,
    protocol: 2, // read, archive and the counts on the stream, the same in every window
    onChange,
    onCounts: showCounts,
    device: DEVICE,
    sessionId: SESSION_ID,
    deliverOwn: true, // the page shows its own changes as hidden items, to keep seqs visible
    store: startFromTheBeginning(user), // the whole retained history
    onNotification,
    onBroadcast: (broadcast) =>
      addToFeed({
        kind: "broadcast",
        event: broadcast.event,
        text: describe(broadcast.event, broadcast.data),
        createdAt: broadcast.createdAt,
      }),
    onResync: () =>
      addToFeed({ kind: "notice", text: "Some older notifications are no longer retained." }),
    onStateChange: (clientState) => {
      showState(clientState);
      if (clientState === "live") refreshCursor();
    },
    onError: (error) => {
      if (error.code === "gap") addToFeed({ kind: "notice", text: `Gap: ${error.message}` });
    },
  });
  state.client = client;
  setInterval(refreshCursor, CURSOR_REFRESH_MS);
  client.start();
}

async function signIn(user) {
  const { token } = await api("/demo/token", { user });
  state.user = user;
  state.token = token;
  document.title = `${user} · Second Brain`;
  $("login").hidden = true;
  $("workspace").hidden = false;
  $("session-bar").hidden = false;
  $("new-name").value = `${user[0].toUpperCase()}${user.slice(1)} ${SESSION_ID.slice(0, 4)}`;
  wireActions((await api("/api/users")).users);
  await refreshMe();
  await refreshCursor();
  startClient(user);
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
}

main();
