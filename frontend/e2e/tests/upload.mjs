// The upload path: choose an MP4 face clip and a WAV, merge, get the result.
import assert from "node:assert/strict";
import { test } from "node:test";
import { env, withPage } from "../lib/harness.mjs";
import { checkResult, mergeAndWait } from "../lib/flows.mjs";

test("upload a face clip and a speech file, merge and download", { timeout: 150_000 }, () =>
  withPage("upload", async (page, shot) => {
    await page.goto("/");
    await page.getByRole("radio", { name: "Upload audio" }).check();
    await page.getByLabel("Audio file", { exact: true }).setInputFiles(env.fixtures.speech);
    await page.getByRole("radio", { name: "Upload video or photo" }).check();
    await page.getByLabel("Video or photo file", { exact: true }).setInputFiles(env.fixtures.face);
    await shot("files-chosen");

    const seen = await mergeAndWait(page, shot);
    assert.ok(seen.job.length >= 1, `the job progress bar showed a value: ${seen.job}`);
    const job = await checkResult(page, shot, "upload");
    assert.equal(job.input.audio_source, "upload");
    assert.equal(job.input.video.format, "MP4");
    assert.equal(job.input.audio.format, "WAV");
    // The speech (2.8 s) is shorter than the clip (3 s): the result follows the speech.
    assert.ok(Math.abs(job.result.duration_s - job.input.audio.duration_s) < 0.2, JSON.stringify(job.result));
  }),
);
