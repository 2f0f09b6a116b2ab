"""Helpers shared by the web tests: configurations, an app with an in-process worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from lipsync.jobs.config import JobsConfig
from lipsync.jobs.queue import JobQueue
from lipsync.jobs.store import JobStore
from lipsync.jobs.worker import JobRunner
from lipsync.models.store import ModelStore
from lipsync.web import WebSettings, create_app

ENGINE = "wav2lip_unittest"


def make_config(data_dir: Path, **changes: object) -> JobsConfig:
    """A JobsConfig on ``data_dir`` with quick heartbeats, for tests."""
    config = JobsConfig(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'jobs.db'}",
        media_root=data_dir / "media",
        heartbeat_s=0.2,
        stale_after_s=1.5,
        progress_interval_s=0.05,
        sweep_interval_s=0.5,
        min_free_bytes=0,
    )
    return config.replace(**changes)


@dataclass
class Web:
    """An app with its store, queue and an in-process job runner."""

    app: Flask
    client: FlaskClient
    store: JobStore
    queue: JobQueue
    runner: JobRunner
    settings: WebSettings

    def drain(self) -> int:
        """Run every queued job in this thread; returns how many messages were handled."""
        return self.queue.drain()


def make_web(settings: WebSettings, model_home: Path) -> Web:
    store = JobStore(settings.jobs.database_url)
    queue = JobQueue(settings.jobs)
    models = ModelStore(model_home)
    runner = JobRunner(settings.jobs, store, queue, models=models)
    queue.set_handler(runner)
    app = create_app(settings, store=store, queue=queue, models=models)
    app.testing = True
    return Web(app, app.test_client(), store, queue, runner, settings)
