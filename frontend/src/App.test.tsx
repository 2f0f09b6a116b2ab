import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { forgetApiToken, getApiToken, saveApiToken } from "./api/token";
import { jobButtonName } from "./components/JobHistory";
import { engines, optionFields, succeededJob } from "./test/fixtures";

const TOKEN = "s3cret";
const unauthorized = {
  error: { code: "unauthorized", message: "this server needs an API token: Authorization: Bearer <token>", status: 401 },
};

/** A server started with LIPSYNC_API_TOKEN=s3cret: every /api request needs the Bearer header. */
function stubGuardedServer(): ReturnType<typeof vi.fn> {
  const routes: Record<string, unknown> = {
    "/api/options": { fields: optionFields },
    "/api/engines": engines,
    "/api/jobs": { jobs: [succeededJob()] },
  };
  const fetchDouble = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = String(input).split("?")[0] ?? "";
    const headers = (init?.headers ?? {}) as Record<string, string>;
    if (headers.Authorization !== `Bearer ${TOKEN}`) {
      return new Response(JSON.stringify(unauthorized), { status: 401 });
    }
    const answer = routes[path];
    if (answer === undefined) return new Response(JSON.stringify({ error: { code: "not_found", message: path, status: 404 } }), { status: 404 });
    return new Response(JSON.stringify(answer), { status: 200 });
  });
  vi.stubGlobal("fetch", fetchDouble);
  return fetchDouble;
}

describe("App with a server that requires an API token", () => {
  beforeEach(() => {
    forgetApiToken();
    localStorage.clear();
  });
  afterEach(() => {
    forgetApiToken();
    localStorage.clear();
    vi.unstubAllGlobals();
  });

  it("asks for the token after a 401, stores it, reloads, and can forget it", async () => {
    const fetchDouble = stubGuardedServer();
    const user = userEvent.setup();
    render(<App />);

    const input = await screen.findByLabelText("API token");
    expect(input).toHaveAttribute("type", "password");
    expect(screen.getByText("This server requires an API token; ask its administrator.")).toBeInTheDocument();
    // The form asks once; the refused requests show no banners of their own.
    expect(screen.queryByText(/Authorization: Bearer/)).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Retry" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Forget API token" })).not.toBeInTheDocument();
    expect(screen.getByRole("link", { name: "API reference" })).toHaveAttribute("href", "/api/docs");

    const callsBefore = fetchDouble.mock.calls.length;
    await user.type(input, TOKEN);
    await user.click(screen.getByRole("button", { name: "Save token" }));

    expect(localStorage.getItem("lipsync.apiToken")).toBe(TOKEN);
    // Options, engines and history load again, now with the header.
    const job = succeededJob();
    const entry = await screen.findByRole("button", { name: jobButtonName(job) });
    await waitFor(() => expect(screen.getByRole("combobox", { name: "Engine" })).toHaveValue("auto"));
    const retried = fetchDouble.mock.calls.slice(callsBefore).map((call) => String(call[0]).split("?")[0]);
    expect(retried).toEqual(expect.arrayContaining(["/api/options", "/api/engines", "/api/jobs"]));
    expect(screen.queryByLabelText("API token")).not.toBeInTheDocument();
    expect(screen.getByRole("link", { name: "API reference" })).toHaveAttribute("href", `/api/docs?access_token=${TOKEN}`);

    // The result's player and download carry the token in their URLs.
    await user.click(entry);
    expect(screen.getByLabelText("Synced video")).toHaveAttribute("src", `${job.result!.url}?access_token=${TOKEN}`);
    expect(screen.getByRole("link", { name: "Download" })).toHaveAttribute(
      "href",
      `${job.result!.download_url}&access_token=${TOKEN}`,
    );

    await user.click(screen.getByRole("button", { name: "Forget API token" }));
    expect(localStorage.getItem("lipsync.apiToken")).toBeNull();
    expect(getApiToken()).toBeNull();
    expect(screen.queryByRole("button", { name: "Forget API token" })).not.toBeInTheDocument();
    expect(screen.getByLabelText("Synced video")).toHaveAttribute("src", job.result!.url);
    expect(screen.getByRole("link", { name: "Download" })).toHaveAttribute("href", job.result!.download_url);
  });

  it("asks again when the saved token is refused", async () => {
    stubGuardedServer();
    saveApiToken("wrong");
    const user = userEvent.setup();
    render(<App />);
    expect(await screen.findByText(/The saved token was refused/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Forget API token" })).toBeInTheDocument();

    await user.type(screen.getByLabelText("API token"), TOKEN);
    await user.click(screen.getByRole("button", { name: "Save token" }));
    await screen.findByRole("button", { name: jobButtonName(succeededJob()) });
    expect(screen.queryByLabelText("API token")).not.toBeInTheDocument();
    expect(localStorage.getItem("lipsync.apiToken")).toBe(TOKEN);
  });
});
