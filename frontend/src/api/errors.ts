import type { ApiErrorBody } from "./types";

/** The server answered with an error status; `message` is its own one-line explanation. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The server could not be reached, or the connection broke before it answered. */
export class NetworkError extends Error {
  override readonly name = "NetworkError";
  constructor(message = "lost the connection to the server") {
    super(message);
  }
}

/** The caller aborted the request (e.g. cancelled an upload). */
export class AbortedError extends Error {
  override readonly name = "AbortedError";
  constructor(message = "the request was cancelled") {
    super(message);
  }
}

function isErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== "object" || value === null || !("error" in value)) return false;
  const error = (value as { error: unknown }).error;
  return (
    typeof error === "object" &&
    error !== null &&
    typeof (error as { message?: unknown }).message === "string"
  );
}

/**
 * The ApiError for a failed response's status and body text. The API always sends
 * `{"error": {code, message, status}}`; anything else (a proxy's HTML page, a server killed
 * mid-answer) gets a message naming the HTTP status instead.
 */
export function apiErrorFrom(status: number, statusText: string, bodyText: string): ApiError {
  try {
    const body: unknown = JSON.parse(bodyText);
    if (isErrorBody(body)) {
      return new ApiError(status, body.error.code || "error", body.error.message);
    }
  } catch {
    // Not JSON: fall through to the generic message.
  }
  const reason = statusText ? `${status} ${statusText}` : `${status}`;
  return new ApiError(status, "http_error", `the server answered HTTP ${reason}`);
}
