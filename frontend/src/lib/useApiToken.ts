import { useSyncExternalStore } from "react";
import { apiTokenState, subscribeApiToken, type TokenState } from "../api/token";

/** The saved API token and whether the server refused a request; re-renders on changes. */
export function useApiToken(): TokenState {
  return useSyncExternalStore(subscribeApiToken, apiTokenState, apiTokenState);
}
