import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiError, NetworkError } from "../api/errors";
import { appErrorFrom } from "../lib/appError";
import { mediaAccessError } from "../media/deviceErrors";
import { ErrorBanner, errorText } from "./ErrorBanner";

describe("ErrorBanner", () => {
  it("shows the server's 4xx message as an alert, without Retry", () => {
    const error = appErrorFrom(new ApiError(415, "unsupported_format", "video is a text file (plain text), not media"));
    render(<ErrorBanner error={error} />);
    expect(screen.getByRole("alert")).toHaveTextContent("video is a text file (plain text), not media");
    expect(screen.queryByRole("button", { name: "Retry" })).not.toBeInTheDocument();
  });

  it("offers Retry for a lost connection", async () => {
    const retry = vi.fn();
    render(<ErrorBanner error={appErrorFrom(new NetworkError(), retry)} />);
    expect(screen.getByRole("alert")).toHaveTextContent(/connection/);
    await userEvent.click(screen.getByRole("button", { name: "Retry" }));
    expect(retry).toHaveBeenCalledOnce();
  });

  it("offers Retry when the server is busy (5xx)", () => {
    const error = appErrorFrom(new ApiError(503, "service_unavailable", "the queue is full"), () => {});
    render(<ErrorBanner error={error} />);
    expect(screen.getByRole("button", { name: "Retry" })).toBeInTheDocument();
  });

  it("leaves a missing API token to the token form: no Retry, but keeps the retry for it", () => {
    const retry = vi.fn();
    const error = appErrorFrom(new ApiError(401, "unauthorized", "this server needs an API token"), retry);
    expect(error).toMatchObject({ kind: "auth", retry });
    render(<ErrorBanner error={error} />);
    expect(screen.queryByRole("button", { name: "Retry" })).not.toBeInTheDocument();
  });

  it("explains denied permissions, missing devices and a failed job", () => {
    const denied = mediaAccessError(new DOMException("denied", "NotAllowedError"), "video");
    expect(errorText(denied)).toMatch(/^Permission to use the camera was denied/);
    expect(errorText(mediaAccessError(new DOMException("none", "NotFoundError"), "audio"))).toBe(
      "No microphone was found. Connect one and try again, or upload a file instead.",
    );
    expect(errorText(mediaAccessError(new DOMException("busy", "NotReadableError"), "video"))).toMatch(
      /another application/,
    );
    expect(errorText({ kind: "job", message: "no face found in the video" })).toBe(
      "The job failed: no face found in the video",
    );
  });

  it("can be dismissed, and renders nothing without an error", async () => {
    const onDismiss = vi.fn();
    const { rerender } = render(<ErrorBanner error={{ kind: "api", message: "x" }} onDismiss={onDismiss} />);
    await userEvent.click(screen.getByRole("button", { name: "Dismiss error" }));
    expect(onDismiss).toHaveBeenCalledOnce();
    rerender(<ErrorBanner error={null} />);
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });
});
