// Assertions on what the page shows and plays, and on what the server returns.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const H264_AAC = 'video/mp4; codecs="avc1.42E01E, mp4a.40.2"';

/** Polls `probe` until it returns a truthy value; fails with `message` and the last value. */
export async function waitUntil(probe, { timeout = 10_000, interval = 100, message = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${message} (last: ${JSON.stringify(last)})`);
    await sleep(interval);
  }
}

/** A media element (<audio>/<video>) by its accessible name, exactly. */
export function media(page, name) {
  return page.locator(`audio[aria-label="${name}"], video[aria-label="${name}"]`);
}

/** Waits for the element's metadata; returns {duration, width, height, src}. */
export async function loadedMetadata(locator, timeout = 15_000) {
  await locator.waitFor({ state: "attached", timeout });
  return locator.evaluate(
    (element, ms) =>
      new Promise((resolve, reject) => {
        const report = () =>
          resolve({
            duration: element.duration,
            width: element.videoWidth ?? 0,
            height: element.videoHeight ?? 0,
            src: element.currentSrc,
          });
        if (element.error) reject(new Error(`media error ${element.error.code}: ${element.error.message}`));
        if (element.readyState >= 1) return report();
        element.addEventListener("loadedmetadata", report, { once: true });
        element.addEventListener(
          "error",
          () => reject(new Error(`media error ${element.error?.code}: ${element.error?.message}`)),
          { once: true },
        );
        setTimeout(() => reject(new Error(`no metadata after ${ms} ms (readyState ${element.readyState})`)), ms);
      }),
    timeout,
  );
}

/** Waits until the element has a picture to show (not loading, not seeking), so that a
 *  screenshot shows the frame rather than the controls' loading spinner. */
export async function framesShown(locator, timeout = 10_000) {
  await locator.waitFor({ state: "attached", timeout });
  await waitUntil(() => locator.evaluate((element) => element.readyState >= 2 && !element.seeking), {
    timeout,
    message: "a decoded frame",
  });
  // The controls' loading spinner fades out a moment after the frame arrives.
  await sleep(1000);
}

/** Waits until the element reports a finite duration (a recorder's WebM has none at first). */
export async function finiteDuration(locator, timeout = 10_000) {
  await loadedMetadata(locator, timeout);
  return waitUntil(
    async () => {
      const duration = await locator.evaluate((element) => element.duration);
      return Number.isFinite(duration) ? duration : 0;
    },
    { timeout, message: "a finite duration" },
  );
}

/** Plays the element muted and asserts that its clock advances; pauses it again. */
export async function assertPlays(locator, advanceBy = 0.3) {
  const start = await locator.evaluate(async (element) => {
    element.muted = true;
    await element.play();
    return element.currentTime;
  });
  await waitUntil(() => locator.evaluate((element, from) => element.currentTime - from, start).then((d) => d >= advanceBy), {
    timeout: 10_000,
    message: `currentTime to advance ${advanceBy} s from ${start}`,
  });
  await locator.evaluate((element) => element.pause());
}

/** Records, every 50 ms, the values of the progress bars and the job status text, so that a
 *  test can check afterwards that they moved (a job can pass a stage between two looks). */
export async function startProgressRecorder(page) {
  await page.evaluate(() => {
    const seen = { upload: [], job: [], status: [] };
    const push = (list, value) => {
      if (value !== null && value !== undefined && value !== "" && list.at(-1) !== value) list.push(value);
    };
    const valueOf = (bar) => bar?.getAttribute("aria-valuenow") ?? (bar && "value" in bar ? String(bar.value) : null);
    window.__e2eProgress = seen;
    window.__e2eProgressTimer = setInterval(() => {
      push(seen.upload, valueOf(document.querySelector('[aria-label="Upload progress"]')));
      push(seen.job, valueOf(document.querySelector('[aria-label="Job progress"]')));
      push(seen.status, document.querySelector('[data-testid="job-status"]')?.textContent?.trim());
    }, 50);
  });
}

export async function stopProgressRecorder(page) {
  return page.evaluate(() => {
    clearInterval(window.__e2eProgressTimer);
    return window.__e2eProgress;
  });
}

/** The job id in a result URL such as /api/jobs/<id>/result?download=1. */
export function jobIdOf(url) {
  const match = new URL(url, "http://x").pathname.match(/\/api\/jobs\/([^/]+)\/result$/);
  assert.ok(match, `not a result URL: ${url}`);
  return match[1];
}

/** Fetches the result and checks it is an MP4 the API describes; returns its bytes and job. */
export async function fetchResult(request, resultUrl) {
  const response = await request.get(resultUrl);
  assert.equal(response.status(), 200, `GET ${resultUrl}`);
  assert.match(response.headers()["content-type"], /^video\/mp4/);
  const body = await response.body();
  assert.ok(body.length > 1000, `result is only ${body.length} bytes`);
  assert.equal(body.subarray(4, 8).toString("latin1"), "ftyp", "the result starts with an ftyp box");
  const jobResponse = await request.get(`/api/jobs/${jobIdOf(resultUrl)}`);
  const job = await jobResponse.json();
  assert.equal(job.status, "succeeded");
  assert.equal(job.result.size_bytes, body.length);
  assert.ok(job.result.duration_s > 1, `result duration ${job.result.duration_s} s`);
  assert.ok(job.result.frames_with_face > 0, "the result has frames with a face");
  return { body, job };
}

/** The server's error message for a POST of `files` (what the page must show verbatim). */
export async function serverErrorFor(request, files) {
  const multipart = {};
  for (const [field, path] of Object.entries(files)) {
    multipart[field] = { name: basename(path), mimeType: "application/octet-stream", buffer: readFileSync(path) };
  }
  const response = await request.post("/api/jobs", { multipart });
  assert.ok(response.status() >= 400 && response.status() < 500, `expected a 4xx, got ${response.status()}`);
  return (await response.json()).error.message;
}
