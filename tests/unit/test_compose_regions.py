"""Region boxes, soft masks, pasting (feather, box, Poisson) and the debug overlay, on the
astronaut portrait with real FaceMesh landmarks."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from lipsync.compose.blend import LOWER_FACE_INDICES
from lipsync.compose.debug import mask_overlay
from lipsync.compose.regions import (
    mouth_interior_mask,
    paste_region,
    poisson_source,
    region_box,
    region_mask,
)
from lipsync.errors import InputError, OptionsError
from lipsync.faces import mouth as facemesh

SIZE = (384, 384)
LIPS = facemesh.LIPS_OUTER + facemesh.LIPS_INNER


@pytest.fixture(scope="module")
def face(portrait_face: Callable) -> tuple[np.ndarray, np.ndarray]:
    """The portrait (uint8 RGB 384×384, inter-ocular distance ≈ 100 px) and its landmarks."""
    return portrait_face(SIZE)


def _in_box(points: np.ndarray, box: tuple[int, int, int, int], margin: float) -> bool:
    x1, y1, x2, y2 = box
    xs, ys = points[:, 0], points[:, 1]
    return bool(
        (xs >= x1 + margin).all()
        and (xs < x2 - margin).all()
        and (ys >= y1 + margin).all()
        and (ys < y2 - margin).all()
    )


def _at(mask: np.ndarray, box: tuple[int, int, int, int], points: np.ndarray) -> np.ndarray:
    """The mask's values at frame points (K, 2+)."""
    cols = np.floor(points[:, 0] - box[0]).astype(int)
    rows = np.floor(points[:, 1] - box[1]).astype(int)
    return mask[rows, cols]


def _opened(landmarks: np.ndarray, drop: float) -> np.ndarray:
    """The landmarks with the lower lip, chin and jaw dropped by ``drop`` inter-ocular
    distances at the chin (less towards the ears): a mouth opened wider than the input's."""
    moved = landmarks.copy()
    iod = float(facemesh.inter_ocular(landmarks))
    nose_y, chin_y = landmarks[facemesh.NOSE_TIP, 1], landmarks[facemesh.CHIN, 1]
    lower = set(facemesh.LIPS_OUTER_LOWER[1:-1] + facemesh.LIPS_INNER_LOWER[1:-1])
    lower |= set(LOWER_FACE_INDICES[:17])
    for index in lower:
        share = np.clip((landmarks[index, 1] - nose_y) / (chin_y - nose_y), 0, 1)
        moved[index, 1] += drop * iod * share
    return moved


def test_boxes_hold_the_lips_and_jaw_and_the_face_with_a_margin(face):
    _, landmarks = face
    iod = float(facemesh.inter_ocular(landmarks))
    mouth = region_box(landmarks, "mouth", SIZE)
    assert all(isinstance(v, int) for v in mouth)
    assert _in_box(landmarks[list(LOWER_FACE_INDICES + LIPS)], mouth, 0.2 * iod)
    # Room below the chin for a mouth opened wider than the input's.
    assert mouth[3] >= landmarks[facemesh.CHIN, 1] + 0.4 * iod
    assert mouth[1] > landmarks[facemesh.EYE_OUTER_LEFT, 1] - 0.1 * iod, "a mouth box, not a face"
    face_box = region_box(landmarks, "face", SIZE)
    assert _in_box(landmarks[list(facemesh.FACE_OVAL)], face_box, 0.3 * iod)
    assert region_box(landmarks, "frame", SIZE) == (0, 0, *SIZE)


def test_boxes_stay_in_the_frame_and_a_face_outside_is_an_error(face):
    _, landmarks = face
    for shift in ((-150, 0), (150, 0), (0, 120), (-130, -120)):
        moved = landmarks.copy()
        moved[:, :2] += shift
        for region in ("mouth", "face"):
            x1, y1, x2, y2 = region_box(moved, region, SIZE)
            assert 0 <= x1 < x2 <= SIZE[0] and 0 <= y1 < y2 <= SIZE[1]
    far = landmarks.copy()
    far[:, 0] += 2000
    with pytest.raises(InputError, match="outside"):
        region_box(far, "mouth", SIZE)
    with pytest.raises(InputError, match="NaN"):
        region_box(np.full((468, 3), np.nan, np.float32), "mouth", SIZE)
    with pytest.raises(OptionsError, match="region"):
        region_box(landmarks, "neck", SIZE)


def test_mouth_mask_covers_lips_and_jaw_even_opened_wider_and_never_the_nose(face):
    _, landmarks = face
    box = region_box(landmarks, "mouth", SIZE)
    mask = region_mask(box, landmarks, "mouth")
    assert mask.dtype == np.float32 and mask.shape == (box[3] - box[1], box[2] - box[0])
    assert mask.min() == 0.0 and mask.max() == 1.0
    assert (_at(mask, box, landmarks[list(LIPS)]) >= 0.99).all(), "the lips are fully replaced"
    jaw = list(LOWER_FACE_INDICES[:17])
    assert (_at(mask, box, landmarks[jaw]) >= 0.95).all(), "the jaw line is replaced"
    opened = _opened(landmarks, 0.25)
    moved = sorted({*jaw, *facemesh.LIPS_OUTER_LOWER, facemesh.CHIN})
    assert (_at(mask, box, opened[moved]) >= 0.95).all(), "a wider-open jaw is covered too"
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    assert border.max() == 0.0
    # Nothing of the nose (at or above its tip, between its wings), nor above the cheeks.
    nose_row = int(np.floor(landmarks[facemesh.NOSE_TIP, 1])) - box[1]
    left, right = landmarks[[98, 327], 0] - box[0]  # the nose wings
    middle = slice(int(left + 0.2 * (right - left)), int(right - 0.2 * (right - left)))
    assert mask[: nose_row + 1, middle].max() == 0.0
    cheek_row = int(np.floor(landmarks[[93, 323], 1].min())) - box[1]
    assert mask[:cheek_row].max() == 0.0


def test_face_mask_covers_the_face_and_frame_mask_everything(face):
    _, landmarks = face
    box = region_box(landmarks, "face", SIZE)
    mask = region_mask(box, landmarks, "face")
    inner = [33, 263, 133, 362, facemesh.NOSE_TIP, *LIPS]
    assert (_at(mask, box, landmarks[inner]) >= 0.99).all()
    assert max(mask[0].max(), mask[-1].max(), mask[:, 0].max(), mask[:, -1].max()) == 0.0
    full = region_mask((0, 0, *SIZE), landmarks, "frame")
    assert full.shape == (SIZE[1], SIZE[0]) and (full == 1.0).all()


def test_feather_scales_with_the_face(face):
    _, landmarks = face
    box = region_box(landmarks, "mouth", SIZE)
    mask = region_mask(box, landmarks, "mouth")
    double = landmarks.copy()
    double[:, :2] *= 2
    big_box = tuple(2 * v for v in box)
    big = region_mask(big_box, double, "mouth")  # type: ignore[arg-type]
    shrunk = cv2.resize(big, mask.shape[::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk - mask).mean() < 0.01

    def transition(m: np.ndarray) -> int:
        return int(((m > 0.05) & (m < 0.95)).sum())

    assert 3.0 < transition(big) / transition(mask) < 5.0, "a feather twice as wide"


def test_masks_without_landmarks_fall_back_to_an_ellipse():
    box = (10, 20, 110, 140)
    for kind in ("mouth", "face"):
        mask = region_mask(box, None, kind)
        assert mask.shape == (120, 100) and mask.max() == 1.0
        assert max(mask[0].max(), mask[-1].max(), mask[:, 0].max(), mask[:, -1].max()) == 0.0
    assert region_mask(box, None, "mouth")[:40].max() == 0.0, "the mouth sits low in the box"
    assert not mouth_interior_mask(box, None).any()
    with pytest.raises(OptionsError, match="kind"):
        region_mask(box, None, "eyes")


def test_mouth_interior_mask_covers_the_lips_and_their_reach_only(face):
    _, landmarks = face
    box = region_box(landmarks, "mouth", SIZE)
    interior = mouth_interior_mask(box, landmarks)
    assert (_at(interior, box, landmarks[list(LIPS)]) >= 0.99).all()
    assert (
        _at(interior, box, _opened(landmarks, 0.25)[list(facemesh.LIPS_OUTER_LOWER)]) > 0.9
    ).all()
    cheeks = landmarks[[205, 425]]  # beside the nose wings, well away from the lips
    assert (_at(interior, box, cheeks) == 0).all()


def _textured(shape: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (shape[0] // 8, shape[1] // 8, 3), dtype=np.uint8)
    return cv2.resize(small, shape[::-1], interpolation=cv2.INTER_CUBIC)


def test_paste_modes_replace_what_the_mask_says(face):
    frame, landmarks = face
    box = region_box(landmarks, "mouth", SIZE)
    x1, y1, x2, y2 = box
    mask = region_mask(box, landmarks, "mouth")
    crop = _textured((y2 - y1, x2 - x1), 1)
    outside_box = np.ones(frame.shape[:2], bool)
    outside_box[y1:y2, x1:x2] = False

    boxed = paste_region(frame, crop, box, mask, "box")
    assert np.array_equal(boxed[y1:y2, x1:x2], crop)
    assert np.array_equal(boxed[outside_box], frame[outside_box])

    for mode in ("feather", "poisson"):
        out = paste_region(frame, crop, box, mask, mode)
        assert np.array_equal(out[outside_box], frame[outside_box])
        region = out[y1:y2, x1:x2]
        assert np.array_equal(region[mask == 0], frame[y1:y2, x1:x2][mask == 0]), mode
    feathered = paste_region(frame, crop, box, mask, "feather")
    assert np.array_equal(feathered[y1:y2, x1:x2][mask == 1], crop[mask == 1])


def test_poisson_removes_a_tone_offset_without_a_seam(face):
    frame, landmarks = face
    box = region_box(landmarks, "mouth", SIZE)
    x1, y1, x2, y2 = box
    mask = region_mask(box, landmarks, "mouth")
    original = frame[y1:y2, x1:x2].astype(int)
    # The enhanced crop: the same picture, brighter and warmer, as a GAN restorer might give.
    brighter = np.clip(original + np.array([40, 25, 10]), 0, 255).astype(np.uint8)
    feathered = paste_region(frame, brighter, box, mask, "feather")[y1:y2, x1:x2].astype(int)
    poisson = paste_region(frame, brighter, box, mask, "poisson")[y1:y2, x1:x2].astype(int)
    core = mask == 1
    assert np.abs(feathered - original)[core].mean() > 20
    assert np.abs(poisson - original)[core].mean() < 4, "the offset is gone"
    # No seam: the feather's fade band shows the offset half-way; after Poisson it is gone
    # there too, and the picture changes across the band no more than the frame itself does.
    band = (mask > 0) & (mask < 1)
    assert np.abs(feathered - original)[band].mean() > 8
    assert np.abs(poisson - original)[band].mean() < 3
    step = np.abs(np.diff(poisson, axis=0))[band[1:]].mean()
    assert step < np.abs(np.diff(original, axis=0))[band[1:]].mean() + 0.5


def test_poisson_on_a_small_box_is_solved_at_full_resolution():
    frame = _textured((200, 200), 3)
    box = (50, 50, 150, 130)
    mask = region_mask(box, None, "mouth")
    original = frame[50:130, 50:150].astype(int)
    darker = np.clip(original - 30, 0, 255).astype(np.uint8)
    out = paste_region(frame, darker, box, mask, "poisson")[50:130, 50:150].astype(int)
    inside = (mask > 0) & (original >= 30).all(axis=2)
    assert np.abs(out - original)[inside].mean() < 2


def test_poisson_falls_back_to_feather_at_the_border_or_for_a_speck(face):
    frame, _ = face
    box = (100, 100, 180, 160)
    crop = _textured((60, 80), 2)
    full = np.ones((60, 80), np.float32)
    assert poisson_source(frame[100:160, 100:180], crop, full) is crop
    assert np.array_equal(
        paste_region(frame, crop, box, full, "poisson"), paste_region(frame, crop, box, full, "box")
    )
    speck = np.zeros((60, 80), np.float32)
    speck[30:33, 40:43] = 1.0
    assert poisson_source(frame[100:160, 100:180], crop, speck) is crop


def test_paste_rejects_mismatched_inputs(face):
    frame, _ = face
    box = (100, 100, 180, 160)
    mask = np.ones((60, 80), np.float32)
    with pytest.raises(InputError, match="crop"):
        paste_region(frame, np.zeros((50, 80, 3), np.uint8), box, mask, "feather")
    with pytest.raises(InputError, match="inside"):
        paste_region(frame, np.zeros((60, 80, 3), np.uint8), (350, 100, 430, 160), mask, "box")
    with pytest.raises(OptionsError, match="mode"):
        paste_region(frame, np.zeros((60, 80, 3), np.uint8), box, mask, "alpha")


def test_overlay_marks_the_mask_area_only(face):
    frame, landmarks = face
    box = region_box(landmarks, "mouth", SIZE)
    x1, y1, x2, y2 = box
    mask = region_mask(box, landmarks, "mouth")
    out = mask_overlay(frame, box, mask)
    outside_box = np.ones(frame.shape[:2], bool)
    outside_box[y1:y2, x1:x2] = False
    assert np.array_equal(out[outside_box], frame[outside_box])
    changed = np.abs(out[y1:y2, x1:x2].astype(int) - frame[y1:y2, x1:x2]).max(axis=2) > 8
    assert changed[mask > 0.5].mean() > 0.95, "the replaced area is tinted"
    # Away from the mask and from the box outline, nothing changes.
    quiet = (mask == 0).copy()
    quiet[:6], quiet[-6:], quiet[:, :6], quiet[:, -6:] = False, False, False, False
    assert not changed[quiet].any()
    assert np.array_equal(mask_overlay(frame, None, None), frame)
