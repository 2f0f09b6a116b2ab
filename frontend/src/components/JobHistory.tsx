import type { Job } from "../api/types";
import type { AppError } from "../lib/appError";
import { shortId } from "../lib/format";
import { ErrorBanner } from "./ErrorBanner";

interface JobHistoryProps {
  jobs: Job[];
  currentId: string | null;
  error: AppError | null;
  onOpen(job: Job): void;
  onRefresh(): void;
}

/** "4 min ago" for an ISO time, relative to `now` (ms). */
export function timeAgo(iso: string, now: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return new Date(iso).toLocaleDateString();
}

/** The job's accessible name in the list: "Job 1a2b3c4d – succeeded". */
export function jobButtonName(job: Job): string {
  return `Job ${shortId(job.id)} – ${job.status}`;
}

/** Recent jobs from GET /api/jobs; choosing one reopens it. */
export function JobHistory({ jobs, currentId, error, onOpen, onRefresh }: JobHistoryProps) {
  return (
    <section className="card history" aria-labelledby="history-heading">
      <div className="card-title">
        <h2 id="history-heading">History</h2>
        <button type="button" className="quiet small" onClick={onRefresh}>
          Refresh
        </button>
      </div>
      <ErrorBanner error={error} />
      <ul aria-label="Recent jobs" className="job-list">
        {jobs.map((job) => (
          <li key={job.id}>
            <button
              type="button"
              aria-label={jobButtonName(job)}
              aria-current={job.id === currentId ? "true" : undefined}
              onClick={() => onOpen(job)}
            >
              <span className="job-id">Job {shortId(job.id)}</span>
              <span className={`badge badge-${job.status}`}>{job.status}</span>
              <span className="job-time">{timeAgo(job.created_at)}</span>
            </button>
          </li>
        ))}
      </ul>
      {jobs.length === 0 && error === null && <p className="hint">No jobs yet.</p>}
    </section>
  );
}
