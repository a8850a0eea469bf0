// What the browser scenarios share: launching Chromium, signing a page in, waiting on the
// page (every wait is for a condition, with a timeout: no fixed sleeps) and reading its feed.

import { chromium } from "playwright-core";

export const DEMO_URL = process.env.DEMO_URL || "http://127.0.0.1:8000";
export const ARTIFACTS = process.env.ARTIFACTS || "artifacts";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS || 10000);
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];
export const DESKTOP = { width: 1180, height: 860 };

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** A page of its own browser context signed in as `user` and live; `page.token` is the
 * token it got (see also `changePassword`). */
export async function openAs(browser, user, problems, { viewport = DESKTOP, userAgent, before } = {}) {
  const context = await browser.newContext({ viewport, ...(userAgent ? { userAgent } : {}) });
  const page = await context.newPage();
  page.user = user;
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on("pageerror", (error) => problems.push(`${user}: ${error.message}`));
  page.sockets = [];
  page.on("websocket", (socket) => page.sockets.push(new URL(socket.url())));
  page.on("console", (message) => {
    // A refused request (4xx) is part of what the scenarios try; the page shows it itself.
    const refused = /Failed to load resource: the server responded with a status of 4\d\d/.test(message.text());
    if (message.type() === "error" && !refused) {
      problems.push(`${user} console: ${message.text()} (${message.location().url})`);
    }
  });
  if (before) await before(page);
  await page.goto(DEMO_URL);
  const signedIn = page.waitForResponse((r) => new URL(r.url()).pathname === "/demo/token");
  await page.getByTestId(`login-${user}`).click();
  page.token = (await (await signedIn).json()).token;
  await waitText(page, "username", user);
  await waitLive(page);
  return page;
}

export async function waitLive(page) {
  await page.locator('[data-testid="status"][data-status="live"]').waitFor();
}

export async function waitText(page, testId, expected) {
  await page.waitForFunction(
    ([id, text]) => document.querySelector(`[data-testid="${id}"]`)?.textContent === text,
    [testId, String(expected)],
  );
}

export async function number(page, testId) {
  return Number(await page.getByTestId(testId).textContent());
}

/** Submit form `name` by its button `testId` and wait for the page's success message. */
export async function submit(page, testId, message) {
  await page.getByTestId(testId).click();
  await waitText(page, "message", message);
}

/** Change the password in `page`; `page.token` becomes the fresh token the app answered. */
export async function changePassword(page, password) {
  await page.getByTestId("new-password").fill(password);
  const answered = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/password");
  const old = page.token;
  await submit(page, "change-password", "Password changed; your other sessions were signed out");
  page.token = (await (await answered).json()).token;
  return old;
}

/** The message shown next to `field` in form `name`. */
export function fieldError(page, name, field) {
  return page.locator(`form[data-form="${name}"] [data-error-for="${field}"]`);
}

export async function waitCount(page, selector, count) {
  await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length >= n, [selector, count]);
  return page.locator(selector).count();
}

/** Every stored notification on the page, oldest first (the feed shows newest first). */
export async function feed(page) {
  const items = await page.locator("#feed li[data-seq]").evaluateAll((nodes) =>
    nodes.map((node) => ({
      seq: Number(node.dataset.seq),
      event: node.dataset.event,
      text: node.querySelector(".text").textContent,
      hidden: node.hidden,
    })),
  );
  return items.reverse();
}

/** Wait until `page` shows (visible) an item of `event` whose text contains `text`. */
export async function waitShown(page, event, text) {
  await page.waitForFunction(
    ([name, words]) =>
      [...document.querySelectorAll(`#feed li[data-event="${name}"]`)].some(
        (item) => !item.hidden && item.querySelector(".text").textContent.includes(words),
      ),
    [event, text],
  );
}

/** Wait until `page` holds a hidden item of `event` containing `text` (its own change). */
export async function waitSuppressed(page, event, text) {
  await page.waitForFunction(
    ([name, words]) =>
      [...document.querySelectorAll(`#feed li[data-event="${name}"][data-suppressed="true"]`)].some(
        (item) => item.hidden && item.querySelector(".text").textContent.includes(words),
      ),
    [event, text],
  );
}

async function cursor(page) {
  const response = await fetch(`${DEMO_URL}/notifications/cursor?device=web`, {
    headers: { Authorization: `Bearer ${page.token}` },
  });
  check(response.ok, `${page.user}: cursor answered ${response.status}`);
  return response.json();
}

/** Wait until `page` has processed every notification routed to its user so far. */
export async function settled(page) {
  const { head } = await cursor(page);
  await page.waitForFunction(
    (target) => Number(document.querySelector('[data-testid="last-seq"]').textContent) >= target,
    head,
  );
}

async function visibleTexts(page, event) {
  return page
    .locator(`#feed li[data-event="${event}"]`)
    .evaluateAll((nodes) => nodes.filter((n) => !n.hidden).map((n) => n.querySelector(".text").textContent));
}

/** One event's audience on the pages: `shown` display it (text containing `text`), `hidden`
 * hold it hidden (the acting tab), and every other page of `all`, once it has processed all
 * that was routed to it, shows no such item. */
export async function expectAudience(all, event, text, { shown = [], hidden = [] }) {
  for (const page of shown) await waitShown(page, event, text);
  for (const page of hidden) await waitSuppressed(page, event, text);
  for (const page of all) {
    if (shown.includes(page)) continue;
    await settled(page);
    const texts = (await visibleTexts(page, event)).filter((t) => t.includes(text));
    check(texts.length === 0, `${page.user} (${page.label || ""}) shows ${event}: ${texts}`);
  }
}

/** Run `scenario(browser, problems)`, print its result as one JSON line, exit 0 or 1. */
export async function main(scenario) {
  const problems = [];
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  let exitCode = 0;
  try {
    const result = await scenario(browser, problems);
    check(problems.length === 0, `page errors: ${problems.join("; ")}`);
    console.log(JSON.stringify({ ok: true, ...result }));
  } catch (error) {
    console.log(JSON.stringify({ ok: false, error: String(error.stack || error), problems }));
    exitCode = 1;
  } finally {
    await browser.close();
  }
  process.exit(exitCode);
}
