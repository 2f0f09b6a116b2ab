"""A worker service: the queue's consumer, the job runner, the sweeper and the worker's beat.

``run_worker`` is what ``lipsync worker`` (and the worker process that ``lipsync serve``
starts) runs until SIGINT or SIGTERM; it must be called from the main thread, which receives
the signals. On either signal, running jobs are handed back to the queue within one batch.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from ..models.store import ModelStore
from .config import JobsConfig
from .files import MediaRoot
from .queue import JobQueue
from .store import JobStore
from .sweeper import Sweeper
from .worker import JobRunner

log = logging.getLogger("lipsync.worker")


def run_worker(config: JobsConfig, concurrency: int = 1, models: ModelStore | None = None) -> None:
    """Consume jobs with ``concurrency`` threads until a stop signal; blocks."""
    MediaRoot(config.media_root).ensure()
    store = JobStore(config.database_url)
    queue = JobQueue(config)
    runner = JobRunner(config, store, queue, models=models)
    queue.set_handler(runner)
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                store.worker_seen(runner.worker_id, socket.gethostname(), os.getpid(), concurrency)
            except Exception:
                log.exception("could not record this worker's beat")
            if stop.wait(config.heartbeat_s):
                return

    def on_stop() -> None:
        runner.shutdown.set()
        stop.set()

    beat_thread = threading.Thread(target=beat, name="lipsync-worker-beat", daemon=True)
    beat_thread.start()
    Sweeper(config, store, queue).run_in_thread(stop)
    log.info(
        "worker %s: %d thread(s), queue %s, media %s",
        runner.worker_id,
        concurrency,
        queue.backend,
        config.media_root,
    )
    try:
        queue.consumer(concurrency, on_stop).run()
    finally:
        stop.set()
        beat_thread.join(timeout=5)
        store.worker_gone(runner.worker_id)
        store.close()
