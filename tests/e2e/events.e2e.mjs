// Every event of the catalog, triggered through the page, reaches exactly its audience: five
// pages (alice twice, bob, carol, dave) act on the demo, and after each action the recipient
// pages show the event with its text, the acting tab hides "other sessions" events, and every
// other page, once it has processed all that was routed to it, does not show it.
// Run by tests/e2e/test_demo_browser.py: DEMO_URL=http://127.0.0.1:8000 node events.e2e.mjs

import {
  changePassword,
  check,
  expectAudience,
  feed,
  fieldError,
  main,
  number,
  openAs,
  submit,
  waitText,
} from "./lib.mjs";

const PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Version/17.4 Mobile/15E148 Safari/604.1";

async function catalogTour(browser, problems) {
  const alice = await openAs(browser, "alice", problems);
  alice.label = "first window";
  const bob = await openAs(browser, "bob", problems);
  const carol = await openAs(browser, "carol", problems);
  const dave = await openAs(browser, "dave", problems);
  const alice2 = await openAs(browser, "alice", problems, { userAgent: PHONE_UA });
  alice2.label = "second window";
  const all = [alice, alice2, bob, carol, dave];
  const seen = new Set();
  const audience = async (event, text, who) => {
    seen.add(event);
    await expectAudience(all, event, text, who);
  };

  // auth: signing in again (from a phone) is a new device for alice's other session.
  await audience("new_device_login", "New sign-in: Safari 604 on iOS from 127.0.0.1", { shown: [alice], hidden: [alice2] });
  check((await alice.locator('#feed li[data-event="new_device_login"]:not([hidden])').count()) === 1, "alice saw 2 logins");

  // sbd_tokens
  await alice.getByTestId("target").selectOption("bob");
  await alice.getByTestId("amount").fill("7");
  await submit(alice, "transfer", "Sent 7 SBD to bob");
  await audience("sbd_tokens_sent", "You sent 7 SBD to bob", { shown: [alice, alice2] });
  await audience("sbd_tokens_received", "alice sent you 7 SBD", { shown: [bob] });

  // family: an invitation declined, another accepted.
  const invitable = await alice.getByTestId("invite-target").locator("option").allTextContents();
  check(JSON.stringify(invitable) === '["bob","dave"]', `invite list: ${invitable}`);
  await alice.getByTestId("invite-target").selectOption("bob");
  await submit(alice, "invite", "Invited bob");
  await audience("family_invitation_received", "alice invited you to The Lovelaces", { shown: [bob] });
  await bob.getByTestId("decline-invite").click();
  await waitText(bob, "message", "Invitation declined");
  await audience("family_invitation_responded", "bob declined the family invitation", { shown: [alice, alice2] });
  await alice.getByTestId("invite-target").selectOption("dave");
  await submit(alice, "invite", "Invited dave");
  await dave.getByTestId("accept-invite").click();
  await waitText(dave, "message", "Joined the family");
  await audience("family_invitation_responded", "dave accepted the family invitation", { shown: [alice, alice2] });
  await audience("family_member_joined", "dave joined the family", { shown: [alice, alice2, carol, dave] });

  // family: roles; carol is told it is about her, the others get a notice.
  await submit(alice, "role-carol", "carol's role changed");
  await audience("role_changed", "You are now an admin", { shown: [carol] });
  await audience("role_changed", "A family member is now an admin", { shown: [alice, alice2, dave] });

  // family: a token request goes to the admins (carol now one), the review to the requester.
  check(await dave.getByTestId("freeze").isHidden(), "dave, a member, is offered to freeze the account");
  await dave.getByTestId("request-amount").fill("20");
  await submit(dave, "request-tokens", "Asked for 20 SBD");
  await audience("token_request_created", "dave asks the family account for 20 SBD", { shown: [alice, alice2, carol] });
  const daveBalance = await number(dave, "balance");
  await submit(carol, "approve-request", "Request approved");
  await audience("token_request_reviewed", "Your token request was approved by carol", { shown: [dave] });
  await waitText(dave, "balance", daveBalance + 20);

  await submit(alice, "role-carol", "carol's role changed");
  await audience("role_changed", "You are now a member", { shown: [carol] });
  await audience("role_changed", "A family member is now a member", { shown: [alice, alice2, dave] });

  // family: the account frozen (a request is refused beside its field), then unfrozen.
  await submit(alice, "freeze", "Account frozen");
  await audience("family_account_status_changed", "The family account was frozen", { shown: [alice, alice2, carol, dave] });
  await dave.getByTestId("request-tokens").click();
  await fieldError(dave, "request", "amount").filter({ hasText: "the family account is frozen" }).waitFor();
  await submit(alice, "freeze", "Account unfrozen");
  await audience("family_account_status_changed", "The family account was unfrozen", { shown: [alice, alice2, carol, dave] });

  // shop: dave buys for the family, then leaves it; a shop update goes to everyone connected.
  await dave.getByTestId("buy-item").selectOption("avatar-night-owl");
  await submit(dave, "buy", "Bought for the family");
  await audience("family_shop_purchase", "dave bought the avatar avatar-night-owl for the family · 15 SBD", {
    shown: [alice, alice2, carol, dave],
  });
  await submit(dave, "leave", "Left the family");
  await audience("family_member_left", "dave left the family", { shown: [alice, alice2, carol] });
  await submit(bob, "shop-update", "Shop updated for everyone");
  for (const page of all) await page.locator('#feed li[data-testid="broadcast"][data-event="shop_updated"]').waitFor();
  seen.add("shop_updated");

  // profile and appearance; auth: two-factor and, last, the password.
  await alice.getByTestId("new-name").fill("Ada");
  await submit(alice, "update-profile", "Profile updated");
  await audience("profile_updated", "Display name is now Ada", { shown: [alice, alice2] });
  await alice.getByTestId("appearance-slot").selectOption("avatar");
  await alice.getByTestId("appearance-item").selectOption("avatar-fox");
  await submit(alice, "apply-appearance", "Your avatar is now avatar-fox");
  await audience("appearance_updated", "Your avatar is now avatar-fox (changed in another window)", {
    shown: [alice2],
    hidden: [alice],
  });
  await submit(alice, "two-factor", "Two-factor turned on");
  await audience("two_factor_changed", "Two-factor authentication is on", { shown: [alice, alice2] });
  await waitText(alice2, "two-factor-state", "on");
  await changePassword(alice, "correct horse battery");
  await audience("password_changed", "Your password was changed", { shown: [alice2], hidden: [alice] });

  const feeds = {};
  for (const page of all) feeds[`${page.user}${page.label === "second window" ? "2" : ""}`] = await feed(page);
  for (const [name, items] of Object.entries(feeds)) {
    check(items.every((item, index) => item.seq === index + 1), `${name}'s seqs: ${items.map((i) => i.seq)}`);
  }
  return { events: [...seen].sort(), feeds };
}

await main(catalogTour);
