import { act, render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { MediaChoice } from "../lib/mediaChoice";
import { installMediaDoubles, removeMediaDoubles } from "../test/doubles";
import { AudioInput } from "./AudioInput";
import { VideoInput } from "./VideoInput";

describe("AudioInput and VideoInput", () => {
  afterEach(() => {
    removeMediaDoubles();
    vi.useRealTimers();
  });

  it("explains an unsupported browser and still takes an uploaded file", async () => {
    // jsdom has neither MediaRecorder nor getUserMedia: like an old or locked-down browser.
    const onChange = vi.fn<(choice: MediaChoice | null) => void>();
    render(<AudioInput onChange={onChange} />);
    expect(screen.getByRole("radio", { name: "Record audio" })).toBeDisabled();
    expect(screen.getByRole("radio", { name: "Upload audio" })).toBeChecked();
    expect(screen.getByText(/You can still upload files/)).toBeInTheDocument();
    const file = new File(["RIFF"], "speech.wav", { type: "audio/wav" });
    await userEvent.upload(screen.getByLabelText("Audio file"), file);
    expect(onChange).toHaveBeenLastCalledWith({ blob: file, filename: "speech.wav", kind: "audio", source: "uploaded" });
  });

  it("records audio with a meter and a timer, plays it back, and re-records", async () => {
    installMediaDoubles({ supportedTypes: ["audio/webm;codecs=opus"] });
    const onChange = vi.fn<(choice: MediaChoice | null) => void>();
    const user = userEvent.setup();
    render(<AudioInput onChange={onChange} />);
    expect(screen.getByRole("radio", { name: "Record audio" })).toBeChecked();
    await user.click(screen.getByRole("button", { name: "Start recording audio" }));
    expect(screen.getByRole("meter", { name: "Microphone level" })).toBeInTheDocument();
    expect(screen.getByRole("timer", { name: "Audio recording time" })).toHaveTextContent("0:00");
    await user.click(screen.getByRole("button", { name: "Stop recording audio" }));
    expect(screen.getByLabelText("Recorded audio")).toHaveAttribute("src");
    expect(onChange).toHaveBeenLastCalledWith(expect.objectContaining({ filename: "recording.webm", source: "recorded" }));
    await user.click(screen.getByRole("button", { name: "Re-record audio" }));
    expect(screen.queryByLabelText("Recorded audio")).not.toBeInTheDocument();
    expect(onChange).toHaveBeenLastCalledWith(null);
    expect(screen.getByRole("button", { name: "Start recording audio" })).toBeEnabled();
  });

  it("opens the camera, counts down 3-2-1, records, and stops the camera", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const media = installMediaDoubles({ supportedTypes: ["video/webm;codecs=vp9,opus"] });
    const user = userEvent.setup({ advanceTimers: vi.advanceTimersByTime });
    render(<VideoInput onChange={() => {}} />);
    await user.click(screen.getByRole("button", { name: "Start camera" }));
    expect(screen.getByLabelText("Camera preview")).toBeVisible();
    await user.click(screen.getByRole("button", { name: "Start recording video" }));
    const countdown = document.querySelector(".countdown");
    expect(countdown).toHaveAttribute("aria-live");
    await waitFor(() => expect(countdown).toHaveTextContent("Recording starts in 3"));
    await act(() => vi.advanceTimersByTimeAsync(3000));
    await user.click(screen.getByRole("button", { name: "Stop recording video" }));
    expect(screen.getByLabelText("Recorded video")).toBeInTheDocument();
    expect(media.streams[0]!.tracks.every((track) => track.stop.mock.calls.length > 0)).toBe(true);
    expect(screen.getByRole("button", { name: "Re-record video" })).toBeInTheDocument();
  });

  it("says so when camera permission is denied", async () => {
    installMediaDoubles({ supportedTypes: ["video/webm"], denied: true });
    render(<VideoInput onChange={() => {}} />);
    await userEvent.click(screen.getByRole("button", { name: "Start camera" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(/Permission to use the camera was denied/);
  });
});
