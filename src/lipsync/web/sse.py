"""Server-Sent Events for one job: the job's JSON each time it changes, until it finishes.

The stream polls the job store (the worker writes there at most a few times a second), so it
works whichever process or machine runs the job. Each event is ``event: job`` with the same
JSON as ``GET /api/jobs/<id>``; the last one carries a finished status and the stream ends.
Comments keep idle connections open through proxies; a stream also ends after
``sse_max_s`` (the browser's EventSource reconnects by itself), so no server thread is held
forever by a forgotten tab.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

from ..jobs.store import JobStore
from .schemas import job_json
from .settings import WebSettings

RETRY_MS = 2000


def format_event(data: dict[str, Any], event: str = "job", event_id: int | None = None) -> str:
    """One SSE message: ``event:``, optional ``id:``, and the JSON on one ``data:`` line."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


class EventStream:
    """The SSE text for one job, as a WSGI body: iterate for the text; ``close()`` (which the
    server calls when the response ends, even if it never started) runs ``on_close`` once."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        settings: WebSettings,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._events = _events(store, job_id, settings)
        self._on_close = on_close

    def __iter__(self) -> Iterator[str]:
        return self._events

    def close(self) -> None:
        self._events.close()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()


def _events(store: JobStore, job_id: str, settings: WebSettings) -> Generator[str, None, None]:
    """SSE text for ``job_id`` until it finishes, is deleted, or the stream times out."""
    yield f"retry: {RETRY_MS}\n\n"
    started = last_sent = time.monotonic()
    last_version: tuple[Any, ...] | None = None
    sequence = 0
    while True:
        job = store.get(job_id)
        if job is None:
            yield format_event({"id": job_id, "status": "deleted"}, event="gone")
            return
        version = (
            job.status,
            job.stage,
            job.stage_done,
            job.progress,
            job.attempts,
            job.cancel_requested,
            job.error,
        )
        now = time.monotonic()
        if version != last_version:
            sequence += 1
            yield format_event(job_json(job), event_id=sequence)
            last_version, last_sent = version, now
            if job.finished:
                return
        elif now - last_sent >= settings.sse_keepalive_s:
            yield ": keep-alive\n\n"
            last_sent = now
        if now - started >= settings.sse_max_s:
            return
        time.sleep(settings.sse_poll_s)
