/** Estimates the seconds left of a job from how fast its progress (0 … 1) has been rising. */
export class EtaEstimator {
  private samples: { atMs: number; progress: number }[] = [];

  /** @param windowMs only samples this recent count, so the rate follows the current stage. */
  constructor(
    private readonly windowMs = 30_000,
    private readonly minSpanMs = 3_000,
  ) {}

  add(progress: number, atMs: number): void {
    const last = this.samples.at(-1);
    // Progress going backwards means the job was retried from the start.
    if (last !== undefined && progress < last.progress) this.samples = [];
    if (last !== undefined && progress === last.progress && this.samples.length > 1) {
      // Keep the first sample of a plateau, so time spent there still lowers the rate.
      this.samples.push({ atMs, progress });
      this.samples.splice(-2, 1);
    } else {
      this.samples.push({ atMs, progress });
    }
    while (this.samples.length > 2 && atMs - (this.samples[0]?.atMs ?? atMs) > this.windowMs) {
      this.samples.shift();
    }
  }

  reset(): void {
    this.samples = [];
  }

  /** Seconds left, or null while there is too little to go on (under `minSpanMs` watched). */
  secondsLeft(): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (first === undefined || last === undefined || this.samples.length < 2) return null;
    const elapsedMs = last.atMs - first.atMs;
    const gained = last.progress - first.progress;
    if (elapsedMs < this.minSpanMs || gained <= 0 || last.progress < 0.02) return null;
    return ((1 - last.progress) * elapsedMs) / gained / 1000;
  }
}
