"""The JSON the API sends: one function per shape, so the shapes live in one place.

Conventions (the page's typed client relies on them): snake_case keys; times as ISO 8601
UTC strings; durations in seconds (``_s``); sizes in bytes (``_bytes``); absent values as
null, never missing keys. The OpenAPI document (openapi.py) describes the same shapes.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

from ..errors import LipsyncError
from ..jobs.store import Job

# Below this overall progress an ETA would be a guess from almost nothing.
_ETA_MIN_PROGRESS = 0.05


def iso_time(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    moment = datetime.fromtimestamp(epoch_s, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def eta_seconds(job: Job, now: float | None = None) -> float | None:
    """Seconds left for a running job, from its progress rate so far; None when unknown."""
    if job.status != "running" or job.started_at is None or job.progress < _ETA_MIN_PROGRESS:
        return None
    elapsed = (now or time.time()) - job.started_at
    return round(max(0.0, elapsed * (1.0 - job.progress) / job.progress), 1)


def error_code(error_type: str) -> str:
    """``UnsupportedFormatError`` → ``unsupported_format``: a stable code for clients."""
    name = error_type[:-5] if error_type.endswith("Error") else error_type
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_body(code: str, message: str, status: int) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def lipsync_error_body(error: LipsyncError) -> dict[str, Any]:
    return error_body(error_code(type(error).__name__), error.message, error.http_status)


def job_links(job_id: str) -> dict[str, str]:
    base = f"/api/jobs/{job_id}"
    return {
        "self": base,
        "events": f"{base}/events",
        "result": f"{base}/result",
        "download": f"{base}/result?download=1",
    }


def job_json(job: Job, now: float | None = None) -> dict[str, Any]:
    """The full description of one job (GET /api/jobs/<id>, the events, the list)."""
    result = None
    if job.status == "succeeded" and job.result_meta is not None:
        meta = job.result_meta
        result = {
            "url": job_links(job.id)["result"],
            "download_url": job_links(job.id)["download"],
            "duration_s": meta.get("duration_s"),
            "fps": meta.get("fps"),
            "frames": meta.get("frames"),
            "frames_with_face": meta.get("frames_with_face"),
            "size_bytes": meta.get("size_bytes"),
            "engine": meta.get("engine"),
        }
    error = None
    if job.status in ("failed", "cancelled") and job.error:
        error = {"code": error_code(job.error_type or "Error"), "message": job.error}
    return {
        "id": job.id,
        "status": job.status,
        "stage": job.stage,
        "progress": round(job.progress, 4),
        "stage_progress": {
            "done": job.stage_done,
            "total": job.stage_total,
            "unit": job.stage_unit,
        },
        "eta_s": eta_seconds(job, now),
        "error": error,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "retry_reason": job.last_retry_reason,
        "worker_id": job.worker_id,
        "cancel_requested": job.cancel_requested,
        "created_at": iso_time(job.created_at),
        "started_at": iso_time(job.started_at),
        "finished_at": iso_time(job.finished_at),
        "updated_at": iso_time(job.updated_at),
        "queue_wait_s": _queue_wait(job),
        "options": job.options,
        "input": job.input_meta,
        "result": result,
        "links": job_links(job.id),
    }


def _queue_wait(job: Job) -> float | None:
    if job.first_started_at is None:
        return None
    return round(job.first_started_at - job.created_at, 3)
