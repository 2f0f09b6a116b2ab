"""Paste a regenerated face crop back into its frame.

Two modes:
- ``box``: the reference Wav2Lip behaviour, the whole crop replaces the box (its edge can show).
- ``feather``: only the lower face (jaw, lips, chin; from FaceMesh) is replaced, through a soft
  mask that also fades out before the box edge, so no seam or box outline is visible. Without
  landmarks (a fixed ``--box``) an ellipse over the lower half of the box stands in for the
  FaceMesh outline.

All work happens inside the box's region of interest, so the cost does not grow with the
frame's size.
"""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]

# FaceMesh indices along the jaw line from ear to ear (lower half of the face oval), and
# points across the cheeks and under the nose that close the region from above. The upper
# bound sits below the nose so that the nose, which Wav2Lip does not regenerate well, stays.
_JAW = (132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361)
_UPPER = (323, 425, 327, 2, 98, 205, 93)
LOWER_FACE_INDICES = _JAW + _UPPER


def paste_box(frame: np.ndarray, crop: np.ndarray, box: Box) -> np.ndarray:
    """Return a copy of ``frame`` (uint8 RGB (H, W, 3)) with ``crop`` (box-sized) pasted at ``box``."""
    x1, y1, x2, y2 = box
    out = frame.copy()
    out[y1:y2, x1:x2] = crop
    return out


def lower_face_mask(box: Box, landmarks: np.ndarray | None) -> np.ndarray:
    """Soft mask of the lower face, float32 in [0, 1], shaped like the box (h, w).

    ``landmarks``: FaceMesh points (468, 2+) in frame pixels, or None for the ellipse fallback.
    The mask fades to zero over a margin inside the box, so the crop's edge never shows.
    """
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    hard = np.zeros((h, w), np.uint8)
    if landmarks is not None and np.isfinite(landmarks[list(LOWER_FACE_INDICES), :2]).all():
        pts = landmarks[list(LOWER_FACE_INDICES), :2] - np.array([x1, y1], np.float32)
        # The ring in order, not its convex hull: the hull would bridge the notch under the
        # nose (the cheek points sit above the nose tip) and replace the nose tip too.
        cv2.fillPoly(hard, [np.round(pts).astype(np.int32)], 255, lineType=cv2.LINE_AA)
    else:
        centre = (w // 2, int(h * 0.72))
        axes = (max(1, int(w * 0.36)), max(1, int(h * 0.26)))
        cv2.ellipse(hard, centre, axes, 0, 0, 360, 255, -1, lineType=cv2.LINE_AA)

    # Feather proportional to the face size: a few percent of the box keeps the transition
    # invisible at 96 px and at 1080p alike.
    feather = max(1.0, 0.04 * min(w, h))
    mask = cv2.GaussianBlur(hard.astype(np.float32) / 255.0, (0, 0), sigmaX=feather)

    # Fade to zero towards the box border: the generated crop has nothing valid beyond it.
    margin = max(2, round(2 * feather))
    ramp_x = np.clip(np.minimum(np.arange(w), np.arange(w)[::-1]) / margin, 0.0, 1.0)
    ramp_y = np.clip(np.minimum(np.arange(h), np.arange(h)[::-1]) / margin, 0.0, 1.0)
    return (mask * ramp_y[:, None] * ramp_x[None, :]).astype(np.float32)


def paste_feathered(
    frame: np.ndarray, crop: np.ndarray, box: Box, landmarks: np.ndarray | None
) -> np.ndarray:
    """Return a copy of ``frame`` with the lower face of ``crop`` blended in through a soft mask."""
    x1, y1, x2, y2 = box
    mask = lower_face_mask(box, landmarks)[..., None]
    region = frame[y1:y2, x1:x2].astype(np.float32)
    blended = region + (crop.astype(np.float32) - region) * mask
    out = frame.copy()
    out[y1:y2, x1:x2] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def composite(
    frame: np.ndarray,
    crop: np.ndarray | None,
    box: Box | None,
    landmarks: np.ndarray | None,
    mode: str,
) -> np.ndarray:
    """Blend ``crop`` into ``frame`` with ``mode`` ("feather" or "box"); no crop → frame unchanged."""
    if crop is None or box is None:
        return frame
    if mode == "box":
        return paste_box(frame, crop, box)
    return paste_feathered(frame, crop, box, landmarks)
