// The page's panels: what the signed-in user sees and may do, re-rendered from GET /api/me.
// Every action is a form; a refusal is shown next to the field it names (or under the form).

import { api, fromThisTab, state } from "/static/api.js";

const $ = (id) => document.getElementById(id);
const form = (name) => document.querySelector(`form[data-form="${name}"]`);

export function say(text, kind = "ok") {
  $("message").textContent = text;
  $("message").className = `message ${kind}`;
}

function clearErrors(target) {
  for (const slot of target.querySelectorAll("[data-error-for]")) slot.textContent = "";
}

/** Show `error` beside its field in `target`, or under the form when it names none there. */
export function showError(target, error) {
  const slot =
    (error.field && target.querySelector(`[data-error-for="${error.field}"]`)) ||
    target.querySelector('[data-error-for="form"]');
  slot.textContent = error.message;
}

/** POST `body` to `path` on behalf of form `name`; say `done` or show the refusal there. */
export async function act(name, path, body, done, headers = {}, refresh = async () => undefined) {
  const target = form(name);
  clearErrors(target);
  try {
    const result = await api(path, body, headers);
    say(done, "ok");
    await refresh();
    return result;
  } catch (error) {
    if (error.code !== "token_revoked") showError(target, error);
    return null;
  }
}

function setOptions(select, options) {
  const kept = select.value;
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
  if (options.some(([value]) => value === kept)) select.value = kept;
}

function button(text, testid, onClick, { secondary = false, ...data } = {}) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.className = secondary ? "secondary" : "";
  element.dataset.testid = testid;
  Object.assign(element.dataset, data);
  element.addEventListener("click", onClick);
  return element;
}

function item(text, ...buttons) {
  const li = document.createElement("li");
  const label = document.createElement("span");
  label.textContent = text;
  li.append(label, ...buttons);
  return li;
}

function showWhen(me) {
  const family = me.family;
  const shown = { family: family !== null, admin: family?.role === "admin", "no-family": family === null };
  for (const element of document.querySelectorAll("[data-when]")) {
    element.hidden = !shown[element.dataset.when];
  }
}

function renderFamily(family, refresh) {
  if (family === null) return;
  const isAdmin = family.role === "admin";
  const frozen = family.is_frozen ? " · frozen" : "";
  $("family-account").textContent = `${family.name} · account ${family.balance} SBD${frozen}`;
  const role = (m) => () =>
    act("roles", `/api/family/members/${encodeURIComponent(m.username)}/role`,
      { role: m.role === "admin" ? "member" : "admin" }, `${m.username}'s role changed`, {}, refresh);
  $("members").replaceChildren(
    ...family.members.map((m) => {
      const change = isAdmin && m.username !== state.user
        ? [button(m.role === "admin" ? "Make member" : "Make admin", `role-${m.username}`, role(m), { secondary: true })]
        : [];
      return item(`${m.username} · ${m.role}`, ...change);
    }),
  );
  const review = (r, verdict) => () =>
    act("family-actions", `/api/family/requests/${encodeURIComponent(r.id)}/${verdict}`, {},
      `Request ${verdict === "approve" ? "approved" : "denied"}`, {}, refresh);
  $("requests").replaceChildren(
    ...family.requests.map((r) =>
      r.requester === state.user
        ? item(`You ask ${r.amount} SBD (another admin reviews it)`)
        : item(`${r.requester} asks ${r.amount} SBD`,
            button("Approve", "approve-request", review(r, "approve"), { requester: r.requester }),
            button("Deny", "deny-request", review(r, "deny"), { requester: r.requester })),
    ),
  );
  $("no-requests").hidden = family.requests.length > 0;
  const members = new Set(family.members.map((m) => m.username));
  setOptions(form("invite").elements.username, state.users.filter((u) => !members.has(u)).map((u) => [u, u]));
  document.querySelector('[data-testid="freeze"]').textContent = family.is_frozen ? "Unfreeze account" : "Freeze account";
}

function renderInvitations(invitations, refresh) {
  const answer = (invitation, verdict, done) => () =>
    act("invitations", `/api/family/invitations/${encodeURIComponent(invitation.id)}/${verdict}`, {}, done, {}, refresh);
  $("invitations").replaceChildren(
    ...invitations.map((invitation) =>
      item(`${invitation.family_name} · from ${invitation.inviter}`,
        button("Accept", "accept-invite", answer(invitation, "accept", "Joined the family"), { invitationId: invitation.id }),
        button("Decline", "decline-invite", answer(invitation, "decline", "Invitation declined"), {
          invitationId: invitation.id,
          secondary: true,
        })),
    ),
  );
  $("no-invitations").hidden = invitations.length > 0;
}

function renderAppearance(me) {
  const looks = me.appearance;
  $("appearance").textContent = `avatar ${looks.avatar ?? "none"} · banner ${looks.banner ?? "none"} · theme ${looks.theme ?? "none"}`;
  const slot = form("appearance").elements.updated_item.value;
  setOptions(form("appearance").elements.item_id,
    state.shop.filter((i) => i.item_type === slot).map((i) => [i.id, `${i.name} (${i.id})`]));
}

/** Show `me` (GET /api/me) in every panel. */
export function render(me, refresh) {
  state.me = me;
  $("display-name").textContent = me.display_name;
  $("username").textContent = me.username;
  $("balance").textContent = String(me.balance);
  $("family").textContent = me.family ? `${me.family.name} (${me.family.role})` : "none";
  $("two-factor-state").textContent = me.two_factor ? "on" : "off";
  document.querySelector('[data-testid="two-factor"]').textContent = me.two_factor ? "Turn off" : "Turn on";
  setOptions(form("transfer").elements.to, state.users.filter((u) => u !== state.user).map((u) => [u, u]));
  setOptions(form("purchase").elements.item_id,
    state.shop.map((i) => [i.id, `${i.name} · ${i.item_type} · ${i.price} SBD`]));
  showWhen(me);
  renderFamily(me.family, refresh);
  renderInvitations(me.invitations, refresh);
  renderAppearance(me);
}

function onSubmit(name, handler) {
  form(name).addEventListener("submit", (event) => {
    event.preventDefault();
    handler(form(name).elements);
  });
}

/** Wire every form; `changePassword(newPassword)` is the app's (it renews the session). */
export function wireForms({ refresh, changePassword }) {
  const post = (name, path, body, done, headers) => act(name, path, body, done, headers, refresh);
  onSubmit("transfer", (f) =>
    post("transfer", "/api/transfer", { to: f.to.value, amount: Number(f.amount.value) }, `Sent ${f.amount.value} SBD to ${f.to.value}`));
  onSubmit("invite", (f) => post("invite", "/api/family/invite", { username: f.username.value }, `Invited ${f.username.value}`));
  onSubmit("request", (f) =>
    post("request", "/api/family/requests", { amount: Number(f.amount.value) }, `Asked for ${f.amount.value} SBD`));
  onSubmit("purchase", (f) => post("purchase", "/api/family/purchases", { item_id: f.item_id.value }, "Bought for the family"));
  document.querySelector('[data-testid="freeze"]').addEventListener("click", () => {
    const frozen = !state.me.family.is_frozen;
    post("family-actions", "/api/family/account", { frozen }, frozen ? "Account frozen" : "Account unfrozen");
  });
  document.querySelector('[data-testid="leave"]').addEventListener("click", () =>
    post("family-actions", "/api/family/leave", {}, "Left the family"));
  onSubmit("profile", (f) =>
    post("profile", "/api/profile", { display_name: f.display_name.value }, "Profile updated"));
  form("appearance").elements.updated_item.addEventListener("change", () => renderAppearance(state.me));
  onSubmit("appearance", (f) =>
    post("appearance", "/api/appearance", { updated_item: f.updated_item.value, item_id: f.item_id.value },
      `Your ${f.updated_item.value} is now ${f.item_id.value}`, fromThisTab));
  onSubmit("two-factor", () => {
    const enabled = !state.me.two_factor;
    post("two-factor", "/api/two-factor", { enabled }, `Two-factor turned ${enabled ? "on" : "off"}`);
  });
  onSubmit("password", (f) => changePassword(f.new_password.value));
  onSubmit("shop", () => post("shop", "/api/shop/items", {}, "Shop updated for everyone"));
}

export { clearErrors, form };
