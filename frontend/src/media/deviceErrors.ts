import type { AppError } from "../lib/appError";
import type { MediaKind } from "./mime";

function deviceName(kind: MediaKind): string {
  return kind === "audio" ? "microphone" : "camera";
}

/** The AppError for a failed getUserMedia call, from the DOMException's name. */
export function mediaAccessError(error: unknown, kind: MediaKind): AppError {
  const device = deviceName(kind);
  const name = error instanceof Error || error instanceof DOMException ? error.name : "";
  const detail = error instanceof Error || error instanceof DOMException ? error.message : "";
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
      return {
        kind: "permission",
        message:
          `Permission to use the ${device} was denied. Allow it in the browser's site ` +
          `settings (the icon by the address) and try again, or upload a file instead.`,
      };
    case "SecurityError":
      return {
        kind: "unsupported",
        message:
          `The browser blocks the ${device} on this page (it needs https:// or localhost). ` +
          `You can still upload a file.`,
      };
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return {
        kind: "device",
        message: `No ${device} was found. Connect one and try again, or upload a file instead.`,
      };
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return {
        kind: "device",
        message: `The ${device} could not be started; another application may be using it.`,
      };
    default:
      return {
        kind: "device",
        message: `Could not use the ${device}${detail ? `: ${detail}` : "."}`,
      };
  }
}
