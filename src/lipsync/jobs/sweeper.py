"""The sweeper: no job stays "running" without a live worker, and old results make room.

Runs in the web server and in every worker (any one of them suffices; the store's fenced
updates make concurrent sweeps safe). One sweep:

1. A running job whose heartbeat is older than ``stale_after_s`` lost its worker (killed,
   crashed, machine gone). It goes back to the queue while it has attempts left, else it
   fails with the reason; a job whose cancel was requested is cancelled instead.
2. Finished jobs older than ``result_ttl_s`` are deleted with their files.
3. While free disk is below ``min_free_bytes``, the oldest finished jobs are deleted early.
4. Job directories that no row owns (refused or cut-off uploads) are removed after an hour.

Steps 2–4 run at most once a minute; the disk guard also acts on submissions (which get 503).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import JobsConfig
from .files import MediaRoot
from .queue import JobQueue
from .store import JobStore

log = logging.getLogger("lipsync.sweeper")

ORPHAN_AGE_S = 3600.0
HOUSEKEEPING_S = 60.0


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did: jobs retried, failed, cancelled; finished jobs deleted."""

    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0
    freed_for_disk: int = 0
    orphans_removed: int = 0


class Sweeper:
    """Repairs and cleans the job store; call ``sweep()`` or run it in a thread."""

    def __init__(
        self,
        config: JobsConfig,
        store: JobStore,
        queue: JobQueue,
        *,
        free_bytes: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.queue = queue
        self.media = MediaRoot(config.media_root)
        self._free_bytes = free_bytes or self.media.free_bytes
        self._clock = clock
        self._last_housekeeping = float("-inf")

    def sweep(self) -> SweepReport:
        """Recover stale jobs; at most every HOUSEKEEPING_S also expire, guard the disk and
        remove orphans (those scan many rows and directories, and are never urgent)."""
        retried, failed, cancelled = self._recover_stale()
        now = self._clock()
        if now - self._last_housekeeping < HOUSEKEEPING_S:
            return SweepReport(retried, failed, cancelled)
        self._last_housekeeping = now
        expired = self._expire()
        freed = self._guard_disk()
        orphans = self.media.remove_orphans(self.store.job_ids(), ORPHAN_AGE_S)
        self.store.forget_workers(now - 24 * 3600)
        return SweepReport(retried, failed, cancelled, expired, freed, orphans)

    def _recover_stale(self) -> tuple[int, int, int]:
        retried = failed = cancelled = 0
        cutoff = self._clock() - self.config.stale_after_s
        for job in self.store.stale_running(cutoff):
            assert job.claim is not None
            silent_s = self._clock() - (job.heartbeat_at or job.updated_at)
            who = f"worker {job.worker_id}" if job.worker_id else "its worker"
            if job.cancel_requested:
                if self.store.finish(
                    job.id, job.claim, "cancelled", "cancelled by request", "Cancelled"
                ):
                    self.media.remove_job(job.id)
                    cancelled += 1
            elif job.attempts < job.max_attempts:
                reason = (
                    f"{who} stopped responding during attempt {job.attempts} "
                    f"(no heartbeat for {silent_s:.0f} s)"
                )
                if self.store.requeue(job.id, job.claim, reason):
                    self.media.remove_temporaries(job.id)
                    self.queue.enqueue(job.id)
                    log.warning("job %s: %s; retrying", job.id, reason)
                    retried += 1
            else:
                message = (
                    f"the worker stopped responding during each of {job.attempts} attempts "
                    f"(last: {who}); this input may crash the engine"
                )
                if self.store.finish(job.id, job.claim, "failed", message, "WorkerLost"):
                    self.media.remove_temporaries(job.id)
                    log.warning("job %s: failed: %s", job.id, message)
                    failed += 1
        return retried, failed, cancelled

    def _expire(self) -> int:
        cutoff = self._clock() - self.config.result_ttl_s
        expired = 0
        for job in self.store.finished_jobs(finished_before=cutoff, limit=500):
            self._delete(job.id)
            expired += 1
        return expired

    def _guard_disk(self) -> int:
        freed = 0
        while self._free_bytes() < self.config.min_free_bytes:
            oldest = self.store.finished_jobs(limit=1)
            if not oldest:
                break
            log.warning("low disk: deleting finished job %s early", oldest[0].id)
            self._delete(oldest[0].id)
            freed += 1
        return freed

    def _delete(self, job_id: str) -> None:
        # Files first: a row without files is reported as gone; files without a row would leak.
        self.media.remove_job(job_id)
        self.store.delete(job_id)

    def run_in_thread(self, stop: threading.Event) -> threading.Thread:
        """Sweep every ``sweep_interval_s`` in a daemon thread until ``stop`` is set."""

        def loop() -> None:
            while not stop.wait(self.config.sweep_interval_s):
                try:
                    self.sweep()
                except Exception:  # keep sweeping: a failed sweep is retried next interval
                    log.exception("sweep failed")

        thread = threading.Thread(target=loop, name="lipsync-sweeper", daemon=True)
        thread.start()
        return thread
