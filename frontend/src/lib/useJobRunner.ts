import { useCallback, useEffect, useRef, useState } from "react";
import { cancelJob, submitJob, type Submission } from "../api/client";
import type { CreatedJob, Job } from "../api/types";
import { isFinished } from "../api/types";
import { watchJob, type Transport, type WatchOptions } from "../api/watch";
import { appErrorFrom, type AppError } from "./appError";

/** idle: nothing under way; uploading: the POST is being sent; watching: following a
 * queued or running job; finished: showing a finished job. */
export type RunnerPhase = "idle" | "uploading" | "watching" | "finished";

export interface JobRunner {
  phase: RunnerPhase;
  /** Fraction of the upload sent, 0 … 1; null when the browser cannot tell. */
  uploadFraction: number | null;
  job: Job | null;
  error: AppError | null;
  transport: Transport | null;
  cancelling: boolean;
  submit(submission: Submission): void;
  cancelUpload(): void;
  cancel(): void;
  /** Shows a job from the history: follows it when it is still running. */
  open(job: Job): void;
  dismissError(): void;
}

export interface RunnerCallbacks {
  onSubmitted?(created: CreatedJob): void;
  onFinished?(job: Job): void;
}

function jobFailure(job: Job): AppError | null {
  if (job.status !== "failed") return null;
  return { kind: "job", message: job.error?.message ?? "the server gave no reason" };
}

/** Submits a job, follows it to the end, and cancels it: the state behind the merge panel. */
export function useJobRunner(callbacks: RunnerCallbacks = {}, watchOptions?: WatchOptions): JobRunner {
  const [phase, setPhase] = useState<RunnerPhase>("idle");
  const [uploadFraction, setUploadFraction] = useState<number | null>(null);
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<AppError | null>(null);
  const [transport, setTransport] = useState<Transport | null>(null);
  const [cancelling, setCancelling] = useState(false);
  const stopWatching = useRef<(() => void) | null>(null);
  const uploadAbort = useRef<AbortController | null>(null);
  const callbacksRef = useRef(callbacks);
  callbacksRef.current = callbacks;
  const jobRef = useRef<Job | null>(null);

  const show = useCallback((next: Job) => {
    jobRef.current = next;
    setJob(next);
    if (isFinished(next.status)) {
      setPhase("finished");
      setCancelling(false);
      setError(jobFailure(next));
    }
  }, []);

  const follow = useCallback(
    (target: Job) => {
      stopWatching.current?.();
      stopWatching.current = null;
      setError(null);
      show(target);
      if (isFinished(target.status)) return;
      setPhase("watching");
      stopWatching.current = watchJob(
        target.id,
        target.links.events,
        {
          onJob(next) {
            show(next);
            if (isFinished(next.status)) callbacksRef.current.onFinished?.(next);
          },
          onError(caught) {
            // Retrying picks up from the latest state we saw.
            setError(appErrorFrom(caught, () => follow(jobRef.current ?? target)));
          },
          onTransport: setTransport,
        },
        watchOptions,
      );
    },
    [show, watchOptions],
  );

  const submit = useCallback(
    (submission: Submission) => {
      stopWatching.current?.();
      stopWatching.current = null;
      uploadAbort.current?.abort();
      const abort = new AbortController();
      uploadAbort.current = abort;
      jobRef.current = null;
      setJob(null);
      setError(null);
      setCancelling(false);
      setPhase("uploading");
      setUploadFraction(0);
      submitJob(
        submission,
        (progress) => setUploadFraction(progress.total ? progress.loaded / progress.total : null),
        abort.signal,
      ).then(
        (created) => {
          if (abort.signal.aborted) return;
          uploadAbort.current = null;
          setUploadFraction(1);
          callbacksRef.current.onSubmitted?.(created);
          follow(created.job);
        },
        (caught: unknown) => {
          // A newer submission or a reopened job took over: this one's outcome is moot.
          if (uploadAbort.current !== abort) return;
          uploadAbort.current = null;
          setPhase("idle");
          setUploadFraction(null);
          setError(appErrorFrom(caught, () => submit(submission)));
        },
      );
    },
    [follow],
  );

  const cancelUpload = useCallback(() => {
    uploadAbort.current?.abort();
  }, []);

  const cancel = useCallback(() => {
    const current = jobRef.current;
    if (current === null || isFinished(current.status)) return;
    setCancelling(true);
    cancelJob(current.id).then(
      (updated) => {
        if (updated !== undefined) show(updated);
      },
      (caught: unknown) => {
        setCancelling(false);
        setError(appErrorFrom(caught));
      },
    );
  }, [show]);

  const open = useCallback(
    (target: Job) => {
      const upload = uploadAbort.current;
      uploadAbort.current = null;
      upload?.abort();
      setUploadFraction(null);
      setCancelling(false);
      follow(target);
    },
    [follow],
  );

  const dismissError = useCallback(() => setError(null), []);

  useEffect(
    () => () => {
      stopWatching.current?.();
      uploadAbort.current?.abort();
    },
    [],
  );

  return {
    phase,
    uploadFraction,
    job,
    error,
    transport,
    cancelling,
    submit,
    cancelUpload,
    cancel,
    open,
    dismissError,
  };
}
