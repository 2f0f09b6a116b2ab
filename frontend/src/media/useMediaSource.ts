import { useEffect, useState } from "react";
import type { MediaChoice } from "../lib/mediaChoice";
import type { SourceMode } from "../components/SourceSwitch";
import type { Recorder } from "./useRecorder";

/**
 * What the Speech and Face sections share: the choice between recording and uploading, and
 * reporting the current input (the recording or the picked file) to the page. Switching to
 * upload drops an unfinished recording, so the microphone or camera is released.
 */
export function useMediaSource(
  recorder: Recorder,
  kind: "audio" | "video",
  onChange: (choice: MediaChoice | null) => void,
) {
  const [mode, setMode] = useState<SourceMode>(recorder.supported ? "record" : "upload");
  const [uploaded, setUploaded] = useState<MediaChoice | null>(null);
  const { recording, state } = recorder;

  useEffect(() => {
    if (mode === "upload") onChange(uploaded);
    else
      onChange(
        recording === null
          ? null
          : { blob: recording.blob, filename: recording.filename, kind, source: "recorded" },
      );
  }, [mode, uploaded, recording, onChange, kind]);

  const switchMode = (next: SourceMode) => {
    if (next === "upload" && state !== "recorded") recorder.discard();
    setMode(next);
  };

  return { mode, switchMode, setUploaded };
}
