"""Where enhanced pixels go: the region box around the face or mouth, and its soft mask.

Every measure is in units of the inter-ocular distance (outer eye corners), so a box, a
feather or a margin looks the same on a 96-pixel face and on a 1080p close-up. Masks are
computed on box-sized arrays only, so their cost does not depend on the frame's size.

Masks are soft, float32 in [0, 1]: exactly 0 outside the polygon they are drawn from (so the
nose, the eyes or the box border are never touched), rising smoothly to 1 a feather's width
inside it. The polygons are grown where the regenerated mouth may reach beyond the input's
landmarks: an engine can open the mouth wider than the face in the input, which drops the
lower lip, the chin and the jaw, so the jaw is stretched downward (most at the chin, not at
all at the nose) and pushed outward by a feather's width, keeping the jaw line at full weight.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from ..errors import InputError, OptionsError
from ..faces.mouth import (
    CHIN,
    EYE_OUTER_LEFT,
    EYE_OUTER_RIGHT,
    FACE_OVAL,
    LIPS_OUTER_LOWER,
    LIPS_OUTER_UPPER,
    NOSE_TIP,
    inter_ocular,
)
from .blend import _JAW, _UPPER, Box, paste_box

RegionKind = Literal["mouth", "face", "frame"]
PasteMode = Literal["feather", "box", "poisson"]

# Margins around the landmarks' extent, in inter-ocular distances. The mouth box holds the
# feather and the jaw's reach; the face box also leaves face restorers some context around
# the face oval (hair line, ears) for their own alignment.
MOUTH_MARGIN = 0.25
FACE_MARGIN = 0.4
# How far the chin may drop below the input's chin when the regenerated mouth opens wider:
# a wide-open mouth measures about 0.4-0.5 inter-ocular distances between the inner lips.
JAW_REACH = 0.3
# Feather widths: the distance over which a mask rises from 0 at its edge to 1 inside.
MOUTH_FEATHER = 0.08
FACE_FEATHER = 0.12
# The lips and the space they sweep while speaking, grown by this much all round.
LIPS_MARGIN = 0.1

# The lips-and-jaw outline: the jaw from ear to ear, then back along a line under the nose
# and across the cheeks. Drawn as a polygon, not a convex hull: the hull would bridge the
# notch under the nose and take in the nose tip.
_LOWER_FACE_OUTLINE = _JAW + _UPPER
_LIPS_OUTLINE = LIPS_OUTER_UPPER + LIPS_OUTER_LOWER[-2:0:-1]
# Poisson cloning solves over the mask's support and needs a ring of frame pixels around it;
# below this many pixels there is no seam worth solving for.
MIN_POISSON_PIXELS = 64
POISSON_SIDE = 160


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    points = np.asarray(landmarks, np.float64)
    if points.ndim != 2 or points.shape[0] != 468 or points.shape[1] < 2:
        raise InputError(f"landmarks must be FaceMesh points (468, 2+), got {points.shape}")
    return points[:, :2]


def _usable(landmarks: np.ndarray | None) -> np.ndarray | None:
    """The (468, 2) points when every point the masks need is finite, else None."""
    if landmarks is None:
        return None
    points = _check_landmarks(landmarks)
    return points if bool(np.isfinite(points).all()) else None


def _face_axes(points: np.ndarray) -> tuple[float, np.ndarray]:
    """Inter-ocular distance in pixels and the face's unit "down" vector (perpendicular to
    the eye line, so a tilted head drops its jaw along its own axis)."""
    iod = float(inter_ocular(points))
    across = (points[EYE_OUTER_RIGHT] - points[EYE_OUTER_LEFT]) / max(iod, 1e-6)
    return iod, np.array([-across[1], across[0]])


def _grown_outline(
    points: np.ndarray, indices: tuple[int, ...], grow: set[int], feather: float
) -> np.ndarray:
    """The outline through ``indices`` (K, 2) with the points in ``grow`` moved to where a
    wider-open mouth may put them: down by up to ``JAW_REACH`` (in proportion to how far
    below the nose tip they sit, the chin moving most), and outward from the nose by a bit
    more than the ``feather`` (inter-ocular units), so the mask is at full weight on them."""
    iod, down = _face_axes(points)
    outline = points[list(indices)].copy()
    nose = points[NOSE_TIP]
    depth = max(float((points[CHIN] - nose) @ down), 1e-6)
    for k, index in enumerate(indices):
        if index not in grow:
            continue
        below = float(np.clip((outline[k] - nose) @ down / depth, 0.0, 1.0))
        radial = outline[k] - nose
        radial /= max(float(np.linalg.norm(radial)), 1e-6)
        outline[k] += iod * (JAW_REACH * below * down + 1.25 * feather * radial)
    return outline


def _region_outline(points: np.ndarray, kind: str) -> np.ndarray:
    """The grown polygon (K, 2) of ``kind`` ("mouth": lips and jaw; "face": the oval)."""
    if kind == "mouth":
        return _grown_outline(points, _LOWER_FACE_OUTLINE, set(_JAW), MOUTH_FEATHER)
    return _grown_outline(points, FACE_OVAL, set(FACE_OVAL), FACE_FEATHER)


def region_box(landmarks: np.ndarray, region: RegionKind | str, frame_size: tuple[int, int]) -> Box:
    """The box to enhance, int (x1, y1, x2, y2) frame pixels, x2/y2 exclusive, inside the frame.

    ``landmarks``: FaceMesh (468, 2+) in frame pixels. ``region``: ``mouth`` (lips, jaw and
    where a wider-open jaw reaches, plus a margin for the feather), ``face`` (the face oval,
    likewise grown, plus context) or ``frame`` (the whole frame). ``frame_size``: (width,
    height). Raises InputError for non-finite landmarks or a face wholly outside the frame.
    """
    width, height = int(frame_size[0]), int(frame_size[1])
    if width < 1 or height < 1:
        raise InputError(f"frame size must be positive, got {frame_size}")
    if region == "frame":
        return (0, 0, width, height)
    if region not in ("mouth", "face"):
        raise OptionsError(f"region must be mouth, face or frame, got {region!r}")
    points = _check_landmarks(landmarks)
    if not np.isfinite(points).all():
        raise InputError("landmarks hold NaN or infinite values; no region can be placed")
    outline = _region_outline(points, region)
    pad = (MOUTH_MARGIN if region == "mouth" else FACE_MARGIN) * float(inter_ocular(points))
    low = np.floor(outline.min(axis=0) - pad)
    high = np.ceil(outline.max(axis=0) + pad)
    x1, y1 = int(max(0, low[0])), int(max(0, low[1]))
    x2, y2 = int(min(width, high[0])), int(min(height, high[1]))
    if x2 - x1 < 2 or y2 - y1 < 2:
        raise InputError(
            f"the {region} region ({low[0]:.0f}, {low[1]:.0f}, {high[0]:.0f}, {high[1]:.0f}) "
            f"lies outside the {width}×{height} frame"
        )
    return (x1, y1, x2, y2)


def _feathered(hard: np.ndarray, feather_px: float) -> np.ndarray:
    """0 outside the filled area of ``hard`` (uint8 (h, w)) and on the box border, rising
    along a smoothstep of the distance from the edge to 1 at ``feather_px`` inside."""
    hard[0, :] = hard[-1, :] = 0
    hard[:, 0] = hard[:, -1] = 0
    # The 5×5 chamfer distance is within about 2 % of the Euclidean one, four times faster.
    distance = cv2.distanceTransform(hard, cv2.DIST_L2, cv2.DIST_MASK_5)
    t = np.asarray(distance, np.float32)
    t *= np.float32(1.0 / max(feather_px, 1.0))
    np.minimum(t, 1.0, out=t)
    return t * t * (3.0 - 2.0 * t)


def _polygon(shape: tuple[int, int], outline: np.ndarray, origin: np.ndarray) -> np.ndarray:
    hard = np.zeros(shape, np.uint8)
    # fillPoly takes fixed-point vertices: 4 fractional bits for sub-pixel placement.
    vertices = np.round((outline - origin) * 16).astype(np.int32)
    cv2.fillPoly(hard, [vertices], 1, lineType=cv2.LINE_8, shift=4)
    return hard


def region_mask(box: Box, landmarks: np.ndarray | None, kind: RegionKind | str) -> np.ndarray:
    """Soft mask of the pixels to replace, float32 (h, w) in [0, 1], shaped like ``box``.

    ``landmarks``: FaceMesh (468, 2+) in frame pixels, or None (no face: an ellipse over the
    lower part of the box for ``mouth``, over the box for ``face``). ``kind``: ``mouth`` (lips
    and jaw, grown for a wider-open mouth, never above the nostrils), ``face`` (the face
    oval, grown likewise) or ``frame`` (every pixel of the box at full weight). Except for
    ``frame``, the mask is 0 on the box border and fades in over a feather proportional to
    the face's size.
    """
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    if w < 1 or h < 1:
        raise InputError(f"box must have a positive size, got {box}")
    if kind == "frame":
        return np.ones((h, w), np.float32)
    if kind not in ("mouth", "face"):
        raise OptionsError(f"mask kind must be mouth, face or frame, got {kind!r}")
    points = _usable(landmarks)
    if points is None:
        hard = np.zeros((h, w), np.uint8)
        if kind == "mouth":
            centre, axes = (w // 2, int(h * 0.65)), (int(w * 0.4), int(h * 0.3))
        else:
            centre, axes = (w // 2, h // 2), (int(w * 0.42), int(h * 0.46))
        cv2.ellipse(hard, centre, (max(axes[0], 1), max(axes[1], 1)), 0, 0, 360, 1, -1)
        return _feathered(hard, 0.08 * min(w, h))
    hard = _polygon((h, w), _region_outline(points, kind), np.array([x1, y1], np.float64))
    feather = MOUTH_FEATHER if kind == "mouth" else FACE_FEATHER
    return _feathered(hard, feather * float(inter_ocular(points)))


def mouth_interior_mask(box: Box, landmarks: np.ndarray | None) -> np.ndarray:
    """Where speech changes the picture: float32 (h, w) in [0, 1], shaped like ``box``.

    The outer lips with the lower lip stretched down by ``JAW_REACH`` (the mouth may open
    wider than in the input), grown by ``LIPS_MARGIN`` and feathered. Used to smooth the
    mouth less than the skin over time. ``landmarks``: FaceMesh (468, 2+) frame pixels, or
    None (then all zeros: nothing is known to move).
    """
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    points = _usable(landmarks)
    if points is None or w < 1 or h < 1:
        return np.zeros((max(h, 0), max(w, 0)), np.float32)
    iod, down = _face_axes(points)
    outline = points[list(_LIPS_OUTLINE)].copy()
    lower = len(LIPS_OUTER_UPPER)
    outline[lower:] += JAW_REACH * iod * down
    hard = _polygon((h, w), outline, np.array([x1, y1], np.float64))
    grow = max(1, round(LIPS_MARGIN * iod))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    return _feathered(cv2.dilate(hard, kernel), MOUTH_FEATHER * iod)


def _check_paste(frame: np.ndarray, crop: np.ndarray, box: Box, mask: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InputError(f"frame must be uint8 RGB (H, W, 3), got {frame.dtype} {frame.shape}")
    x1, y1, x2, y2 = box
    height, width = frame.shape[:2]
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise InputError(f"box {box} does not lie inside the {width}×{height} frame")
    if crop.shape != (y2 - y1, x2 - x1, 3) or crop.dtype != np.uint8:
        raise InputError(
            f"crop must be uint8 ({y2 - y1}, {x2 - x1}, 3) to fill box {box}, "
            f"got {crop.dtype} {crop.shape}"
        )
    if mask.shape != crop.shape[:2]:
        raise InputError(f"mask must be {crop.shape[:2]} like the box, got {mask.shape}")


def poisson_source(region: np.ndarray, crop: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``crop`` re-solved in the gradient domain onto ``region``: uint8 RGB like both.

    Inside the mask's support the result has the crop's gradients (its detail) and the
    region's values on the support's edge, so any colour or brightness offset between the
    two vanishes without a seam (``cv2.seamlessClone``). Returns ``crop`` itself when the
    support touches the box border (no frame pixels around it to take the boundary from)
    or is tiny.

    The result differs from the crop by a harmonic membrane (zero Laplacian inside the
    support, the region-minus-crop difference on its edge), which is smooth; so it is solved
    on copies at most ``POISSON_SIDE`` pixels across and only the membrane is scaled up,
    keeping the cost of a 1080p face near that of a small one.
    """
    support = (mask > 1e-3).astype(np.uint8)
    touches_border = bool(
        support[0].any() or support[-1].any() or support[:, 0].any() or support[:, -1].any()
    )
    if touches_border or int(support.sum()) < MIN_POISSON_PIXELS:
        return crop
    h, w = support.shape
    factor = min(1.0, POISSON_SIDE / max(h, w))
    small = (max(8, round(w * factor)), max(8, round(h * factor)))
    if factor < 1.0:
        region_s = cv2.resize(region, small, interpolation=cv2.INTER_AREA)
        crop_s = cv2.resize(crop, small, interpolation=cv2.INTER_AREA)
        support_s = cv2.resize(support, small, interpolation=cv2.INTER_NEAREST)
        support_s[0], support_s[-1], support_s[:, 0], support_s[:, -1] = 0, 0, 0, 0
    else:
        region_s, crop_s, support_s = region, crop, support
    if int(support_s.sum()) < MIN_POISSON_PIXELS:
        return crop
    x, y, bw, bh = cv2.boundingRect(support_s)
    # seamlessClone centres the support's bounding box on this point with integer halving;
    # this centre puts every pixel back where it came from.
    centre = (x + bw // 2, y + bh // 2)
    cloned = cv2.seamlessClone(crop_s, region_s, support_s * 255, centre, cv2.NORMAL_CLONE)
    if factor == 1.0:
        return cloned
    membrane = cloned.astype(np.float32) - crop_s.astype(np.float32)
    upscaled = cv2.resize(membrane, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(crop.astype(np.float32) + upscaled + 0.5, 0, 255).astype(np.uint8)


def paste_region(
    frame: np.ndarray, crop: np.ndarray, box: Box, mask: np.ndarray, mode: PasteMode | str
) -> np.ndarray:
    """A copy of ``frame`` (uint8 RGB (H, W, 3)) with ``crop`` (uint8 RGB, box-sized) pasted.

    ``mask``: float32 (h, w) in [0, 1], the weight of the crop per pixel. ``mode``: ``box``
    (the whole crop, mask ignored), ``feather`` (``frame + (crop - frame) · mask``) or
    ``poisson`` (the crop first re-solved onto the frame by ``poisson_source``, which removes
    any tone offset, then blended through the same mask; falls back to feather when the
    mask touches the box border or is tiny). Pixels where the mask is 0 keep their values
    exactly. Cost grows with the box, not the frame (besides the copy of the frame).
    """
    _check_paste(frame, crop, box, mask)
    if mode == "box":
        return paste_box(frame, crop, box)
    if mode not in ("feather", "poisson"):
        raise OptionsError(f"paste mode must be feather, box or poisson, got {mode!r}")
    x1, y1, x2, y2 = box
    region = frame[y1:y2, x1:x2]
    weights = np.clip(np.nan_to_num(mask.astype(np.float32)), 0.0, 1.0)
    source = poisson_source(region, crop, weights) if mode == "poisson" else crop
    base = region.astype(np.float32)
    blended = base + (source.astype(np.float32) - base) * weights[..., None]
    out = frame.copy()
    out[y1:y2, x1:x2] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out
