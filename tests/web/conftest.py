"""Fixtures for the web API and the job system: an app on a temporary data directory, with an
in-process worker that tests drive explicitly (``web.drain()``), and the tiny test engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from webtools import ENGINE, Web, make_config, make_web

from lipsync.jobs.config import JobsConfig
from lipsync.models.store import ModelStore
from lipsync.web import WebSettings


@pytest.fixture(scope="session")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache holding the random-weight ``wav2lip_unittest`` model."""
    home = tmp_path_factory.mktemp("web-model-home")
    ModelStore(home).install(ENGINE)
    return home


@pytest.fixture
def jobs_config(tmp_path: Path) -> JobsConfig:
    data = tmp_path / "data"
    data.mkdir()
    return make_config(data)


@pytest.fixture
def web(jobs_config: JobsConfig, model_home: Path, tmp_path: Path) -> Iterator[Web]:
    settings = WebSettings(jobs=jobs_config, frontend_dir=tmp_path / "no-frontend", sse_poll_s=0.05)
    built = make_web(settings, model_home)
    yield built
    built.store.close()
