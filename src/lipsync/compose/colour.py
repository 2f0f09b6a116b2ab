"""Match an enhanced crop's colour and luminance to the pixels it replaces.

Enhancers shift colour: GAN face restorers tend to warm and brighten skin, super-resolution
networks change contrast slightly. Pasted back as they are, the region shows as a patch of
another tone even under a perfect feather. The fix is a per-channel affine map in CIE Lab
(luminance and the two colour axes apart, so a brightness change does not tint) that gives
the enhanced crop, over the masked area, the mean and spread of the reference there.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError

# The spread is matched only within these gains: a flat reference (a wall, a black frame)
# has almost no spread, and matching it exactly would erase the enhanced detail; a flat
# enhanced crop would have its noise blown up.
MIN_GAIN, MAX_GAIN = 0.5, 2.0
# Below this much mask weight (in pixels) there is nothing to measure; below this spread a
# channel counts as flat and keeps its own spread.
MIN_WEIGHT = 4.0
MIN_SPREAD = 0.5


def _check_pair(enhanced: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> None:
    if enhanced.ndim != 3 or enhanced.shape[2] != 3 or enhanced.dtype != np.uint8:
        raise InputError(
            f"enhanced crop must be uint8 RGB (h, w, 3), got {enhanced.dtype} {enhanced.shape}"
        )
    if reference.shape != enhanced.shape or reference.dtype != np.uint8:
        raise InputError(
            f"reference must be uint8 {enhanced.shape} like the enhanced crop, "
            f"got {reference.dtype} {reference.shape}"
        )
    if mask.shape != enhanced.shape[:2]:
        raise InputError(f"mask must be {enhanced.shape[:2]}, got {mask.shape}")


def _to_lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _weighted_stats(lab: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (3,) of ``lab`` (h, w, 3) under ``weights``."""
    total = float(weights.sum())
    flat = lab.reshape(-1, 3).astype(np.float64)
    w = weights.reshape(-1).astype(np.float64)
    mean = (flat * w[:, None]).sum(axis=0) / total
    var = (((flat - mean) ** 2) * w[:, None]).sum(axis=0) / total
    return mean, np.sqrt(np.maximum(var, 0.0))


def match_colour(enhanced: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``enhanced`` with its colour statistics moved to those of ``reference``: uint8 RGB.

    ``enhanced``, ``reference``: uint8 RGB (h, w, 3), the same region before and after
    enhancement. ``mask``: float32 (h, w) in [0, 1], the weight of each pixel in the
    statistics (the pixels that will be pasted). Per Lab channel, the enhanced values are
    shifted and scaled so their weighted mean and standard deviation equal the reference's
    (the scale kept within ``MIN_GAIN`` … ``MAX_GAIN``). A mask with (almost) no weight
    returns a copy of ``enhanced``; flat areas never produce NaN.
    """
    _check_pair(enhanced, reference, mask)
    weights = np.clip(np.nan_to_num(mask.astype(np.float32)), 0.0, 1.0)
    if float(weights.sum()) < MIN_WEIGHT:
        return enhanced.copy()
    lab = _to_lab(enhanced)
    mean_e, spread_e = _weighted_stats(lab, weights)
    mean_r, spread_r = _weighted_stats(_to_lab(reference), weights)
    flat = (spread_e < MIN_SPREAD) | (spread_r < MIN_SPREAD)
    gain = np.where(flat, 1.0, spread_r / np.maximum(spread_e, MIN_SPREAD))
    gain = np.clip(gain, MIN_GAIN, MAX_GAIN)
    matched = (lab - mean_e.astype(np.float32)) * gain.astype(np.float32) + mean_r.astype(
        np.float32
    )
    rgb = cv2.cvtColor(matched, cv2.COLOR_Lab2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
