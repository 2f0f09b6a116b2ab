"""The /api endpoints. Views are thin: the job store, the queue and the core do the work.

No view runs inference: a submission is parsed, checked (sniff, probe, options, engine) and
queued; everything heavy happens in a worker.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file

from .. import __version__
from ..errors import LipsyncError, OptionsError
from ..jobs.fields import form_schema, option_fields, options_to_json
from ..jobs.files import MediaRoot
from ..jobs.queue import JobQueue
from ..jobs.store import STATUSES, JobStore, is_job_id, new_job_id
from ..models.store import ModelStore
from ..options import SyncOptions
from .schemas import error_body, job_json
from .settings import WebSettings
from .sse import EventStream
from .uploads import UploadRequest, read_submission

api = Blueprint("api", __name__, url_prefix="/api")


class ServiceUnavailable(LipsyncError):
    """The server cannot take jobs right now (queue full, disk low, queue unreachable)."""

    http_status = 503


class JobNotFound(LipsyncError):
    http_status = 404


class ResultNotReady(LipsyncError):
    http_status = 409


@dataclass(frozen=True)
class Services:
    """What the views use, built once per app."""

    settings: WebSettings
    store: JobStore
    queue: JobQueue
    media: MediaRoot
    models: ModelStore
    event_slots: threading.BoundedSemaphore


def services() -> Services:
    found: Services = current_app.extensions["lipsync"]
    return found


def _job_or_404(job_id: str) -> Any:
    job = services().store.get(job_id) if is_job_id(job_id) else None
    if job is None:
        raise JobNotFound(f"no job with id {job_id!r} (it may have expired)")
    return job


# --- jobs ----------------------------------------------------------------------------------


@api.post("/jobs")
def create_job() -> tuple[Response, int, dict[str, str]]:
    s = services()
    _check_capacity(s)
    job_id = new_job_id()
    job_dir = s.media.create_job_dir(job_id)
    try:
        upload = read_submission(_upload_request(), job_dir, s.settings.jobs.limits)
        _check_engine(upload.options.engine, s)
        _check_enhancer(upload.options.enhancer, s)
        job = s.store.create(
            job_id,
            options=options_to_json(upload.options),
            input_meta=upload.input_meta(),
            video_path=s.media.relative(upload.video_path),
            audio_path=s.media.relative(upload.audio_path),
            max_attempts=s.settings.jobs.max_attempts,
        )
    except BaseException:
        s.media.remove_job(job_id)
        raise
    try:
        s.queue.enqueue(job_id)
    except LipsyncError as error:
        s.store.mark_failed(job_id, error.message, "QueueUnavailable")
        s.media.remove_job(job_id)
        raise ServiceUnavailable(error.message) from None
    body = {
        "id": job_id,
        "status_url": f"/api/jobs/{job_id}",
        "events_url": f"/api/jobs/{job_id}/events",
        "job": job_json(job),
    }
    return jsonify(body), 202, {"Location": f"/api/jobs/{job_id}"}


def _check_engine(name: str, s: Services) -> None:
    """Refuse an unknown engine always; one whose models are missing here only when this
    machine runs the jobs (``check_models_on_submit``; GPU nodes may have models we lack)."""
    from ..engines.registry import ENGINES, choose_engine

    if s.settings.jobs.check_models_on_submit or (name != "auto" and name not in ENGINES):
        choose_engine(name, s.models)  # raises OptionsError or ModelNotInstalledError


def _check_enhancer(name: str, s: Services) -> None:
    """The same for the enhancer: an unknown name always, missing weights when checked here."""
    from ..enhance.registry import ENHANCERS, choose_enhancer

    if s.settings.jobs.check_models_on_submit or (name != "none" and name not in ENHANCERS):
        choose_enhancer(name, s.models)


def _upload_request() -> UploadRequest:
    if not isinstance(request, UploadRequest):  # the proxy forwards isinstance checks
        raise RuntimeError("the app's request_class must be UploadRequest")
    return request


def _check_capacity(s: Services) -> None:
    waiting = s.store.count("queued")
    if waiting >= s.settings.jobs.max_queued:
        raise ServiceUnavailable(
            f"the queue is full ({waiting} jobs waiting, the limit is "
            f"{s.settings.jobs.max_queued}); try again in a few minutes"
        )
    free = s.media.free_bytes()
    if free < s.settings.jobs.min_free_bytes:
        raise ServiceUnavailable(
            f"the server is low on disk space ({free // 2**20} MiB free, it needs "
            f"{s.settings.jobs.min_free_bytes // 2**20} MiB); try again later"
        )


@api.get("/jobs")
def list_jobs() -> Response:
    limit_text = request.args.get("limit", "20")
    status = request.args.get("status")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 200:
        raise _bad_query(f"limit must be an integer from 1 to 200, got {limit_text!r}")
    if status is not None and status not in STATUSES:
        raise _bad_query(f"status must be a job status, got {status!r}")
    now = time.time()
    jobs = services().store.recent(int(limit_text), status)
    return jsonify({"jobs": [job_json(job, now) for job in jobs]})


def _bad_query(message: str) -> LipsyncError:
    return OptionsError(message)


@api.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    return jsonify(job_json(_job_or_404(job_id)))


@api.get("/jobs/<job_id>/events")
def job_events(job_id: str) -> Response:
    job = _job_or_404(job_id)
    s = services()
    if not s.event_slots.acquire(blocking=False):
        raise ServiceUnavailable(
            f"too many open event streams ({s.settings.max_event_streams}); "
            f"poll GET /api/jobs/{job.id} instead"
        )
    return Response(
        EventStream(s.store, job.id, s.settings, on_close=s.event_slots.release),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@api.get("/jobs/<job_id>/result")
def job_result(job_id: str) -> Response:
    job = _job_or_404(job_id)
    if job.status != "succeeded" or job.result_path is None:
        raise ResultNotReady(f"job {job.id} has no result: it is {job.status}")
    s = services()
    path = s.media.resolve(job.result_path)
    if not path.is_file():
        raise JobNotFound(f"the result of job {job.id} is gone (it may have expired)")
    download = request.args.get("download") in ("1", "true", "yes")
    response = send_file(
        path,
        mimetype="video/mp4",
        conditional=True,
        as_attachment=download,
        download_name=f"lipsync-{job.id[:8]}.mp4",
        max_age=0,
    )
    response.headers["Accept-Ranges"] = "bytes"
    return response


@api.delete("/jobs/<job_id>")
def delete_job(job_id: str) -> tuple[Response | str, int]:
    job = _job_or_404(job_id)
    s = services()
    if not job.finished:
        updated = s.store.request_cancel(job.id)
        if updated is not None and updated.status == "cancelled":
            s.media.remove_job(job.id)
        return jsonify(job_json(updated or job)), 202
    s.media.remove_job(job.id)
    s.store.delete(job.id)
    return "", 204


# --- the rest -------------------------------------------------------------------------------


@api.get("/engines")
def engines() -> Response:
    from ..engines.registry import engine_status
    from ..enhance.registry import enhancer_status

    s = services()
    installed_models = {status.spec.name: status for status in s.models.list()}
    engine_list = [
        {
            "name": spec.name,
            "description": spec.description,
            "installed": ready,
            "for_tests": spec.for_tests,
            "models": list(spec.models),
        }
        for spec, ready in engine_status(s.models)
    ]
    models = [
        {
            "name": name,
            "task": status.spec.task,
            "description": status.spec.description,
            "license": status.spec.license,
            "installed": status.installed,
            "size_bytes": status.size,
        }
        for name, status in installed_models.items()
    ]
    enhancer_list = [
        {"name": "none", "description": "No enhancement.", "installed": True, "for_tests": False}
    ] + [
        {
            "name": spec.name,
            "description": spec.description,
            "installed": ready,
            "for_tests": spec.for_tests,
            "models": list(spec.models),
            "license": spec.license,
        }
        for spec, ready in enhancer_status(s.models)
    ]
    return jsonify({"engines": engine_list, "enhancers": enhancer_list, "models": models})


@api.get("/options")
def options() -> Response:
    fields = [
        {
            "name": f.name,
            "kind": f.kind,
            "optional": f.optional,
            "default": f.default,
            "help": f.help,
            "choices": list(f.choices),
            "length": f.length,
        }
        for f in option_fields(SyncOptions)
    ]
    limits = services().settings.jobs.limits
    return jsonify(
        {
            "fields": fields,
            "form_schema": form_schema(SyncOptions),
            # So a client can refuse a file before uploading it.
            "limits": {
                "max_file_bytes": limits.max_file_bytes,
                "max_duration_s": limits.max_duration_s,
                "max_width": limits.max_width,
                "max_height": limits.max_height,
            },
        }
    )


@api.get("/health")
def health() -> tuple[Response, int]:
    s = services()
    now = time.time()
    try:
        queued = s.store.count("queued")
        running = s.store.count("running")
        workers = s.store.live_workers(now - s.settings.jobs.stale_after_s)
        pending = s.queue.pending()
    except Exception as error:
        body = error_body("unavailable", f"the job store or queue failed: {error}", 503)
        return jsonify({"status": "unavailable", **body}), 503
    free = s.media.free_bytes()
    return jsonify(
        {
            "status": "ok",
            "version": __version__,
            "queue": {"backend": s.queue.backend, "pending_messages": pending},
            "jobs": {"queued": queued, "running": running},
            "workers": [
                {"id": w.id, "host": w.host, "concurrency": w.concurrency} for w in workers
            ],
            "disk": {"free_bytes": free, "min_free_bytes": s.settings.jobs.min_free_bytes},
            "auth_required": s.settings.api_token is not None,
        }
    ), 200
