"""Box geometry: overlaps, and the S3FD-style face box derived from FaceMesh landmarks."""

from __future__ import annotations

import numpy as np

# MediaPipe's face-oval contour (FACEMESH_FACE_OVAL): forehead top (10), down the right
# side past the ear line (454), chin (152), and back up the left side (234).
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
RIGHT_EYE_OUTER = 33
LEFT_EYE_OUTER = 263

# Calibration of the S3FD-style box against the face oval, as fractions of the oval's
# height (forehead top 10 to chin 152). S3FD, which the Wav2Lip training crops came from,
# boxes a frontal face from mid-forehead to just below the chin and about ear to ear:
# its top lies below the mesh's forehead top, its bottom a little under the mesh's chin.
S3FD_TOP_INSET = 0.12
S3FD_BOTTOM_MARGIN = 0.02
S3FD_SIDE_MARGIN = 0.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (K, 4) with every box in ``b`` (M, 4).

    Boxes are x1, y1, x2, y2. Returns float (K, M); 0 where a union is empty.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def face_box_from_landmarks(points: np.ndarray) -> tuple[float, float, float, float]:
    """S3FD-style face box (x1, y1, x2, y2, frame pixels) from FaceMesh points (468, ≥2).

    In the face's own upright frame (x along the eye line 33 → 263) the box spans the face
    oval from side to side, and from ``S3FD_TOP_INSET`` of the oval's height below its
    top (the mesh reaches higher up the forehead than S3FD boxes do) to
    ``S3FD_BOTTOM_MARGIN`` below the chin. A tilted head gets the upright frame's box
    rotated back and enclosed in an axis-aligned box, as a detector would draw it.

    Calibration: on the astronaut portrait this puts the nose tip at mid-height and the
    box within 4 % of its size of BlazeFace's box, itself trained to the same convention.
    """
    xy = points[:, :2].astype(np.float64)
    eye_line = xy[LEFT_EYE_OUTER] - xy[RIGHT_EYE_OUTER]
    angle = float(np.arctan2(eye_line[1], eye_line[0]))
    cos, sin = np.cos(angle), np.sin(angle)
    to_upright = np.array([[cos, sin], [-sin, cos]])
    oval = xy[list(FACE_OVAL)] @ to_upright.T
    (u1, v1), (u2, v2) = oval.min(axis=0), oval.max(axis=0)
    height = v2 - v1
    v1 += S3FD_TOP_INSET * height
    v2 += S3FD_BOTTOM_MARGIN * height
    u1 -= S3FD_SIDE_MARGIN * height
    u2 += S3FD_SIDE_MARGIN * height
    corners = np.array([[u1, v1], [u2, v1], [u2, v2], [u1, v2]]) @ to_upright
    x1, y1 = corners.min(axis=0)
    x2, y2 = corners.max(axis=0)
    return (float(x1), float(y1), float(x2), float(y2))
