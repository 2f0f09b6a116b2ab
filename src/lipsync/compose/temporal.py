"""Temporal stabilisation of enhanced crops: a landmark-aligned, change-gated moving average.

Face enhancers work frame by frame, and the detail they invent (skin pores, teeth edges,
lip texture) differs a little from frame to frame: on video it shimmers. The smoother keeps
an exponential moving average of its own output and blends each new crop with it:

1. **Aligned.** The head moves, so averaging pixels in place would smear the face. The
   previous output is first warped onto the current crop by the similarity transform
   (rotation, scale, shift) fitted on landmarks that speech does not move (eye corners,
   nose, brow: ``STABLE_ANCHORS``). The average then runs along the face, not across it,
   and a moving head is followed without lag.
2. **Gated per pixel.** Flicker is a small change, a real one (the mouth opening, teeth
   appearing, a hand passing, a misaligned patch) a large one. The difference between the
   crop and the aligned history is blurred a little (so per-pixel noise, which the average
   is meant to remove, does not read as change) and where it is large the history's weight
   falls to zero: the new pixels pass through and nothing ghosts.
3. **Less in the mouth.** The mouth must follow the speech exactly, and its changes are
   not always large (a tongue, a half-closed lip). Inside an optional mouth mask the
   history keeps only ``mouth_share`` of its weight, so the mouth is steadied a little
   while the surrounding skin, where flicker shows most, is steadied fully.
4. **Restarts.** When the anchors no longer fit one similarity (a turn of the head beyond
   what a 2-D transform describes, a tracking glitch), when the face jumps in scale, or
   when most of the crop's centre changed at once (a scene cut, a flash), the history is dropped
   and the smoother starts again from the current crop.

The weight of the history on an unchanged pixel is ``strength`` (capped at
``MAX_HISTORY_WEIGHT`` so the output always keeps following the input). With weight a, the
average leaves (1 − a) / (1 + a) of the variance of independent per-frame noise: a third
at a = 0.5. Cost is a few box-sized passes per frame, independent of the frame size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError, OptionsError
from ..faces.mouth import STABLE, apply_affine, similarity_transform

# FaceMesh points that do not move with speech (eye corners, nose bridge and tip, brow).
STABLE_ANCHORS: tuple[int, ...] = STABLE

MAX_HISTORY_WEIGHT = 0.9
# Share of the history's weight kept inside the mouth mask.
MOUTH_SHARE = 0.25
# The difference (8-bit levels, after a blur of this sigma in pixels) below which a pixel
# counts as unchanged, and above which as changed; the history's weight falls linearly
# between the two. Chosen on real talking-head clips with added per-frame texture flicker
# (5 levels): stricter gates let the flicker through, looser ones let the average lag.
CHANGE_BLUR_SIGMA = 2.0
CHANGE_LOW, CHANGE_HIGH = 6.0, 24.0
# Anchor residual after the similarity fit, relative to the anchors' spread: full weight
# below the first, a restart above the second. FaceMesh's own jitter on a steady talking
# head reaches about 0.06 (99th percentile, measured on real clips); the per-pixel gate
# catches what a loose fit misaligns.
FIT_LOW, FIT_HIGH = 0.04, 0.10
# A scale step larger than this between frames is a jump, not motion.
MAX_SCALE_STEP = 1.25
# When more than this share of the crop's central half changed, the scene did. Only the
# centre counts: the face sits there in every region box, while hair and background near
# the box's edges move on their own and change a lot between frames of one shot.
CUT_SHARE = 0.7


@dataclass(frozen=True)
class SmoothingStep:
    """What the last ``smooth`` call did: ``history_weight``, the mean weight of the
    history over the crop's pixels (0 when it started afresh); ``restarted``, whether the
    history was dropped (first frame, reset, or a gate tripped); ``reason`` names why."""

    history_weight: float
    restarted: bool
    reason: str


class TemporalSmoother:
    """Landmark-aligned, change-gated exponential moving average of crops, one face track.

    ``strength``: 0 … 1, the history's weight on unchanged pixels (0 turns smoothing off).
    ``mouth_share``: the fraction of that weight kept inside the mouth mask given to
    ``smooth``. Call ``reset`` where the track breaks (a scene cut, a new face).
    """

    def __init__(self, strength: float, *, mouth_share: float = MOUTH_SHARE) -> None:
        if not (0.0 <= strength <= 1.0):
            raise OptionsError(f"temporal smoothing strength must be 0 … 1, got {strength}")
        if not (0.0 <= mouth_share <= 1.0):
            raise OptionsError(f"mouth_share must be 0 … 1, got {mouth_share}")
        self.strength = float(strength)
        self.mouth_share = float(mouth_share)
        self._history: np.ndarray | None = None  # float32 (h, w, 3), the last output
        self._anchors: np.ndarray | None = None  # float64 (K, 2), in the last crop's pixels
        self.last: SmoothingStep | None = None

    def reset(self) -> None:
        """Forget the history: the next crop is passed through and starts a new average."""
        self._history = None
        self._anchors = None

    def smooth(
        self, crop: np.ndarray, anchors: np.ndarray | None, mouth: np.ndarray | None = None
    ) -> np.ndarray:
        """The stabilised crop, uint8 RGB like ``crop``.

        ``crop``: uint8 RGB (h, w, 3), the enhanced region of this frame (its size may
        change from frame to frame). ``anchors``: float (K, 2) the ``STABLE_ANCHORS``
        landmarks in this crop's pixels, in the same order every frame; None (or any
        non-finite value) restarts the average. ``mouth``: optional float32 (h, w) in
        [0, 1], where speech moves the picture (``regions.mouth_interior_mask``).
        """
        if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
            raise InputError(f"crop must be uint8 RGB (h, w, 3), got {crop.dtype} {crop.shape}")
        h, w = crop.shape[:2]
        if mouth is not None and mouth.shape != (h, w):
            raise InputError(f"mouth mask must be {(h, w)} like the crop, got {mouth.shape}")
        current = crop.astype(np.float32)
        points = None if anchors is None else np.asarray(anchors, np.float64)
        if self.strength == 0.0:
            return self._restart(current, points, "off")
        if points is None or points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
            return self._restart(current, None, "no anchors")
        if not np.isfinite(points).all():
            return self._restart(current, None, "anchors not finite")
        if self._history is None or self._anchors is None:
            return self._restart(current, points, "first frame")
        if self._anchors.shape != points.shape:
            return self._restart(current, points, "anchor count changed")

        matrix = similarity_transform(self._anchors, points)
        fit, reason = self._fit_weight(matrix, points)
        if fit == 0.0:
            return self._restart(current, points, reason)
        aligned, covered = self._aligned_history(matrix, (w, h))
        unchanged = self._unchanged(current, aligned)
        centre = (slice(h // 4, h - h // 4), slice(w // 4, w - w // 4))
        overlap = covered[centre] > 0
        if not overlap.any():
            return self._restart(current, points, "no overlap")
        if float((unchanged[centre][overlap] < 0.5).mean()) > CUT_SHARE:
            return self._restart(current, points, "scene changed")

        weight = min(self.strength, MAX_HISTORY_WEIGHT) * fit * unchanged * covered
        if mouth is not None:
            inside = np.clip(np.nan_to_num(mouth.astype(np.float32)), 0.0, 1.0)
            weight *= 1.0 - (1.0 - self.mouth_share) * inside
        output = current + (aligned - current) * weight[..., None]
        self._history, self._anchors = output, points
        self.last = SmoothingStep(float(weight.mean()), False, "smoothed")
        return np.clip(output + 0.5, 0, 255).astype(np.uint8)

    def _restart(self, current: np.ndarray, points: np.ndarray | None, reason: str) -> np.ndarray:
        self._history = current if points is not None else None
        self._anchors = points
        self.last = SmoothingStep(0.0, True, reason)
        return np.clip(current + 0.5, 0, 255).astype(np.uint8)

    def _fit_weight(self, matrix: np.ndarray, points: np.ndarray) -> tuple[float, str]:
        """1 where the anchors moved as one rigid face, falling to 0 (restart) as the
        similarity explains them less well or the scale jumps; with the reason for 0."""
        assert self._anchors is not None
        scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
        if not (1.0 / MAX_SCALE_STEP <= scale <= MAX_SCALE_STEP):
            return 0.0, "scale jumped"
        spread = float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))
        residual = apply_affine(matrix, self._anchors) - points
        error = float(np.sqrt((residual**2).sum(axis=1).mean())) / max(spread, 1e-6)
        fit = float(np.clip((FIT_HIGH - error) / (FIT_HIGH - FIT_LOW), 0.0, 1.0))
        return fit, "anchors do not fit one pose" if fit == 0.0 else ""

    def _aligned_history(
        self, matrix: np.ndarray, size: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The history warped into the current crop (float32 (h, w, 3)) and where it is
        fully covered by the previous crop (float32 (h, w), 0 or 1)."""
        assert self._history is not None
        # Bicubic: the history is resampled once per frame and again the next, and a
        # bilinear kernel would soften the enhanced detail a little more each time.
        aligned = cv2.warpAffine(
            self._history, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
        )
        ones = np.ones(self._history.shape[:2], np.float32)
        coverage = cv2.warpAffine(ones, matrix, size, flags=cv2.INTER_LINEAR, borderValue=0.0)
        return aligned, (coverage > 0.999).astype(np.float32)

    @staticmethod
    def _unchanged(current: np.ndarray, aligned: np.ndarray) -> np.ndarray:
        """Per pixel, 1 where the crop differs from the aligned history by no more than
        flicker, 0 where it really changed; float32 (h, w)."""
        difference = cv2.GaussianBlur(current - aligned, (0, 0), CHANGE_BLUR_SIGMA)
        # Per-channel maximum through OpenCV: numpy's reduction over a 3-wide last axis is
        # several times slower than everything else here.
        red, green, blue = cv2.split(np.abs(difference))
        change = cv2.max(cv2.max(red, green), blue)
        return np.clip((CHANGE_HIGH - change) / (CHANGE_HIGH - CHANGE_LOW), 0.0, 1.0)
