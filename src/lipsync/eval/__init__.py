"""The sync meter: measure lip sync instead of guessing (``lipsync eval``).

``measure_sync`` works on files; ``sync_figures`` and ``truth_figures`` are its pure-array
core. See docs/eval.md for what each figure means and its typical values.
"""

from __future__ import annotations

from .figures import (
    AudioVisualSync,
    SilenceClosure,
    SyncFigures,
    TruthFigures,
    lip_distance_percent,
    speech_envelope,
    sync_figures,
    truth_figures,
)
from .meter import SyncReport, measure_sync

__all__ = [
    "AudioVisualSync",
    "SilenceClosure",
    "SyncFigures",
    "SyncReport",
    "TruthFigures",
    "lip_distance_percent",
    "measure_sync",
    "speech_envelope",
    "sync_figures",
    "truth_figures",
]
