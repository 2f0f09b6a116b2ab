import { AbortedError, ApiError, NetworkError } from "../api/errors";

/**
 * What the page tells the user went wrong. `api`: the server refused something and said why;
 * `connection`: the server could not be reached; `permission`: camera or microphone access
 * was denied; `unsupported`: this browser or page cannot record; `device`: no device, or it
 * is busy; `job`: the job itself failed; `auth`: the server wants an API token (HTTP 401),
 * asked for by the token form, which retries the action once a token is saved.
 */
export type AppErrorKind = "api" | "connection" | "permission" | "unsupported" | "device" | "job" | "auth";

export interface AppError {
  kind: AppErrorKind;
  message: string;
  /** Tries the failed action again; offered as a "Retry" button. */
  retry?: () => void;
}

/** The AppError for an error thrown by the API client; null for an aborted request. */
export function appErrorFrom(error: unknown, retry?: () => void): AppError | null {
  if (error instanceof AbortedError) return null;
  if (error instanceof NetworkError) return { kind: "connection", message: error.message, retry };
  if (error instanceof ApiError) {
    if (error.status === 401) return { kind: "auth", message: error.message, retry };
    // 5xx means the server is there but could not do it now: trying again may work.
    return { kind: "api", message: error.message, retry: error.status >= 500 ? retry : undefined };
  }
  return { kind: "api", message: error instanceof Error ? error.message : String(error) };
}
