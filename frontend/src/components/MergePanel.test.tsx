import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Job } from "../api/types";
import { makeJob, succeededJob } from "../test/fixtures";
import { MergePanel } from "./MergePanel";

const handlers = () => ({
  onMerge: vi.fn(),
  onCancel: vi.fn(),
  onCancelUpload: vi.fn(),
  onDismissError: vi.fn(),
});

function panel(job: Job | null, extra: Partial<Parameters<typeof MergePanel>[0]> = {}) {
  return (
    <MergePanel
      canMerge={false}
      mergeHint={null}
      phase={job === null ? "idle" : "watching"}
      uploadFraction={null}
      job={job}
      error={null}
      cancelling={false}
      {...handlers()}
      {...extra}
    />
  );
}

describe("MergePanel", () => {
  afterEach(() => vi.useRealTimers());

  it("keeps Merge disabled, saying why, until both inputs exist", async () => {
    const onMerge = vi.fn();
    const { rerender } = render(panel(null, { mergeHint: "Record or upload the speech first.", onMerge }));
    const merge = screen.getByRole("button", { name: "Merge" });
    expect(merge).toBeDisabled();
    expect(merge).toHaveAccessibleDescription("Record or upload the speech first.");
    rerender(panel(null, { canMerge: true, onMerge }));
    await userEvent.click(screen.getByRole("button", { name: "Merge" }));
    expect(onMerge).toHaveBeenCalledOnce();
  });

  it("shows upload progress, and lets the upload be cancelled", async () => {
    const onCancelUpload = vi.fn();
    render(panel(null, { phase: "uploading", uploadFraction: 0.42, onCancelUpload }));
    expect(screen.getByRole("progressbar", { name: "Upload progress" })).toHaveValue(42);
    expect(screen.getByTestId("job-status")).toHaveTextContent("Uploading… 42%");
    await userEvent.click(screen.getByRole("button", { name: "Cancel upload" }));
    expect(onCancelUpload).toHaveBeenCalledOnce();
  });

  it("shows the stage and an ETA from the rate of progress", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-11-21T12:00:00Z"));
    const first = makeJob({ stage: "faces", progress: 0.1, eta_s: 2, stage_progress: { done: 10, total: 75, unit: "frames" } });
    const { rerender } = render(panel(first));
    const status = screen.getByTestId("job-status");
    expect(status).toHaveAttribute("aria-live", "polite");
    // Too early for any estimate: the server's (from the fast first stage) is not trusted.
    expect(status).toHaveTextContent("Finding the face (10 of 75 frames) · estimating time left…");
    expect(screen.getByRole("progressbar", { name: "Job progress" })).toHaveValue(10);

    vi.setSystemTime(new Date("2026-11-21T12:00:01Z"));
    rerender(panel(makeJob({ stage: "sync", progress: 0.3, eta_s: 99 })));
    // Still too little watched here: the server's estimate stands in.
    expect(status).toHaveTextContent("Syncing the lips (16 of 71 frames) · about 2 min left");

    vi.setSystemTime(new Date("2026-11-21T12:00:11Z"));
    rerender(panel(makeJob({ stage: "sync", progress: 0.5, eta_s: 99, stage_progress: { done: 30, total: 71, unit: "frames" } })));
    // 40 % in 11 s: the remaining 50 % takes about 13.75 s.
    expect(status).toHaveTextContent("Syncing the lips (30 of 71 frames) · about 15 s left");
    expect(screen.getByRole("progressbar", { name: "Job progress" })).toHaveValue(50);
  });

  it("cancels a running job and shows that it is cancelling", async () => {
    const onCancel = vi.fn();
    const { rerender } = render(panel(makeJob(), { onCancel }));
    await userEvent.click(screen.getByRole("button", { name: "Cancel job" }));
    expect(onCancel).toHaveBeenCalledOnce();
    rerender(panel(makeJob({ cancel_requested: true }), { onCancel, cancelling: true }));
    expect(screen.getByRole("button", { name: "Cancel job" })).toBeDisabled();
    expect(screen.getByTestId("job-status")).toHaveTextContent("Cancelling…");
    rerender(panel(makeJob({ status: "cancelled", stage: "cancelled" }), { phase: "finished" }));
    expect(screen.queryByRole("button", { name: "Cancel job" })).not.toBeInTheDocument();
    expect(screen.getByTestId("job-status")).toHaveTextContent("Cancelled.");
  });

  it("says when the result is ready", () => {
    render(panel(succeededJob(), { phase: "finished" }));
    expect(screen.getByTestId("job-status")).toHaveTextContent("Done: the result is ready.");
    expect(screen.getByRole("progressbar", { name: "Job progress" })).toHaveValue(100);
  });
});
