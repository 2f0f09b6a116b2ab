"""The worker: claims a delivered job, runs the pipeline, and records how it ended.

While a job runs, a monitor thread beats into the job's row (which proves the worker alive),
writes the latest progress at most every ``progress_interval_s``, and reads back whether the
user cancelled or another worker took the job over; either sets the run's CancelToken, which
the pipeline checks between batches. The output is written under a temporary name and renamed
only when the run succeeded and this worker still owns the job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ..errors import Cancelled, LipsyncError
from ..models.store import ModelStore
from ..options import SyncOptions
from ..progress import CancelToken, ProgressEvent
from .config import JobsConfig
from .fields import options_from_json
from .files import RESULT_NAME, MediaRoot
from .queue import JobQueue
from .store import Job, JobStore

log = logging.getLogger("lipsync.worker")

# Cancel reasons the runner tells apart (the user's own cancel is anything else).
SHUTDOWN_REASON = "the worker is shutting down"
LOST_REASON = "another worker took this job over"

# Overall progress: where each known stage starts and ends (fractions of the whole job).
# Stages the pipeline may add later hold the fraction where it is until a known one follows.
STAGE_SPANS: dict[str, tuple[float, float]] = {
    "starting": (0.0, 0.0),
    "faces": (0.0, 0.25),
    "sync": (0.3, 0.98),
}


def overall_progress(stage: str, done: int, total: int | None, previous: float) -> float:
    """The job's 0–1 progress after ``done`` of ``total`` units of ``stage``; never goes back."""
    span = STAGE_SPANS.get(stage)
    if span is None:
        return previous
    start, end = span
    fraction = min(1.0, done / total) if total else 0.0
    return max(previous, start + (end - start) * fraction)


def make_worker_id() -> str:
    """``host:pid:random``: readable in logs, unique across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass
class _Progress:
    stage: str = "starting"
    done: int = 0
    total: int | None = None
    unit: str = "frames"
    fraction: float = 0.0
    version: int = 0


class _Monitor:
    """The thread that beats, writes progress and watches for cancellation of one run."""

    def __init__(
        self,
        store: JobStore,
        job: Job,
        token: CancelToken,
        config: JobsConfig,
        shutdown: threading.Event,
    ) -> None:
        assert job.claim is not None
        self._store = store
        self._job_id = job.id
        self._claim = job.claim
        self._token = token
        self._config = config
        self._shutdown = shutdown
        self._progress = _Progress()
        self._written_version = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"monitor-{job.id[:8]}", daemon=True)
        self.owned = True

    def on_progress(self, event: ProgressEvent) -> None:
        """The pipeline's progress callback: remember the event; the thread writes it."""
        with self._lock:
            p = self._progress
            p.fraction = overall_progress(event.stage, event.done, event.total, p.fraction)
            p.stage, p.done, p.total, p.unit = event.stage, event.done, event.total, event.unit
            p.version += 1
        self._token.raise_if_cancelled()

    def __enter__(self) -> _Monitor:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last_beat = 0.0
        while not self._stop.wait(self._config.progress_interval_s):
            if self._shutdown.is_set():
                self._token.cancel(SHUTDOWN_REASON)
            with self._lock:
                p = self._progress
                changed = p.version != self._written_version
                snapshot = (p.stage, p.done, p.total, p.unit, p.fraction) if changed else None
                version = p.version
            now = time.monotonic()
            # Progress is written when it changed; the beat alone every heartbeat_s. The
            # cancel flag comes back with each write, so a cancel is seen within one beat.
            if snapshot is None and now - last_beat < self._config.heartbeat_s / 2:
                continue
            try:
                beat = self._store.beat(self._job_id, self._claim, snapshot)
            except Exception:  # a database hiccup: try again on the next tick
                log.exception("job %s: could not write its heartbeat", self._job_id)
                continue
            last_beat = now
            self._written_version = version
            if not beat.owned:
                self.owned = False
                self._token.cancel(LOST_REASON)
            elif beat.cancel_requested:
                self._token.cancel("cancelled by request")


class JobRunner:
    """Runs delivered job ids in this process (one call per delivery, from any thread)."""

    def __init__(
        self,
        config: JobsConfig,
        store: JobStore,
        queue: JobQueue,
        *,
        worker_id: str | None = None,
        models: ModelStore | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.queue = queue
        self.media = MediaRoot(config.media_root)
        self.worker_id = worker_id or make_worker_id()
        self.models = models or ModelStore()
        self.shutdown = threading.Event()

    def __call__(self, job_id: str) -> None:
        job = self.store.claim(job_id, self.worker_id)
        if job is None:
            log.info("job %s: not queued any more (cancelled, taken or gone); skipped", job_id)
            return
        assert job.claim is not None
        log.info("job %s: attempt %d of %d", job.id, job.attempts, job.max_attempts)
        token = CancelToken()
        temp_output = self.media.temp_result(job.id, job.claim)
        try:
            with _Monitor(self.store, job, token, self.config, self.shutdown) as monitor:
                outcome = self._execute(job, temp_output, monitor, token)
        finally:
            temp_output.unlink(missing_ok=True)
        log.info("job %s: %s", job.id, outcome)

    def _execute(self, job: Job, temp_output: Path, monitor: _Monitor, token: CancelToken) -> str:
        from ..pipeline import sync

        assert job.claim is not None
        try:
            options: SyncOptions = options_from_json(SyncOptions, job.options)
            result = sync(
                self.media.resolve(job.video_path),
                self.media.resolve(job.audio_path),
                temp_output,
                options,
                progress=monitor.on_progress,
                cancel=token,
                limits=self.config.limits,
                store=self.models,
            )
        except Cancelled as cancelled:
            return self._stopped(job, cancelled.message, monitor)
        except LipsyncError as error:
            # Bad input or a missing model: the same input would fail again, so no retry.
            self.store.finish(job.id, job.claim, "failed", error.message, type(error).__name__)
            return f"failed: {error.message}"
        except Exception as error:  # a bug or a resource problem: maybe not the input's fault
            log.exception("job %s: unexpected error", job.id)
            return self._crashed(job, error)
        if not monitor.owned:
            return "finished, but another worker owns the job now; result dropped"
        final = temp_output.with_name(RESULT_NAME)
        os.replace(temp_output, final)
        meta = {
            "engine": result.engine,
            "fps": result.fps,
            "frames": result.frames,
            "frames_with_face": result.frames_with_face,
            "duration_s": result.duration_s,
            "size_bytes": final.stat().st_size,
            "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
        }
        if not self.store.succeed(job.id, job.claim, self.media.relative(final), meta):
            return "finished, but the job changed meanwhile; result kept unreferenced"
        return f"succeeded ({result.frames} frames)"

    def _stopped(self, job: Job, reason: str, monitor: _Monitor) -> str:
        assert job.claim is not None
        if reason == LOST_REASON or not monitor.owned:
            return "stopped: another worker took the job over"
        if reason == SHUTDOWN_REASON:
            if self.store.requeue(job.id, job.claim, SHUTDOWN_REASON, count_attempt=False):
                self.queue.enqueue(job.id)
            return "handed back to the queue (worker shutting down)"
        if self.store.finish(job.id, job.claim, "cancelled", "cancelled by request", "Cancelled"):
            self.media.remove_job(job.id)
        return "cancelled"

    def _crashed(self, job: Job, error: Exception) -> str:
        assert job.claim is not None
        reason = f"internal error: {type(error).__name__}: {error}"
        if job.attempts < job.max_attempts:
            if self.store.requeue(job.id, job.claim, reason):
                self.queue.enqueue(job.id)
            return f"requeued after {reason}"
        self.store.finish(
            job.id,
            job.claim,
            "failed",
            f"{reason} (gave up after {job.attempts} attempts)",
            type(error).__name__,
        )
        return f"failed: {reason}"
