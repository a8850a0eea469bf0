// A password change ends the user's other sessions and keeps the acting one live: the other
// session's page shows password_changed, then the server closes its socket with 4403
// (Tidings.revoke) and the page says the session ended.
// Run by tests/e2e/test_demo_browser.py: DEMO_URL=http://127.0.0.1:8000 node password.e2e.mjs

import {
  DEMO_URL,
  changePassword,
  check,
  expectAudience,
  main,
  openAs,
  submit,
  waitLive,
  waitShown,
  waitText,
} from "./lib.mjs";

/** The close code a new WebSocket with `?token=` gets, opened from inside `page`. */
async function closeCodeFor(page, token) {
  const url = `${DEMO_URL.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(token)}&device=probe`;
  return page.evaluate(
    (target) =>
      new Promise((resolve) => {
        const socket = new WebSocket(target);
        socket.onclose = (event) => resolve(event.code);
      }),
    url,
  );
}

/** Wait until `page` says its session ended; the close code it saw (4403 when the server
 * closed its socket, "" when the API refused its token first). */
async function waitEnded(page) {
  await waitText(page, "status", "session ended");
  const ended = page.getByTestId("session-ended");
  await ended.waitFor();
  await page.locator('[data-testid="status"][data-status="stopped"]').waitFor();
  check(await page.getByTestId("reconnect").isDisabled(), `${page.user} offers to reconnect`);
  return ended.getAttribute("data-close-code");
}

async function passwordChange(browser, problems) {
  const acting = await openAs(browser, "alice", problems);
  const other = await openAs(browser, "alice", problems);
  const bob = await openAs(browser, "bob", problems);
  const otherToken = other.token;

  // The acting page reconnects with its fresh token; the other page hears of the change...
  const actingToken = await changePassword(acting, "correct horse battery");
  await expectAudience([acting, other, bob], "password_changed", "Your password was changed", {
    shown: [other],
    hidden: [acting],
  });
  await waitLive(acting);
  const last = acting.sockets.at(-1);
  check(last.searchParams.get("ticket") && !last.searchParams.get("token"), "the token went into a /ws URL");
  check(acting.sockets.length === 2, `the acting page opened ${acting.sockets.length} sockets`);

  // ...then the server closes its socket with 4403: the page says its session ended.
  const closeCode = await waitEnded(other);
  check(closeCode === "4403", `the other page ended on close code "${closeCode}", not the server's 4403`);
  check(other.sockets.length === 1, `the other page reconnected (${other.sockets.length} sockets)`);
  const refused = { other: await closeCodeFor(other, otherToken), acting: await closeCodeFor(other, actingToken) };
  check(refused.other === 4403 && refused.acting === 4403, `old tokens: ${JSON.stringify(refused)}`);
  const ticket = await fetch(`${DEMO_URL}/ws/ticket`, { method: "POST", headers: { Authorization: `Bearer ${otherToken}` } });
  check(ticket.status === 403, `a ticket for the old token: ${ticket.status}`);

  // The acting page stays live and can act with its fresh token; bob's session is untouched.
  await acting.getByTestId("target").selectOption("bob");
  await acting.getByTestId("amount").fill("4");
  await submit(acting, "transfer", "Sent 4 SBD to bob");
  await waitShown(bob, "sbd_tokens_received", "alice sent you 4 SBD");
  await waitText(acting, "status", "live");
  await waitText(bob, "status", "live");
  check(await acting.getByTestId("session-ended").isHidden(), "the acting page says its session ended");
  check(bob.sockets.length === 1 && acting.sockets.length === 2, "a socket was closed that should not be");

  return { ended: { other: Number(closeCode) }, refused, ticket: ticket.status, actingSockets: acting.sockets.length };
}

await main(passwordChange);
