// Steps the record and upload paths share: merge and follow the job, then check the result.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ARTIFACTS_DIR } from "./harness.mjs";
import {
  H264_AAC,
  assertPlays,
  fetchResult,
  loadedMetadata,
  media,
  startProgressRecorder,
  stopProgressRecorder,
  waitUntil,
} from "./checks.mjs";

const JOB_TIMEOUT_MS = 120_000;

/** Clicks Merge and follows the upload and the job to the result; returns the progress seen. */
export async function mergeAndWait(page, shot) {
  const merge = page.getByRole("button", { name: "Merge" });
  await waitUntil(() => merge.isEnabled(), { message: "Merge to be enabled once both inputs exist" });
  await startProgressRecorder(page);
  await merge.click();
  const jobBar = page.getByRole("progressbar", { name: "Job progress" });
  await jobBar.waitFor({ timeout: 30_000 });
  await page.getByRole("button", { name: "Cancel job" }).waitFor({ timeout: 5000 });
  await waitUntil(
    async () => /\S/.test((await page.getByTestId("job-status").textContent()) ?? ""),
    { timeout: 10_000, message: "the job status text" },
  );
  // The screenshot is worth more mid-stage (a count of frames) than queued; a short job may
  // finish first, and then it shows whatever is there.
  await page
    .getByTestId("job-status")
    .filter({ hasText: /\b[1-9]\d* of \d+/ })
    .waitFor({ timeout: 20_000 })
    .catch(() => {});
  if ((await page.getByRole("heading", { name: "Result" }).count()) === 0) await shot("job-progress");
  await page.getByRole("heading", { name: "Result" }).waitFor({ timeout: JOB_TIMEOUT_MS });
  await media(page, "Synced video").waitFor({ timeout: 10_000 });
  return stopProgressRecorder(page);
}

/** Plays the synced video where this Chromium decodes H.264, fetches and checks the file,
 *  and downloads it through the link (kept as artifacts/<name>-result.mp4); returns the job. */
export async function checkResult(page, shot, name) {
  const synced = media(page, "Synced video");
  const canPlay = await page.evaluate((type) => document.createElement("video").canPlayType(type), H264_AAC);
  const src = await synced.evaluate((element) => element.currentSrc || element.src);
  if (canPlay) {
    const meta = await loadedMetadata(synced);
    assert.ok(meta.duration > 1.5 && meta.width > 0, `the synced video loads: ${JSON.stringify(meta)}`);
    await assertPlays(synced);
    await synced.evaluate((element) => {
      element.currentTime = Math.min(1, element.duration / 2);
    });
  }
  await synced.scrollIntoViewIfNeeded();
  await shot("result");
  const { body, job } = await fetchResult(page.request, src);

  const link = page.getByRole("link", { name: "Download" });
  assert.notEqual(await link.getAttribute("download"), null, "the link has a download attribute");
  assert.match((await link.getAttribute("href")) ?? "", /\/result\?download=1$/);
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  const saved = await readFile(await download.path());
  await download.saveAs(join(ARTIFACTS_DIR, `${name}-result.mp4`));
  assert.ok(saved.length > 0, "the download is not empty");
  assert.ok(saved.equals(body), "the download has the same bytes as the result");
  assert.match(download.suggestedFilename(), /\.mp4$/);
  return job;
}
