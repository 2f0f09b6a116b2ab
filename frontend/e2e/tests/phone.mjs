// A phone-sized screen: nothing overflows sideways, and a job reopened from the history
// shows its result (the record test checks the stacked comparison on a phone-sized page).
import assert from "node:assert/strict";
import { test } from "node:test";
import { framesShown, loadedMetadata, media } from "../lib/checks.mjs";
import { shared, withPage } from "../lib/harness.mjs";

const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

async function assertFitsWidth(page, when) {
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  assert.ok(scrollWidth <= innerWidth + 1, `${when}: page is ${scrollWidth} px wide on a ${innerWidth} px screen`);
}

test("phone-sized screen", { timeout: 60_000 }, () =>
  withPage(
    "phone",
    async (page, shot) => {
      await page.goto("/");
      await page.getByRole("heading", { name: "Speech" }).waitFor();
      await assertFitsWidth(page, "start");
      await shot("start");
      await shot("start-screen", { fullPage: false });
      if (!shared.recordedJobId) return; // the record test failed before it had a job

      const history = page.getByRole("list", { name: "Recent jobs" });
      const entry = history.getByRole("button", { name: new RegExp(shared.recordedJobId.slice(0, 6)) });
      await entry.scrollIntoViewIfNeeded();
      await entry.click();
      await page.getByRole("heading", { name: "Result" }).waitFor({ timeout: 10_000 });
      const synced = media(page, "Synced video");
      await loadedMetadata(synced);
      await framesShown(synced);
      await assertFitsWidth(page, "result");
      await shot("result");
      await page.getByRole("heading", { name: "Result" }).evaluate((heading) => heading.scrollIntoView());
      await shot("result-screen", { fullPage: false });
    },
    { context: PHONE },
  ),
);
