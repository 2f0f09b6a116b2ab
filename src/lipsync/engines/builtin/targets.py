"""Turn the speech into the mouth shapes this particular person should show, frame by frame.

The viseme prior speaks in relative units (0 = closed/narrow, 1 = the speaker's wide opening);
``SpeakerRange`` maps it onto the range measured on the person's own frames, so a reserved
speaker stays reserved. A speaker model fitted on the video's own speech, when there is one,
is blended in column by column as far as its cross-validated R² earns it, and silence closes
the mouth whatever the models say.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .speaker import SpeakerModel

# A person who never opens the mouth in the video (a still photo, a silent listener) must
# still articulate: the opening range is at least this wide, in inter-ocular units (measured
# on talking clips: p5 ≈ 0.02, p95 ≈ 0.19-0.21).
MIN_OPEN_RANGE = 0.12
MAX_SPEAKER_WEIGHT = 0.6  # the viseme prior always keeps a say: it knows p, b, m close the lips
SILENCE_RAMP_FRAMES = 3  # closing and opening around pauses take about 0.1 s


@dataclass(frozen=True)
class SpeakerRange:
    """Per-column low (p5) and high (p95) of the person's own mouth shapes, (C,) each."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def measure(cls, shapes: np.ndarray) -> SpeakerRange:
        """From float (N, C) shapes (NaN rows ignored; at least one valid row)."""
        valid = shapes[np.isfinite(shapes).all(1)]
        low = np.percentile(valid, 5, axis=0)
        high = np.percentile(valid, 95, axis=0)
        high[0] = max(high[0], low[0] + MIN_OPEN_RANGE)
        high = np.maximum(high, low + 1e-3)
        return cls(low.astype(np.float32), high.astype(np.float32))

    @property
    def scale(self) -> np.ndarray:
        return self.high - self.low

    def to_absolute(self, relative: np.ndarray) -> np.ndarray:
        """Map (T, C) relative targets in [0, 1] to this speaker's units."""
        return (self.low + relative * self.scale).astype(np.float32)


def blend_speaker_model(
    prior: np.ndarray, model: SpeakerModel | None, features: np.ndarray | None
) -> np.ndarray:
    """Mix the absolute prior (T, C) with the speaker model's prediction for ``features``."""
    if model is None or features is None:
        return prior
    predicted = model.predict(features)[:, : prior.shape[1]]
    weight = np.clip(model.r2[: prior.shape[1]], 0.0, MAX_SPEAKER_WEIGHT)
    return (1.0 - weight) * prior + weight * predicted


def close_in_silence(targets: np.ndarray, active: np.ndarray, closed: float) -> np.ndarray:
    """Pull the opening (column 0) to ``closed`` in silent frames, with short ramps."""
    gate: np.ndarray = active.astype(np.float32)
    if SILENCE_RAMP_FRAMES > 1 and len(gate) > 1:
        kernel = np.ones(SILENCE_RAMP_FRAMES, np.float32) / SILENCE_RAMP_FRAMES
        gate = np.convolve(np.pad(gate, SILENCE_RAMP_FRAMES, mode="edge"), kernel, "same")[
            SILENCE_RAMP_FRAMES:-SILENCE_RAMP_FRAMES
        ]
    out = targets.copy()
    out[:, 0] = closed + (np.maximum(out[:, 0], closed) - closed) * gate
    return out
