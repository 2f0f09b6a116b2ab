"""A picture of what was replaced, for ``--debug-mask``: the frame with the mask tinted in,
its half-weight outline drawn and the region box framed."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError
from .blend import Box

# Magenta is rare in skin, lips and most backgrounds, so the tint reads on any face.
TINT = np.array([255, 0, 255], np.float32)
OUTLINE = (255, 255, 0)  # yellow
BOX_COLOUR = (0, 255, 255)  # cyan
# At full mask weight, this much of the pixel becomes the tint: the face stays recognisable.
TINT_OPACITY = 0.45


def mask_overlay(frame: np.ndarray, box: Box | None, mask: np.ndarray | None) -> np.ndarray:
    """A copy of ``frame`` (uint8 RGB (H, W, 3)) marking ``mask`` (float32 (h, w) in [0, 1],
    box-sized) at ``box`` (x1, y1, x2, y2): tinted magenta in proportion to the weight, a
    yellow outline where the weight crosses one half, and the box in cyan. No box or mask:
    the frame unchanged (a copy). Only the box's pixels are touched.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InputError(f"frame must be uint8 RGB (H, W, 3), got {frame.dtype} {frame.shape}")
    out = frame.copy()
    if box is None or mask is None:
        return out
    x1, y1, x2, y2 = box
    if mask.shape != (y2 - y1, x2 - x1):
        raise InputError(f"mask must be {(y2 - y1, x2 - x1)} for box {box}, got {mask.shape}")
    region = out[y1:y2, x1:x2].astype(np.float32)
    alpha = TINT_OPACITY * np.clip(np.nan_to_num(mask), 0.0, 1.0)[..., None]
    tinted = np.clip(region + (TINT - region) * alpha + 0.5, 0, 255).astype(np.uint8)
    half = (mask >= 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(half, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thickness = max(1, round(min(tinted.shape[:2]) / 150))
    cv2.drawContours(tinted, contours, -1, OUTLINE, thickness, lineType=cv2.LINE_AA)
    cv2.rectangle(tinted, (0, 0), (x2 - x1 - 1, y2 - y1 - 1), BOX_COLOUR, thickness)
    out[y1:y2, x1:x2] = tinted
    return out
