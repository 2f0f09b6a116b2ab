import { useEffect, useRef, useState } from "react";
import { isFinished, type Job } from "../api/types";
import type { AppError } from "../lib/appError";
import { EtaEstimator } from "../lib/eta";
import { formatEta, stageLabel } from "../lib/format";
import type { RunnerPhase } from "../lib/useJobRunner";
import { ErrorBanner } from "./ErrorBanner";

interface MergePanelProps {
  canMerge: boolean;
  /** Why Merge is disabled (shown under it), or null when it is enabled. */
  mergeHint: string | null;
  phase: RunnerPhase;
  uploadFraction: number | null;
  job: Job | null;
  error: AppError | null;
  cancelling: boolean;
  onMerge(): void;
  onCancel(): void;
  onCancelUpload(): void;
  onDismissError(): void;
}

const SERVER_ETA_MIN_PROGRESS = 0.25;

/** Seconds left: from the progress rate this page has seen, else the server's estimate. */
function useEta(job: Job | null): number | null {
  const estimator = useRef(new EtaEstimator());
  const [eta, setEta] = useState<number | null>(null);
  const jobId = job?.id;
  useEffect(() => {
    estimator.current.reset();
    setEta(null);
  }, [jobId]);
  useEffect(() => {
    if (job === null || job.status !== "running") {
      setEta(null);
      return;
    }
    estimator.current.add(job.progress, Date.now());
    // The server's estimate assumes an even pace over the whole job, and its early stages run
    // much faster than the syncing: before a quarter of the way it promises far too little.
    const serverEta = job.progress >= SERVER_ETA_MIN_PROGRESS ? job.eta_s : null;
    setEta(estimator.current.secondsLeft() ?? serverEta);
  }, [job]);
  return eta;
}

/** The words of the live status line for a job. */
export function jobStatusText(job: Job, eta: number | null, cancelling: boolean): string {
  switch (job.status) {
    case "queued": {
      const retry = job.attempts > 0 ? ` (attempt ${job.attempts + 1} of ${job.max_attempts})` : "";
      return cancelling || job.cancel_requested ? "Cancelling…" : `Waiting in the queue${retry}`;
    }
    case "running": {
      if (cancelling || job.cancel_requested) return "Cancelling…";
      const { done, total, unit } = job.stage_progress;
      const count = total ? ` (${done} of ${total} ${unit})` : "";
      return `${stageLabel(job.stage)}${count} · ${formatEta(eta)}`;
    }
    case "succeeded":
      return "Done: the result is ready.";
    case "failed":
      return "Failed.";
    case "cancelled":
      return "Cancelled.";
  }
}

/** The Merge button, the upload's and the job's progress, and cancelling. */
export function MergePanel(props: MergePanelProps) {
  const { phase, uploadFraction, job, error, cancelling } = props;
  const eta = useEta(job);
  const uploading = phase === "uploading";
  const running = job !== null && !isFinished(job.status);
  const uploadPercent = uploadFraction === null ? undefined : Math.round(uploadFraction * 100);

  let status = "";
  if (uploading) status = uploadPercent === undefined ? "Uploading…" : `Uploading… ${uploadPercent}%`;
  else if (job !== null) status = jobStatusText(job, eta, cancelling);

  return (
    <section className="card merge" aria-labelledby="merge-heading">
      <h2 id="merge-heading" className="visually-hidden">
        Merge
      </h2>
      <div className="actions">
        <button
          type="button"
          className="primary big"
          disabled={!props.canMerge}
          aria-describedby={props.mergeHint ? "merge-hint" : undefined}
          onClick={props.onMerge}
        >
          Merge
        </button>
        {uploading && (
          <button type="button" onClick={props.onCancelUpload}>
            Cancel upload
          </button>
        )}
        {running && (
          <button type="button" className="danger" disabled={cancelling || job.cancel_requested} onClick={props.onCancel}>
            Cancel job
          </button>
        )}
      </div>
      {props.mergeHint && (
        <p id="merge-hint" className="hint">
          {props.mergeHint}
        </p>
      )}
      {(uploading || job !== null) && (
        <div className="progress-block">
          <div className="progress-label">
            <span>Upload</span>
            <progress aria-label="Upload progress" max={100} value={job !== null ? 100 : uploadPercent} />
          </div>
          <div className="progress-label">
            <span>Job</span>
            <progress
              aria-label="Job progress"
              max={100}
              value={job === null ? 0 : Math.round(job.progress * 100)}
            />
          </div>
        </div>
      )}
      <p className="job-status" data-testid="job-status" aria-live="polite">
        {status}
      </p>
      <ErrorBanner error={error} onDismiss={props.onDismissError} />
    </section>
  );
}
