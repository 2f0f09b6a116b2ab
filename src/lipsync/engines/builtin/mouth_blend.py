"""The mask and the lighting match with which the renderer lays a source mouth over a frame.

Both are smooth, so both are computed at a low resolution (a few dozen pixels per inter-ocular
distance) and interpolated back: their cost hardly depends on the face's size.
"""

from __future__ import annotations

import cv2
import numpy as np

from .inner_mouth import MouthFrame, polygon_coverage

# Pixels per inter-ocular distance at which the lighting gain is estimated.
_GAIN_RESOLUTION = 40.0
_GAIN_LIMITS = (0.6, 1.6)  # a source frame's lighting never differs more than this


def mask_polygon(
    outer_lips: np.ndarray, nose_base: np.ndarray, axes: MouthFrame, margin: float
) -> np.ndarray:
    """float (P, 2): the outer lip contour (P, 2) grown by ``margin`` pixels sideways and down,
    and, under the nose, upwards by at most half the way to ``nose_base`` (2,), so the
    nostrils never enter the mask. All in continuous frame pixels."""
    centre = outer_lips.mean(axis=0)
    offsets = outer_lips - centre
    u, v = offsets @ axes.across, offsets @ axes.down
    lip_top = float(v.min())
    nose = float((nose_base - centre) @ axes.down)
    # Under the nose the mask may rise only half way to it; towards the corners, where the
    # cheeks are, it grows as far as anywhere else.
    under_nose = min(margin, max(0.0, (lip_top - nose) / 2))
    sideways = np.clip((np.abs(u) / max(float(np.abs(u).max()), 1e-6) - 0.4) / 0.5, 0.0, 1.0)
    up = under_nose + (margin - under_nose) * sideways
    norm = np.maximum(np.hypot(u, v), 1e-6)
    # Wider at the corners and deeper under the lower lip, where the skin folds with speech.
    u = u + u / norm * margin * 1.2
    v = v + np.where(v < 0, v / norm * up, v / norm * margin * 1.3)
    return centre + u[:, None] * axes.across + v[:, None] * axes.down


def _scaled_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    return (max(2, round(shape[0] * scale)), max(2, round(shape[1] * scale)))


def _draw_scaled(
    polygon: np.ndarray, shape: tuple[int, int], origin: tuple[int, int], small: tuple[int, int]
) -> np.ndarray:
    """Coverage of ``polygon`` (frame pixels) over a box of ``shape`` at ``origin``, drawn at
    the lower resolution ``small`` (h, w); continuous coordinates scale with cv2.resize."""
    factors = np.array([small[1] / shape[1], small[0] / shape[0]])
    return polygon_coverage((polygon - np.asarray(origin)) * factors, small, (0, 0))


def soft_mask(
    polygon: np.ndarray,
    shape: tuple[int, int],
    origin: tuple[int, int],
    sigma: float,
    within: np.ndarray | None = None,
) -> np.ndarray:
    """float32 (h, w) in [0, 1]: ``polygon`` (frame pixels) blurred with a Gaussian of
    ``sigma`` pixels, over the box of ``shape`` (h, w) whose top-left pixel is ``origin``;
    times the same for the polygon ``within`` (blurred half as much), if given."""
    scale = min(1.0, 1.5 / max(sigma, 1e-6))
    small = _scaled_shape(shape, scale)
    factor = small[0] / shape[0]
    drawn = _draw_scaled(polygon, shape, origin, small)
    mask = np.asarray(cv2.GaussianBlur(drawn, (0, 0), max(sigma * factor, 0.5)), np.float32)
    if within is not None:
        bound = _draw_scaled(within, shape, origin, small)
        mask *= np.asarray(cv2.GaussianBlur(bound, (0, 0), max(0.5 * sigma * factor, 0.5)))
    mask = np.asarray(cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR))
    return np.clip(mask, 0.0, 1.0, out=mask)


def lighting_gain(
    reference: np.ndarray,
    colours: np.ndarray,
    outer_lips: np.ndarray,
    polygon: np.ndarray,
    origin: tuple[int, int],
    inter_ocular_px: float,
) -> tuple[np.ndarray, np.ndarray]:
    """A smooth per-channel gain that makes ``colours`` match ``reference`` (both uint8 or
    float32 (h, w, 3), a box at ``origin``) in brightness and tint.

    Measured on the skin between the lips (``outer_lips``, (P, 2) frame pixels) and the mask
    ``polygon``, where both show skin, and spread inwards, so the lips and the mouth take the
    lighting of the skin around them. Returns the gain, float32 (h, w, 3) clipped to
    ``_GAIN_LIMITS``, and the skin's mean colour in ``reference``, float32 (3,).
    """
    shape = (reference.shape[0], reference.shape[1])
    scale = min(1.0, _GAIN_RESOLUTION / inter_ocular_px)
    small = _scaled_shape(shape, scale)
    size = (small[1], small[0])
    ref = cv2.resize(reference, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    col = cv2.resize(colours, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    lips = cv2.dilate(_draw_scaled(outer_lips, shape, origin, small), np.ones((3, 3), np.uint8))
    ring = _draw_scaled(polygon, shape, origin, small) * (1.0 - lips)
    total = float(ring.sum())
    if total < 1e-3:
        mean = reference.reshape(-1, 3).mean(axis=0).astype(np.float32)
        return np.ones((*shape, 3), np.float32), mean
    weighted_ref = ref * ring[..., None]
    weighted_col = col * ring[..., None]
    ref_sum = weighted_ref.sum((0, 1))
    skin = (ref_sum / total).astype(np.float32)
    overall = (ref_sum + 1.0) / (weighted_col.sum((0, 1)) + 1.0)
    sigma = 0.2 * inter_ocular_px * small[0] / shape[0]
    support = cv2.GaussianBlur(ring, (0, 0), sigma)
    local = (cv2.GaussianBlur(weighted_ref, (0, 0), sigma) + 1e-3) / (
        cv2.GaussianBlur(weighted_col, (0, 0), sigma) + 1e-3
    )
    # Far from the ring the local estimate rests on little skin: lean on the overall gain.
    trust = np.clip(support / (0.3 * float(support.max()) + 1e-9), 0.0, 1.0)[..., None]
    gain = np.clip(overall + (local - overall) * trust, *_GAIN_LIMITS).astype(np.float32)
    return cv2.resize(gain, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), skin
