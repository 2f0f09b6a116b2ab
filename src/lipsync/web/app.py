"""``create_app(settings)``: the Flask application, importable and testable on its own.

It serves the API (routes.py), its OpenAPI document and docs page (openapi.py), and the built
page from ``settings.frontend_dir`` when that exists. Errors always come back as JSON
``{"error": {"code", "message", "status"}}``; tracebacks go to the log, never to clients.
"""

from __future__ import annotations

import hmac
import logging
import threading
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..errors import LipsyncError
from ..jobs.files import MediaRoot
from ..jobs.queue import JobQueue
from ..jobs.store import JobStore
from ..models.store import ModelStore
from .openapi import docs_page, openapi_document
from .routes import Services, api
from .schemas import error_body, error_code, lipsync_error_body
from .settings import WebSettings
from .uploads import UploadRequest

log = logging.getLogger("lipsync.web")

# Requests that may change state; a browser sends them cross-site without asking (no CORS
# preflight for a multipart POST), so their Origin must be this server's own.
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def create_app(
    settings: WebSettings,
    *,
    store: JobStore | None = None,
    queue: JobQueue | None = None,
    models: ModelStore | None = None,
) -> Flask:
    """Build the app. ``store``, ``queue`` and ``models`` default to those the settings
    name (tests pass their own)."""
    app = Flask("lipsync.web", static_folder=None)
    app.request_class = UploadRequest
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_form_field_bytes,
        MAX_FORM_PARTS=settings.max_form_parts,
        TRUSTED_HOSTS=list(settings.trusted_hosts) or None,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented key order
    media = MediaRoot(settings.jobs.media_root)
    media.ensure()
    app.extensions["lipsync"] = Services(
        settings=settings,
        store=store or JobStore(settings.jobs.database_url),
        queue=queue or JobQueue(settings.jobs),
        media=media,
        models=models or ModelStore(),
        event_slots=threading.BoundedSemaphore(settings.max_event_streams),
    )
    app.register_blueprint(api)
    _install_guards(app, settings)
    _install_error_handlers(app, settings)
    _install_docs(app, settings)
    _install_frontend(app, settings.frontend_dir)
    return app


def _install_guards(app: Flask, settings: WebSettings) -> None:
    @app.before_request
    def guard() -> tuple[Response, int] | None:
        if request.method in _UNSAFE_METHODS:
            origin = request.headers.get("Origin")
            if (
                origin is not None
                and urlsplit(origin).netloc != request.host
                and origin.rstrip("/") not in settings.allowed_origins
            ):
                # "null" (sandboxed frames, file: pages) is refused too: anyone can send it.
                return _error("cross_origin", f"cross-site request from {origin} refused", 403)
        token = settings.api_token
        if token is None or not request.path.startswith("/api/") or request.path == "/api/health":
            return None
        given = _bearer_token()
        if given is None or not hmac.compare_digest(given.encode(), token.encode()):
            response, status = _error(
                "unauthorized", "this server needs an API token: Authorization: Bearer <token>", 401
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="lipsync"'
            return response, status
        return None

    @app.after_request
    def harden(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    # EventSource and <video src> cannot send headers: reading a job's events or result may
    # carry the token in the query string instead.
    if request.method == "GET":
        return request.args.get("access_token")
    return None


def _error(code: str, message: str, status: int) -> tuple[Response, int]:
    return jsonify(error_body(code, message, status)), status


def _install_error_handlers(app: Flask, settings: WebSettings) -> None:
    @app.errorhandler(LipsyncError)
    def lipsync_error(error: LipsyncError) -> tuple[Response, int]:
        return jsonify(lipsync_error_body(error)), error.http_status

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = settings.max_upload_bytes
        message = f"the upload is larger than this server's limit of {limit} bytes"
        if request.content_length and request.content_length <= limit:
            message = "a form field or the number of form parts exceeds this server's limits"
        return _error("too_large", message, 413)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | tuple[Response, int]:
        status = error.code or 500
        name = error_code((error.name or "error").title().replace(" ", ""))
        response, _ = _error(name, error.description or error.name or "error", status)
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response, status

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _error("internal", f"internal error ({type(error).__name__}); see the log", 500)


def _install_docs(app: Flask, settings: WebSettings) -> None:
    @app.get("/api/openapi.json")
    def openapi_json() -> Response:
        return jsonify(openapi_document())

    @app.get("/api/docs")
    def api_docs() -> Response:
        return Response(docs_page(openapi_document()), mimetype="text/html")


def _install_frontend(app: Flask, frontend_dir: Path) -> None:
    @app.get("/")
    @app.get("/<path:path>")
    def page(path: str = "") -> Response | tuple[Response, int]:
        if path.startswith("api/"):
            return _error("not_found", f"no API endpoint /{path}", 404)
        index = frontend_dir / "index.html"
        if not index.is_file():
            return Response(_NO_PAGE_HTML, mimetype="text/html")
        if path and (frontend_dir / path).is_file():
            return send_from_directory(frontend_dir.resolve(), path)
        # Client-side routes of the single-page app all load the same page.
        return send_from_directory(frontend_dir.resolve(), "index.html", max_age=0)


_NO_PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lipsync</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40em; margin: 3em auto">
<h1>Lipsync server</h1>
<p>The API is running. The web page has not been built yet
(its files are looked for in the frontend directory, <code>LIPSYNC_FRONTEND_DIR</code>).</p>
<p>API reference: <a href="/api/docs">/api/docs</a> ·
<a href="/api/openapi.json">openapi.json</a> · <a href="/api/health">health</a></p>
</body></html>
"""
