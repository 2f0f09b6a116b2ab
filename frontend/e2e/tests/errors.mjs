// The error paths: the server's 4xx message reaches the page, and a denied camera or
// microphone permission is explained.
import assert from "node:assert/strict";
import { test } from "node:test";
import { serverErrorFor } from "../lib/checks.mjs";
import { env, launchBrowser, withPage } from "../lib/harness.mjs";

test("a text file named .mp4 shows the server message", { timeout: 60_000 }, () =>
  withPage("error-upload", async (page, shot) => {
    const expected = await serverErrorFor(page.request, { video: env.fixtures.bad, audio: env.fixtures.speech });
    await page.goto("/");
    await page.getByRole("radio", { name: "Upload audio" }).check();
    await page.getByLabel("Audio file", { exact: true }).setInputFiles(env.fixtures.speech);
    await page.getByRole("radio", { name: "Upload video or photo" }).check();
    await page.getByLabel("Video or photo file", { exact: true }).setInputFiles(env.fixtures.bad);
    await page.getByRole("button", { name: "Merge" }).click();
    const alert = page.getByRole("alert").filter({ hasText: expected });
    await alert.waitFor({ timeout: 15_000 });
    await alert.scrollIntoViewIfNeeded();
    await shot("server-message");
    assert.equal(await page.getByRole("heading", { name: "Result" }).count(), 0, "no result after a refusal");
  }),
);

test("a denied camera and microphone are explained", { timeout: 60_000 }, async () => {
  // Without --use-fake-ui-for-media-stream and without a grant, headless Chromium denies.
  const browser = await launchBrowser({ autoAccept: false });
  try {
    await withPage(
      "error-permission",
      async (page, shot) => {
        await page.goto("/");
        await page.getByRole("radio", { name: "Record audio" }).check();
        await page.getByRole("button", { name: "Start recording audio" }).click();
        await page.getByRole("alert").filter({ hasText: /permission/i }).first().waitFor({ timeout: 10_000 });
        await shot("microphone-denied");

        await page.getByRole("radio", { name: "Record video" }).check();
        await page.getByRole("button", { name: "Start camera" }).click();
        const alerts = page.getByRole("alert").filter({ hasText: /permission/i });
        await page.waitForFunction(
          () =>
            [...document.querySelectorAll('[role="alert"]')].some(
              (el) => /camera/i.test(el.textContent ?? "") && /permission/i.test(el.textContent ?? ""),
            ),
          null,
          { timeout: 10_000 },
        );
        assert.ok((await alerts.count()) >= 1);
        await shot("camera-denied");
      },
      { browser, grant: false },
    );
  } finally {
    await browser.close();
  }
});

test("a lost connection offers Retry, and a running job can be cancelled", { timeout: 60_000 }, () =>
  withPage("error-connection", async (page, shot) => {
    await page.goto("/");
    await page.getByRole("radio", { name: "Upload audio" }).check();
    // The long pair: the job must still be running when Cancel is pressed.
    await page.getByLabel("Audio file", { exact: true }).setInputFiles(env.fixtures.long_speech);
    await page.getByRole("radio", { name: "Upload video or photo" }).check();
    await page.getByLabel("Video or photo file", { exact: true }).setInputFiles(env.fixtures.long_face);

    // The network drops just as the upload starts.
    const dropUploads = (route) =>
      route.request().method() === "POST" ? route.abort("internetdisconnected") : route.continue();
    await page.route("**/api/jobs", dropUploads);
    await page.getByRole("button", { name: "Merge" }).click();
    const alert = page.getByRole("alert").filter({ hasText: /connection/i });
    await alert.waitFor({ timeout: 10_000 });
    await shot("connection-lost");

    await page.unroute("**/api/jobs", dropUploads);
    const submitted = page.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith("/api/jobs"));
    await alert.getByRole("button", { name: "Retry" }).click();
    const response = await submitted;
    assert.equal(response.status(), 202, "Retry submits the job again");
    const { id } = await response.json();

    await page.getByRole("button", { name: "Cancel job" }).click();
    await page.getByTestId("job-status").filter({ hasText: /cancel/i }).waitFor({ timeout: 10_000 });
    const job = await (await page.request.get(`/api/jobs/${id}`)).json();
    assert.ok(["cancelled", "running", "queued"].includes(job.status), `after Cancel the job is ${job.status}`);
    assert.ok(job.status === "cancelled" || job.cancel_requested, "the server was asked to cancel");
    await page.getByTestId("job-status").filter({ hasText: /cancelled/i }).waitFor({ timeout: 20_000 });
    await shot("cancelled");
  }),
);
