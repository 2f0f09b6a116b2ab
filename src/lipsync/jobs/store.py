"""The job store: every job's state in one SQL table, the single source of truth.

SQLite (WAL) by default, any SQLAlchemy database (Postgres) at scale. Each change is one
short statement, and every change a worker makes is *fenced* by its claim token: a worker
that was taken for dead and replaced can no longer write to the job, so two workers never
both finish it. Times are seconds since the epoch (UTC), as floats.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..errors import LipsyncError
from .records import (
    STATUSES,
    TERMINAL,
    Beat,
    Job,
    JobStatus,
    WorkerInfo,
    is_job_id,
    jobs_table,
    metadata,
    new_job_id,
    workers_table,
)

__all__ = [
    "STATUSES",
    "TERMINAL",
    "Beat",
    "Job",
    "JobStatus",
    "JobStore",
    "JobStoreError",
    "WorkerInfo",
    "is_job_id",
    "new_job_id",
]


class JobStoreError(LipsyncError):
    """The job database cannot be opened or used."""

    http_status = 503


class JobStore:
    """Jobs and workers in a SQL database given by a SQLAlchemy URL. Thread-safe; many
    processes may share one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _create_engine(url)
        try:
            _create_schema(self.engine)
        except SQLAlchemyError as error:
            self.engine.dispose()
            shown = make_url(url).render_as_string(hide_password=True)
            raise JobStoreError(
                f"cannot open the job store {shown}: {getattr(error, 'orig', None) or error}"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    # --- reading -------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as connection:
            row = (
                connection.execute(select(jobs_table).where(jobs_table.c.id == job_id))
                .mappings()
                .first()
            )
        return Job.from_row(row) if row is not None else None

    def recent(self, limit: int = 20, status: str | None = None) -> list[Job]:
        """The newest jobs first, at most ``limit``, optionally of one status."""
        query = select(jobs_table).order_by(jobs_table.c.created_at.desc()).limit(limit)
        if status is not None:
            query = query.where(jobs_table.c.status == status)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [Job.from_row(row) for row in rows]

    def count(self, *statuses: str) -> int:
        query = select(func.count()).select_from(jobs_table)
        if statuses:
            query = query.where(jobs_table.c.status.in_(statuses))
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def stale_running(self, heartbeat_before: float) -> list[Job]:
        """Running jobs whose worker has not beaten since ``heartbeat_before``."""
        query = select(jobs_table).where(
            jobs_table.c.status == "running", jobs_table.c.heartbeat_at < heartbeat_before
        )
        with self.engine.connect() as connection:
            return [Job.from_row(row) for row in connection.execute(query).mappings().all()]

    def finished_jobs(self, finished_before: float | None = None, limit: int = 100) -> list[Job]:
        """Finished jobs, oldest first (optionally only those finished before a time)."""
        query = (
            select(jobs_table)
            .where(jobs_table.c.status.in_(TERMINAL))
            .order_by(jobs_table.c.finished_at)
            .limit(limit)
        )
        if finished_before is not None:
            query = query.where(jobs_table.c.finished_at < finished_before)
        with self.engine.connect() as connection:
            return [Job.from_row(row) for row in connection.execute(query).mappings().all()]

    def job_ids(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.execute(select(jobs_table.c.id)).scalars().all())

    # --- the web server's changes ---------------------------------------------------------

    def create(
        self,
        job_id: str,
        *,
        options: Mapping[str, Any],
        input_meta: Mapping[str, Any],
        video_path: str,
        audio_path: str,
        max_attempts: int,
    ) -> Job:
        """Insert a new queued job and return it."""
        now = time.time()
        with self._write() as connection:
            connection.execute(
                jobs_table.insert().values(
                    id=job_id,
                    status="queued",
                    stage="queued",
                    stage_done=0,
                    stage_total=None,
                    stage_unit="frames",
                    progress=0.0,
                    attempts=0,
                    max_attempts=max_attempts,
                    cancel_requested=False,
                    created_at=now,
                    queued_at=now,
                    updated_at=now,
                    options=json.dumps(dict(options)),
                    input_meta=json.dumps(dict(input_meta)),
                    video_path=video_path,
                    audio_path=audio_path,
                )
            )
        job = self.get(job_id)
        assert job is not None
        return job

    def request_cancel(self, job_id: str) -> Job | None:
        """Cancel a queued job at once; flag a running one for its worker to stop.

        Returns the job as it now is (None when unknown). Finished jobs are left unchanged.
        """
        now = time.time()
        with self._write() as connection:
            connection.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job_id, jobs_table.c.status == "queued")
                .values(
                    status="cancelled",
                    stage="cancelled",
                    cancel_requested=True,
                    finished_at=now,
                    updated_at=now,
                    error="cancelled before it started",
                    error_type="Cancelled",
                )
            )
            connection.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job_id, jobs_table.c.status == "running")
                .values(cancel_requested=True, updated_at=now)
            )
        return self.get(job_id)

    def delete(self, job_id: str) -> bool:
        with self._write() as connection:
            result = connection.execute(jobs_table.delete().where(jobs_table.c.id == job_id))
        return result.rowcount > 0

    def mark_failed(self, job_id: str, message: str, error_type: str) -> bool:
        """Fail a job that is still queued (e.g. its queue message could not be sent)."""
        return self._finish_where(
            job_id, None, "failed", message, error_type, expected_status="queued"
        )

    # --- a worker's changes (fenced by the claim token) -----------------------------------

    def claim(self, job_id: str, worker_id: str) -> Job | None:
        """Take a queued job for this worker: it becomes running, with a new claim token and
        one more attempt. None when the job is not queued (cancelled, taken, finished, gone)."""
        token = secrets.token_hex(8)
        now = time.time()
        with self._write() as connection:
            result = connection.execute(
                update(jobs_table)
                .where(
                    jobs_table.c.id == job_id,
                    jobs_table.c.status == "queued",
                    jobs_table.c.cancel_requested.is_(False),
                )
                .values(
                    status="running",
                    stage="starting",
                    stage_done=0,
                    stage_total=None,
                    attempts=jobs_table.c.attempts + 1,
                    claim=token,
                    worker_id=worker_id,
                    heartbeat_at=now,
                    started_at=now,
                    first_started_at=func.coalesce(jobs_table.c.first_started_at, now),
                    updated_at=now,
                )
            )
        if result.rowcount != 1:
            return None
        return self.get(job_id)

    def beat(
        self,
        job_id: str,
        claim: str,
        progress: tuple[str, int, int | None, str, float] | None = None,
    ) -> Beat:
        """Record that the claim's worker is alive, with ``(stage, done, total, unit,
        fraction)`` when progress changed; returns whether it still owns the job and whether
        cancelling was requested."""
        now = time.time()
        values: dict[str, Any] = {"heartbeat_at": now, "updated_at": now}
        if progress is not None:
            stage, done, total, unit, fraction = progress
            values.update(
                stage=stage,
                stage_done=done,
                stage_total=total,
                stage_unit=unit,
                progress=fraction,
            )
        with self._write() as connection:
            result = connection.execute(
                update(jobs_table)
                .where(
                    jobs_table.c.id == job_id,
                    jobs_table.c.claim == claim,
                    jobs_table.c.status == "running",
                )
                .values(**values)
            )
            if result.rowcount != 1:
                return Beat(owned=False, cancel_requested=False)
            cancel = connection.execute(
                select(jobs_table.c.cancel_requested).where(jobs_table.c.id == job_id)
            ).scalar_one()
        return Beat(owned=True, cancel_requested=bool(cancel))

    def succeed(
        self, job_id: str, claim: str, result_path: str, result_meta: Mapping[str, Any]
    ) -> bool:
        now = time.time()
        with self._write() as connection:
            result = connection.execute(
                update(jobs_table)
                .where(
                    jobs_table.c.id == job_id,
                    jobs_table.c.claim == claim,
                    jobs_table.c.status == "running",
                )
                .values(
                    status="succeeded",
                    stage="done",
                    stage_done=func.coalesce(jobs_table.c.stage_total, jobs_table.c.stage_done),
                    progress=1.0,
                    finished_at=now,
                    updated_at=now,
                    result_path=result_path,
                    result_meta=json.dumps(dict(result_meta)),
                    error=None,
                    error_type=None,
                )
            )
        return result.rowcount == 1

    def finish(
        self, job_id: str, claim: str | None, status: JobStatus, message: str, error_type: str
    ) -> bool:
        """End a running job as failed or cancelled with a one-line reason."""
        return self._finish_where(job_id, claim, status, message, error_type, "running")

    def requeue(self, job_id: str, claim: str, reason: str, count_attempt: bool = True) -> bool:
        """Put a running job back in the queue (its worker died, or is shutting down).

        ``count_attempt=False`` gives the attempt back, for a worker that stopped on purpose.
        The caller sends the queue message after this returns True.
        """
        now = time.time()
        attempts = jobs_table.c.attempts if count_attempt else jobs_table.c.attempts - 1
        with self._write() as connection:
            result = connection.execute(
                update(jobs_table)
                .where(
                    jobs_table.c.id == job_id,
                    jobs_table.c.claim == claim,
                    jobs_table.c.status == "running",
                )
                .values(
                    status="queued",
                    stage="queued",
                    stage_done=0,
                    stage_total=None,
                    progress=0.0,
                    claim=None,
                    worker_id=None,
                    attempts=attempts,
                    queued_at=now,
                    updated_at=now,
                    last_retry_reason=reason,
                )
            )
        return result.rowcount == 1

    def _finish_where(
        self,
        job_id: str,
        claim: str | None,
        status: JobStatus,
        message: str,
        error_type: str,
        expected_status: str,
    ) -> bool:
        now = time.time()
        conditions = [jobs_table.c.id == job_id, jobs_table.c.status == expected_status]
        if claim is not None:
            conditions.append(jobs_table.c.claim == claim)
        with self._write() as connection:
            result = connection.execute(
                update(jobs_table)
                .where(*conditions)
                .values(
                    status=status,
                    stage=status,
                    finished_at=now,
                    updated_at=now,
                    error=message,
                    error_type=error_type,
                )
            )
        return result.rowcount == 1

    # --- workers ----------------------------------------------------------------------------

    def worker_seen(self, worker_id: str, host: str, pid: int, concurrency: int) -> None:
        now = time.time()
        with self._write() as connection:
            result = connection.execute(
                update(workers_table).where(workers_table.c.id == worker_id).values(seen_at=now)
            )
            if result.rowcount == 0:
                connection.execute(
                    workers_table.insert().values(
                        id=worker_id,
                        host=host,
                        pid=pid,
                        concurrency=concurrency,
                        started_at=now,
                        seen_at=now,
                    )
                )

    def worker_gone(self, worker_id: str) -> None:
        with self._write() as connection:
            connection.execute(workers_table.delete().where(workers_table.c.id == worker_id))

    def live_workers(self, seen_after: float) -> list[WorkerInfo]:
        query = select(workers_table).where(workers_table.c.seen_at >= seen_after)
        with self.engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [WorkerInfo(**dict(row)) for row in rows]

    def forget_workers(self, seen_before: float) -> None:
        with self._write() as connection:
            connection.execute(workers_table.delete().where(workers_table.c.seen_at < seen_before))


def _create_schema(engine: Engine) -> None:
    # The server and its workers start together and may race to create the tables: the
    # loser's "already exists" is success.
    for attempt in range(3):
        try:
            metadata.create_all(engine)
            return
        except OperationalError as error:
            if "already exists" not in str(error) or attempt == 2:
                raise


def _create_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the web server read while a worker writes; NORMAL sync is durable enough
        # in WAL mode (a power cut may lose the last beats, never corrupt the file).
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine
