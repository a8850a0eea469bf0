// Drives the demo page in headless Chromium with two users, alice and bob, in two browser
// contexts, then a second window of bob's (inbox state, protocol v2: the same badge in both).
// Run by tests/e2e/test_demo_browser.py against `python -m examples.demo`:
//
//   DEMO_URL=http://127.0.0.1:8000 SCREENSHOT=../../test-artifacts/e2e-demo.png node demo.e2e.mjs
//
// Prints one JSON line with what it saw and exits 0, or prints the failure and exits 1. Every
// wait is for a selector or a condition on the page, with a timeout: no fixed sleeps.

import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { chromium } from "playwright-core";

const DEMO_URL = process.env.DEMO_URL || "http://127.0.0.1:8000";
const SCREENSHOT = process.env.SCREENSHOT || "../../test-artifacts/e2e-demo.png";
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

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function openAs(browser, user, problems) {
  const context = await browser.newContext({ viewport: { width: 1180, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on("pageerror", (error) => problems.push(`${user}: ${error.message}`));
  page.sockets = [];
  page.on("websocket", (socket) => page.sockets.push(new URL(socket.url())));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${user} console: ${message.text()} (${message.location().url})`);
  });
  await page.goto(DEMO_URL);
  await page.getByTestId(`login-${user}`).click();
  await waitText(page, "username", user);
  await page.locator('[data-testid="status"][data-status="live"]').waitFor();
  return page;
}

async function waitText(page, testId, expected) {
  await page.waitForFunction(
    ([id, text]) => document.querySelector(`[data-testid="${id}"]`)?.textContent === text,
    [testId, String(expected)],
  );
}

// The stream cursor (GET /stream/cursor) shows every position the page has seen as
// acknowledged.
async function waitAcked(page) {
  const position = await number(page, "position");
  await waitText(page, "acked", position);
  return position;
}

async function number(page, testId) {
  return Number(await page.getByTestId(testId).textContent());
}

async function transfer(page, to, amount) {
  await page.getByTestId("target").selectOption(to);
  await page.getByTestId("amount").fill(String(amount));
  await page.getByTestId("transfer").click();
  await waitText(page, "message", `Sent ${amount} SBD to ${to}`);
}

async function waitCount(page, selector, count) {
  await page.waitForFunction(
    ([sel, n]) => document.querySelectorAll(sel).length >= n,
    [selector, count],
  );
  return page.locator(selector).count();
}

// Every stored notification on the page, oldest first (the feed shows newest first).
async function feed(page) {
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

function contiguous(seqs) {
  return seqs.every((seq, index) => seq === index + 1);
}

const RECEIVED = '#feed li[data-event="sbd_tokens_received"]';

async function scenario(browser, problems) {
  const alice = await openAs(browser, "alice", problems);
  const bob = await openAs(browser, "bob", problems);
  const start = await number(bob, "balance");

  // 1. A transfer clicked in alice's page reaches bob's page with his new balance.
  await transfer(alice, "bob", 7);
  await waitCount(bob, RECEIVED, 1);
  const first = await bob.locator(RECEIVED).first().textContent();
  check(first.includes(`alice sent you 7 SBD · new balance ${start + 7}`), `bob saw: ${first}`);
  await waitText(bob, "balance", start + 7);
  await waitAcked(bob); // displayed, acknowledged, and the server's cursor agrees

  // 2. bob goes offline; two more transfers happen; his page hears nothing meanwhile.
  const seenBeforeOffline = await number(bob, "position");
  const unreadBeforeOffline = await number(bob, "badge");
  await bob.getByTestId("disconnect").click();
  await bob.locator('[data-testid="status"][data-status="stopped"]').waitFor();
  await transfer(alice, "bob", 3);
  await transfer(alice, "bob", 5);
  check((await bob.locator(RECEIVED).count()) === 1, "bob received while offline");

  // 3. bob comes back: both are replayed after the last seq he saw, in order, no gap.
  await bob.getByTestId("reconnect").click();
  await bob.locator('[data-testid="status"][data-status="live"]').waitFor();
  const sockets = bob.sockets.map((url) => Object.fromEntries(url.searchParams));
  check(sockets.length === 2, `bob opened ${sockets.length} sockets`);
  check(sockets.every((q) => q.v === "2"), `protocol v2: ${JSON.stringify(sockets)}`);
  check(sockets[0].since === "0", `first connect: ${JSON.stringify(sockets[0])}`);
  check(sockets[1].since === String(seenBeforeOffline), `reconnect: ${JSON.stringify(sockets[1])}`);
  check(sockets.every((q) => q.ticket && !q.token), "the token went into a /ws URL");
  await waitCount(bob, RECEIVED, 3);
  await waitText(bob, "balance", start + 15);
  await waitText(bob, "badge", unreadBeforeOffline + 2);
  await waitAcked(bob);
  const afterReplay = await feed(bob);
  const amounts = afterReplay
    .filter((item) => item.event === "sbd_tokens_received")
    .map((item) => Number(/sent you (\d+) SBD/.exec(item.text)[1]));
  check(JSON.stringify(amounts) === "[7,3,5]", `amounts in order: ${amounts}`);
  check(contiguous(afterReplay.map((item) => item.seq)), `bob's seqs: ${afterReplay.map((i) => i.seq)}`);

  // 4. A family invitation and its acceptance: everyone in the family hears of the new member.
  await alice.getByTestId("target").selectOption("bob");
  await alice.getByTestId("invite").click();
  await waitText(alice, "message", "Invited bob");
  await bob.locator('[data-testid="accept-invite"]').first().click();
  await waitText(bob, "message", "Joined the family");
  await waitCount(alice, '#feed li[data-event="family_member_joined"]', 1);
  await waitCount(bob, '#feed li[data-event="family_member_joined"]', 1);

  // 5. alice changes her profile: her page gets it, hides it (it made the change), acks it.
  await alice.getByTestId("update-profile").click();
  await waitText(alice, "message", "Profile updated");
  await waitCount(alice, '#feed li[data-event="profile_updated"][data-suppressed="true"]', 1);
  check(
    !(await alice.locator('#feed li[data-event="profile_updated"]').first().isVisible()),
    "alice's own profile change is shown",
  );
  await waitAcked(alice);

  // 6. A shop update is broadcast to everyone connected.
  await alice.getByTestId("shop-update").click();
  await waitCount(bob, '#feed li[data-testid="broadcast"][data-event="shop_updated"]', 1);

  // 7. A second window of bob's: the same badge; what one marks, the other shows.
  const bobAgain = await openAs(browser, "bob", problems);
  const badge = await number(bob, "badge");
  check(badge > 0, "bob has unread notifications");
  await waitText(bobAgain, "badge", badge);
  const firstReceived = await bob.locator(RECEIVED).last().getAttribute("data-seq");
  await bob.locator(`#feed li[data-seq="${firstReceived}"] [data-testid="mark-read"]`).click();
  await waitText(bob, "badge", badge - 1);
  await waitText(bobAgain, "badge", badge - 1);
  await bobAgain.locator(`#feed li[data-seq="${firstReceived}"][data-read="true"]`).waitFor();
  const unarchived = await number(bobAgain, "unarchived");
  await bobAgain.locator(`#feed li[data-seq="${firstReceived}"] [data-testid="archive"]`).click();
  await waitText(bob, "unarchived", unarchived - 1);
  await bob.locator(`#feed li[data-seq="${firstReceived}"][data-archived="true"]`).waitFor();
  await bobAgain.getByTestId("mark-all-read").click();
  await waitText(bob, "badge", 0);
  await waitText(bobAgain, "badge", 0);
  check(
    (await bob.locator('#feed li[data-seq][data-read="false"]').count()) === 0,
    "bob's first window still shows unread items",
  );

  const bobFeed = await feed(bob);
  const aliceFeed = await feed(alice);
  check(contiguous(bobFeed.map((item) => item.seq)), `bob's final seqs: ${bobFeed.map((i) => i.seq)}`);
  check(contiguous(aliceFeed.map((item) => item.seq)), `alice's seqs: ${aliceFeed.map((i) => i.seq)}`);

  mkdirSync(dirname(SCREENSHOT), { recursive: true });
  await bob.screenshot({ path: SCREENSHOT, fullPage: true });
  await alice.screenshot({ path: SCREENSHOT.replace(/\.png$/, "-alice.png"), fullPage: true });
  return {
    ok: true,
    bob: {
      seqs: bobFeed.map((item) => item.seq),
      events: bobFeed.map((item) => item.event),
      amounts,
      balance: await number(bob, "balance"),
      start,
    },
    alice: { seqs: aliceFeed.map((item) => item.seq), events: aliceFeed.map((item) => item.event) },
    badges: { bob: await number(bob, "badge"), bobAgain: await number(bobAgain, "badge"), before: badge },
    screenshot: SCREENSHOT,
  };
}

const problems = [];
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
let exitCode = 0;
try {
  const result = await scenario(browser, problems);
  check(problems.length === 0, `page errors: ${problems.join("; ")}`);
  console.log(JSON.stringify(result));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error.stack || error), problems }));
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);
