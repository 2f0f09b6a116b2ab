import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { App } from "../App";
import { stubFetch } from "../test/doubles";
import { engines, makeJob, optionFields, succeededJob } from "../test/fixtures";
import { JobHistory, timeAgo } from "./JobHistory";

const FINISHED_ID = "aaaaaaaa00000000000000000000000a";
const FAILED_ID = "bbbbbbbb00000000000000000000000b";

describe("JobHistory", () => {
  it("lists jobs as buttons named by id and status, and opens the one chosen", async () => {
    const onOpen = vi.fn();
    const jobs = [succeededJob(FINISHED_ID), makeJob({ id: FAILED_ID, status: "failed", stage: "faces" })];
    render(<JobHistory jobs={jobs} currentId={FINISHED_ID} error={null} onOpen={onOpen} onRefresh={() => {}} />);
    const list = screen.getByRole("list", { name: "Recent jobs" });
    const buttons = within(list).getAllByRole("button");
    expect(buttons.map((button) => button.getAttribute("aria-label"))).toEqual([
      "Job aaaaaaaa – succeeded",
      "Job bbbbbbbb – failed",
    ]);
    expect(buttons[0]).toHaveAttribute("aria-current", "true");
    await userEvent.click(screen.getByRole("button", { name: "Job bbbbbbbb – failed" }));
    expect(onOpen).toHaveBeenCalledWith(jobs[1]);
  });

  it("says how long ago a job was made", () => {
    const now = Date.parse("2026-11-21T17:00:00Z");
    expect(timeAgo("2026-11-21T16:59:30Z", now)).toBe("just now");
    expect(timeAgo("2026-11-21T16:55:00Z", now)).toBe("5 min ago");
    expect(timeAgo("2026-11-21T14:00:00Z", now)).toBe("3 h ago");
  });
});

describe("reopening a job from the history (whole page, fetch double)", () => {
  it("shows the finished job's result with a download link", async () => {
    const failed = makeJob({
      id: FAILED_ID,
      status: "failed",
      stage: "faces",
      error: { code: "no_face", message: "no face found in any frame of the video" },
    });
    stubFetch({
      "/api/options": { fields: optionFields },
      "/api/engines": engines,
      "/api/jobs": { jobs: [succeededJob(FINISHED_ID), failed] },
    });
    const user = userEvent.setup();
    render(<App />);

    await user.click(await screen.findByRole("button", { name: "Job aaaaaaaa – succeeded" }));
    expect(await screen.findByRole("heading", { name: "Result" })).toBeInTheDocument();
    expect(screen.getByLabelText("Synced video")).toHaveAttribute("src", `/api/jobs/${FINISHED_ID}/result`);
    const download = screen.getByRole("link", { name: "Download" });
    expect(download).toHaveAttribute("href", `/api/jobs/${FINISHED_ID}/result?download=1`);
    expect(download).toHaveAttribute("download");
    // Not made in this tab: nothing to compare with.
    expect(screen.getByRole("button", { name: "Compare with original" })).toBeDisabled();

    await user.click(screen.getByRole("button", { name: "Job bbbbbbbb – failed" }));
    expect(screen.queryByRole("heading", { name: "Result" })).not.toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("The job failed: no face found in any frame of the video");
  });
});
