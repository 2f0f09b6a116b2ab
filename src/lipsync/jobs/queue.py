"""The queue: Huey carries job ids from the web server to the workers.

``SqliteHuey`` (a file next to the job store) on one machine, ``RedisHuey`` when
``LIPSYNC_REDIS_URL`` is set: the producer and the task code are the same for both. Messages
hold nothing but a job id; everything else is in the job store, so a lost or duplicated
message is harmless (the sweeper re-sends for jobs that need it; a claim refuses duplicates).

Messages are JSON, not Huey's default pickle: a worker must never unpickle bytes that anyone
with access to the Redis server could have written.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey
from huey.consumer import Consumer
from huey.registry import Message
from huey.serializer import Serializer

from ..errors import LipsyncError
from .config import JobsConfig

TASK_NAME = "run_job"

JobHandler = Callable[[str], None]


class QueueUnavailableError(LipsyncError):
    """The queue cannot take a message (Redis down, queue file unwritable)."""

    http_status = 503


class JsonMessageSerializer(Serializer):
    """Huey messages as JSON; refuses anything but plain values."""

    def _serialize(self, data: Any) -> bytes:
        return json.dumps(data._asdict(), separators=(",", ":")).encode("utf-8")

    def _deserialize(self, data: bytes) -> Any:
        fields = json.loads(data.decode("utf-8"))
        fields["args"] = tuple(fields.get("args") or ())
        return Message(**fields)


class JobQueue:
    """Sends job ids to workers, and lets a worker consume them with a handler."""

    def __init__(self, config: JobsConfig) -> None:
        self.config = config
        self.huey: Huey = _create_huey(config)
        self._handler: JobHandler | None = None
        self._task = self.huey.task(name=TASK_NAME)(self._deliver)

    @property
    def backend(self) -> str:
        return self.config.queue_backend

    def enqueue(self, job_id: str) -> None:
        """Send one job id. Raises QueueUnavailableError when the queue cannot be reached."""
        try:
            self._task(job_id)
        except Exception as error:  # redis.ConnectionError, sqlite3.OperationalError, …
            raise QueueUnavailableError(
                f"the job queue ({self.backend}) is unreachable: {type(error).__name__}: {error}"
            ) from None

    def pending(self) -> int:
        """Messages waiting in the queue (including duplicates and cancelled jobs' ids)."""
        return int(self.huey.pending_count())

    def set_handler(self, handler: JobHandler) -> None:
        """Choose the function that runs a delivered job id (the worker's runner)."""
        self._handler = handler

    def drain(self, limit: int | None = None) -> int:
        """Run waiting messages in this thread until the queue is empty (for tests and
        one-shot processing); returns how many were run."""
        count = 0
        while limit is None or count < limit:
            task = self.huey.dequeue()
            if task is None:
                break
            self.huey.execute(task)
            count += 1
        return count

    def consumer(self, workers: int, on_stop: Callable[[], None]) -> Consumer:
        """A Huey consumer running ``workers`` threads. ``on_stop`` runs when a stop signal
        (SIGINT, SIGTERM) arrives, before the threads are joined."""
        return _StoppingConsumer(
            on_stop,
            self.huey,
            workers=workers,
            periodic=False,
            worker_type="thread",
            initial_delay=0.05,
            max_delay=0.5,
            backoff=1.5,
            shutdown_timeout=60,
            check_worker_health=True,
            health_check_interval=5,
        )

    def _deliver(self, job_id: str) -> None:
        if self._handler is None:
            raise RuntimeError("this JobQueue has no handler: only workers run jobs")
        self._handler(job_id)


class _StoppingConsumer(Consumer):
    """A consumer whose every stop is graceful and tells the running jobs first, so they
    hand their work back to the queue within one batch instead of being cut off."""

    def __init__(self, on_stop: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        self._on_stop = on_stop
        super().__init__(*args, **kwargs)

    def stop(self, graceful: bool = False) -> None:
        self._on_stop()
        super().stop(graceful=True)


def _create_huey(config: JobsConfig) -> Huey:
    serializer = JsonMessageSerializer()
    common: dict[str, Any] = {"results": False, "serializer": serializer, "utc": True}
    if config.redis_url:
        return RedisHuey(
            config.queue_name, url=config.redis_url, blocking=True, read_timeout=1, **common
        )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        config.queue_name, filename=str(config.queue_path), timeout=30, strict_fifo=True, **common
    )
