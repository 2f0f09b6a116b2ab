"""Quality figures of the enhancement stage on synthetic pictures with known answers."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from lipsync import samples
from lipsync.errors import InputError
from lipsync.eval.quality import (
    EnhanceQualityMeter,
    aligned_region,
    compare_flicker,
    flicker,
    laplacian_sharpness,
    psnr_outside,
    ssim_outside,
)
from lipsync.faces.mouth import STABLE


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return samples.portrait((128, 128))


def _box_mask(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.float32)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = 1.0
    return mask


def _landmarks(rng: np.random.Generator, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    points = np.zeros((468, 3), np.float32)
    points[:, :2] = rng.uniform(30, 100, (468, 2))
    points[:, :2] += np.asarray(shift, np.float32)
    return points


# --- sharpness ---------------------------------------------------------------------------


def test_blur_lowers_sharpness(face: np.ndarray) -> None:
    blurred = cv2.GaussianBlur(face, (0, 0), 2.0)
    assert laplacian_sharpness(blurred) < 0.5 * laplacian_sharpness(face)
    assert laplacian_sharpness(np.full((32, 32, 3), 77, np.uint8)) == 0.0


def test_sharpness_counts_only_the_masked_pixels(face: np.ndarray) -> None:
    image = face.copy()
    image[:, :64] = 128  # a flat left half
    left = _box_mask(image.shape[:2], (8, 8, 56, 120))
    right = _box_mask(image.shape[:2], (72, 8, 120, 120))
    assert laplacian_sharpness(image, left) == pytest.approx(0.0, abs=1e-9)
    assert laplacian_sharpness(image, right) > 10.0
    assert laplacian_sharpness(image, right.astype(bool)) == laplacian_sharpness(image, right)
    with pytest.raises(InputError, match="selects no pixel"):
        laplacian_sharpness(image, np.zeros(image.shape[:2], np.float32))
    with pytest.raises(InputError, match="does not match"):
        laplacian_sharpness(image, np.zeros((4, 4), np.float32))


# --- unchanged outside the mask -------------------------------------------------------------


def test_changes_inside_the_mask_do_not_count(face: np.ndarray) -> None:
    box = (40, 60, 90, 110)
    mask = _box_mask(face.shape[:2], box)
    changed = face.copy()
    changed[60:110, 40:90] = 255 - changed[60:110, 40:90]
    assert psnr_outside(face, changed, mask) == math.inf
    assert ssim_outside(face, changed, mask) == pytest.approx(1.0, abs=1e-9)
    assert psnr_outside(face, face, np.zeros(face.shape[:2], np.float32)) == math.inf


def test_psnr_of_a_known_error() -> None:
    a = np.zeros((20, 20, 3), np.uint8)
    b = np.full((20, 20, 3), 10, np.uint8)
    mask = _box_mask((20, 20), (0, 0, 10, 20))
    b[:, :10] = 200  # inside: ignored
    # MSE 100 → 10 · log10(255² / 100)
    assert psnr_outside(a, b, mask) == pytest.approx(10 * math.log10(255**2 / 100))


def test_ssim_matches_scikit_image_and_falls_with_noise(face: np.ndarray) -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    noisy = np.clip(face + rng.normal(0, 20, face.shape), 0, 255).astype(np.uint8)
    # Masking the outermost pixels leaves the pixels a full window (5 px) further in.
    rim = np.ones(face.shape[:2], np.float32)
    rim[1:-1, 1:-1] = 0.0
    ours = ssim_outside(face, noisy, rim)
    _, reference_map = metrics.structural_similarity(
        face,
        noisy,
        channel_axis=2,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        full=True,
    )
    assert ours < 0.9
    assert ours == pytest.approx(reference_map[6:-6, 6:-6].mean(), abs=1e-6)


def test_a_mask_over_everything_is_refused(face: np.ndarray) -> None:
    everything = np.ones(face.shape[:2], np.float32)
    with pytest.raises(InputError, match="covers the whole image"):
        psnr_outside(face, face, everything)
    almost = _box_mask(face.shape[:2], (3, 3, 125, 125))
    with pytest.raises(InputError, match="SSIM window"):
        ssim_outside(face, face, almost)
    with pytest.raises(InputError, match="differ in shape"):
        psnr_outside(face, face[:10], np.zeros(face.shape[:2], np.float32))


# --- flicker ---------------------------------------------------------------------------------


def test_flicker_of_still_and_alternating_sequences() -> None:
    still = [np.full((8, 8, 3), 90, np.uint8)] * 5
    assert flicker(still) == 0.0
    alternating = [np.full((8, 8), 90 + 10 * (i % 2), np.uint8) for i in range(6)]
    assert flicker(alternating) == pytest.approx(10.0)
    with pytest.raises(InputError, match="at least two"):
        flicker(still[:1])
    with pytest.raises(InputError, match="differ in shape"):
        flicker([still[0], np.zeros((4, 4, 3), np.uint8)])


def test_flicker_comparison() -> None:
    assert compare_flicker(3.0, 2.0).ratio == pytest.approx(1.5)
    assert compare_flicker(0.0, 0.0).ratio == 1.0
    assert compare_flicker(1.0, 0.0).ratio == math.inf


def test_aligned_region_follows_the_face(face: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    reference_points = _landmarks(rng)
    moved = np.roll(face, (5, -7), axis=(0, 1))  # the face moved 7 px left, 5 px down
    moved_points = reference_points.copy()
    moved_points[:, :2] += (-7.0, 5.0)
    # Points that speech moves may go anywhere: only the stable ones align.
    others = np.setdiff1d(np.arange(468), STABLE)
    moved_points[others, :2] = rng.uniform(0, 128, (len(others), 2))
    box = (30, 30, 90, 90)
    expected = face[30:90, 30:90]
    got = aligned_region(moved, moved_points, reference_points, box)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


# --- the meter -------------------------------------------------------------------------------


def test_meter_on_an_untouched_still_video(face: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    points = _landmarks(rng)
    changed = _box_mask(face.shape[:2], (40, 60, 90, 110))
    meter = EnhanceQualityMeter()
    for _ in range(4):
        meter.add(face, face, points, (40, 60, 90, 110), changed)
    result = meter.result()
    assert result.frames == 4
    assert result.flicker.output == result.flicker.reference == 0.0
    assert result.flicker.ratio == 1.0
    assert result.psnr_outside_db == math.inf and result.ssim_outside == pytest.approx(1.0)
    assert result.sharpness == pytest.approx(result.reference_sharpness)


def test_meter_sees_flicker_blur_and_leaks(face: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    points = _landmarks(rng)
    box = (40, 60, 90, 110)
    changed = _box_mask(face.shape[:2], box)
    meter = EnhanceQualityMeter()
    for i in range(6):
        output = face.copy()
        region = cv2.GaussianBlur(face, (0, 0), 2.0)[60:110, 40:90].astype(int)
        output[60:110, 40:90] = np.clip(region + (6 if i % 2 else -6), 0, 255)
        meter.add(face, output, points if i != 3 else None, box, changed)
    result = meter.result()
    assert result.frames == 5  # frame 3 had no face
    assert result.flicker.reference == 0.0 and result.flicker.ratio == math.inf
    assert result.flicker.output > 5.0
    assert result.sharpness < 0.5 * result.reference_sharpness
    assert result.psnr_outside_db == math.inf

    leaky = EnhanceQualityMeter()
    for _ in range(3):
        leaky.add(
            face, np.clip(face.astype(int) + 3, 0, 255).astype(np.uint8), points, box, changed
        )
    assert leaky.result().psnr_outside_db < 40.0


def test_meter_needs_two_frames_with_a_face(face: np.ndarray) -> None:
    meter = EnhanceQualityMeter()
    meter.add(face, face, None, (0, 0, 10, 10), np.zeros(face.shape[:2], np.float32))
    with pytest.raises(InputError, match="two consecutive frames"):
        meter.result()
