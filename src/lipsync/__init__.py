"""Lipsync: make a face in a video or photo speak a given speech track.

    from lipsync import SyncOptions, sync
    result = sync("face.mp4", "speech.wav", "out.mp4", SyncOptions(engine="wav2lip_gan"))

Heavy modules (PyAV, OpenCV, PyTorch) load on first use, so ``import lipsync`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    Cancelled,
    InputError,
    LipsyncError,
    MediaError,
    ModelError,
    NoFaceError,
    OptionsError,
)
from .options import Limits, SyncOptions
from .progress import CancelToken, ProgressEvent

__version__ = "0.1.0"

_LAZY = {
    "sync": "lipsync.pipeline",
    "Pipeline": "lipsync.pipeline",
    "SyncResult": "lipsync.pipeline",
    "probe": "lipsync.media.probe",
    "ModelStore": "lipsync.models.store",
    "Engine": "lipsync.engines.base",
}

if TYPE_CHECKING:
    from .engines.base import Engine
    from .media.probe import probe
    from .models.store import ModelStore
    from .pipeline import Pipeline, SyncResult, sync


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lipsync' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "CancelToken",
    "Cancelled",
    "Engine",
    "InputError",
    "Limits",
    "LipsyncError",
    "MediaError",
    "ModelError",
    "ModelStore",
    "NoFaceError",
    "OptionsError",
    "Pipeline",
    "ProgressEvent",
    "SyncOptions",
    "SyncResult",
    "__version__",
    "probe",
    "sync",
]
