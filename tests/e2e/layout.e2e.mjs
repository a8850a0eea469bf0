// The page on a desktop and on a 390 px phone (screenshots of both in $ARTIFACTS), its
// refusals next to their fields, the unread count the server reports, and "offline" when the
// browser has no network.
// Run by tests/e2e/test_demo_browser.py: DEMO_URL=... ARTIFACTS=... node layout.e2e.mjs

import { mkdirSync } from "node:fs";
import { join } from "node:path";

import { ARTIFACTS, check, fieldError, main, number, openAs, submit, waitLive, waitShown, waitText } from "./lib.mjs";

const PHONE = { width: 390, height: 844 };

async function layout(page) {
  return page.evaluate(() => {
    window.scrollTo(0, 0);
    const top = (selector) => document.querySelector(selector).getBoundingClientRect().top;
    return {
      scrollWidth: document.documentElement.scrollWidth,
      feedTop: top(".feed-card"),
      firstFormTop: top(".actions"),
      feedItemBottom: document.querySelector("#feed li:not([hidden])")?.getBoundingClientRect().bottom ?? null,
    };
  });
}

async function refusalsBesideTheirFields(page) {
  await page.getByTestId("amount").fill("0");
  await page.getByTestId("transfer").click();
  const amount = fieldError(page, "transfer", "amount");
  await amount.filter({ hasText: "amount must be 1-1000000" }).waitFor();
  await page.getByTestId("new-password").fill("short");
  await page.getByTestId("change-password").click();
  await fieldError(page, "password", "new_password").filter({ hasText: "8-128 characters" }).waitFor();
  await page.getByTestId("amount").fill("2");
  await submit(page, "transfer", "Sent 2 SBD to alice");
  check((await amount.textContent()) === "", "the amount's message outlived a good transfer");
  check(await page.getByTestId("invite").isHidden(), "a member is offered to invite");
}

async function unreadFollowsAcks(sender, receiver) {
  await sender.getByTestId("target").selectOption(receiver.user);
  await sender.getByTestId("amount").fill("3");
  await submit(sender, "transfer", `Sent 3 SBD to ${receiver.user}`);
  await waitShown(receiver, "sbd_tokens_received", "alice sent you 3 SBD");
  await receiver.getByTestId("mark-all-read").click();
  await waitText(receiver, "unread", 0);
  const position = await number(receiver, "position");
  await waitText(receiver, "acked", position);
  return position;
}

async function offlineAndBack(page) {
  await page.context().setOffline(true);
  await page.waitForFunction(() => document.querySelector('[data-testid="status"]').textContent.startsWith("offline"));
  await page.context().setOffline(false);
  await waitText(page, "status", "live");
  await waitLive(page);
}

async function pageOnTwoScreens(browser, problems) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const desktop = await openAs(browser, "alice", problems);
  const phone = await openAs(browser, "carol", problems, { viewport: PHONE });
  await refusalsBesideTheirFields(phone);
  const acked = await unreadFollowsAcks(desktop, phone);
  await offlineAndBack(phone);

  const onPhone = await layout(phone);
  check(onPhone.scrollWidth <= PHONE.width, `the phone page scrolls sideways: ${onPhone.scrollWidth}px`);
  check(onPhone.feedTop < onPhone.firstFormTop, "the feed comes after the forms on a phone");
  check(onPhone.feedItemBottom !== null && onPhone.feedItemBottom <= PHONE.height, `feed below the fold: ${JSON.stringify(onPhone)}`);
  const onDesktop = await layout(desktop);
  check(onDesktop.scrollWidth <= 1180, `the desktop page scrolls sideways: ${onDesktop.scrollWidth}px`);

  const shots = { desktop: join(ARTIFACTS, "desktop.png"), phone: join(ARTIFACTS, "phone-390.png") };
  await desktop.screenshot({ path: shots.desktop, fullPage: true });
  await phone.screenshot({ path: shots.phone });
  await phone.screenshot({ path: join(ARTIFACTS, "phone-390-full.png"), fullPage: true });
  return { shots, phone: onPhone, acked };
}

await main(pageOnTwoScreens);
