// @vitest-environment node
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeXMLHttpRequest, stubFetch } from "../test/doubles";
import { makeJob } from "../test/fixtures";
import { getEngines, getJob, listJobs, submitJob, type Submission } from "./client";
import { AbortedError, ApiError, NetworkError, apiErrorFrom } from "./errors";
import { apiTokenState, forgetApiToken, saveApiToken } from "./token";

const submission: Submission = {
  video: { blob: new Blob(["v"], { type: "video/webm" }), filename: "recording.webm" },
  audio: { blob: new Blob(["a"], { type: "audio/ogg" }), filename: "recording.ogg" },
  options: { engine: "builtin", loop: "forward" },
};

describe("apiErrorFrom", () => {
  it("keeps the server's message and code", () => {
    const body = JSON.stringify({
      error: { code: "unsupported_format", message: "video is a text file (plain text), not media", status: 415 },
    });
    const error = apiErrorFrom(415, "Unsupported Media Type", body);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(415);
    expect(error.code).toBe("unsupported_format");
    expect(error.message).toBe("video is a text file (plain text), not media");
  });

  it("names the HTTP status when the body is not the API's error JSON", () => {
    const error = apiErrorFrom(502, "Bad Gateway", "<html>proxy error</html>");
    expect(error.code).toBe("http_error");
    expect(error.message).toBe("the server answered HTTP 502 Bad Gateway");
  });
});

describe("JSON requests", () => {
  it("returns the parsed body", async () => {
    stubFetch({ "/api/jobs": { jobs: [makeJob()] } });
    const jobs = await listJobs(5);
    expect(jobs.map((job) => job.stage)).toEqual(["sync"]);
  });

  it("raises an ApiError carrying the server's message", async () => {
    stubFetch({});
    await expect(getJob("abc")).rejects.toMatchObject({
      name: "ApiError",
      status: 404,
      message: "no route /api/jobs/abc",
    });
  });

  it("raises a NetworkError when the server cannot be reached", async () => {
    vi.stubGlobal("fetch", vi.fn(() => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(getJob("abc")).rejects.toBeInstanceOf(NetworkError);
  });
});

describe("submitJob", () => {
  beforeEach(() => {
    FakeXMLHttpRequest.instances = [];
    vi.stubGlobal("XMLHttpRequest", FakeXMLHttpRequest);
  });
  afterEach(() => vi.unstubAllGlobals());

  it("posts the files and options as multipart form data and reports upload progress", async () => {
    const progress: { loaded: number; total: number | null }[] = [];
    const promise = submitJob(submission, (p) => progress.push(p));
    const xhr = FakeXMLHttpRequest.latest();
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("/api/jobs");
    const form = xhr.body as FormData;
    expect(form.get("engine")).toBe("builtin");
    expect(form.get("loop")).toBe("forward");
    expect((form.get("video") as File).name).toBe("recording.webm");
    expect((form.get("audio") as File).name).toBe("recording.ogg");

    xhr.progress(250, 1000);
    xhr.progress(1000, 1000);
    xhr.progress(10, null);
    const job = makeJob({ status: "queued", stage: "queued", progress: 0 });
    xhr.respond(202, { id: job.id, status_url: job.links.self, events_url: job.links.events, job });

    await expect(promise).resolves.toMatchObject({ id: job.id, job: { status: "queued" } });
    expect(progress).toEqual([
      { loaded: 250, total: 1000 },
      { loaded: 1000, total: 1000 },
      { loaded: 10, total: null },
    ]);
  });

  it("rejects with the server's 4xx message", async () => {
    const promise = submitJob(submission);
    FakeXMLHttpRequest.latest().respond(413, {
      error: { code: "too_large", message: "the upload is larger than this server's limit of 10 bytes", status: 413 },
    });
    await expect(promise).rejects.toMatchObject({
      status: 413,
      code: "too_large",
      message: "the upload is larger than this server's limit of 10 bytes",
    });
  });

  it("rejects with a NetworkError when the connection fails", async () => {
    const promise = submitJob(submission);
    FakeXMLHttpRequest.latest().failNetwork();
    await expect(promise).rejects.toBeInstanceOf(NetworkError);
  });

  it("aborts the upload when the signal fires", async () => {
    const abort = new AbortController();
    const promise = submitJob(submission, undefined, abort.signal);
    abort.abort();
    await expect(promise).rejects.toBeInstanceOf(AbortedError);
    expect(FakeXMLHttpRequest.latest().aborted).toBe(true);
  });
});

describe("API token", () => {
  const unauthorized = {
    error: { code: "unauthorized", message: "this server needs an API token: Authorization: Bearer <token>", status: 401 },
  };

  beforeEach(() => {
    FakeXMLHttpRequest.instances = [];
    vi.stubGlobal("XMLHttpRequest", FakeXMLHttpRequest);
  });
  afterEach(() => {
    forgetApiToken();
    vi.unstubAllGlobals();
  });

  function sentHeaders(fetchDouble: ReturnType<typeof vi.fn>): Record<string, string> {
    const init = fetchDouble.mock.calls.at(-1)?.[1] as RequestInit;
    return init.headers as Record<string, string>;
  }

  it("sends no Authorization header without a token", async () => {
    const fetchDouble = stubFetch({ "/api/jobs": { jobs: [] } });
    await listJobs(5);
    expect(sentHeaders(fetchDouble)).toEqual({ Accept: "application/json" });
    void submitJob(submission);
    expect(FakeXMLHttpRequest.latest().headers).toEqual({ Accept: "application/json" });
  });

  it("sends the saved token as a Bearer header with fetch and the upload", async () => {
    saveApiToken("s3cret");
    const fetchDouble = stubFetch({ "/api/jobs": { jobs: [] } });
    await listJobs(5);
    expect(fetchDouble.mock.calls.at(-1)?.[0]).toBe("/api/jobs?limit=5");
    expect(sentHeaders(fetchDouble)).toEqual({ Accept: "application/json", Authorization: "Bearer s3cret" });
    void submitJob(submission);
    const xhr = FakeXMLHttpRequest.latest();
    expect(xhr.url).toBe("/api/jobs");
    expect(xhr.headers).toEqual({ Accept: "application/json", Authorization: "Bearer s3cret" });
  });

  it("notes a 401 answer so that the page asks for a token", async () => {
    stubFetch({ "/api/engines": () => new Response(JSON.stringify(unauthorized), { status: 401 }) });
    await expect(getJob("abc")).rejects.toMatchObject({ status: 404 });
    expect(apiTokenState().rejected).toBe(false);
    await expect(getEngines()).rejects.toMatchObject({ status: 401, code: "unauthorized" });
    expect(apiTokenState().rejected).toBe(true);

    forgetApiToken();
    const promise = submitJob(submission);
    FakeXMLHttpRequest.latest().respond(401, unauthorized);
    await expect(promise).rejects.toMatchObject({ status: 401 });
    expect(apiTokenState().rejected).toBe(true);
  });
});
