/**
 * The API token a server started with LIPSYNC_API_TOKEN asks for: kept in localStorage, sent
 * by the client as `Authorization: Bearer <token>`, and as `?access_token=` in the URLs that
 * cannot carry a header (EventSource, <video src>, <a href download>).
 */

const STORAGE_KEY = "lipsync.apiToken";

export interface TokenState {
  /** The saved token; null when none is. */
  token: string | null;
  /** A request answered 401 since the token was last saved (or forgotten). */
  rejected: boolean;
}

let state: TokenState | null = null;
const listeners = new Set<() => void>();

function storage(): Storage | null {
  try {
    return typeof localStorage === "undefined" ? null : localStorage;
  } catch {
    // Storage disabled (some private modes throw on access).
    return null;
  }
}

function readStored(): string | null {
  try {
    return storage()?.getItem(STORAGE_KEY) || null;
  } catch {
    return null;
  }
}

function writeStored(token: string | null): void {
  try {
    if (token === null) storage()?.removeItem(STORAGE_KEY);
    else storage()?.setItem(STORAGE_KEY, token);
  } catch {
    // Full or disabled storage: the token still holds for this page.
  }
}

function update(next: TokenState): void {
  state = next;
  listeners.forEach((listener) => listener());
}

/** The current state; the same object until something changes (for useSyncExternalStore). */
export function apiTokenState(): TokenState {
  state ??= { token: readStored(), rejected: false };
  return state;
}

export function getApiToken(): string | null {
  return apiTokenState().token;
}

/** Calls `listener` on every change, including a token saved or forgotten in another tab. */
export function subscribeApiToken(listener: () => void): () => void {
  listeners.add(listener);
  const onStorage = (event: StorageEvent) => {
    if (event.key !== STORAGE_KEY && event.key !== null) return;
    const token = readStored();
    if (token !== apiTokenState().token) update({ token, rejected: false });
  };
  const win = typeof window === "undefined" ? null : window;
  win?.addEventListener("storage", onStorage);
  return () => {
    listeners.delete(listener);
    win?.removeEventListener("storage", onStorage);
  };
}

/** Saves the token (trimmed); a blank one forgets it. */
export function saveApiToken(token: string): void {
  const trimmed = token.trim();
  if (trimmed === "") {
    forgetApiToken();
    return;
  }
  writeStored(trimmed);
  update({ token: trimmed, rejected: false });
}

export function forgetApiToken(): void {
  writeStored(null);
  update({ token: null, rejected: false });
}

/** Records that the server answered 401: the page asks for a (new) token. */
export function noteUnauthorized(): void {
  const current = apiTokenState();
  if (!current.rejected) update({ ...current, rejected: true });
}

/** The Authorization header for the saved token; empty without one. */
export function authHeaders(token: string | null = getApiToken()): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** Whether `url` goes to this page's own server (the token must not leak elsewhere). */
function sameOrigin(url: string): boolean {
  if (url.startsWith("/") && !url.startsWith("//")) return true;
  const here = typeof location === "undefined" ? null : location;
  if (here === null) return false;
  try {
    return new URL(url, here.href).origin === here.origin;
  } catch {
    return false;
  }
}

/** `url` with `access_token=<token>` added to its query when a token is saved; unchanged
 * without one, or when it points to another origin. */
export function withAccessToken(url: string, token: string | null = getApiToken()): string {
  if (!token || !sameOrigin(url)) return url;
  const hashAt = url.indexOf("#");
  const base = hashAt < 0 ? url : url.slice(0, hashAt);
  const hash = hashAt < 0 ? "" : url.slice(hashAt);
  const separator = !base.includes("?") ? "?" : base.endsWith("?") || base.endsWith("&") ? "" : "&";
  return `${base}${separator}access_token=${encodeURIComponent(token)}${hash}`;
}
