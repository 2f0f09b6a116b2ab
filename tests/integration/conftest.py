"""Fixtures for pipeline and CLI tests: a tiny random-weight Wav2Lip in the released format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lipsync.engines.wav2lip.engine import Wav2LipEngine
from lipsync.engines.wav2lip.testing import write_random_checkpoint
from lipsync.models.store import ModelStore


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("weights") / "tiny_wav2lip.pth", seed=0)


@pytest.fixture
def tiny_engine(tiny_checkpoint: Path) -> Iterator[Wav2LipEngine]:
    engine = Wav2LipEngine(tiny_checkpoint, device="cpu", batch_size=8, name="wav2lip_tiny")
    yield engine
    engine.close()


@pytest.fixture
def lipsync_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelStore:
    """An empty model cache for this test, selected through $LIPSYNC_HOME."""
    home = tmp_path / "lipsync-home"
    monkeypatch.setenv("LIPSYNC_HOME", str(home))
    return ModelStore(home)


@pytest.fixture(scope="session")
def unittest_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache holding the random-weight ``wav2lip_unittest`` model."""
    home = tmp_path_factory.mktemp("home-with-unittest-model")
    ModelStore(home).install("wav2lip_unittest")
    return home
