"""FaceTrack data: lag-free smoothing, crop boxes with pads and clipping, fixed boxes."""

from __future__ import annotations

import numpy as np
import pytest

from lipsync.errors import InputError, OptionsError
from lipsync.faces import FaceTrack, smooth_boxes
from lipsync.faces.smoothing import segment_starts


def track_of(boxes: np.ndarray, breaks: np.ndarray | None = None) -> FaceTrack:
    boxes = np.asarray(boxes, dtype=np.float32)
    present = np.isfinite(boxes).all(axis=1)
    landmarks = np.full((len(boxes), 468, 3), np.nan, dtype=np.float32)
    landmarks[present] = np.arange(468 * 3, dtype=np.float32).reshape(468, 3)
    if breaks is None:
        return FaceTrack(boxes, landmarks, present)
    return FaceTrack(boxes, landmarks, present, breaks)


def linear_boxes(n: int, start: float = 100.0, speed: float = 3.0) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    x1 = start + speed * t
    y1 = 50 + 0.5 * speed * t
    return np.stack([x1, y1, x1 + 120, y1 + 130], axis=1)


def test_centred_smoothing_does_not_lag_a_constant_velocity_motion() -> None:
    boxes = linear_boxes(40)
    smoothed = track_of(boxes).smoothed()
    np.testing.assert_allclose(smoothed.boxes, boxes, atol=1e-3)
    # The reference's forward-looking window runs ahead by two frames at this speed.
    forward = np.array([boxes[i : i + 5].mean(axis=0) for i in range(36)])
    assert np.abs(forward - boxes[:36]).max() == pytest.approx(6.0)


def test_smoothing_reduces_jitter() -> None:
    truth = linear_boxes(200)
    noisy = truth + np.random.default_rng(0).normal(0, 2.0, truth.shape)
    smoothed = track_of(noisy).smoothed().boxes
    raw_error = np.sqrt(np.mean((noisy - truth) ** 2))
    smooth_error = np.sqrt(np.mean((smoothed - truth) ** 2))
    assert smooth_error < 0.6 * raw_error


def test_smoothing_never_crosses_a_gap_or_a_jump() -> None:
    first = linear_boxes(10, start=100)
    second = linear_boxes(10, start=400)  # a cut: the face is elsewhere
    gap = np.full((3, 4), np.nan)
    boxes = np.vstack([first, gap, first + 60, second])
    smoothed = track_of(boxes).smoothed()
    present = np.isfinite(boxes).all(axis=1)
    np.testing.assert_array_equal(smoothed.present, present)
    assert np.isnan(smoothed.boxes[10:13]).all()
    # Every segment is linear, so a window that stayed inside it reproduces it exactly.
    np.testing.assert_allclose(smoothed.boxes[present], boxes[present], atol=1e-3)
    starts = np.flatnonzero(segment_starts(boxes, present, np.zeros(len(boxes), bool)))
    np.testing.assert_array_equal(starts, [0, 13, 23])


def test_smoothing_respects_known_breaks() -> None:
    boxes = np.tile([100.0, 100.0, 200.0, 200.0], (10, 1))
    boxes[5:] += 10  # small enough not to look like a jump
    breaks = np.zeros(10, dtype=bool)
    merged = track_of(boxes).smoothed().boxes
    assert not np.allclose(merged[4], boxes[4])  # averaged across the step
    breaks[5] = True
    split = track_of(boxes, breaks).smoothed().boxes
    np.testing.assert_allclose(split, boxes)


def test_smoothing_leaves_landmarks_alone() -> None:
    track = track_of(linear_boxes(8) + np.random.default_rng(1).normal(0, 3, (8, 4)))
    smoothed = track.smoothed()
    assert smoothed.landmarks is track.landmarks
    assert not np.allclose(smoothed.boxes, track.boxes)


def test_smooth_boxes_window_checks() -> None:
    boxes = linear_boxes(5)
    present = np.ones(5, dtype=bool)
    np.testing.assert_allclose(smooth_boxes(boxes, present, ~present, window=1), boxes)
    with pytest.raises(ValueError, match="odd"):
        smooth_boxes(boxes, present, ~present, window=4)


def test_crop_box_pads_and_clips() -> None:
    boxes = np.array(
        [[100.2, 80.6, 200.4, 190.5], [-20.0, 10.0, 60.0, 90.0], [580.0, 400.0, 700.0, 520.0]]
    )
    track = track_of(np.vstack([boxes, np.full((1, 4), np.nan)]))
    pads = (5, 10, 3, 4)  # top bottom left right
    assert track.crop_box(0, pads, (640, 480)) == (97, 76, 204, 201)
    assert track.crop_box(0, (0, 0, 0, 0), (640, 480)) == (100, 81, 200, 191)
    assert track.crop_box(1, pads, (640, 480)) == (0, 5, 64, 100)
    assert track.crop_box(2, pads, (640, 480)) == (577, 395, 640, 480)
    assert track.crop_box(3, pads, (640, 480)) is None
    assert track.crop_box(2, (0, 0, 0, 0), (500, 300)) is None  # wholly outside


def test_fixed_box_track() -> None:
    track = FaceTrack.fixed((10, 20, 110, 140), 6)
    assert len(track) == 6 and track.present.all()
    assert track.crop_box(3, (0, 10, 0, 0), (640, 480)) == (10, 20, 110, 140)  # no pads
    assert track.crop_box(3, (0, 10, 0, 0), (100, 100)) == (10, 20, 100, 100)  # still clipped
    assert track.landmarks_at(0) is None
    assert track.box_at(5) == (10.0, 20.0, 110.0, 140.0)
    assert track.smoothed() is track
    with pytest.raises(OptionsError, match="x1 < x2"):
        FaceTrack.fixed((50, 20, 40, 140), 3)


def test_accessors_and_validation() -> None:
    track = track_of(np.vstack([linear_boxes(2), np.full((1, 4), np.nan)]))
    assert track.box_at(2) is None and track.landmarks_at(2) is None
    points = track.landmarks_at(0)
    assert points is not None and points.shape == (468, 3)
    assert not track.breaks.any() and track.breaks.shape == (3,)
    empty = FaceTrack.empty(4)
    assert len(empty) == 4 and not empty.present.any()
    with pytest.raises(InputError, match="boxes must have shape"):
        FaceTrack(np.zeros((3, 4)), np.zeros((2, 468, 3)), np.ones(2, dtype=bool))
    with pytest.raises(InputError, match="landmarks must have shape"):
        FaceTrack(np.zeros((2, 4)), np.zeros((2, 68, 2)), np.ones(2, dtype=bool))
