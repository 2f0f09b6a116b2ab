// Levels from -60 dBFS (silence, shown empty) to 0 dBFS (full scale) fill the meter.
const FLOOR_DB = -60;
const UPDATE_MS = 80;

/** Loudness of float samples in -1 … 1 as 0 … 1 on a decibel scale. */
export function levelFromSamples(samples: Float32Array): number {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db - FLOOR_DB) / -FLOOR_DB));
}

type AudioContextClass = new () => AudioContext;

/**
 * Measures `stream`'s audio level with an AnalyserNode and reports it (0 … 1) about a dozen
 * times a second. Returns a function that stops measuring and closes the AudioContext.
 * Where the browser has no Web Audio, it reports nothing and the meter stays empty.
 */
export function startLevelMeter(stream: MediaStream, onLevel: (level: number) => void): () => void {
  const scope = globalThis as { AudioContext?: AudioContextClass; webkitAudioContext?: AudioContextClass };
  const Context = scope.AudioContext ?? scope.webkitAudioContext;
  if (Context === undefined || stream.getAudioTracks().length === 0) return () => {};
  let context: AudioContext;
  try {
    context = new Context();
  } catch {
    return () => {};
  }
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  const source = context.createMediaStreamSource(stream);
  source.connect(analyser);
  void context.resume().catch(() => {});
  const samples = new Float32Array(analyser.fftSize);
  let frame = 0;
  let lastReport = 0;
  const tick = (now: number) => {
    if (now - lastReport >= UPDATE_MS) {
      analyser.getFloatTimeDomainData(samples);
      onLevel(levelFromSamples(samples));
      lastReport = now;
    }
    frame = requestAnimationFrame(tick);
  };
  frame = requestAnimationFrame(tick);
  return () => {
    cancelAnimationFrame(frame);
    source.disconnect();
    void context.close().catch(() => {});
  };
}
