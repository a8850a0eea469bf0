// The live feed: one line of text per event of the catalog, newest first.

const $ = (id) => document.getElementById(id);

const article = (role) => (role === "admin" ? "an admin" : "a member");

const TEXTS = {
  sbd_tokens_received: (d) => `${d.from_username} sent you ${d.amount} SBD · new balance ${d.new_balance}`,
  sbd_tokens_sent: (d) => `You sent ${d.amount} SBD to ${d.to_username} · new balance ${d.new_balance}`,
  family_invitation_received: (d) => `${d.inviter_username} invited you to ${d.family_name}`,
  family_invitation_responded: (d) => `${d.invitee_username} ${d.action} the family invitation`,
  family_member_joined: (d) => `${d.new_member_username} joined the family`,
  family_member_left: (d) => `${d.member_username} left the family`,
  role_changed: (d, context) =>
    context.roleIsMine
      ? `You are now ${article(d.new_role)} of the family`
      : `A family member is now ${article(d.new_role)}`,
  token_request_created: (d) => `${d.requester_username} asks the family account for ${d.amount} SBD`,
  token_request_reviewed: (d) => `Your token request was ${d.status} by ${d.reviewer_username}`,
  family_account_status_changed: (d) => `The family account was ${d.is_frozen ? "frozen" : "unfrozen"}`,
  family_shop_purchase: (d) =>
    `${d.purchaser_username} bought the ${d.item_type} ${d.item_id} for the family · ${d.price} SBD`,
  shop_updated: (d) =>
    `Shop: new ${(d.new_items || []).map((i) => `${i.item_type} "${i.name}" (${i.price} SBD)`).join(", ")}`,
  profile_updated: (d) => d.message || `Profile updated (${(d.updated_fields || []).join(", ")})`,
  appearance_updated: (d) => `Your ${d.updated_item} is now ${d.new_item_id} (changed in another window)`,
  two_factor_changed: (d) => `Two-factor authentication is ${d.enabled ? "on" : "off"}`,
  password_changed: (d) => d.message,
  new_device_login: (d) => `New sign-in: ${d.device} from ${d.ip} at ${new Date(d.at).toLocaleTimeString()}`,
};

/** The feed's text for a notification; `context.roleIsMine` words `role_changed`. */
export function describe(event, data, context = {}) {
  const text = TEXTS[event];
  return text ? text(data, context) : JSON.stringify(data);
}

function time(iso) {
  const element = document.createElement("time");
  element.dateTime = iso;
  element.textContent = new Date(iso).toLocaleTimeString();
  return element;
}

/** Prepend one item; `kind` is undefined (a notification), "broadcast" or "notice". */
export function addToFeed({ seq, event, text, createdAt, kind }) {
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
  $("feed").prepend(item);
  $("feed-empty").hidden = true;
  return item;
}

/** Hide an item about a change made in this tab (it is still acknowledged). */
export function suppress(item) {
  item.hidden = true;
  item.dataset.suppressed = "true";
  const hidden = document.querySelectorAll("#feed li[data-suppressed]").length;
  $("suppressed-note").textContent =
    `${hidden} notification${hidden === 1 ? "" : "s"} about changes made in this tab hidden (still acknowledged).`;
  $("suppressed-note").hidden = false;
}
