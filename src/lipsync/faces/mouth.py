"""Mouth geometry from FaceMesh landmarks: index sets, pose alignment and shape features.

Shared by the built-in engine (which matches mouth shapes between frames) and the sync meter
(which measures how the mouth opens). Every measure is divided by the inter-ocular distance
(outer eye corners), so it does not depend on the face's size in the frame, and distances are
rotation-invariant, so a tilted head reads the same as an upright one.
"""

from __future__ import annotations

import numpy as np

# FaceMesh indices (468-point topology). Contours run from the left mouth corner to the right.
EYE_OUTER_LEFT, EYE_OUTER_RIGHT = 33, 263
MOUTH_LEFT, MOUTH_RIGHT = 61, 291
INNER_LEFT, INNER_RIGHT = 78, 308
NOSE_TIP, CHIN = 1, 152
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
# Pairs of inner-lip points facing each other across the mouth (centre and either side).
INNER_LIP_PAIRS = ((13, 14), (82, 87), (312, 317), (81, 178), (311, 402))
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
# Points that speech does not move (eye corners, brow, nose bridge and tip): the head's pose.
STABLE = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 1, 10, 151, 9, 8, 70, 300)

LIPS_OUTER = LIPS_OUTER_UPPER + LIPS_OUTER_LOWER[1:-1]
LIPS_INNER = LIPS_INNER_UPPER + LIPS_INNER_LOWER[1:-1]

# Columns of mouth_features().
FEATURES = ("open", "width", "round", "jaw")


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the outer eye corners, in pixels: (...,) for landmarks (..., 468, 2+)."""
    eyes = landmarks[..., EYE_OUTER_RIGHT, :2] - landmarks[..., EYE_OUTER_LEFT, :2]
    return np.linalg.norm(eyes, axis=-1)


def _dist(landmarks: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(landmarks[..., a, :2] - landmarks[..., b, :2], axis=-1)


def lip_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip opening per face, in inter-ocular units: (...,) for landmarks (..., 468, 2+).

    The mean gap over five facing pairs of inner-lip points, so a lopsided mouth still counts;
    about 0.0 closed, 0.3-0.5 wide open. NaN where landmarks are NaN.
    """
    gaps = np.mean([_dist(landmarks, a, b) for a, b in INNER_LIP_PAIRS], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return gaps / inter_ocular(landmarks)


def mouth_features(landmarks: np.ndarray) -> np.ndarray:
    """Pose-normalised mouth shape: float32 (..., 4) for landmarks (..., 468, 3).

    Columns (see ``FEATURES``), all in inter-ocular units:
    - ``open``: inner-lip opening (``lip_opening``);
    - ``width``: mouth-corner spread;
    - ``round``: lip protrusion, how far the lip centres stand out in depth from the corners
      (FaceMesh depth shares the x scale), higher for "oo" than for "ee";
    - ``jaw``: nose tip to chin, which grows as the jaw drops.
    """
    iod = inter_ocular(landmarks)
    with np.errstate(invalid="ignore", divide="ignore"):
        opening = lip_opening(landmarks)
        width = _dist(landmarks, MOUTH_LEFT, MOUTH_RIGHT) / iod
        centre_z = (landmarks[..., 0, 2] + landmarks[..., 17, 2]) / 2
        corner_z = (landmarks[..., MOUTH_LEFT, 2] + landmarks[..., MOUTH_RIGHT, 2]) / 2
        protrusion = (corner_z - centre_z) / iod  # FaceMesh depth is smaller towards the camera
        jaw = _dist(landmarks, NOSE_TIP, CHIN) / iod
    return np.stack([opening, width, protrusion, jaw], axis=-1).astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation mapping ``src`` onto ``dst``.

    ``src``, ``dst``: float (K, 2) corresponding points. Returns a float64 (2, 3) matrix for
    ``cv2.warpAffine`` / ``apply_affine``. Closed form (Umeyama), no reflection.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = (s**2).sum()
    if var <= 0:
        return np.hstack([np.eye(2), (mu_d - mu_s)[:, None]])
    # With complex numbers a 2-D similarity is a single multiplication: d ≈ z · s.
    zs = s[:, 0] + 1j * s[:, 1]
    zd = d[:, 0] + 1j * d[:, 1]
    z = (np.conj(zs) * zd).sum() / var
    rot = np.array([[z.real, -z.imag], [z.imag, z.real]])
    return np.hstack([rot, (mu_d - rot @ mu_s)[:, None]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to float (K, 2) points."""
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def pose_transform(src_landmarks: np.ndarray, dst_landmarks: np.ndarray) -> np.ndarray:
    """The similarity that carries one face's head pose onto another's, from the ``STABLE`` points.

    Used to move a source frame's mouth into the current frame: the mouth rides along with the
    eyes and nose, while its own shape (opening, width) is kept.
    """
    idx = list(STABLE)
    return similarity_transform(src_landmarks[idx, :2], dst_landmarks[idx, :2])


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """A rough head pose: float32 (..., 2) of (turn, nod) for landmarks (..., 468, 2+).

    The nose tip's offset from the midpoint of the outer eye corners, in inter-ocular units and
    in the eyes' own frame (so a tilted head reads as upright): ``turn`` grows as the head turns
    to the image's right, ``nod`` as it tilts down. Enough to prefer source frames seen from
    about the same angle; not a 3-D pose.
    """
    left = landmarks[..., EYE_OUTER_LEFT, :2]
    right = landmarks[..., EYE_OUTER_RIGHT, :2]
    axis = right - left
    iod = np.linalg.norm(axis, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        across = axis / iod
        down = np.stack([-across[..., 1], across[..., 0]], axis=-1)
        offset = landmarks[..., NOSE_TIP, :2] - (left + right) / 2
        turn = (offset * across).sum(-1) / iod[..., 0]
        nod = (offset * down).sum(-1) / iod[..., 0]
    return np.stack([turn, nod], axis=-1).astype(np.float32)
