/** Milliseconds as m:ss (a recording timer). */
export function formatClock(ms: number): string {
  const totalSeconds = Math.max(0, Math.floor(ms / 1000));
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  return `${minutes}:${seconds.toString().padStart(2, "0")}`;
}

/** A rough, calm "time left": coarser as it grows, so a live region does not chatter. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "estimating time left…";
  if (seconds < 5) return "a few seconds left";
  if (seconds < 60) return `about ${Math.ceil(seconds / 5) * 5} s left`;
  const minutes = Math.round(seconds / 60);
  return `about ${minutes} min left`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(0)} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

const STAGE_LABELS: Record<string, string> = {
  queued: "Waiting in the queue",
  starting: "Starting",
  phones: "Analysing the speech",
  faces: "Finding the face",
  sync: "Syncing the lips",
  enhance: "Enhancing",
  encode: "Encoding",
  done: "Done",
  cancelled: "Cancelled",
};

/** A job stage as people say it; unknown stages keep their own name. */
export function stageLabel(stage: string): string {
  const known = STAGE_LABELS[stage];
  if (known !== undefined) return known;
  const words = stage.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** `batch_size` → "Batch size". */
export function fieldLabel(name: string): string {
  const words = name.replace(/_s$/, " (s)").replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}
