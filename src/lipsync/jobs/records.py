"""What the job store holds: the tables, and the frozen records read from them.

Times are seconds since the epoch (UTC) as floats; paths are relative to the media root.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text
from sqlalchemy.engine import RowMapping

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATUSES: tuple[JobStatus, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

metadata = MetaData()

jobs_table = Table(
    "jobs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False, index=True),
    Column("stage", String(32), nullable=False, default="queued"),
    Column("stage_done", Integer, nullable=False, default=0),
    Column("stage_total", Integer, nullable=True),
    Column("stage_unit", String(16), nullable=False, default="frames"),
    Column("progress", Float, nullable=False, default=0.0),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("claim", String(32), nullable=True),
    Column("worker_id", String(128), nullable=True),
    Column("heartbeat_at", Float, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False, index=True),
    Column("queued_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("first_started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True, index=True),
    Column("updated_at", Float, nullable=False),
    Column("error", Text, nullable=True),
    Column("error_type", String(64), nullable=True),
    Column("last_retry_reason", Text, nullable=True),
    Column("options", Text, nullable=False),
    Column("input_meta", Text, nullable=False),
    Column("video_path", String(255), nullable=False),
    Column("audio_path", String(255), nullable=False),
    Column("result_path", String(255), nullable=True),
    Column("result_meta", Text, nullable=True),
)

workers_table = Table(
    "workers",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False, index=True),
)


@dataclass(frozen=True)
class Job:
    """One job as stored. Paths are relative to the media root; ``progress`` is 0–1 overall;
    ``stage_done``/``stage_total`` count ``stage_unit`` within ``stage``. ``claim`` is the
    token of the worker attempt that owns a running job."""

    id: str
    status: JobStatus
    stage: str
    stage_done: int
    stage_total: int | None
    stage_unit: str
    progress: float
    attempts: int
    max_attempts: int
    claim: str | None
    worker_id: str | None
    heartbeat_at: float | None
    cancel_requested: bool
    created_at: float
    queued_at: float
    started_at: float | None
    first_started_at: float | None
    finished_at: float | None
    updated_at: float
    error: str | None
    error_type: str | None
    last_retry_reason: str | None
    options: dict[str, Any]
    input_meta: dict[str, Any]
    video_path: str
    audio_path: str
    result_path: str | None
    result_meta: dict[str, Any] | None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_row(cls, row: RowMapping) -> Job:
        values = dict(row)
        for key in ("options", "input_meta"):
            values[key] = json.loads(values[key])
        values["result_meta"] = json.loads(values["result_meta"]) if values["result_meta"] else None
        values["cancel_requested"] = bool(values["cancel_requested"])
        return cls(**values)


@dataclass(frozen=True)
class WorkerInfo:
    """A worker process as it last reported itself (``seen_at``: its last beat)."""

    id: str
    host: str
    pid: int
    concurrency: int
    started_at: float
    seen_at: float


@dataclass(frozen=True)
class Beat:
    """A worker's answer from the store: does it still own the job, was cancel requested?"""

    owned: bool
    cancel_requested: bool


def new_job_id() -> str:
    """128 random bits as 32 lowercase hex digits (safe as a directory name anywhere)."""
    return secrets.token_hex(16)


def is_job_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)
