"""Fixtures for the deployment tests: the model cache with the tiny test engine, and the web
tests' process helpers (tests/web/webprocs.py) on the import path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from deploytools import ENGINE

from lipsync.models.store import ModelStore

# The deploy tests run the same real server processes as the web tests, with their helpers.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))


@pytest.fixture(scope="session")
def deploy_model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache holding the random-weight ``wav2lip_unittest`` model."""
    home = tmp_path_factory.mktemp("deploy-model-home")
    ModelStore(home).install(ENGINE)
    return home
