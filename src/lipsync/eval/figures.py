"""The sync meter's arithmetic on plain arrays: no files, no models.

Inputs are per video frame: the inner-lip opening (``faces.mouth.lip_opening``, inter-ocular
units, NaN where no face), the speech loudness (``audio.loudness.frame_loudness``, dBFS) and
speech activity (``audio.loudness.speech_activity``). Every figure that cannot be computed
is None, with a one-line ``reason`` saying why, rather than a misleading number.

Lag convention: a positive lag means the mouth moves *after* the sound (the video is late,
or the audio early); the correlation at lag L pairs the opening of frame t + L with the
envelope of frame t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..audio.loudness import NOISE_PERCENTILE, speech_level_db
from ..errors import OptionsError
from ..faces.mouth import (
    LIPS_INNER,
    LIPS_OUTER,
    apply_affine,
    inter_ocular,
    lip_opening,
    pose_transform,
)

DEFAULT_MAX_LAG_S = 0.3
"""Lags searched either side of zero: wider than any offset a viewer tolerates (about
45 ms early to 125 ms late, ITU-R BT.1359), narrow enough that a syllable (~0.2 s) away
rarely wins by chance."""
ENVELOPE_RANGE_DB = 40.0
"""The envelope is clipped at the noise floor, but never more than this far below the
speech level: digital silence (-100 dB) would otherwise dwarf every syllable's modulation."""
ENVELOPE_SMOOTHING_S = 0.04
"""Gaussian sigma of the envelope's smoothing: the lips cannot follow 10-ms detail, while
syllables (4-6 per second) pass through nearly untouched."""
SILENCE_MARGIN_S = 0.1
"""Silent frames this close to speech do not count as silence: the mouth opens before a
word and relaxes after it, and the loudness window blurs the edges."""
MIN_CORRELATION_S = 1.0
"""Frames (in seconds) a correlation needs: a few syllables at least."""
MIN_CORRELATION_FRAMES = 10
MIN_CLASS_FRAMES = 5
"""Silent and speech frames each needed for the silence-closure ratio."""
_FLAT = 1e-6
"""Standard deviation below which a series counts as constant (correlation undefined)."""

LIP_POINTS = LIPS_OUTER + LIPS_INNER


@dataclass(frozen=True)
class AudioVisualSync:
    """How well the lip opening follows the speech envelope.

    ``lag_frames``: the lag with the highest Pearson correlation (positive: the mouth moves
    after the sound); ``lag_s`` the same in seconds. ``correlation``: at that lag, in
    [-1, 1], higher is better. ``correlation_at_zero``: without any shift.
    ``correlations``: one value per lag from ``-max_lag_frames`` to ``+max_lag_frames``
    (None where too few frames overlap). ``frames_used``: frames with a face at lag 0.
    ``reason``: why the figures are None, else None.
    """

    lag_frames: int | None
    lag_s: float | None
    correlation: float | None
    correlation_at_zero: float | None
    max_lag_frames: int
    frames_used: int
    correlations: tuple[float | None, ...]
    reason: str | None = None


@dataclass(frozen=True)
class SilenceClosure:
    """Whether the mouth rests while nobody speaks.

    ``ratio``: mean opening in silent frames / mean opening in speech frames; about 1 when
    the mouth ignores the speech, lower is better. Mean openings are in inter-ocular units.
    Silent frames within ``SILENCE_MARGIN_S`` of speech are not counted.
    """

    ratio: float | None
    mean_opening_silent: float | None
    mean_opening_speech: float | None
    silent_frames: int
    speech_frames: int
    reason: str | None = None


@dataclass(frozen=True)
class SyncFigures:
    """Audio-visual figures of one clip: ``sync`` and ``silence``."""

    sync: AudioVisualSync
    silence: SilenceClosure


@dataclass(frozen=True)
class TruthFigures:
    """A video against the original (truth) clip of the same speech, frames paired by index.

    ``frames_compared``: frames where both show a face. ``opening_correlation``: Pearson
    correlation of the two lip openings, higher is better. ``lmd_percent``: mean distance
    of the 40 lip landmarks after carrying the video's head pose onto the truth's, in % of
    the truth's inter-ocular distance; 0 is identical, lower is better.
    """

    frames_compared: int
    opening_correlation: float | None
    lmd_percent: float | None
    reason: str | None = None


def default_max_lag_frames(fps: float) -> int:
    """Frames in ``DEFAULT_MAX_LAG_S`` at ``fps`` (at least 1)."""
    return max(1, round(DEFAULT_MAX_LAG_S * fps))


def min_correlation_frames(fps: float) -> int:
    """Frames a correlation needs at ``fps``: one second's worth, at least 10."""
    return max(MIN_CORRELATION_FRAMES, math.ceil(MIN_CORRELATION_S * fps))


def speech_envelope(loudness_db: np.ndarray, fps: float) -> np.ndarray:
    """The speech envelope the mouth is compared with: float64 (n,) in dB.

    ``loudness_db``: float (n,) per-frame loudness in dBFS. Clipped below at the clip's
    noise floor (its 10th percentile, raised to at most ``ENVELOPE_RANGE_DB`` under the
    speech level), so silence is flat, then smoothed with a Gaussian of sigma
    ``ENVELOPE_SMOOTHING_S`` (edges held).
    """
    levels = np.asarray(loudness_db, dtype=np.float64)
    if levels.size == 0:
        return levels.copy()
    floor = max(
        float(np.percentile(levels, NOISE_PERCENTILE)),
        speech_level_db(levels) - ENVELOPE_RANGE_DB,
    )
    envelope = np.maximum(levels, floor)
    sigma = ENVELOPE_SMOOTHING_S * fps
    if sigma < 0.3:  # narrower than a third of a frame: the kernel is a single tap
        return envelope
    radius = math.ceil(3 * sigma)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    padded = np.pad(envelope, radius, mode="edge")
    return np.convolve(padded, taps / taps.sum(), mode="valid")


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of the pairs where both are finite; None if either is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    valid = np.isfinite(a) & np.isfinite(b)
    if valid.sum() < 2:
        return None
    x, y = a[valid] - a[valid].mean(), b[valid] - b[valid].mean()
    if x.std() < _FLAT or y.std() < _FLAT:
        return None
    return float(np.clip((x @ y) / math.sqrt((x @ x) * (y @ y)), -1.0, 1.0))


def _shifted(opening: np.ndarray, envelope: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (opening[t + lag], envelope[t]) for every t where both indices exist."""
    n = min(len(opening), len(envelope))
    if lag >= 0:
        return opening[lag:n], envelope[: max(0, n - lag)]
    return opening[: max(0, n + lag)], envelope[-lag:n]


def audio_visual_sync(
    opening: np.ndarray, envelope: np.ndarray, fps: float, max_lag_frames: int
) -> AudioVisualSync:
    """Correlate ``opening`` (float (n,), NaN without a face) with ``envelope`` (float (n,))
    at every lag in ±``max_lag_frames``; see ``AudioVisualSync``."""
    opening = np.asarray(opening, dtype=np.float64)
    envelope = np.asarray(envelope, dtype=np.float64)
    needed = min_correlation_frames(fps)
    lags = range(-max_lag_frames, max_lag_frames + 1)
    correlations: list[float | None] = []
    for lag in lags:
        mouth, sound = _shifted(opening, envelope, lag)
        enough = int(np.isfinite(mouth).sum()) >= needed
        correlations.append(pearson(mouth, sound) if enough else None)
    frames_used = int(np.isfinite(_shifted(opening, envelope, 0)[0]).sum())

    def missing(reason: str) -> AudioVisualSync:
        return AudioVisualSync(
            None, None, None, None, max_lag_frames, frames_used, tuple(correlations), reason
        )

    if frames_used < needed:
        return missing(f"only {frames_used} frames with a face; the correlation needs {needed}")
    if np.nanstd(opening) < _FLAT:
        return missing("the mouth does not move in any frame")
    if np.std(envelope[: len(opening)]) < _FLAT:
        return missing("the audio is silent or steady: it has no speech envelope")
    scored = [(c, lag) for c, lag in zip(correlations, lags, strict=True) if c is not None]
    if not scored:
        return missing(f"no lag leaves {needed} frames with a face to correlate")
    # Among equal correlations the smallest shift wins: no evidence for a larger one.
    best, best_lag = max(scored, key=lambda item: (item[0], -abs(item[1])))
    return AudioVisualSync(
        lag_frames=best_lag,
        lag_s=best_lag / fps,
        correlation=best,
        correlation_at_zero=correlations[max_lag_frames],
        max_lag_frames=max_lag_frames,
        frames_used=frames_used,
        correlations=tuple(correlations),
    )


def silence_closure(opening: np.ndarray, active: np.ndarray, fps: float) -> SilenceClosure:
    """Mean opening in silence over mean opening in speech; see ``SilenceClosure``.

    ``opening``: float (n,) NaN without a face; ``active``: bool (n,) speech activity.
    """
    opening = np.asarray(opening, dtype=np.float64)
    active = np.asarray(active, dtype=bool)[: len(opening)]
    opening = opening[: len(active)]
    margin = round(SILENCE_MARGIN_S * fps)
    near_speech = active.copy()
    if margin > 0 and active.any():
        window = np.ones(2 * margin + 1)
        near_speech = np.convolve(active.astype(np.float64), window, mode="same") > 0.5
    face = np.isfinite(opening)
    silent = face & ~near_speech
    speech = face & active
    n_silent, n_speech = int(silent.sum()), int(speech.sum())
    if n_silent < MIN_CLASS_FRAMES or n_speech < MIN_CLASS_FRAMES:
        return SilenceClosure(
            None,
            float(opening[silent].mean()) if n_silent else None,
            float(opening[speech].mean()) if n_speech else None,
            n_silent,
            n_speech,
            f"found {n_silent} silent and {n_speech} speech frames with a face; the ratio "
            f"needs {MIN_CLASS_FRAMES} of each",
        )
    mean_silent = float(opening[silent].mean())
    mean_speech = float(opening[speech].mean())
    if mean_speech <= _FLAT:
        return SilenceClosure(
            None,
            mean_silent,
            mean_speech,
            n_silent,
            n_speech,
            "the mouth stays closed during speech",
        )
    return SilenceClosure(mean_silent / mean_speech, mean_silent, mean_speech, n_silent, n_speech)


def sync_figures(
    opening: np.ndarray,
    loudness_db: np.ndarray,
    active: np.ndarray,
    fps: float,
    max_lag_frames: int | None = None,
) -> SyncFigures:
    """Audio-visual sync and silence closure of one clip.

    ``opening``: float (n,) inner-lip opening in inter-ocular units, NaN where no face.
    ``loudness_db``: float (n,) loudness per frame in dBFS; ``active``: bool (n,) speech
    activity; ``fps``: frames per second; ``max_lag_frames``: lags searched either side
    (default: ±0.3 s). Arrays of different lengths are compared over their overlap.
    """
    if not fps > 0:
        raise OptionsError(f"fps must be positive, got {fps}")
    lag = default_max_lag_frames(fps) if max_lag_frames is None else max_lag_frames
    if lag < 0:
        raise OptionsError(f"max_lag_frames must not be negative, got {lag}")
    n = min(len(opening), len(loudness_db), len(active))
    opening = np.asarray(opening, dtype=np.float64)[:n]
    envelope = speech_envelope(np.asarray(loudness_db)[:n], fps)
    return SyncFigures(
        sync=audio_visual_sync(opening, envelope, fps, lag),
        silence=silence_closure(opening, np.asarray(active)[:n], fps),
    )


def _has_face(landmarks: np.ndarray) -> np.ndarray:
    return np.isfinite(landmarks[:, :, :2]).all(axis=(1, 2))


def lip_distance_percent(landmarks: np.ndarray, truth_landmarks: np.ndarray) -> np.ndarray:
    """Per-frame lip landmark distance: float64 (n,), NaN where either has no face.

    ``landmarks``, ``truth_landmarks``: float (n, 468, 2+) frame pixels. Each video face is
    first carried onto the truth face by the similarity that aligns their stable points
    (eyes, nose, brow), so head motion and tracking jitter of the whole head do not count;
    then the 40 lip points (outer and inner contours) are compared. Mean point distance in
    % of the truth's inter-ocular distance.
    """
    n = min(len(landmarks), len(truth_landmarks))
    distances = np.full(n, np.nan)
    both = _has_face(landmarks[:n]) & _has_face(truth_landmarks[:n])
    lips = list(LIP_POINTS)
    for i in np.flatnonzero(both):
        carry = pose_transform(landmarks[i], truth_landmarks[i])
        moved = apply_affine(carry, landmarks[i, lips, :2])
        gaps = np.linalg.norm(moved - truth_landmarks[i, lips, :2], axis=1)
        distances[i] = 100.0 * gaps.mean() / float(inter_ocular(truth_landmarks[i]))
    return distances


def truth_figures(landmarks: np.ndarray, truth_landmarks: np.ndarray, fps: float) -> TruthFigures:
    """Compare a video's lips with the truth clip's, frame by frame over their overlap.

    ``landmarks``, ``truth_landmarks``: float (n, 468, 2+) frame pixels, NaN where no face,
    at the same ``fps``. See ``TruthFigures``.
    """
    n = min(len(landmarks), len(truth_landmarks))
    distances = lip_distance_percent(landmarks[:n], truth_landmarks[:n])
    compared = int(np.isfinite(distances).sum())
    if compared == 0:
        return TruthFigures(0, None, None, "no frame shows a face in both videos")
    lmd = float(np.nanmean(distances))
    needed = min_correlation_frames(fps)
    if compared < needed:
        too_few = f"only {compared} frames with a face in both; the correlation needs {needed}"
        return TruthFigures(compared, None, lmd, too_few)
    correlation = pearson(lip_opening(landmarks[:n]), lip_opening(truth_landmarks[:n]))
    if correlation is None:
        return TruthFigures(compared, None, lmd, "the mouth does not move in one of the videos")
    return TruthFigures(compared, correlation, lmd)
