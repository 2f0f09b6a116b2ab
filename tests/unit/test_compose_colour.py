"""Colour and luminance matching of an enhanced crop to the pixels it replaces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lipsync import samples
from lipsync.compose.colour import match_colour
from lipsync.errors import InputError


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    """The astronaut's lower face, uint8 RGB (96, 128, 3)."""
    return samples.portrait((256, 256))[130:226, 64:192].copy()


def _lab_stats(image: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    w = weights.reshape(-1, 1) / weights.sum()
    mean = (lab * w).sum(axis=0)
    return mean, np.sqrt((((lab - mean) ** 2) * w).sum(axis=0))


def _soft_ellipse(shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    cv2.ellipse(
        mask, (shape[1] // 2, shape[0] // 2), (shape[1] // 3, shape[0] // 3), 0, 0, 360, 1, -1
    )
    return cv2.GaussianBlur(mask, (0, 0), 4)


def _tinted(image: np.ndarray) -> np.ndarray:
    """Warmer, brighter and flatter: what a GAN restorer might do to skin."""
    rgb = image.astype(np.float32)
    rgb = (rgb - 128) * 0.8 + 128 + np.array([30, 12, -10], np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_a_tinted_crop_gets_the_reference_mean_and_spread(crop):
    mask = _soft_ellipse(crop.shape[:2])
    tinted = _tinted(crop)
    matched = match_colour(tinted, crop, mask)
    assert matched.dtype == np.uint8 and matched.shape == crop.shape
    ref_mean, ref_std = _lab_stats(crop, mask)
    tint_mean, _ = _lab_stats(tinted, mask)
    got_mean, got_std = _lab_stats(matched, mask)
    assert np.abs(tint_mean - ref_mean).max() > 8, "the tint is a real one"
    assert np.abs(got_mean - ref_mean).max() < 1.0
    assert np.abs(got_std - ref_std).max() < 1.0
    # And the picture itself comes back close to the reference, not only its statistics.
    inside = mask > 0.5
    before = np.abs(tinted.astype(int) - crop)[inside].mean()
    after = np.abs(matched.astype(int) - crop)[inside].mean()
    assert after < before / 3


def test_only_the_masked_pixels_count(crop):
    mask = np.zeros(crop.shape[:2], np.float32)
    mask[30:70, 40:90] = 1.0
    reference = crop.copy()
    reference[mask == 0] = (0, 255, 0)  # outside the mask the reference is bright green
    matched = match_colour(_tinted(crop), reference, mask)
    ref_mean, _ = _lab_stats(crop, mask)
    got_mean, _ = _lab_stats(matched, mask)
    assert np.abs(got_mean - ref_mean).max() < 1.0


def test_flat_areas_and_empty_masks_are_safe():
    flat = np.full((40, 50, 3), 120, np.uint8)
    reference = np.full((40, 50, 3), (150, 100, 90), np.uint8)
    mask = np.ones((40, 50), np.float32)
    matched = match_colour(flat, reference, mask)
    assert np.abs(matched.astype(int) - reference).max() <= 1, "a flat crop takes the tone"
    noisy = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    out = match_colour(noisy, reference, mask)
    assert np.isfinite(out).all()
    spread = out.astype(float).std(axis=(0, 1))
    assert (spread > 0.4 * noisy.astype(float).std(axis=(0, 1))).all(), "detail is kept"
    empty = np.zeros((40, 50), np.float32)
    same = match_colour(noisy, reference, empty)
    assert np.array_equal(same, noisy) and same is not noisy
    nan_mask = np.full((40, 50), np.nan, np.float32)
    assert np.array_equal(match_colour(noisy, reference, nan_mask), noisy)


def test_mismatched_inputs_are_rejected(crop):
    mask = np.ones(crop.shape[:2], np.float32)
    with pytest.raises(InputError, match="reference"):
        match_colour(crop, crop[:-1], mask)
    with pytest.raises(InputError, match="mask"):
        match_colour(crop, crop, mask[:-1])
    with pytest.raises(InputError, match="enhanced"):
        match_colour(crop.astype(np.float32), crop, mask)  # type: ignore[arg-type]
