import { getJob } from "./client";
import { AbortedError, ApiError, NetworkError } from "./errors";
import { withAccessToken } from "./token";
import { isFinished, type Job } from "./types";

export type Transport = "events" | "polling";

export interface WatchHandlers {
  /** Each new state of the job; the last one has a finished status. */
  onJob(job: Job): void;
  /** Watching gave up: an ApiError (e.g. the job is gone) or a NetworkError once the
   * server stayed unreachable for `maxFailures` polls in a row. */
  onError(error: Error): void;
  onTransport?(transport: Transport): void;
}

export interface WatchOptions {
  pollIntervalMs?: number;
  /** Consecutive failed polls before giving up with a NetworkError. */
  maxFailures?: number;
  /** First retry delay after a failed poll; it doubles per failure up to backoffMaxMs. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** EventSource errors in a row, with no event between them, before switching to polling. */
  maxEventErrors?: number;
  /** A poll that gets no answer in this time counts as a failed one (a hung server or a
   * dropped network does not always fail a request by itself). */
  requestTimeoutMs?: number;
  /** With no event for this long, one poll checks that the server is still there: the
   * stream of a stalled connection stays silent rather than failing. */
  heartbeatMs?: number;
  /** Makes the EventSource; returns null where the browser has none. Tests pass a double. */
  createEventSource?: (url: string) => EventSource | null;
}

function defaultEventSource(url: string): EventSource | null {
  return typeof EventSource === "undefined" ? null : new EventSource(url);
}

/** Milliseconds to wait before the next poll after `failures` failed ones in a row. */
export function backoffDelay(failures: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
}

/**
 * Follows a job until it finishes: Server-Sent Events while they work, polling
 * GET /api/jobs/<id> otherwise (no EventSource, the server refusing a stream with 503, or a
 * stream that keeps failing). Polls back off exponentially on network errors. Returns a
 * function that stops watching.
 */
export function watchJob(
  id: string,
  eventsUrl: string,
  handlers: WatchHandlers,
  options: WatchOptions = {},
): () => void {
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const maxFailures = options.maxFailures ?? 4;
  const backoffBaseMs = options.backoffBaseMs ?? 1000;
  const backoffMaxMs = options.backoffMaxMs ?? 15_000;
  const maxEventErrors = options.maxEventErrors ?? 2;
  const createEventSource = options.createEventSource ?? defaultEventSource;
  const requestTimeoutMs = options.requestTimeoutMs ?? 8_000;
  const heartbeatMs = options.heartbeatMs ?? 20_000;

  let stopped = false;
  let source: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pollAbort: AbortController | null = null;
  let heartbeat: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;

  const stop = () => {
    stopped = true;
    source?.close();
    source = null;
    if (timer !== undefined) clearTimeout(timer);
    if (heartbeat !== undefined) clearTimeout(heartbeat);
    pollAbort?.abort();
  };

  const deliver = (job: Job) => {
    if (stopped) return;
    handlers.onJob(job);
    if (isFinished(job.status)) stop();
  };

  const fail = (error: Error) => {
    if (stopped) return;
    stop();
    handlers.onError(error);
  };

  /** GET the job, failing with a NetworkError when no answer comes within the timeout. */
  const fetchJob = async (): Promise<Job> => {
    const abort = new AbortController();
    pollAbort = abort;
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, requestTimeoutMs);
    try {
      return await getJob(id, abort.signal);
    } catch (error) {
      if (timedOut) throw new NetworkError("the server did not answer in time");
      throw error;
    } finally {
      clearTimeout(deadline);
    }
  };

  const poll = () => {
    if (stopped) return;
    fetchJob().then(
      (job) => {
        failures = 0;
        deliver(job);
        if (!stopped) timer = setTimeout(poll, pollIntervalMs);
      },
      (error: unknown) => {
        if (stopped || error instanceof AbortedError) return;
        const transient =
          error instanceof NetworkError || (error instanceof ApiError && error.status >= 500);
        if (!transient) {
          fail(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        failures += 1;
        if (failures >= maxFailures) {
          fail(new NetworkError());
          return;
        }
        timer = setTimeout(poll, backoffDelay(failures, backoffBaseMs, backoffMaxMs));
      },
    );
  };

  const startPolling = () => {
    if (stopped) return;
    source?.close();
    source = null;
    if (heartbeat !== undefined) clearTimeout(heartbeat);
    handlers.onTransport?.("polling");
    poll();
  };

  const startEvents = () => {
    // EventSource cannot send headers: the saved API token goes in the query string.
    const created = createEventSource(withAccessToken(eventsUrl));
    if (created === null) {
      startPolling();
      return;
    }
    source = created;
    handlers.onTransport?.("events");
    let errorsInARow = 0;
    const checkStillThere = () => {
      fetchJob().then(
        (job) => {
          deliver(job);
          if (!stopped && source === created) heartbeat = setTimeout(checkStillThere, heartbeatMs);
        },
        (error: unknown) => {
          if (stopped || error instanceof AbortedError) return;
          if (error instanceof ApiError && error.status < 500) fail(error);
          // Polling takes over: it retries with backoff and reports a lost connection.
          else if (source === created) {
            failures = 1;
            startPolling();
          }
        },
      );
    };
    const rearmHeartbeat = () => {
      if (heartbeat !== undefined) clearTimeout(heartbeat);
      heartbeat = setTimeout(checkStillThere, heartbeatMs);
    };
    rearmHeartbeat();
    created.addEventListener("job", (event) => {
      errorsInARow = 0;
      rearmHeartbeat();
      try {
        deliver(JSON.parse((event as MessageEvent<string>).data) as Job);
      } catch {
        // A garbled event: the next one, or polling, brings the state.
      }
    });
    created.addEventListener("gone", () => {
      fail(new ApiError(404, "not_found", `job ${id} was deleted`));
    });
    created.onerror = () => {
      if (stopped) return;
      errorsInARow += 1;
      // CLOSED: the server refused the stream (e.g. 503, too many streams) and the browser
      // will not retry. CONNECTING: it retries by itself after the stream ended; only a
      // repeated failure means the stream is not working here.
      if (created.readyState === 2 || errorsInARow >= maxEventErrors) startPolling();
    };
  };

  startEvents();
  return stop;
}
