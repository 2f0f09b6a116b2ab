import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { AppError } from "../lib/appError";
import { mediaAccessError } from "./deviceErrors";
import { startLevelMeter } from "./levelMeter";
import {
  extensionFor,
  mimeCandidates,
  pickMimeType,
  recordingSupport,
  type MediaKind,
} from "./mime";

/**
 * idle: no device open; requesting: waiting for permission; ready: device open (a camera
 * preview shows); countdown: about to record; recording; recorded: a recording exists and
 * the device is closed again.
 */
export type RecorderState = "idle" | "requesting" | "ready" | "countdown" | "recording" | "recorded";

export interface Recording {
  blob: Blob;
  /** An object URL of `blob` for playback; revoked when the recording is discarded. */
  url: string;
  mimeType: string;
  filename: string;
  durationMs: number;
}

export interface RecorderOptions {
  kind: MediaKind;
  /** Seconds counted down (3, 2, 1) before recording starts; 0 starts at once. */
  countdownS?: number;
  /** Measure the input level (0 … 1) while recording, for a meter. */
  meter?: boolean;
}

export interface Recorder {
  state: RecorderState;
  stream: MediaStream | null;
  recording: Recording | null;
  /** Milliseconds recorded so far, or the finished recording's length. */
  elapsedMs: number;
  /** Input level 0 … 1 while recording (0 otherwise). */
  level: number;
  /** Seconds left of the countdown, or null when none runs. */
  countdown: number | null;
  error: AppError | null;
  supported: boolean;
  unsupportedReason: string | null;
  /** Asks for the device and keeps it open (a camera preview); false when refused. */
  openDevice(): Promise<boolean>;
  /** Opens the device if needed, counts down, then records. */
  startRecording(): Promise<void>;
  stopRecording(): void;
  /** Drops the recording and closes the device. */
  discard(): void;
  closeDevice(): void;
}

const TIMER_TICK_MS = 250;
// Chunks at this interval, so a long recording is not held in one encoder buffer.
const CHUNK_MS = 1000;

function constraintsFor(kind: MediaKind): MediaStreamConstraints {
  if (kind === "audio") return { audio: true, video: false };
  return {
    audio: false,
    video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 720 } },
  };
}

function stopTracks(stream: MediaStream | null): void {
  stream?.getTracks().forEach((track) => track.stop());
}

/** Records audio or video from the user's device with MediaRecorder (see RecorderState). */
export function useRecorder(options: RecorderOptions): Recorder {
  const { kind, countdownS = 0, meter = false } = options;
  const support = useMemo(() => recordingSupport(), []);
  const [state, setState] = useState<RecorderState>("idle");
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [recording, setRecording] = useState<Recording | null>(null);
  const [elapsedMs, setElapsedMs] = useState(0);
  const [level, setLevel] = useState(0);
  const [countdown, setCountdown] = useState<number | null>(null);
  const [error, setError] = useState<AppError | null>(null);

  const mounted = useRef(true);
  const streamRef = useRef<MediaStream | null>(null);
  const recorderRef = useRef<MediaRecorder | null>(null);
  const urlRef = useRef<string | null>(null);
  const tickTimer = useRef<ReturnType<typeof setInterval> | undefined>(undefined);
  const countdownTimer = useRef<ReturnType<typeof setInterval> | undefined>(undefined);
  const stopMeter = useRef<(() => void) | null>(null);
  // Bumped by discard/unmount so that a getUserMedia answer arriving later is thrown away.
  const generation = useRef(0);

  const clearTimers = useCallback(() => {
    clearInterval(tickTimer.current);
    clearInterval(countdownTimer.current);
    tickTimer.current = undefined;
    countdownTimer.current = undefined;
    stopMeter.current?.();
    stopMeter.current = null;
  }, []);

  const releaseDevice = useCallback(() => {
    stopTracks(streamRef.current);
    streamRef.current = null;
    if (mounted.current) setStream(null);
  }, []);

  const revokeUrl = useCallback(() => {
    if (urlRef.current !== null) URL.revokeObjectURL(urlRef.current);
    urlRef.current = null;
  }, []);

  const openDevice = useCallback(async (): Promise<boolean> => {
    if (!support.supported) {
      setError({ kind: "unsupported", message: support.reason ?? "Recording is not supported." });
      return false;
    }
    if (streamRef.current !== null) return true;
    const started = generation.current;
    setError(null);
    setState("requesting");
    try {
      const opened = await navigator.mediaDevices.getUserMedia(constraintsFor(kind));
      if (!mounted.current || started !== generation.current) {
        stopTracks(opened);
        return false;
      }
      streamRef.current = opened;
      setStream(opened);
      setState("ready");
      return true;
    } catch (caught) {
      if (mounted.current && started === generation.current) {
        setError(mediaAccessError(caught, kind));
        setState("idle");
      }
      return false;
    }
  }, [kind, support]);

  const finish = useCallback(
    (chunks: Blob[], mimeType: string, startedAt: number) => {
      clearTimers();
      releaseDevice();
      recorderRef.current = null;
      if (!mounted.current) return;
      const durationMs = Date.now() - startedAt;
      const blob = new Blob(chunks, { type: mimeType });
      setLevel(0);
      if (blob.size === 0) {
        setError({ kind: "device", message: `The ${kind} recording came out empty; try again.` });
        setElapsedMs(0);
        setState("idle");
        return;
      }
      revokeUrl();
      const url = URL.createObjectURL(blob);
      urlRef.current = url;
      setRecording({
        blob,
        url,
        mimeType,
        filename: `recording.${extensionFor(mimeType, kind)}`,
        durationMs,
      });
      setElapsedMs(durationMs);
      setState("recorded");
    },
    [clearTimers, kind, releaseDevice, revokeUrl],
  );

  const beginRecorder = useCallback(() => {
    const current = streamRef.current;
    if (current === null) return;
    const chosen = pickMimeType(mimeCandidates(kind), (type) => MediaRecorder.isTypeSupported(type));
    let recorder: MediaRecorder;
    try {
      recorder = chosen ? new MediaRecorder(current, { mimeType: chosen }) : new MediaRecorder(current);
    } catch (caught) {
      releaseDevice();
      setState("idle");
      setError({
        kind: "device",
        message: `This browser could not start recording: ${caught instanceof Error ? caught.message : String(caught)}`,
      });
      return;
    }
    const chunks: Blob[] = [];
    const startedAt = Date.now();
    recorder.ondataavailable = (event: BlobEvent) => {
      if (event.data.size > 0) chunks.push(event.data);
    };
    recorder.onstop = () => {
      const type = recorder.mimeType || chosen || `${kind}/webm`;
      finish(chunks, type, startedAt);
    };
    recorderRef.current = recorder;
    recorder.start(CHUNK_MS);
    setElapsedMs(0);
    setState("recording");
    tickTimer.current = setInterval(() => setElapsedMs(Date.now() - startedAt), TIMER_TICK_MS);
    if (meter) stopMeter.current = startLevelMeter(current, setLevel);
    // A camera unplugged or a permission revoked mid-recording ends the recording cleanly.
    current.getTracks().forEach((track) =>
      track.addEventListener("ended", () => {
        if (recorder.state !== "inactive") recorder.stop();
      }),
    );
  }, [finish, kind, meter, releaseDevice]);

  const startRecording = useCallback(async () => {
    if (recorderRef.current !== null) return;
    if (!(await openDevice())) return;
    if (countdownS <= 0) {
      beginRecorder();
      return;
    }
    let left = countdownS;
    setCountdown(left);
    setState("countdown");
    countdownTimer.current = setInterval(() => {
      left -= 1;
      if (left > 0) {
        setCountdown(left);
        return;
      }
      clearInterval(countdownTimer.current);
      countdownTimer.current = undefined;
      setCountdown(null);
      beginRecorder();
    }, 1000);
  }, [beginRecorder, countdownS, openDevice]);

  const stopRecording = useCallback(() => {
    if (countdownTimer.current !== undefined) {
      clearInterval(countdownTimer.current);
      countdownTimer.current = undefined;
      setCountdown(null);
      setState("ready");
      return;
    }
    const recorder = recorderRef.current;
    if (recorder !== null && recorder.state !== "inactive") recorder.stop();
  }, []);

  const closeDevice = useCallback(() => {
    if (recorderRef.current !== null) return;
    generation.current += 1;
    clearTimers();
    setCountdown(null);
    releaseDevice();
    setState((previous) => (previous === "recorded" ? previous : "idle"));
  }, [clearTimers, releaseDevice]);

  /** Stop any recording without keeping it (its chunks are ignored) and the timers. */
  const abandon = useCallback(() => {
    generation.current += 1;
    const recorder = recorderRef.current;
    recorderRef.current = null;
    if (recorder !== null) {
      recorder.onstop = null;
      if (recorder.state !== "inactive") recorder.stop();
    }
    clearTimers();
  }, [clearTimers]);

  const discard = useCallback(() => {
    abandon();
    releaseDevice();
    revokeUrl();
    setRecording(null);
    setCountdown(null);
    setElapsedMs(0);
    setLevel(0);
    setError(null);
    setState("idle");
  }, [abandon, releaseDevice, revokeUrl]);

  useEffect(() => {
    mounted.current = true;
    return () => {
      // Leaving the page or the section must turn the camera light off.
      mounted.current = false;
      abandon();
      stopTracks(streamRef.current);
      streamRef.current = null;
      revokeUrl();
    };
  }, [abandon, revokeUrl]);

  return {
    state,
    stream,
    recording,
    elapsedMs,
    level,
    countdown,
    error,
    supported: support.supported,
    unsupportedReason: support.reason,
    openDevice,
    startRecording,
    stopRecording,
    discard,
    closeDevice,
  };
}
