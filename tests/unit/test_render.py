"""The built-in engine's mouth renderer, on the astronaut portrait and FaceMesh landmarks."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from lipsync import samples
from lipsync.compose.warp import flipped
from lipsync.engines.builtin.mouth_mesh import _TRIANGLES, mouth_mesh, triangulate_canonical
from lipsync.engines.builtin.render import MouthRenderer, MouthSample, cut_sample
from lipsync.errors import InputError, OptionsError
from lipsync.faces import mouth as facemesh

SIZE = (384, 384)


@pytest.fixture(scope="module")
def face(portrait_face: Callable) -> tuple[np.ndarray, np.ndarray]:
    """The portrait (uint8 RGB 384×384, inter-ocular distance ≈ 100 px) and its landmarks."""
    return portrait_face(SIZE)


@pytest.fixture(scope="module")
def moved_face(landmarks_of: Callable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The portrait turned by 8° and shifted, its landmarks, and the (2, 3) matrix used."""
    frame = samples.portrait(SIZE)
    matrix = cv2.getRotationMatrix2D((SIZE[0] / 2, SIZE[1] / 2), 8.0, 0.95)
    matrix[:, 2] += (14.0, -9.0)
    moved = cv2.warpAffine(
        frame, matrix, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return moved, landmarks_of(moved), matrix


def _polygon_mask(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points[:, :2] - 0.5).astype(np.int32)], 1)
    return mask.astype(bool)


def _luma(image: np.ndarray, mask: np.ndarray) -> float:
    return float((image.astype(np.float32) @ [0.299, 0.587, 0.114])[mask].mean())


def test_the_frame_as_its_own_sample_gives_the_frame_back(
    face: tuple[np.ndarray, np.ndarray],
) -> None:
    frame, landmarks = face
    renderer = MouthRenderer()
    out = renderer.render(frame, landmarks, [(cut_sample(frame, landmarks), 1.0)])
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - frame).mean() < 0.05


def test_only_the_replaced_region_changes_and_the_input_stays(
    face: tuple[np.ndarray, np.ndarray], moved_face: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    frame, landmarks = face
    moved, moved_landmarks, _ = moved_face
    before = frame.copy()
    sample = cut_sample(moved, moved_landmarks)
    rendered = MouthRenderer().render_layers(frame, landmarks, [(sample, 1.0)], extra_open=0.1)
    assert np.array_equal(frame, before), "the input frame must not be modified"
    changed = np.abs(rendered.frame.astype(int) - frame).max(axis=2) > 0
    replaced = (rendered.alpha > 0) | rendered.warped
    assert changed.any()
    assert not (changed & ~replaced).any(), "pixels outside the replaced region must stay"
    assert rendered.box is not None
    x1, y1, x2, y2 = rendered.box
    outside = np.ones(changed.shape, bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(rendered.frame[outside], frame[outside])
    # The region is the lower face: the eyes and the nose stay.
    eyes = int(max(landmarks[facemesh.EYE_OUTER_LEFT, 1], landmarks[facemesh.EYE_OUTER_RIGHT, 1]))
    assert not changed[: eyes + 5].any()
    left, right = int(landmarks[98, 0]), int(landmarks[327, 0])
    assert not changed[: int(landmarks[2, 1]) - 2, left:right].any()


def test_the_mask_covers_the_mouth_and_fades_out(face: tuple[np.ndarray, np.ndarray]) -> None:
    frame, landmarks = face
    mask = MouthRenderer().mask(frame.shape, landmarks, [(cut_sample(frame, landmarks), 1.0)])
    assert mask.shape == frame.shape[:2] and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    lips = _polygon_mask(landmarks[list(facemesh.LIPS_OUTER_UPPER)], frame.shape)
    lips |= _polygon_mask(landmarks[list(facemesh.LIPS_OUTER_LOWER)], frame.shape)
    assert mask[lips].min() > 0.7  # the upper lip's top edge may fade towards the nose
    lower_lip = _polygon_mask(landmarks[list(facemesh.LIPS_OUTER_LOWER)], frame.shape)
    assert mask[lower_lip].min() > 0.9
    assert mask[lower_lip].mean() > 0.98
    assert mask[: int(landmarks[facemesh.NOSE_TIP, 1])].max() < 0.02
    assert mask[:, :20].max() == mask[:, -20:].max() == 0.0


def test_extra_opening_opens_the_mouth_with_a_dark_inside(
    face: tuple[np.ndarray, np.ndarray], landmarks_of: Callable
) -> None:
    frame, landmarks = face
    sample = cut_sample(frame, landmarks)
    out = MouthRenderer().render(frame, landmarks, [(sample, 1.0)], extra_open=0.15)
    measured = landmarks_of(out)
    before = float(facemesh.lip_opening(landmarks))
    after = float(facemesh.lip_opening(measured))
    assert after > before + 0.07, f"opening {before:.3f} -> {after:.3f}"

    inner = np.concatenate(
        [measured[list(facemesh.LIPS_INNER_UPPER)], measured[list(facemesh.LIPS_INNER_LOWER)][::-1]]
    )
    outer = np.concatenate(
        [measured[list(facemesh.LIPS_OUTER_UPPER)], measured[list(facemesh.LIPS_OUTER_LOWER)][::-1]]
    )
    cavity = cv2.erode(_polygon_mask(inner, out.shape).astype(np.uint8), np.ones((3, 3))) > 0
    lips = _polygon_mask(outer, out.shape) & ~_polygon_mask(inner, out.shape)
    assert cavity.sum() > 50
    assert _luma(out, cavity) < _luma(out, lips) - 10


def test_a_turned_and_shifted_sample_lands_on_the_mouth(
    face: tuple[np.ndarray, np.ndarray], moved_face: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    frame, landmarks = face
    moved, moved_landmarks, _ = moved_face
    sample = cut_sample(moved, moved_landmarks)
    out = MouthRenderer().render(frame, landmarks, [(sample, 1.0)])
    outer = np.concatenate(
        [
            landmarks[list(facemesh.LIPS_OUTER_UPPER)],
            landmarks[list(facemesh.LIPS_OUTER_LOWER)][::-1],
        ]
    )
    mouth = cv2.dilate(_polygon_mask(outer, frame.shape).astype(np.uint8), np.ones((9, 9))) > 0
    error = np.abs(out.astype(float) - frame)[mouth].mean()
    # The same face, resampled twice: close to the original; a mouth off by a few pixels or
    # doubled lips would differ as much as the unaligned sample does.
    unaligned = np.abs(moved.astype(float) - frame)[mouth].mean()
    assert error < 8.0 and error < unaligned / 3, (error, unaligned)


def test_two_samples_cross_fade_without_doubling(
    face: tuple[np.ndarray, np.ndarray], moved_face: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> None:
    frame, landmarks = face
    moved, moved_landmarks, _ = moved_face
    own, other = cut_sample(frame, landmarks), cut_sample(moved, moved_landmarks)
    renderer = MouthRenderer()
    half = renderer.render(frame, landmarks, [(own, 1.0), (other, 1.0)])  # weights normalised
    lips = _polygon_mask(landmarks[list(facemesh.LIPS_OUTER_UPPER)], frame.shape)
    assert np.abs(half.astype(float) - frame)[lips].mean() < 8.0
    only_own = renderer.render(frame, landmarks, [(own, 1.0), (other, 0.0)])
    assert np.abs(only_own.astype(int) - frame).mean() < 0.05


def test_a_large_frame_is_sampled_small(face: tuple[np.ndarray, np.ndarray]) -> None:
    frame, landmarks = face
    big = cv2.resize(frame, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    big_landmarks = landmarks * np.float32(3)
    sample = cut_sample(big, big_landmarks, max_inter_ocular_px=120)
    assert float(facemesh.inter_ocular(sample.landmarks)) == pytest.approx(120, rel=0.02)
    assert sample.image.shape[0] < big.shape[0] / 2
    # The points still sit on the same features: the lips' colour is found under them.
    small = cut_sample(frame, landmarks)
    lips = list(facemesh.LIPS_OUTER_LOWER[2:-2])

    def colour(s: MouthSample) -> np.ndarray:
        points = np.round(s.landmarks[lips, :2] - 0.5).astype(int)
        return s.image[points[:, 1], points[:, 0]].astype(float).mean(axis=0)

    assert np.abs(colour(sample) - colour(small)).max() < 12
    out = MouthRenderer().render(big, big_landmarks, [(sample, 1.0)])
    assert out.shape == big.shape


def test_faces_at_the_edge_or_too_small(face: tuple[np.ndarray, np.ndarray]) -> None:
    frame, landmarks = face
    renderer = MouthRenderer()
    # The chin and jaw reach beyond the frame's bottom.
    cut = int(landmarks[facemesh.CHIN, 1]) - 15
    top = np.ascontiguousarray(frame[:cut])
    sample = cut_sample(top, landmarks)
    out = renderer.render(top, landmarks, [(sample, 1.0)], extra_open=0.1)
    assert out.shape == top.shape
    tiny = cv2.resize(frame, (32, 32), interpolation=cv2.INTER_AREA)
    tiny_landmarks = landmarks * np.float32(32 / SIZE[0])
    tiny_out = renderer.render(tiny, tiny_landmarks, [(cut_sample(tiny, tiny_landmarks), 1.0)])
    assert np.array_equal(tiny_out, tiny)


def test_bad_input_is_refused(face: tuple[np.ndarray, np.ndarray]) -> None:
    frame, landmarks = face
    renderer = MouthRenderer()
    sample = cut_sample(frame, landmarks)
    with pytest.raises(InputError, match="at least one"):
        renderer.render(frame, landmarks, [])
    with pytest.raises(OptionsError, match="weights"):
        renderer.render(frame, landmarks, [(sample, -1.0)])
    with pytest.raises(OptionsError, match="extra_open"):
        renderer.render(frame, landmarks, [(sample, 1.0)], extra_open=-0.1)
    with pytest.raises(InputError, match="frame"):
        renderer.render(frame.astype(np.float32), landmarks, [(sample, 1.0)])
    with pytest.raises(InputError, match="not finite"):
        renderer.render(frame, np.full_like(landmarks, np.nan), [(sample, 1.0)])
    with pytest.raises(InputError, match="sample image"):
        MouthSample(np.zeros((4, 4), np.uint8), landmarks)
    with pytest.raises(OptionsError, match="feather"):
        MouthRenderer(feather=5.0)


def test_the_stored_triangulation_is_the_canonical_faces_delaunay() -> None:
    # Stored so that a run need not import scipy; it must stay what scipy computes.
    assert np.array_equal(triangulate_canonical(), np.array(_TRIANGLES, np.int32))


def test_the_mesh_never_folds_as_the_mouth_opens() -> None:
    mesh = mouth_mesh()
    canonical = mesh.canonical.copy()
    solid = ~mesh.cavity
    # The renderer opens by at most 0.4 inter-ocular distances beyond its samples.
    for opening in (0.0, 0.1, 0.3, 0.5):
        opened = canonical.copy()
        opened[: mesh.size, 1] += opening * mesh.opening
        assert not flipped(canonical, opened, mesh.triangles)[solid].any(), opening
    # Every triangle moves something; the mouth's cavity has triangles of its own.
    assert mesh.cavity.sum() >= 10 and mesh.appearance.sum() > len(mesh.triangles) / 2
