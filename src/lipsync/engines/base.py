"""The sync-engine interface: what every engine (Wav2Lip, the built-in engine, …) provides.

The pipeline owns decoding, face tracking, compositing and encoding; an engine only turns
"this frame, this face, this moment of speech" into a regenerated face crop. Engines that
need the whole clip first (the built-in engine's mouth library) do it in ``prepare``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Speech:
    """The speech track, decoded: float32 mono at ``sample_rate`` (16 kHz), shape (S,)."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class EngineInput:
    """One output frame for the engine.

    ``frame``: uint8 RGB (H, W, 3), the source frame shown at output index ``index``.
    ``box``: the padded face crop (x1, y1, x2, y2) in frame pixels, integer, clipped to the
    frame; None when no face is tracked in this frame (the engine must return None for it).
    ``landmarks``: FaceMesh points (468, 3) float32 in frame pixels, or None.
    """

    index: int
    frame: np.ndarray
    box: tuple[int, int, int, int] | None
    landmarks: np.ndarray | None


class Engine(ABC):
    """A sync engine. Life cycle: ``prepare`` once, ``generate`` per batch, ``close``."""

    name: str = "engine"

    @abstractmethod
    def prepare(self, speech: Speech, fps: float, n_frames: int) -> None:
        """Compute per-clip features (e.g. mel windows) for ``n_frames`` output frames at ``fps``."""

    @abstractmethod
    def generate(self, batch: Sequence[EngineInput]) -> list[np.ndarray | None]:
        """Return, for each input, the regenerated face crop: uint8 RGB of the box's size
        (y2 - y1, x2 - x1, 3), or None where the input has no box."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models and device memory."""

    def describe(self) -> str:
        return self.name
