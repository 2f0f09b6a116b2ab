import { formatClock } from "../lib/format";
import type { MediaChoice } from "../lib/mediaChoice";
import { repairDurationRef } from "../media/duration";
import { useMediaSource } from "../media/useMediaSource";
import { useRecorder } from "../media/useRecorder";
import { ErrorBanner } from "./ErrorBanner";
import { FilePicker } from "./FilePicker";
import { SourceSwitch } from "./SourceSwitch";

interface AudioInputProps {
  /** The current speech (recorded or uploaded), or null when there is none yet. */
  onChange(choice: MediaChoice | null): void;
}

/** The "Speech" section: record from the microphone with a level meter, or upload a file. */
export function AudioInput({ onChange }: AudioInputProps) {
  const recorder = useRecorder({ kind: "audio", meter: true });
  const { mode, switchMode, setUploaded } = useMediaSource(recorder, "audio", onChange);
  const { recording, state } = recorder;

  const levelPercent = Math.round(recorder.level * 100);
  return (
    <section className="card" aria-labelledby="speech-heading">
      <h2 id="speech-heading">Speech</h2>
      <p className="section-hint">What the face will say: record it now, or upload a recording.</p>
      <SourceSwitch
        legend="Speech source"
        name="audio-source"
        mode={mode}
        recordLabel="Record audio"
        uploadLabel="Upload audio"
        recordDisabled={!recorder.supported}
        onChange={switchMode}
      />
      {!recorder.supported && <p className="notice">{recorder.unsupportedReason}</p>}

      <div hidden={mode !== "record"} className="recorder">
        <ErrorBanner error={recorder.error} />
        <div className="meter-row">
          <div
            role="meter"
            aria-label="Microphone level"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={levelPercent}
            className="level-meter"
          >
            <div className="level-fill" style={{ transform: `scaleX(${recorder.level})` }} />
          </div>
          <span role="timer" aria-label="Audio recording time" className="timer">
            {formatClock(recorder.elapsedMs)}
          </span>
        </div>
        <div className="actions">
          {(state === "idle" || state === "requesting" || state === "ready") && (
            <button
              type="button"
              className="primary"
              disabled={state === "requesting" || !recorder.supported}
              onClick={() => void recorder.startRecording()}
            >
              <span aria-hidden="true" className="dot" /> Start recording audio
            </button>
          )}
          {state === "recording" && (
            <button type="button" className="danger" onClick={recorder.stopRecording}>
              Stop recording audio
            </button>
          )}
          {state === "recorded" && (
            <button type="button" onClick={recorder.discard}>
              Re-record audio
            </button>
          )}
        </div>
        {state === "requesting" && <p className="hint">Waiting for permission to use the microphone…</p>}
        {state === "recording" && <p className="hint recording-now">Recording… speak now.</p>}
        {recording !== null && (
          <audio
            ref={repairDurationRef}
            controls
            src={recording.url}
            aria-label="Recorded audio"
            className="playback"
          />
        )}
      </div>

      <div hidden={mode !== "upload"}>
        <FilePicker
          label="Audio file"
          accept="audio/*,video/*,.wav,.mp3,.m4a,.ogg,.opus,.flac,.webm"
          hint="WAV, MP3, M4A, Ogg, FLAC or WebM; a video's sound track works too."
          onChange={setUploaded}
        />
      </div>
    </section>
  );
}
