import { useEffect, useRef } from "react";
import { formatClock } from "../lib/format";
import type { MediaChoice } from "../lib/mediaChoice";
import { repairDurationRef } from "../media/duration";
import { useMediaSource } from "../media/useMediaSource";
import { useRecorder } from "../media/useRecorder";
import { ErrorBanner } from "./ErrorBanner";
import { FilePicker } from "./FilePicker";
import { SourceSwitch } from "./SourceSwitch";

const COUNTDOWN_S = 3;

interface VideoInputProps {
  /** The current face (recorded video, uploaded video or photo), or null. */
  onChange(choice: MediaChoice | null): void;
}

/** The "Face" section: record from the camera after a countdown, or upload a video or photo. */
export function VideoInput({ onChange }: VideoInputProps) {
  const recorder = useRecorder({ kind: "video", countdownS: COUNTDOWN_S });
  const { mode, switchMode, setUploaded } = useMediaSource(recorder, "video", onChange);
  const preview = useRef<HTMLVideoElement>(null);
  const { recording, state, stream } = recorder;

  useEffect(() => {
    const element = preview.current;
    if (element === null) return;
    element.srcObject = stream;
    // Older browsers return no promise from play().
    if (stream !== null) element.play()?.catch(() => {});
  }, [stream]);

  const rerecord = () => {
    recorder.discard();
    void recorder.openDevice();
  };

  const live = state === "ready" || state === "countdown" || state === "recording";
  return (
    <section className="card" aria-labelledby="face-heading">
      <h2 id="face-heading">Face</h2>
      <p className="section-hint">Whose lips move: record yourself, or upload a video or a photo.</p>
      <SourceSwitch
        legend="Face source"
        name="video-source"
        mode={mode}
        recordLabel="Record video"
        uploadLabel="Upload video or photo"
        recordDisabled={!recorder.supported}
        onChange={switchMode}
      />
      {!recorder.supported && <p className="notice">{recorder.unsupportedReason}</p>}

      <div hidden={mode !== "record"} className="recorder">
        <ErrorBanner error={recorder.error} />
        <div className="stage" hidden={!live}>
          <video
            ref={preview}
            aria-label="Camera preview"
            className="preview mirrored"
            autoPlay
            muted
            playsInline
          />
          <div className="countdown" aria-live="assertive" aria-atomic="true">
            {recorder.countdown !== null && (
              <span>
                <span className="visually-hidden">Recording starts in </span>
                {recorder.countdown}
              </span>
            )}
          </div>
          {state === "recording" && (
            <span className="rec-badge" aria-hidden="true">
              REC
            </span>
          )}
        </div>
        {recording !== null && (
          <video
            ref={repairDurationRef}
            controls
            playsInline
            src={recording.url}
            aria-label="Recorded video"
            className="playback"
          />
        )}
        <div className="actions">
          {(state === "idle" || state === "requesting") && (
            <button
              type="button"
              className="primary"
              disabled={state === "requesting" || !recorder.supported}
              onClick={() => void recorder.openDevice()}
            >
              Start camera
            </button>
          )}
          {state === "ready" && (
            <>
              <button type="button" className="primary" onClick={() => void recorder.startRecording()}>
                <span aria-hidden="true" className="dot" /> Start recording video
              </button>
              <button type="button" className="quiet" onClick={recorder.closeDevice}>
                Turn camera off
              </button>
            </>
          )}
          {state === "countdown" && (
            <button type="button" onClick={recorder.stopRecording}>
              Cancel countdown
            </button>
          )}
          {state === "recording" && (
            <button type="button" className="danger" onClick={recorder.stopRecording}>
              Stop recording video
            </button>
          )}
          {state === "recorded" && (
            <button type="button" onClick={rerecord}>
              Re-record video
            </button>
          )}
          <span role="timer" aria-label="Video recording time" className="timer">
            {formatClock(recorder.elapsedMs)}
          </span>
        </div>
        {state === "requesting" && <p className="hint">Waiting for permission to use the camera…</p>}
      </div>

      <div hidden={mode !== "upload"}>
        <FilePicker
          label="Video or photo file"
          accept="video/*,image/*,.mp4,.mov,.webm,.mkv,.jpg,.jpeg,.png,.webp"
          hint="MP4, MOV, WebM or MKV, or a JPEG/PNG photo, with one face clearly visible."
          onChange={setUploaded}
        />
      </div>
    </section>
  );
}
