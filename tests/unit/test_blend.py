"""Compositing: the box paste of the reference and the feathered lower-face mask."""

from __future__ import annotations

import numpy as np

from lipsync.compose.blend import LOWER_FACE_INDICES, composite, lower_face_mask


def _frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)


def _landmarks(box: tuple[int, int, int, int]) -> np.ndarray:
    """Points on an ellipse in the lower half of the box stand in for FaceMesh's jaw and cheeks."""
    x1, y1, x2, y2 = box
    points = np.full((468, 3), np.nan, np.float32)
    cx, cy = (x1 + x2) / 2, y1 + 0.7 * (y2 - y1)
    for k, index in enumerate(LOWER_FACE_INDICES):
        angle = 2 * np.pi * k / len(LOWER_FACE_INDICES)
        points[index] = (
            cx + 0.3 * (x2 - x1) * np.cos(angle),
            cy + 0.2 * (y2 - y1) * np.sin(angle),
            0,
        )
    return points


def test_box_paste_replaces_exactly_the_box():
    frame, box = _frame(), (40, 20, 100, 90)
    crop = np.zeros((70, 60, 3), np.uint8)
    out = composite(frame, crop, box, None, "box")
    assert (out[20:90, 40:100] == 0).all()
    outside = np.ones(frame.shape[:2], bool)
    outside[20:90, 40:100] = False
    assert np.array_equal(out[outside], frame[outside])


def test_feather_changes_only_the_lower_face_and_hides_the_box_edge():
    frame, box = _frame(), (40, 20, 100, 90)
    crop = np.zeros((70, 60, 3), np.uint8)
    for landmarks in (_landmarks(box), None):
        out = composite(frame, crop, box, landmarks, "feather")
        changed = np.abs(out.astype(int) - frame).max(axis=2) > 0
        rows, cols = np.nonzero(changed)
        assert rows.size > 0
        assert rows.min() >= 20 + 0.3 * 70, "the upper face must stay"
        assert rows.max() < 90 and cols.min() >= 40 and cols.max() < 100
        mask = lower_face_mask(box, landmarks)
        assert mask[0].max() == mask[-1].max() == mask[:, 0].max() == mask[:, -1].max() == 0
        assert mask.max() > 0.95, "the mouth itself is fully replaced"


def test_no_crop_leaves_the_frame_alone():
    frame = _frame()
    assert composite(frame, None, None, None, "feather") is frame
