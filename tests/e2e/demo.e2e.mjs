// Two users, alice and bob, in two browser contexts: transfers arrive live, a disconnected
// page counts what it missed as unread and replays it in order when it reconnects; then a
// second window of bob's shows the same unread badge as the first while items are marked
// read, archived, and all read (inbox state, protocol v2).
// Run by tests/e2e/test_demo_browser.py against `python -m examples.demo`:
//
//   DEMO_URL=http://127.0.0.1:8000 node demo.e2e.mjs
//
// Prints one JSON line with what it saw and exits 0, or prints the failure and exits 1.

import { check, feed, main, number, openAs, settled, submit, waitCount, waitLive, waitText } from "./lib.mjs";

const RECEIVED = '#feed li[data-event="sbd_tokens_received"]';

// The stream cursor (GET /stream/cursor) shows every position the page has seen as
// acknowledged.
async function waitAcked(page) {
  const position = await number(page, "position");
  await waitText(page, "acked", position);
  return position;
}

async function transfer(page, to, amount) {
  await page.getByTestId("target").selectOption(to);
  await page.getByTestId("amount").fill(String(amount));
  await submit(page, "transfer", `Sent ${amount} SBD to ${to}`);
}

function contiguous(seqs) {
  return seqs.every((seq, index) => seq === index + 1);
}

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

  // 2. bob goes offline; two more transfers happen; the server counts them as unread.
  const seenBeforeOffline = await number(bob, "position");
  const unreadBeforeOffline = await number(bob, "unread");
  await bob.getByTestId("disconnect").click();
  await bob.locator('[data-testid="status"][data-status="stopped"]').waitFor();
  check((await bob.getByTestId("status").textContent()) === "offline", "bob's pill does not say offline");
  await transfer(alice, "bob", 3);
  await transfer(alice, "bob", 5);
  await waitText(bob, "unread", unreadBeforeOffline + 2);
  check((await bob.locator(RECEIVED).count()) === 1, "bob received while offline");

  // 3. bob comes back: both are replayed after the last seq he saw, in order, no gap.
  await bob.getByTestId("reconnect").click();
  await waitLive(bob);
  const sockets = bob.sockets.map((url) => Object.fromEntries(url.searchParams));
  check(sockets.length === 2, `bob opened ${sockets.length} sockets`);
  check(sockets.every((q) => q.v === "2"), `protocol v2: ${JSON.stringify(sockets)}`);
  check(sockets[0].since === "0", `first connect: ${JSON.stringify(sockets[0])}`);
  check(sockets[1].since === String(seenBeforeOffline), `reconnect: ${JSON.stringify(sockets[1])}`);
  check(sockets.every((q) => q.ticket && !q.token), "the token went into a /ws URL");
  await waitCount(bob, RECEIVED, 3);
  await waitText(bob, "balance", start + 15);
  await waitAcked(bob);
  const afterReplay = await feed(bob);
  const amounts = afterReplay
    .filter((item) => item.event === "sbd_tokens_received")
    .map((item) => Number(/sent you (\d+) SBD/.exec(item.text)[1]));
  check(JSON.stringify(amounts) === "[7,3,5]", `amounts in order: ${amounts}`);
  check(contiguous(afterReplay.map((item) => item.seq)), `bob's seqs: ${afterReplay.map((i) => i.seq)}`);

  const bobFeed = await feed(bob);
  const aliceFeed = await feed(alice);

  // 4. A second window of bob's: the same badge; what one marks, the other shows at once.
  const badges = await sameBadgeInTwoWindows(browser, problems, bob);
  check(contiguous(aliceFeed.map((item) => item.seq)), `alice's seqs: ${aliceFeed.map((i) => i.seq)}`);
  return {
    bob: {
      seqs: bobFeed.map((item) => item.seq),
      events: bobFeed.map((item) => item.event),
      amounts,
      balance: await number(bob, "balance"),
      start,
    },
    alice: { seqs: aliceFeed.map((item) => item.seq), events: aliceFeed.map((item) => item.event) },
    badges,
  };
}

async function sameBadgeInTwoWindows(browser, problems, bob) {
  const again = await openAs(browser, "bob", problems);
  await settled(bob); // the second sign-in's new_device_login reached the first window too
  await settled(again);
  const before = await number(bob, "badge");
  check(before > 0, "bob has nothing unread");
  await waitText(again, "badge", before);
  const seq = await bob.locator(RECEIVED).last().getAttribute("data-seq");
  const item = (page, state = "") => page.locator(`#feed li[data-seq="${seq}"]${state}`);
  await item(bob).locator('[data-testid="mark-read"]').click();
  await waitText(bob, "badge", before - 1);
  await waitText(again, "badge", before - 1);
  await item(again, '[data-read="true"]').waitFor();
  const unarchived = await number(again, "unarchived");
  await item(again).locator('[data-testid="archive"]').click();
  await waitText(bob, "unarchived", unarchived - 1);
  await item(bob, '[data-archived="true"]').waitFor();
  await again.getByTestId("mark-all-read").click();
  await waitText(bob, "badge", 0);
  await waitText(again, "badge", 0);
  const unreadLeft = await bob.locator('#feed li[data-seq][data-read="false"]').count();
  check(unreadLeft === 0, `bob's first window shows ${unreadLeft} unread items`);
  return { before, bob: await number(bob, "badge"), again: await number(again, "badge") };
}

await main(scenario);
