import { AbortedError, NetworkError, apiErrorFrom } from "./errors";
import { authHeaders, noteUnauthorized } from "./token";
import type { CreatedJob, EnginesResponse, Job, JobStatus, OptionsResponse } from "./types";

/** Bytes sent so far of `total` (null when the browser cannot tell). */
export interface UploadProgress {
  loaded: number;
  total: number | null;
}

async function requestJson<T>(path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: { Accept: "application/json", ...authHeaders() } });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw new AbortedError();
    throw new NetworkError();
  }
  const text = await response.text().catch(() => "");
  if (response.status === 401) noteUnauthorized();
  if (!response.ok) throw apiErrorFrom(response.status, response.statusText, text);
  if (response.status === 204 || text === "") return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw apiErrorFrom(response.status, "not JSON", "");
  }
}

export function getOptions(signal?: AbortSignal): Promise<OptionsResponse> {
  return requestJson<OptionsResponse>("/api/options", { signal });
}

export function getEngines(signal?: AbortSignal): Promise<EnginesResponse> {
  return requestJson<EnginesResponse>("/api/engines", { signal });
}

export function getJob(id: string, signal?: AbortSignal): Promise<Job> {
  return requestJson<Job>(`/api/jobs/${encodeURIComponent(id)}`, { signal });
}

export async function listJobs(limit = 10, status?: JobStatus): Promise<Job[]> {
  const query = new URLSearchParams({ limit: String(limit) });
  if (status) query.set("status", status);
  const body = await requestJson<{ jobs: Job[] }>(`/api/jobs?${query.toString()}`);
  return body.jobs;
}

/** Cancels a queued or running job (the answer is the job, now cancelling), or deletes a
 * finished one with its files (no body). */
export async function cancelJob(id: string): Promise<Job | undefined> {
  return requestJson<Job | undefined>(`/api/jobs/${encodeURIComponent(id)}`, {
    method: "DELETE",
  });
}

export interface SubmitFile {
  blob: Blob;
  /** A name with an extension the server's sniffing does not need, but its messages show. */
  filename: string;
}

export interface Submission {
  video: SubmitFile;
  audio?: SubmitFile;
  /** Option fields as the form sends them (see docs/api.md): only values that differ from
   * the defaults need to be present. */
  options: Record<string, string>;
}

/**
 * POST /api/jobs as multipart form data through XMLHttpRequest, which (unlike fetch) reports
 * upload progress. Like every request of this client it carries the saved API token (see
 * ./token). Resolves with the created job; rejects with ApiError (the server's
 * message), NetworkError, or AbortedError when `signal` aborts.
 */
export function submitJob(
  submission: Submission,
  onUploadProgress?: (progress: UploadProgress) => void,
  signal?: AbortSignal,
): Promise<CreatedJob> {
  const form = new FormData();
  for (const [name, value] of Object.entries(submission.options)) form.append(name, value);
  if (submission.audio) form.append("audio", submission.audio.blob, submission.audio.filename);
  form.append("video", submission.video.blob, submission.video.filename);

  return new Promise<CreatedJob>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError());
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event: ProgressEvent) => {
      onUploadProgress?.({
        loaded: event.loaded,
        total: event.lengthComputable ? event.total : null,
      });
    };
    xhr.onload = () => {
      const text = typeof xhr.responseText === "string" ? xhr.responseText : "";
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(text) as CreatedJob);
        } catch {
          reject(apiErrorFrom(xhr.status, "not JSON", ""));
        }
      } else if (xhr.status === 0) {
        reject(new NetworkError());
      } else {
        if (xhr.status === 401) noteUnauthorized();
        reject(apiErrorFrom(xhr.status, xhr.statusText, text));
      }
    };
    xhr.onerror = () => reject(new NetworkError());
    xhr.ontimeout = () => reject(new NetworkError("the upload timed out"));
    xhr.onabort = () => reject(new AbortedError("the upload was cancelled"));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}
