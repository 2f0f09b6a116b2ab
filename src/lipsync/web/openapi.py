"""The OpenAPI 3.1 document of the API, and a self-contained HTML page that renders it.

The options part of the schema is generated from ``SyncOptions`` (jobs/fields.py), so a new
option is documented as soon as it exists. The docs page needs no script or stylesheet from
elsewhere: the server fetches nothing and the page works offline.
"""

from __future__ import annotations

import html
import json
from typing import Any

from .. import __version__
from ..jobs.fields import form_schema, json_schema
from ..jobs.store import STATUSES
from ..options import SyncOptions


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_NULLABLE_NUMBER = {"type": ["number", "null"]}
_NULLABLE_STRING = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}


def _schemas() -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "status"],
                    "properties": {
                        "code": {
                            "type": "string",
                            "description": "Stable snake_case code, e.g. unsupported_format, "
                            "no_audio_stream, options, too_large, not_found, unauthorized.",
                        },
                        "message": {"type": "string", "description": "One line for people."},
                        "status": {"type": "integer"},
                    },
                }
            },
        },
        "SyncOptions": {
            **json_schema(SyncOptions),
            "description": "Lip-sync options, named as the CLI's flags (--face-batch-size is "
            "face_batch_size).",
        },
        "JobSubmission": {
            "type": "object",
            "required": ["video"],
            "properties": {
                "video": {
                    "type": "string",
                    "format": "binary",
                    "description": "A video or a still image (MP4, MOV, WebM, MKV, AVI, PNG, "
                    "JPEG, WebP); identified from its bytes, never its name.",
                },
                "audio": {
                    "type": "string",
                    "format": "binary",
                    "description": "The speech (any accepted audio or video file). Without "
                    "it, the video's own sound track is used.",
                },
                **form_schema(SyncOptions)["properties"],
            },
        },
        "JobCreated": {
            "type": "object",
            "required": ["id", "status_url", "events_url", "job"],
            "properties": {
                "id": {"type": "string"},
                "status_url": {"type": "string"},
                "events_url": {"type": "string"},
                "job": _ref("Job"),
            },
        },
        "Job": _job_schema(),
        "JobList": {
            "type": "object",
            "properties": {"jobs": {"type": "array", "items": _ref("Job")}},
        },
    }


def _job_schema() -> dict[str, Any]:
    media_info = {
        "type": "object",
        "description": "What the probe found: format, size_bytes, duration_s, streams, and "
        "video {codec, width, height, fps, frame_count, rotation, is_still, …} and audio "
        "{codec, sample_rate, channels, duration_s} (null when absent).",
    }
    return {
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "128 random bits, 32 hex digits."},
            "status": {"type": "string", "enum": list(STATUSES)},
            "stage": {
                "type": "string",
                "description": "queued, starting, faces, sync, … then done, failed or cancelled.",
            },
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "stage_progress": {
                "type": "object",
                "properties": {
                    "done": {"type": "integer"},
                    "total": {"type": ["integer", "null"]},
                    "unit": {"type": "string"},
                },
            },
            "eta_s": {**_NULLABLE_NUMBER, "description": "Seconds left, estimated."},
            "error": {
                "type": ["object", "null"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
            "attempts": {"type": "integer"},
            "max_attempts": {"type": "integer"},
            "retry_reason": {
                **_NULLABLE_STRING,
                "description": "Why the last attempt was retried.",
            },
            "worker_id": {
                **_NULLABLE_STRING,
                "description": "host:pid:nonce of the worker running (or that ran) the job.",
            },
            "cancel_requested": {"type": "boolean"},
            "created_at": _TIME,
            "started_at": _TIME,
            "finished_at": _TIME,
            "updated_at": _TIME,
            "queue_wait_s": {
                **_NULLABLE_NUMBER,
                "description": "Seconds from submission to the first start.",
            },
            "options": _ref("SyncOptions"),
            "input": {
                "type": "object",
                "properties": {
                    "video": media_info,
                    "audio": media_info,
                    "audio_source": {"type": "string", "enum": ["upload", "video"]},
                },
            },
            "result": {
                "type": ["object", "null"],
                "properties": {
                    "url": {"type": "string"},
                    "download_url": {"type": "string"},
                    "duration_s": {"type": "number"},
                    "fps": {"type": "number"},
                    "frames": {"type": "integer"},
                    "frames_with_face": {"type": "integer"},
                    "size_bytes": {"type": "integer"},
                    "engine": {"type": "string"},
                },
            },
            "links": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }


def _paths() -> dict[str, Any]:
    job_responses = {"404": _error("No such job (or it expired).")}
    return {
        "/api/jobs": {
            "post": {
                "summary": "Submit a lip-sync job",
                "description": "Multipart form: the files `video` and (optionally) `audio`, "
                "and any options as text fields. The files are checked (format from the "
                "bytes, probe, limits) before the job is queued.",
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": _ref("JobSubmission")}},
                },
                "responses": {
                    "202": _json(_ref("JobCreated"), "Queued."),
                    "400": _error("A bad option or form."),
                    "409": _error("The engine's model is not installed."),
                    "413": _error("The upload, or a file in it, exceeds a limit."),
                    "415": _error("A file's format or codec is not supported."),
                    "422": _error("A file is empty, damaged, or lacks the stream needed."),
                    "503": _error("The queue is full, the disk low, or the queue unreachable."),
                },
            },
            "get": {
                "summary": "Recent jobs, newest first",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 20}},
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": list(STATUSES)},
                    },
                ],
                "responses": {"200": _json(_ref("JobList"), "The jobs.")},
            },
        },
        "/api/jobs/{job_id}": {
            "parameters": [_JOB_ID],
            "get": {
                "summary": "A job's status, progress, ETA, error and input metadata",
                "responses": {"200": _json(_ref("Job"), "The job."), **job_responses},
            },
            "delete": {
                "summary": "Cancel a queued or running job, or delete a finished one",
                "description": "A queued job is cancelled at once; a running one stops "
                "within seconds (its files are removed). A finished job is deleted with "
                "its files.",
                "responses": {
                    "202": _json(_ref("Job"), "Cancelled, or cancelling."),
                    "204": {"description": "Deleted."},
                    **job_responses,
                },
            },
        },
        "/api/jobs/{job_id}/events": {
            "parameters": [_JOB_ID],
            "get": {
                "summary": "Server-Sent Events: the job's JSON whenever it changes",
                "description": "Each `event: job` carries a Job; the stream ends after a "
                "finished status. Polling GET /api/jobs/{job_id} works as well.",
                "responses": {
                    "200": {
                        "description": "An event stream.",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **job_responses,
                },
            },
        },
        "/api/jobs/{job_id}/result": {
            "parameters": [
                _JOB_ID,
                {"name": "download", "in": "query", "schema": {"type": "string", "enum": ["1"]}},
            ],
            "get": {
                "summary": "The finished MP4 (Range requests supported)",
                "description": "`?download=1` adds a Content-Disposition file name.",
                "responses": {
                    "200": {
                        "description": "The video.",
                        "content": {
                            "video/mp4": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "206": {"description": "The requested byte range."},
                    "409": _error("The job has not succeeded."),
                    **job_responses,
                },
            },
        },
        "/api/engines": {
            "get": {
                "summary": "Engines, enhancers and models, with what is installed",
                "responses": {"200": {"description": "The lists."}},
            }
        },
        "/api/options": {
            "get": {
                "summary": "The job options: names, kinds, defaults, help, choices",
                "responses": {"200": {"description": "The option fields."}},
            }
        },
        "/api/health": {
            "get": {
                "summary": "Liveness, queue, workers and disk (no token needed)",
                "responses": {
                    "200": {"description": "Healthy."},
                    "503": _error("The job store or the queue is unreachable."),
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document as a JSON-ready dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lipsync API",
            "version": __version__,
            "description": "Submit a face video or photo and a speech track; a worker "
            "lip-syncs them; fetch the MP4. When the server has an API token, send "
            "`Authorization: Bearer <token>` (or `?access_token=` on GET).",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{}, {"bearer": []}],
    }


def docs_page(document: dict[str, Any]) -> str:
    """A plain HTML page listing every operation, with the schemas as JSON."""
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(document['info']['title'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;"
        "padding:0 1em}code,pre{background:#f4f4f4}pre{padding:.5em;overflow:auto}"
        ".m{font-weight:bold;text-transform:uppercase;margin-right:.5em}</style></head><body>",
        f"<h1>{esc(document['info']['title'])} {esc(document['info']['version'])}</h1>",
        f"<p>{esc(document['info']['description'])}</p>",
        "<p>Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a></p>",
    ]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            parts.append(
                f"<h2><span class='m'>{esc(method)}</span><code>{esc(path)}</code></h2>"
                f"<p>{esc(operation.get('summary', ''))}</p>"
            )
            if operation.get("description"):
                parts.append(f"<p>{esc(operation['description'])}</p>")
            codes = ", ".join(
                f"<b>{esc(code)}</b> {esc(r.get('description', ''))}"
                for code, r in operation.get("responses", {}).items()
            )
            parts.append(f"<p>Responses: {codes}</p>")
    parts.append("<h2>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<h3 id='{esc(name)}'>{esc(name)}</h3>")
        parts.append(f"<pre>{esc(json.dumps(schema, indent=2))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
