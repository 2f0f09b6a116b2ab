/** MediaRecorder formats in order of preference. WebM with Opus where the browser has it
 * (Chromium, Firefox); MP4 on Safari. The server normalises whatever arrives. */
export const VIDEO_MIME_CANDIDATES = [
  "video/webm;codecs=vp9,opus",
  "video/webm;codecs=vp8,opus",
  "video/webm",
  "video/mp4",
] as const;

export const AUDIO_MIME_CANDIDATES = [
  "audio/webm;codecs=opus",
  "audio/ogg;codecs=opus",
  "audio/mp4",
] as const;

export type MediaKind = "audio" | "video";

export function mimeCandidates(kind: MediaKind): readonly string[] {
  return kind === "audio" ? AUDIO_MIME_CANDIDATES : VIDEO_MIME_CANDIDATES;
}

/** The first candidate the browser can record, or undefined to let it choose its own. */
export function pickMimeType(
  candidates: readonly string[],
  isTypeSupported: (type: string) => boolean,
): string | undefined {
  return candidates.find((type) => {
    try {
      return isTypeSupported(type);
    } catch {
      return false;
    }
  });
}

/** A file name extension for a recorded blob's MIME type. */
export function extensionFor(mimeType: string, kind: MediaKind): string {
  const base = mimeType.split(";")[0]?.trim().toLowerCase() ?? "";
  if (base.endsWith("/ogg")) return "ogg";
  if (base.endsWith("/mp4")) return kind === "audio" ? "m4a" : "mp4";
  // WebM, and anything unknown: the server sniffs the content, not the name.
  return "webm";
}

export interface RecordingSupport {
  supported: boolean;
  /** Why not, in words for the user; null when supported. */
  reason: string | null;
}

interface RecordingEnvironment {
  isSecureContext?: boolean;
  navigator?: { mediaDevices?: { getUserMedia?: unknown } };
  MediaRecorder?: unknown;
}

/** Whether this page can record from a camera or microphone at all. */
export function recordingSupport(
  env: RecordingEnvironment = globalThis as RecordingEnvironment,
): RecordingSupport {
  if (env.isSecureContext === false) {
    return {
      supported: false,
      reason:
        "Recording needs a secure page (https://, or http://localhost on this computer), " +
        "and this one is not. You can still upload files.",
    };
  }
  if (typeof env.navigator?.mediaDevices?.getUserMedia !== "function") {
    return {
      supported: false,
      reason:
        "This browser does not give pages access to a camera or microphone. " +
        "You can still upload files.",
    };
  }
  if (typeof env.MediaRecorder !== "function") {
    return {
      supported: false,
      reason: "This browser cannot record media (no MediaRecorder). You can still upload files.",
    };
  }
  return { supported: true, reason: null };
}
