// Inbox state on the page (tidings protocol v2): "mark read" and "archive" on each item,
// "mark all read", and the unread badge. The state and the counts are the client's, built
// from the stream, so every window of the user shows the same at once, without a refetch.

import { state } from "/static/api.js";
import { say } from "/static/panels.js";

const $ = (id) => document.getElementById(id);

function stateButton(label, testId, action) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "tiny secondary";
  button.textContent = label;
  button.dataset.testid = testId;
  button.addEventListener("click", () => action().catch((error) => say(error.message, "error")));
  return button;
}

/** Give a feed item for notification `seq` its "mark read" and "archive" buttons. */
export function withStateButtons(item, seq) {
  const actions = document.createElement("span");
  actions.className = "note-actions";
  actions.append(
    stateButton("Mark read", "mark-read", () => state.client.markRead([seq])),
    stateButton("Archive", "archive", () => state.client.archive([seq])),
  );
  item.append(actions);
}

/** Show every item's read, archived and retracted state as the client holds it. */
export function renderState() {
  for (const item of document.querySelectorAll("#feed li[data-seq]")) {
    const held = state.client?.itemState(Number(item.dataset.seq));
    item.dataset.read = String(Boolean(held?.read));
    item.dataset.archived = String(Boolean(held?.archived));
    item.dataset.retracted = String(Boolean(held?.retracted));
  }
}

/** The counts: the unread badge, the unread and not-archived facts, and the title. */
export function showCounts(counts) {
  $("unread").textContent = String(counts.unread);
  $("unarchived").textContent = String(counts.unarchived);
  $("badge").textContent = String(counts.unread);
  $("badge").hidden = false;
  document.title = `${counts.unread ? `(${counts.unread}) ` : ""}${state.user} · Second Brain`;
}

/** "Mark all read": everything up to the newest notification this page knows. */
export function wireMarkAllRead() {
  $("mark-all-read").onclick = () => state.client.markAllRead().catch((error) => say(error.message, "error"));
}
