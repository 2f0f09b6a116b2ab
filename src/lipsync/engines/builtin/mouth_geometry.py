"""Where the mouth goes: the target geometry of the renderer's mesh for one output frame.

Each source mouth is carried into the current head pose by the similarity of the rigid upper
face, pinned at the nose's base, and the sources are averaged by weight. The lips and the ring
of skin around them take the result as it is; the chin, cheeks and jaw line follow smoothly
(``MouthMesh.spread``), the jaw's sides only partly, so the face outline stays the current
frame's. An extra opening moves the lower lip and the jaw further down, and no triangle is
allowed to fold over where it matters.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...compose.warp import signed_areas
from ...faces import mouth as facemesh
from .inner_mouth import MouthFrame
from .mouth_mesh import ANCHOR_BASE, ANCHOR_CENTRE, MouthMesh, anchor_points
from .mouth_sample import MouthSample

Box = tuple[int, int, int, int]
_NOSE_BASE = (2, 98, 327)  # rigid and right above the mouth: where the sources are pinned
_MAX_STRAIN = 0.5  # see _limit_strain
_GAP_UPPER = tuple(upper for upper, _ in facemesh.INNER_LIP_PAIRS)
_GAP_LOWER = tuple(lower for _, lower in facemesh.INNER_LIP_PAIRS)


def align_sample(sample_landmarks: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """float64 (2, 3): the similarity that carries a sample's points into the current frame.

    Rotation and scale come from the rigid upper face (``faces.mouth.pose_transform``); the
    translation is then corrected so that the nose's base coincides, which keeps the upper
    lip in place when the head is pitched differently in the two frames.
    """
    matrix = facemesh.pose_transform(sample_landmarks, landmarks)
    base = list(_NOSE_BASE)
    moved = facemesh.apply_affine(matrix, sample_landmarks[base, :2])
    matrix[:, 2] += (landmarks[base, :2] - moved).mean(axis=0)
    return matrix


@dataclass(frozen=True)
class Source:
    """One source mouth: its ``sample``, ``weight``, its mesh points (float64 (K, 2), sample
    pixels), ``matrix`` (float64 (2, 3)), the similarity carrying it into the frame, and
    ``placed`` (float64 (K, 2)), its points carried there."""

    sample: MouthSample
    weight: float
    points: np.ndarray
    matrix: np.ndarray
    placed: np.ndarray


@dataclass(frozen=True)
class MouthGeometry:
    """The mesh in the current frame and where it goes, in continuous frame pixels.

    ``current``, ``target``: float64 (K + A, 2), FaceMesh points then anchors. ``axes``: the
    current mouth's axes. ``iod``: inter-ocular distance in pixels. ``folded``: bool (T,),
    the triangles that ``target`` turns over (``compose.warp.flipped``).
    """

    current: np.ndarray
    target: np.ndarray
    sources: list[Source]
    axes: MouthFrame
    iod: float
    folded: np.ndarray

    @functools.cached_property
    def moving(self) -> np.ndarray:
        """bool (K + A,): the points that ``target`` moves (by more than a thousandth of a
        pixel)."""
        return np.linalg.norm(self.target - self.current, axis=1) > 1e-3


def target_geometry(
    mesh: MouthMesh,
    landmarks: np.ndarray,
    samples: Sequence[tuple[MouthSample, float]],
    extra_open: float,
    anchor_margin: float,
) -> MouthGeometry:
    """The geometry for ``samples`` (weights summing to 1) in the face of ``landmarks``
    (float (468, 2+), frame pixels), opened ``extra_open`` inter-ocular distances further;
    anchors ``anchor_margin`` inter-ocular distances beyond the jaw line."""
    iod = float(facemesh.inter_ocular(landmarks))
    current = np.asarray(landmarks[mesh.indices, :2], np.float64)
    sources = []
    mapped = np.zeros_like(current)
    for sample, weight in samples:
        points = np.asarray(sample.landmarks[mesh.indices, :2], np.float64)
        matrix = align_sample(sample.landmarks, landmarks)
        placed = facemesh.apply_affine(matrix, points)
        mapped += weight * placed
        sources.append(Source(sample, weight, points, matrix, placed))
    axes = mouth_axes(landmarks)
    shift = mesh.spread @ (mapped - current)
    across = (shift @ axes.across)[:, None] * mesh.follow_lateral[:, None] * axes.across
    down = (shift @ axes.down)[:, None] * mesh.follow_vertical[:, None] * axes.down
    target = current + across + down
    target += (extra_open * iod * mesh.opening)[:, None] * axes.down

    anchors = face_anchors(landmarks, axes, anchor_margin * iod)
    target = _limit_strain(mesh, current, target, anchors)
    current_all = np.concatenate([current, anchors])
    target_all, folded = unfold(current_all, np.concatenate([target, anchors]), mesh)
    return MouthGeometry(current_all, target_all, sources, axes, iod, folded)


def _limit_strain(
    mesh: MouthMesh, current: np.ndarray, target: np.ndarray, anchors: np.ndarray
) -> np.ndarray:
    """``target`` (K, 2) with the points around the mouth moved at most half their distance
    to the nearest point that stays (the nose's base, the cheeks beside it, the anchors).

    Otherwise a cheek point pulled along by a wide mouth can squash the thin triangles of a
    turned head's far side, which warps the skin there sharply.
    """
    free = ~mesh.core & (mesh.follow_lateral + mesh.follow_vertical > 0)
    still = np.concatenate([current[~free & ~mesh.core], anchors])
    distance = np.linalg.norm(current[free, None, :] - still[None, :, :], axis=-1).min(axis=1)
    shift = target[free] - current[free]
    length = np.maximum(np.linalg.norm(shift, axis=1), 1e-9)
    scale = np.minimum(1.0, _MAX_STRAIN * distance / length)
    limited = target.copy()
    limited[free] = current[free] + shift * scale[:, None]
    return limited


def face_anchors(landmarks: np.ndarray, axes: MouthFrame, margin: float) -> np.ndarray:
    """float64 (A, 2): the points beyond the jaw line of ``landmarks`` that hold the neck and
    background still (``mouth_mesh.anchor_points``, ``margin`` pixels out)."""
    return anchor_points(
        np.asarray(landmarks[list(ANCHOR_BASE), :2], np.float64),
        np.asarray(landmarks[ANCHOR_CENTRE, :2], np.float64),
        axes.down,
        margin,
    )


def mouth_axes(landmarks: np.ndarray) -> MouthFrame:
    """The axes of the mouth of ``landmarks`` (float (468, 2+)): across along the eye line."""
    eyes = landmarks[facemesh.EYE_OUTER_RIGHT, :2] - landmarks[facemesh.EYE_OUTER_LEFT, :2]
    across = np.asarray(eyes, np.float64) / max(float(np.linalg.norm(eyes)), 1e-9)
    down = np.array([-across[1], across[0]])
    left = np.asarray(landmarks[facemesh.INNER_LEFT, :2], np.float64)
    right = np.asarray(landmarks[facemesh.INNER_RIGHT, :2], np.float64)
    return MouthFrame((left + right) / 2, across, down, float(np.linalg.norm(right - left)) / 2)


def unfold(
    current: np.ndarray, target: np.ndarray, mesh: MouthMesh
) -> tuple[np.ndarray, np.ndarray]:
    """``target``, pulled back towards ``current`` where the move would fold triangles over,
    and the triangles it still turns over (bool (T,)).

    On a turned head the far cheek is foreshortened into thin triangles that even a smooth
    move can turn over: the cheeks and the jaw's sides give way first, and a thin fold left
    there is harmless and kept. A fold anywhere else makes the whole move give way.
    """
    triangles, side, at_side = mesh.triangles, mesh.side_with_anchors, mesh.at_side
    areas = signed_areas(current, triangles)
    checked = ~mesh.cavity & ~(mesh.canonical_orientation * areas < 0)
    orientation = np.sign(areas)

    def turned(points: np.ndarray) -> np.ndarray:
        return orientation * signed_areas(points, triangles) < 0  # as ``flipped``

    shift = target - current
    candidate = target
    for keep in (1.0, 0.6, 0.3, 0.0):
        candidate = current + shift * (1.0 - (1.0 - keep) * side)[:, None]
        turned_over = turned(candidate)
        if not (turned_over & checked).any():
            return candidate, turned_over
    if not (turned_over & checked & ~at_side).any():
        return candidate, turned_over
    for fraction in (0.75, 0.5, 0.25):
        smaller = current + (candidate - current) * fraction
        turned_over = turned(smaller)
        if not (turned_over & checked & ~at_side).any():
            return smaller, turned_over
    return current.copy(), np.zeros(len(triangles), bool)


def render_box(geometry: MouthGeometry, mesh: MouthMesh, frame_size: tuple[int, int]) -> Box | None:
    """The box around every triangle that moves or shows a sample, clipped to the frame."""
    moving = geometry.moving
    used = moving[mesh.triangles].any(axis=1) | mesh.appearance
    corners = np.concatenate(
        [geometry.target[mesh.triangles[used]].reshape(-1, 2), geometry.current[moving]]
    )
    width, height = frame_size
    return clip_box(
        (
            int(np.floor(corners[:, 0].min())),
            int(np.floor(corners[:, 1].min())),
            int(np.ceil(corners[:, 0].max())) + 1,
            int(np.ceil(corners[:, 1].max())) + 1,
        ),
        (0, 0, width, height),
    )


def clip_box(box: Box, within: Box) -> Box | None:
    """The part of ``box`` inside ``within``, or None if they do not overlap."""
    x1, y1 = max(box[0], within[0]), max(box[1], within[1])
    x2, y2 = min(box[2], within[2]), min(box[3], within[3])
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def inner_gap(points: np.ndarray, mesh: MouthMesh) -> float:
    """Mean inner-lip gap of mesh points (K+, 2), in pixels (as ``faces.mouth.lip_opening``)."""
    gaps = points[mesh.positions(_GAP_UPPER)] - points[mesh.positions(_GAP_LOWER)]
    return float(np.sqrt((gaps * gaps).sum(axis=1)).mean())
