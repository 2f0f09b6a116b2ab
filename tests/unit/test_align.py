"""FFHQ five-point alignment from FaceMesh, and pasting the aligned square back."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from lipsync import samples
from lipsync.enhance.align import (
    FFHQ_TEMPLATE_512,
    align_face,
    alignment_matrix,
    face_points,
    paste_aligned,
    paste_mask,
    template,
)
from lipsync.errors import InputError

SIZE = (384, 384)


@pytest.fixture(scope="module")
def face(portrait_face: Callable) -> tuple[np.ndarray, np.ndarray]:
    """The astronaut portrait (uint8 RGB 384×384) and its FaceMesh landmarks."""
    return portrait_face(SIZE)


@pytest.fixture(scope="module")
def rolled_face(landmarks_of: Callable) -> tuple[np.ndarray, np.ndarray]:
    """The portrait rolled by 25° and shrunk, and its landmarks."""
    frame = samples.portrait(SIZE)
    matrix = cv2.getRotationMatrix2D((SIZE[0] / 2, SIZE[1] / 2), 25.0, 0.8)
    rolled = cv2.warpAffine(frame, matrix, SIZE, borderMode=cv2.BORDER_REFLECT)
    return rolled, landmarks_of(rolled)


def test_the_five_points_are_in_the_templates_order(face: tuple[np.ndarray, np.ndarray]) -> None:
    _, landmarks = face
    points = face_points(landmarks)
    assert points.shape == (5, 2)
    left_eye, right_eye, nose, left_mouth, right_mouth = points
    assert left_eye[0] < nose[0] < right_eye[0]
    assert left_mouth[0] < nose[0] < right_mouth[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])
    # Her eyes are about 70 px apart in the 384² portrait.
    assert 50 < right_eye[0] - left_eye[0] < 100


def test_alignment_puts_the_points_on_the_template(face: tuple[np.ndarray, np.ndarray]) -> None:
    frame, landmarks = face
    aligned = align_face(frame, landmarks, 512)
    assert aligned.image.shape == (512, 512, 3) and aligned.image.dtype == np.uint8
    assert aligned.matrix.shape == (2, 3) and aligned.size == 512
    mapped = cv2.transform(face_points(landmarks)[None], aligned.matrix)[0]
    # A similarity cannot fit five points exactly (her smile is wider than FFHQ's average
    # mouth), but the eyes land within a few pixels of the template.
    assert np.abs(mapped[:2] - FFHQ_TEMPLATE_512[:2]).max() < 8
    assert np.abs(mapped - FFHQ_TEMPLATE_512).max() < 16


def test_template_scales_with_the_size() -> None:
    np.testing.assert_allclose(template(256), FFHQ_TEMPLATE_512 / 2)
    matrix = alignment_matrix(FFHQ_TEMPLATE_512 / 4, 512)
    np.testing.assert_allclose(matrix, [[4, 0, 0], [0, 4, 0]], atol=1e-6)


def test_a_rolled_face_aligns_like_the_upright_one(
    face: tuple[np.ndarray, np.ndarray], rolled_face: tuple[np.ndarray, np.ndarray]
) -> None:
    upright = align_face(*face, size=256).image.astype(np.float32)
    rolled = align_face(*rolled_face, size=256).image.astype(np.float32)
    centre = (slice(64, 192), slice(64, 192))  # the eyes, nose and mouth
    difference = np.abs(upright[centre] - rolled[centre]).mean()
    unaligned = np.abs(upright[centre] - np.roll(upright, 12, axis=0)[centre]).mean()
    assert difference < 0.5 * unaligned
    assert difference < 12


@pytest.mark.parametrize("fixture", ["face", "rolled_face"])
def test_pasting_the_aligned_face_back_reproduces_the_image(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    frame, landmarks = request.getfixturevalue(fixture)
    aligned = align_face(frame, landmarks, 512)
    pasted = paste_aligned(frame, aligned.image, aligned.matrix)
    assert pasted.shape == frame.shape and pasted.dtype == np.uint8
    mask = paste_mask(aligned.matrix, (frame.shape[1], frame.shape[0]), 512)
    difference = np.abs(pasted.astype(np.int16) - frame).max(axis=2)
    face_area = mask > 0.99
    assert face_area.mean() > 0.2, "the face square must cover a good part of the portrait"
    # Resampling there and back blurs a little; nothing else changes.
    assert difference[face_area].mean() < 2.0
    assert np.percentile(difference[face_area], 99) < 12
    assert not difference[mask == 0].any(), "pixels outside the mask must stay exactly"


def test_pasting_changes_only_inside_the_mask(face: tuple[np.ndarray, np.ndarray]) -> None:
    frame, landmarks = face
    before = frame.copy()
    aligned = align_face(frame, landmarks, 512)
    white = np.full_like(aligned.image, 255)
    pasted = paste_aligned(frame, white, aligned.matrix, mask_scale=0.5)
    assert np.array_equal(frame, before), "the input must not be modified"
    mask = paste_mask(aligned.matrix, SIZE, 512, mask_scale=0.5)
    changed = np.abs(pasted.astype(np.int16) - frame).max(axis=2) > 0
    assert changed.any() and not (changed & (mask == 0)).any()
    nose = np.round(face_points(landmarks)[2]).astype(int)
    assert (pasted[nose[1], nose[0]] == 255).all()


def test_the_mask_is_soft_and_scales(face: tuple[np.ndarray, np.ndarray]) -> None:
    frame, landmarks = face
    matrix = align_face(frame, landmarks, 512).matrix
    full = paste_mask(matrix, SIZE, 512)
    half = paste_mask(matrix, SIZE, 512, mask_scale=0.5)
    assert full.dtype == np.float32 and full.shape == SIZE
    assert full.min() >= 0 and full.max() <= 1
    assert ((full > 0.01) & (full < 0.99)).sum() > 500, "the edge must fade, not step"
    assert half.sum() < 0.4 * full.sum()
    hard = paste_mask(matrix, SIZE, 512, feather=0.0)
    assert ((hard > 0.01) & (hard < 0.99)).sum() < ((full > 0.01) & (full < 0.99)).sum()


def test_bad_inputs_are_refused(face: tuple[np.ndarray, np.ndarray]) -> None:
    frame, landmarks = face
    with pytest.raises(InputError, match="468"):
        face_points(landmarks[:100])
    with pytest.raises(InputError, match="uint8 RGB"):
        align_face(frame.astype(np.float32), landmarks)
    with pytest.raises(InputError, match="degenerate"):
        alignment_matrix(np.zeros((5, 2)))
    aligned = align_face(frame, landmarks, 64)
    with pytest.raises(InputError, match="mask_scale"):
        paste_aligned(frame, aligned.image, aligned.matrix, mask_scale=0.0)
    with pytest.raises(InputError, match="square"):
        paste_aligned(frame, aligned.image[:32], aligned.matrix)
