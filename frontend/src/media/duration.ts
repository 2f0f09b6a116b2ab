/**
 * Chromium's MediaRecorder writes WebM without a duration in its header (the file is written
 * as it is recorded), so a player shows no length and cannot seek until it has read the whole
 * file. Seeking far past the end makes the browser scan to the end and learn the duration;
 * the element is then put back at the start.
 */
export function repairDuration(element: HTMLMediaElement): () => void {
  let restore: (() => void) | null = null;
  const onMetadata = (): void => {
    if (element.duration !== Infinity || restore !== null) return;
    const onDurationChange = (): void => {
      if (!Number.isFinite(element.duration)) return;
      element.removeEventListener("durationchange", onDurationChange);
      restore = null;
      element.currentTime = 0;
    };
    element.addEventListener("durationchange", onDurationChange);
    restore = () => element.removeEventListener("durationchange", onDurationChange);
    element.currentTime = 1e101;
  };
  element.addEventListener("loadedmetadata", onMetadata);
  if (element.readyState >= 1) onMetadata();
  return () => {
    element.removeEventListener("loadedmetadata", onMetadata);
    restore?.();
  };
}

/** A React ref callback that repairs the duration of the element it is attached to. */
export function repairDurationRef(element: HTMLMediaElement | null): (() => void) | undefined {
  return element === null ? undefined : repairDuration(element);
}
