// A password change ends the user's other sessions and keeps the acting one live.
// Today tidings refuses a revoked token when it is presented (a connect, a ticket, REST, a
// refresh); closing already-open sockets from the server is still to come, so the last part
// plays that close (4403) on bob's socket through Playwright's WebSocket routing.
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

async function waitEnded(page) {
  await waitText(page, "status", "session ended");
  await page.getByTestId("session-ended").waitFor();
  await page.locator('[data-testid="status"][data-status="stopped"]').waitFor();
  check(await page.getByTestId("reconnect").isDisabled(), `${page.user} offers to reconnect`);
}

async function passwordChange(browser, problems) {
  const acting = await openAs(browser, "alice", problems);
  const other = await openAs(browser, "alice", problems);
  const bob = await openAs(browser, "bob", problems, {
    before: (page) =>
      page.routeWebSocket(/\/ws\?/, (route) => {
        route.connectToServer();
        page.wsRoute = route;
      }),
  });
  const otherToken = other.token;

  // The acting page reconnects with its fresh token; the other page hears of the change.
  const actingToken = await changePassword(acting, "correct horse battery");
  await expectAudience([acting, other, bob], "password_changed", "Your password was changed", {
    shown: [other],
    hidden: [acting],
  });
  await waitLive(acting);
  const last = acting.sockets.at(-1);
  check(last.searchParams.get("ticket") && !last.searchParams.get("token"), "the token went into a /ws URL");
  check(acting.sockets.length === 2, `the acting page opened ${acting.sockets.length} sockets`);

  // The other page's token is refused from now on: it says the session ended and stops.
  await waitEnded(other);
  const refused = { other: await closeCodeFor(other, otherToken), acting: await closeCodeFor(other, actingToken) };
  check(refused.other === 4403 && refused.acting === 4403, `old tokens: ${JSON.stringify(refused)}`);
  const ticket = await fetch(`${DEMO_URL}/ws/ticket`, { method: "POST", headers: { Authorization: `Bearer ${otherToken}` } });
  check(ticket.status === 403, `a ticket for the old token: ${ticket.status}`);

  // The acting page stays live and can act with its fresh token.
  await acting.getByTestId("target").selectOption("bob");
  await acting.getByTestId("amount").fill("4");
  await submit(acting, "transfer", "Sent 4 SBD to bob");
  await waitShown(bob, "sbd_tokens_received", "alice sent you 4 SBD");
  await waitText(acting, "status", "live");
  check(await acting.getByTestId("session-ended").isHidden(), "the acting page says its session ended");

  // What the server will do to open sockets of revoked sessions: close them with 4403.
  await bob.wsRoute.close({ code: 4403, reason: "token_revoked" });
  await waitEnded(bob);
  check(bob.sockets.length === 1, `bob reconnected after 4403 (${bob.sockets.length} sockets)`);

  return { refused, ticket: ticket.status, actingSockets: acting.sockets.length };
}

await main(passwordChange);
