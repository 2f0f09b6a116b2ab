import { afterEach, describe, expect, it, vi } from "vitest";
import {
  apiTokenState,
  authHeaders,
  forgetApiToken,
  getApiToken,
  noteUnauthorized,
  saveApiToken,
  subscribeApiToken,
  withAccessToken,
} from "./token";

describe("API token", () => {
  afterEach(() => {
    forgetApiToken();
    localStorage.clear();
  });

  it("is kept in localStorage, trimmed, and forgotten", () => {
    expect(getApiToken()).toBeNull();
    saveApiToken("  s3cret \n");
    expect(getApiToken()).toBe("s3cret");
    expect(localStorage.getItem("lipsync.apiToken")).toBe("s3cret");
    forgetApiToken();
    expect(getApiToken()).toBeNull();
    expect(localStorage.getItem("lipsync.apiToken")).toBeNull();
  });

  it("remembers a 401 until a token is saved, and tells subscribers", () => {
    const listener = vi.fn();
    const unsubscribe = subscribeApiToken(listener);
    noteUnauthorized();
    expect(apiTokenState()).toEqual({ token: null, rejected: true });
    saveApiToken("abc");
    expect(apiTokenState()).toEqual({ token: "abc", rejected: false });
    expect(listener).toHaveBeenCalledTimes(2);
    unsubscribe();
  });

  it("picks up a token saved in another tab", () => {
    const listener = vi.fn();
    const unsubscribe = subscribeApiToken(listener);
    localStorage.setItem("lipsync.apiToken", "from-elsewhere");
    window.dispatchEvent(new StorageEvent("storage", { key: "lipsync.apiToken" }));
    expect(getApiToken()).toBe("from-elsewhere");
    expect(listener).toHaveBeenCalledOnce();
    unsubscribe();
  });

  it("gives an Authorization header only with a token", () => {
    expect(authHeaders()).toEqual({});
    saveApiToken("abc");
    expect(authHeaders()).toEqual({ Authorization: "Bearer abc" });
  });

  it("adds access_token to the API's URLs only with a token", () => {
    expect(withAccessToken("/api/jobs/1/result?download=1")).toBe("/api/jobs/1/result?download=1");
    saveApiToken("a b/c&d");
    expect(withAccessToken("/api/jobs/1/events")).toBe("/api/jobs/1/events?access_token=a%20b%2Fc%26d");
    expect(withAccessToken("/api/jobs/1/result?download=1")).toBe(
      "/api/jobs/1/result?download=1&access_token=a%20b%2Fc%26d",
    );
    expect(withAccessToken("/api/docs#jobs")).toBe("/api/docs?access_token=a%20b%2Fc%26d#jobs");
    expect(withAccessToken(`${location.origin}/api/docs`)).toBe(`${location.origin}/api/docs?access_token=a%20b%2Fc%26d`);
  });

  it("never puts the token in a URL to another origin", () => {
    saveApiToken("abc");
    expect(withAccessToken("https://elsewhere.example/api/jobs")).toBe("https://elsewhere.example/api/jobs");
    expect(withAccessToken("//elsewhere.example/api/jobs")).toBe("//elsewhere.example/api/jobs");
  });
});
