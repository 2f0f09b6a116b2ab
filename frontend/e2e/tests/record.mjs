// The main path: record speech and a face in the browser, merge, watch, compare, download.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { assertPlays, finiteDuration, framesShown, loadedMetadata, media, waitUntil } from "../lib/checks.mjs";
import { checkResult, mergeAndWait } from "../lib/flows.mjs";
import { ARTIFACTS_DIR, shared, withPage } from "../lib/harness.mjs";

const RECORD_SECONDS = 3.2;

/** Checks whose failure should not stop the path (so later steps still run and leave their
 *  screenshots); the test fails at its end if any of them did. */
const problems = [];
async function soft(label, check) {
  try {
    await check();
  } catch (error) {
    problems.push(`${label}: ${error.message}`);
  }
}

/** Samples the meter's value while recording; a real voice must move it. */
async function sampleMeter(meter, seconds) {
  const values = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    values.push(Number(await meter.getAttribute("aria-valuenow")));
    await sleep(100);
  }
  return values;
}

/** Every media element's state, saved next to the screenshots to explain what they show. */
function mediaStates(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("audio, video")].map((element) => ({
      name: element.getAttribute("aria-label"),
      src: element.currentSrc.slice(0, 80),
      readyState: element.readyState,
      networkState: element.networkState,
      seeking: element.seeking,
      paused: element.paused,
      currentTime: element.currentTime,
      duration: element.duration,
      seekable: element.seekable.length ? [element.seekable.start(0), element.seekable.end(0)] : [],
      error: element.error?.message ?? null,
    })),
  );
}

async function recordAudio(page, shot) {
  await page.getByRole("radio", { name: "Record audio" }).check();
  await page.getByRole("button", { name: "Start recording audio" }).click();
  const timer = page.getByRole("timer", { name: "Audio recording time" });
  const meter = page.getByRole("meter", { name: "Microphone level" });
  await meter.waitFor();
  const timerAtStart = await timer.textContent();
  const levels = await sampleMeter(meter, RECORD_SECONDS / 2);
  await shot("recording-audio");
  levels.push(...(await sampleMeter(meter, RECORD_SECONDS / 2)));
  assert.notEqual(await timer.textContent(), timerAtStart, "the audio timer runs");
  assert.ok(new Set(levels).size > 2 && Math.max(...levels) > 0, `the level meter moves: ${levels}`);
  await page.getByRole("button", { name: "Stop recording audio" }).click();

  const recorded = media(page, "Recorded audio");
  await soft("recorded audio duration (a MediaRecorder WebM has none until the page finds it)", async () => {
    const duration = await finiteDuration(recorded, 5000);
    assert.ok(duration > 2 && duration < 10, `recorded audio lasts ${duration} s`);
  });
  await assertPlays(recorded);
  await page.getByRole("button", { name: "Re-record audio" }).waitFor();
  await shot("audio-recorded");
}

async function recordVideo(page, shot) {
  await page.getByRole("radio", { name: "Record video" }).check();
  await page.getByRole("button", { name: "Start camera" }).click();
  const preview = media(page, "Camera preview");
  const live = await loadedMetadata(preview);
  assert.ok(live.width > 0 && live.height > 0, `the preview shows the camera: ${JSON.stringify(live)}`);
  await shot("camera-preview");

  await page.getByRole("button", { name: "Start recording video" }).click();
  // The 3-2-1 countdown is announced; catch it while it lasts.
  const countdown = page.locator("[aria-live]").filter({ hasText: /^\D*[321]\D*$/ });
  await countdown.first().waitFor({ timeout: 3000 });
  await shot("countdown");
  const stop = page.getByRole("button", { name: "Stop recording video" });
  await stop.waitFor({ timeout: 8000 });
  await waitUntil(() => stop.isEnabled(), { timeout: 8000, message: "the stop button after the countdown" });
  const timer = page.getByRole("timer", { name: "Video recording time" });
  const timerAtStart = await timer.textContent();
  await sleep((RECORD_SECONDS * 1000) / 2);
  await shot("recording-video");
  await sleep((RECORD_SECONDS * 1000) / 2);
  assert.notEqual(await timer.textContent(), timerAtStart, "the video timer runs");
  await stop.click();

  const recorded = media(page, "Recorded video");
  await soft("recorded video duration", async () => {
    const duration = await finiteDuration(recorded, 5000);
    assert.ok(duration > 2 && duration < 10, `recorded video lasts ${duration} s`);
  });
  const { width } = await loadedMetadata(recorded);
  assert.ok(width > 0, "the recorded video has pictures");
  await assertPlays(recorded);
  await page.getByRole("button", { name: "Re-record video" }).waitFor();
  await shot("video-recorded");
}

async function checkOptions(page, shot) {
  await page.getByRole("heading", { name: "Options" }).waitFor();
  const fields = [
    ["combobox", "Engine"],
    ["combobox", "Enhancer"],
    ["combobox", "Loop mode"],
    ["textbox", "Face"],
  ];
  for (const [role, name] of fields) {
    const field = page.getByRole(role, { name, exact: true });
    await field.waitFor();
    const described = await field.evaluate((element) =>
      (element.getAttribute("aria-describedby") ?? "")
        .split(/\s+/)
        .map((id) => document.getElementById(id)?.textContent?.trim() ?? "")
        .join(" "),
    );
    assert.ok(described.length > 10, `${name} has a one-line description: ${JSON.stringify(described)}`);
  }
  const engines = await page.getByRole("combobox", { name: "Engine", exact: true }).locator("option").allTextContents();
  assert.ok(engines.some((text) => /built-?in/i.test(text)), `the installed built-in engine is offered: ${engines}`);
  await page.getByRole("heading", { name: "Options" }).scrollIntoViewIfNeeded();
  await shot("options");
}

test("record audio and video, merge, watch, compare and download", { timeout: 180_000 }, () =>
  withPage("record", async (page, shot) => {
    await page.goto("/");
    await page.getByRole("heading", { name: "Speech" }).waitFor();
    await page.getByRole("heading", { name: "Face" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Merge" }).isEnabled(), false, "Merge waits for inputs");
    await shot("start");

    await recordAudio(page, shot);
    await recordVideo(page, shot);
    await checkOptions(page, shot);
    const seen = await mergeAndWait(page, shot);
    await writeFile(join(ARTIFACTS_DIR, "record-progress.json"), JSON.stringify(seen, null, 1));
    assert.ok(seen.upload.length >= 1, "the upload progress bar showed a value");
    assert.ok(new Set(seen.job).size >= 2, `the job progress bar moves: ${seen.job}`);
    assert.ok(new Set(seen.status).size >= 2, `the status text shows stages: ${JSON.stringify(seen.status)}`);
    const job = await checkResult(page, shot, "record");
    assert.equal(job.result.engine, "builtin");
    shared.recordedJobId = job.id;

    const compare = page.getByRole("button", { name: "Compare with original" });
    await compare.click();
    assert.equal(await compare.getAttribute("aria-pressed"), "true");
    const original = media(page, "Original video");
    assert.ok((await loadedMetadata(original)).width > 0, "the original video loads");
    const synced = media(page, "Synced video");
    await Promise.all([framesShown(original), framesShown(synced)]);
    let [a, b] = [await synced.boundingBox(), await original.boundingBox()];
    assert.ok(a && b && Math.abs(a.y - b.y) < 40 && b.x >= a.x + a.width - 1, `side by side: ${JSON.stringify([a, b])}`);
    await sleep(1000);
    await writeFile(join(ARTIFACTS_DIR, "record-media-state.json"), JSON.stringify(await mediaStates(page), null, 1));
    await shot("compare");
    // The same comparison on a phone: stacked, nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await synced.scrollIntoViewIfNeeded();
    [a, b] = [await synced.boundingBox(), await original.boundingBox()];
    assert.ok(a && b && b.y >= a.y + a.height - 1, `stacked on a phone: ${JSON.stringify([a, b])}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow} px wider than a phone screen`);
    await Promise.all([framesShown(original), framesShown(synced)]);
    await shot("compare-phone");
    await page.setViewportSize({ width: 1280, height: 900 });

    const history = page.getByRole("list", { name: "Recent jobs" });
    await history.getByRole("button", { name: new RegExp(job.id.slice(0, 6)) }).waitFor({ timeout: 10_000 });
    assert.deepEqual(problems, [], "checks that failed along the way");
  }),
);
