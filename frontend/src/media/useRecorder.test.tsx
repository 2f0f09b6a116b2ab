import { act, renderHook, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeMediaRecorder, installMediaDoubles, removeMediaDoubles } from "../test/doubles";
import { AUDIO_MIME_CANDIDATES, VIDEO_MIME_CANDIDATES, extensionFor, pickMimeType, recordingSupport } from "./mime";
import { useRecorder } from "./useRecorder";

describe("MIME type selection", () => {
  it("prefers VP9, then VP8, then plain WebM, then MP4 for video", () => {
    const only = (...types: string[]) => (type: string) => types.includes(type);
    expect(pickMimeType(VIDEO_MIME_CANDIDATES, only("video/webm;codecs=vp9,opus", "video/mp4"))).toBe(
      "video/webm;codecs=vp9,opus",
    );
    expect(pickMimeType(VIDEO_MIME_CANDIDATES, only("video/webm;codecs=vp8,opus", "video/webm"))).toBe(
      "video/webm;codecs=vp8,opus",
    );
    expect(pickMimeType(VIDEO_MIME_CANDIDATES, only("video/mp4"))).toBe("video/mp4");
    expect(pickMimeType(VIDEO_MIME_CANDIDATES, only())).toBeUndefined();
  });

  it("prefers WebM/Opus, then Ogg/Opus, then MP4 for audio", () => {
    const only = (...types: string[]) => (type: string) => types.includes(type);
    expect(pickMimeType(AUDIO_MIME_CANDIDATES, only("audio/ogg;codecs=opus", "audio/mp4"))).toBe(
      "audio/ogg;codecs=opus",
    );
    expect(pickMimeType(AUDIO_MIME_CANDIDATES, only("audio/mp4"))).toBe("audio/mp4");
  });

  it("treats a throwing isTypeSupported as unsupported", () => {
    const throws = () => {
      throw new Error("not implemented");
    };
    expect(pickMimeType(AUDIO_MIME_CANDIDATES, throws)).toBeUndefined();
  });

  it("names files by container", () => {
    expect(extensionFor("audio/webm;codecs=opus", "audio")).toBe("webm");
    expect(extensionFor("audio/ogg;codecs=opus", "audio")).toBe("ogg");
    expect(extensionFor("audio/mp4", "audio")).toBe("m4a");
    expect(extensionFor("video/mp4;codecs=avc1", "video")).toBe("mp4");
  });

  it("explains why recording is unavailable", () => {
    expect(recordingSupport({ isSecureContext: false }).reason).toMatch(/secure page/);
    expect(recordingSupport({ isSecureContext: true, navigator: {} }).reason).toMatch(/camera or microphone/);
    expect(
      recordingSupport({ isSecureContext: true, navigator: { mediaDevices: { getUserMedia: () => {} } } }).reason,
    ).toMatch(/MediaRecorder/);
  });
});

describe("useRecorder with MediaRecorder and getUserMedia test doubles", () => {
  afterEach(() => removeMediaDoubles());

  it("records video in the first supported format, then stops every track", async () => {
    const media = installMediaDoubles({ supportedTypes: ["video/webm;codecs=vp8,opus", "video/mp4"] });
    const { result } = renderHook(() => useRecorder({ kind: "video" }));
    await act(() => result.current.startRecording());
    expect(result.current.state).toBe("recording");
    expect(media.getUserMedia).toHaveBeenCalledWith(expect.objectContaining({ audio: false }));
    const recorder = FakeMediaRecorder.instances[0]!;
    expect(recorder.mimeType).toBe("video/webm;codecs=vp8,opus");
    const stream = media.streams[0]!;
    expect(stream.tracks.every((track) => track.stop.mock.calls.length === 0)).toBe(true);

    act(() => result.current.stopRecording());
    expect(result.current.state).toBe("recorded");
    expect(result.current.recording?.filename).toBe("recording.webm");
    expect(result.current.recording?.blob.type).toBe("video/webm;codecs=vp8,opus");
    expect(result.current.stream).toBeNull();
    expect(stream.tracks.every((track) => track.stop.mock.calls.length === 1)).toBe(true);
  });

  it("picks Safari's MP4 for audio when WebM and Ogg are missing", async () => {
    installMediaDoubles({ supportedTypes: ["audio/mp4"] });
    const { result } = renderHook(() => useRecorder({ kind: "audio" }));
    await act(() => result.current.startRecording());
    act(() => result.current.stopRecording());
    expect(FakeMediaRecorder.instances[0]!.mimeType).toBe("audio/mp4");
    expect(result.current.recording?.filename).toBe("recording.m4a");
  });

  it("stops the tracks when unmounted mid-recording", async () => {
    const media = installMediaDoubles({ supportedTypes: ["audio/webm;codecs=opus"] });
    const { result, unmount } = renderHook(() => useRecorder({ kind: "audio" }));
    await act(() => result.current.startRecording());
    unmount();
    expect(media.streams[0]!.tracks[0]!.stop).toHaveBeenCalled();
    expect(FakeMediaRecorder.instances[0]!.state).toBe("inactive");
  });

  it("counts down before recording and can be cancelled during the countdown", async () => {
    vi.useFakeTimers();
    try {
      installMediaDoubles({ supportedTypes: ["video/webm"] });
      const { result } = renderHook(() => useRecorder({ kind: "video", countdownS: 3 }));
      await act(() => result.current.startRecording());
      expect(result.current.state).toBe("countdown");
      expect(result.current.countdown).toBe(3);
      act(() => vi.advanceTimersByTime(1000));
      expect(result.current.countdown).toBe(2);
      act(() => vi.advanceTimersByTime(2000));
      expect(result.current.state).toBe("recording");
      expect(result.current.countdown).toBeNull();
      act(() => vi.advanceTimersByTime(2600));
      expect(result.current.elapsedMs).toBeGreaterThanOrEqual(2500);
      act(() => result.current.discard());
      expect(result.current.state).toBe("idle");

      await act(() => result.current.startRecording());
      act(() => result.current.stopRecording());
      expect(result.current.state).toBe("ready");
      expect(FakeMediaRecorder.instances).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("reports a denied permission in words that say so", async () => {
    installMediaDoubles({ supportedTypes: ["audio/webm;codecs=opus"], denied: true });
    const { result } = renderHook(() => useRecorder({ kind: "audio" }));
    await act(() => result.current.startRecording());
    await waitFor(() => expect(result.current.error?.kind).toBe("permission"));
    expect(result.current.error?.message).toMatch(/permission/i);
    expect(result.current.error?.message).toMatch(/microphone/);
    expect(result.current.state).toBe("idle");
  });

  it("refuses to record without MediaRecorder", async () => {
    installMediaDoubles({ supportedTypes: [] });
    vi.stubGlobal("MediaRecorder", undefined);
    const { result } = renderHook(() => useRecorder({ kind: "audio" }));
    expect(result.current.supported).toBe(false);
    await act(() => result.current.startRecording());
    expect(result.current.error?.kind).toBe("unsupported");
  });
});
