// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeEventSource, stubFetch } from "../test/doubles";
import { JOB_ID, makeJob, succeededJob } from "../test/fixtures";
import { forgetApiToken, saveApiToken } from "./token";
import type { Job } from "./types";
import { backoffDelay, watchJob, type Transport } from "./watch";

const EVENTS_URL = `/api/jobs/${JOB_ID}/events`;

function recorder() {
  const jobs: Job[] = [];
  const errors: Error[] = [];
  const transports: Transport[] = [];
  return {
    jobs,
    errors,
    transports,
    handlers: {
      onJob: (job: Job) => jobs.push(job),
      onError: (error: Error) => errors.push(error),
      onTransport: (transport: Transport) => transports.push(transport),
    },
  };
}

const createEventSource = (url: string) => new FakeEventSource(url) as unknown as EventSource;

describe("watchJob", () => {
  beforeEach(() => {
    FakeEventSource.instances = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it("puts the saved API token in the EventSource URL, which cannot send headers", () => {
    saveApiToken("s3cret");
    try {
      const stop = watchJob(JOB_ID, EVENTS_URL, recorder().handlers, { createEventSource });
      expect(FakeEventSource.instances[0]!.url).toBe(`${EVENTS_URL}?access_token=s3cret`);
      stop();
    } finally {
      forgetApiToken();
    }
  });

  it("follows Server-Sent Events and closes the stream at a finished status", () => {
    const seen = recorder();
    watchJob(JOB_ID, EVENTS_URL, seen.handlers, { createEventSource });
    const source = FakeEventSource.instances[0]!;
    expect(source.url).toBe(EVENTS_URL);
    source.emit("job", makeJob({ progress: 0.3 }));
    source.emit("job", succeededJob());
    expect(seen.jobs.map((job) => job.status)).toEqual(["running", "succeeded"]);
    expect(source.closed).toBe(true);
    expect(seen.transports).toEqual(["events"]);
  });

  it("falls back to polling when the server refuses the stream", async () => {
    const answers = [makeJob({ progress: 0.6 }), succeededJob()];
    const fetchDouble = stubFetch({ [`/api/jobs/${JOB_ID}`]: () => new Response(JSON.stringify(answers.shift())) });
    const seen = recorder();
    watchJob(JOB_ID, EVENTS_URL, seen.handlers, { createEventSource, pollIntervalMs: 1000 });
    FakeEventSource.instances[0]!.fail(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(seen.transports).toEqual(["events", "polling"]);
    expect(seen.jobs.map((job) => job.progress)).toEqual([0.6]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(seen.jobs.map((job) => job.status)).toEqual(["running", "succeeded"]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(fetchDouble).toHaveBeenCalledTimes(2);
    expect(seen.errors).toEqual([]);
  });

  it("polls from the start where there is no EventSource", async () => {
    stubFetch({ [`/api/jobs/${JOB_ID}`]: succeededJob() });
    const seen = recorder();
    watchJob(JOB_ID, EVENTS_URL, seen.handlers, { createEventSource: () => null });
    await vi.advanceTimersByTimeAsync(0);
    expect(seen.transports).toEqual(["polling"]);
    expect(seen.jobs[0]?.status).toBe("succeeded");
  });

  it("lets the browser reconnect once, then polls when the stream keeps failing", async () => {
    stubFetch({ [`/api/jobs/${JOB_ID}`]: makeJob() });
    const seen = recorder();
    const stop = watchJob(JOB_ID, EVENTS_URL, seen.handlers, { createEventSource });
    const source = FakeEventSource.instances[0]!;
    source.emit("job", makeJob());
    source.fail(false);
    expect(seen.transports).toEqual(["events"]);
    source.emit("job", makeJob({ progress: 0.7 }));
    source.fail(false);
    expect(seen.transports).toEqual(["events"]);
    source.fail(false);
    expect(seen.transports).toEqual(["events", "polling"]);
    expect(source.closed).toBe(true);
    stop();
  });

  it("backs off on network errors and reports a lost connection after several", async () => {
    const fetchDouble = vi.fn(() => Promise.reject(new TypeError("Failed to fetch")));
    vi.stubGlobal("fetch", fetchDouble);
    const seen = recorder();
    watchJob(JOB_ID, EVENTS_URL, seen.handlers, {
      createEventSource: () => null,
      maxFailures: 3,
      backoffBaseMs: 1000,
    });
    await vi.advanceTimersByTimeAsync(0);
    expect(fetchDouble).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(fetchDouble).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fetchDouble).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(2000);
    expect(fetchDouble).toHaveBeenCalledTimes(3);
    expect(seen.errors).toHaveLength(1);
    expect(seen.errors[0]?.name).toBe("NetworkError");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fetchDouble).toHaveBeenCalledTimes(3);
  });

  it("checks a silent stream with a poll, and polls when the server does not answer", async () => {
    const hanging = vi.fn((_input: unknown, init?: RequestInit) => {
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
    });
    vi.stubGlobal("fetch", hanging);
    const seen = recorder();
    watchJob(JOB_ID, EVENTS_URL, seen.handlers, {
      createEventSource,
      heartbeatMs: 20_000,
      requestTimeoutMs: 5000,
      maxFailures: 2,
    });
    FakeEventSource.instances[0]!.emit("job", makeJob({ stage: "queued", status: "queued" }));
    await vi.advanceTimersByTimeAsync(19_999);
    expect(hanging).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(hanging).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(seen.transports).toEqual(["events", "polling"]);
    expect(FakeEventSource.instances[0]!.closed).toBe(true);
    await vi.advanceTimersByTimeAsync(5000);
    expect(seen.errors.map((error) => error.name)).toEqual(["NetworkError"]);
  });

  it("reports a job deleted while watched", () => {
    const seen = recorder();
    watchJob(JOB_ID, EVENTS_URL, seen.handlers, { createEventSource });
    FakeEventSource.instances[0]!.emit("gone", { id: JOB_ID, status: "deleted" });
    expect(seen.errors[0]).toMatchObject({ name: "ApiError", status: 404 });
  });
});

describe("backoffDelay", () => {
  it("doubles per failure up to the cap", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 1000, 15_000))).toEqual([
      1000, 2000, 4000, 8000, 15_000, 15_000,
    ]);
  });
});
