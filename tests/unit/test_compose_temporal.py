"""The landmark-aligned, change-gated moving average that steadies enhanced crops."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from lipsync.compose.temporal import STABLE_ANCHORS, TemporalSmoother
from lipsync.errors import InputError, OptionsError
from lipsync.faces import mouth as facemesh

SIZE = (320, 320)
BOX = (70, 60, 250, 280)  # x1, y1, x2, y2: the face's crop, fixed while the head moves in it


@pytest.fixture(scope="module")
def face(portrait_face: Callable) -> tuple[np.ndarray, np.ndarray]:
    """The portrait (uint8 RGB 320×320) and its FaceMesh landmarks (468, 3) in its pixels."""
    return portrait_face(SIZE)


def _moved(face, angle: float, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The crop at BOX of the portrait turned by ``angle`` degrees and shifted, and the
    stable anchors (K, 2) in the crop's pixels, moved by the same transform."""
    frame, landmarks = face
    matrix = cv2.getRotationMatrix2D((SIZE[0] / 2, SIZE[1] / 2), angle, 1.0)
    matrix[:, 2] += shift
    moved = cv2.warpAffine(
        frame, matrix, SIZE, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
    )
    anchors = facemesh.apply_affine(matrix, landmarks[list(STABLE_ANCHORS), :2])
    x1, y1, x2, y2 = BOX
    return moved[y1:y2, x1:x2], (anchors - (x1, y1)).astype(np.float32)


def _noisy(crop: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    return np.clip(crop + rng.normal(0, sigma, crop.shape), 0, 255).astype(np.uint8)


def _frame_to_frame(frames: list[np.ndarray]) -> float:
    stack = np.stack(frames).astype(np.float64)
    return float((np.diff(stack, axis=0) ** 2).mean())


def test_a_static_face_with_per_frame_noise_is_steadied(face):
    crop, anchors = _moved(face, 0.0, (0, 0))
    rng = np.random.default_rng(0)
    noisy = [_noisy(crop, rng, 8.0) for _ in range(24)]
    for strength, most in ((0.5, 0.3), (0.8, 0.15)):
        smoother = TemporalSmoother(strength)
        out = [smoother.smooth(frame, anchors) for frame in noisy]
        assert smoother.last is not None and not smoother.last.restarted
        ratio = _frame_to_frame(out[6:]) / _frame_to_frame(noisy[6:])
        assert ratio < most, f"strength {strength}: variance kept {ratio:.2f}"
        # Averaging, not drifting: the output stays on the clean picture.
        assert (
            np.abs(out[-1].astype(int) - crop).mean() < np.abs(noisy[-1].astype(int) - crop).mean()
        )


def test_a_moving_head_is_followed_without_lag(face):
    rng = np.random.default_rng(1)
    smoother = TemporalSmoother(0.6)
    errors, lagged, raw = [], [], []
    previous = None
    for k in range(16):
        clean, anchors = _moved(face, 0.0, (3.0 * k - 20, 2.0 * k - 14))
        noisy = _noisy(clean, rng, 6.0)
        out = smoother.smooth(noisy, anchors).astype(int)
        if k >= 4:
            assert smoother.last is not None and smoother.last.history_weight > 0.3
            errors.append(np.abs(out - clean).mean())
            raw.append(np.abs(noisy.astype(int) - clean).mean())
            lagged.append(np.abs(out - previous).mean())
        previous = clean
    # Closer to the current clean picture than the noisy input is, and far from the last one.
    assert np.mean(errors) < 0.7 * np.mean(raw)
    assert np.mean(lagged) > 3 * np.mean(errors)


def test_turning_sub_pixel_motion_keeps_the_detail(face):
    smoother = TemporalSmoother(0.8)
    for k in range(12):
        clean, anchors = _moved(face, 0.6 * k, (1.3 * k, -0.7 * k))
        out = smoother.smooth(clean, anchors)
    assert smoother.last is not None and smoother.last.history_weight > 0.4
    assert np.abs(out.astype(int) - clean).mean() < 2.0

    def sharpness(image: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())

    assert sharpness(out) > 0.85 * sharpness(clean)


def test_a_region_that_really_changes_passes_through_without_ghosting(face):
    crop, anchors = _moved(face, 0.0, (0, 0))
    smoother = TemporalSmoother(0.8)
    for _ in range(5):
        smoother.smooth(crop, anchors)
    opened = crop.copy()
    cv2.ellipse(opened, (90, 165), (26, 16), 0, 0, 360, (30, 10, 15), -1)  # a mouth opens
    out = smoother.smooth(opened, anchors).astype(int)
    inner = np.zeros(crop.shape[:2], np.uint8)
    cv2.ellipse(inner, (90, 165), (22, 12), 0, 0, 360, 1, -1)
    assert np.abs(out - opened)[inner == 1].max() <= 3, "the new mouth shows at once"
    assert smoother.last is not None and not smoother.last.restarted


def test_the_mouth_mask_keeps_only_a_share_of_the_history(face):
    crop, anchors = _moved(face, 0.0, (0, 0))
    everywhere = np.ones(crop.shape[:2], np.float32)
    for mouth, expected in ((None, 0.5), (everywhere, 0.5 * 0.25)):
        smoother = TemporalSmoother(0.5, mouth_share=0.25)
        smoother.smooth(crop, anchors, mouth)
        smoother.smooth(crop, anchors, mouth)
        assert smoother.last is not None
        # Pixels near the crop's edge may fall outside the warped history; nearly all count.
        assert expected * 0.97 < smoother.last.history_weight <= expected + 1e-6


def test_reset_forgets_and_cuts_and_bad_anchors_restart(face):
    crop, anchors = _moved(face, 0.0, (0, 0))
    rng = np.random.default_rng(2)
    smoother = TemporalSmoother(0.7)
    for _ in range(4):
        smoother.smooth(_noisy(crop, rng, 8.0), anchors)
    frame = _noisy(crop, rng, 8.0)
    smoother.reset()
    assert np.array_equal(smoother.smooth(frame, anchors), frame)
    assert smoother.last is not None and smoother.last.reason == "first frame"

    other = rng.integers(0, 256, crop.shape, dtype=np.uint8)  # a scene cut: another picture
    assert np.array_equal(smoother.smooth(other, anchors), other)
    assert smoother.last.reason == "scene changed"

    smoother.smooth(crop, anchors)
    jittered = anchors + rng.normal(0, 12, anchors.shape).astype(np.float32)
    assert np.array_equal(smoother.smooth(crop, jittered), crop)
    assert smoother.last.reason == "anchors do not fit one pose"

    centre = anchors.mean(axis=0)
    assert np.array_equal(smoother.smooth(crop, centre + (jittered - centre) * 1.6), crop)
    assert smoother.last.reason == "scale jumped"

    assert np.array_equal(smoother.smooth(crop, None), crop)
    assert smoother.last.restarted and smoother.last.reason == "no anchors"


def test_off_and_bad_inputs(face):
    crop, anchors = _moved(face, 0.0, (0, 0))
    rng = np.random.default_rng(3)
    off = TemporalSmoother(0.0)
    for _ in range(3):
        frame = _noisy(crop, rng, 8.0)
        assert np.array_equal(off.smooth(frame, anchors), frame)
    with pytest.raises(OptionsError, match="strength"):
        TemporalSmoother(1.5)
    smoother = TemporalSmoother(0.5)
    with pytest.raises(InputError, match="crop"):
        smoother.smooth(crop.astype(np.float32), anchors)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="mouth"):
        smoother.smooth(crop, anchors, np.ones((3, 3), np.float32))
    # A crop that changes size between frames (the box follows the face) is fine.
    smoother.smooth(crop, anchors)
    smaller = crop[10:-10, 10:-10]
    out = smoother.smooth(smaller, anchors - 10)
    assert out.shape == smaller.shape and np.abs(out.astype(int) - smaller).mean() < 1.0
