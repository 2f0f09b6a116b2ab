"""The inside of the mouth when the renderer opens a mouth further than its source shows.

Stretching a source's mouth interior would stretch its teeth. Instead (``attached_interior``)
the upper part of the source's interior (upper teeth) stays under the upper lip and the lower
part (lower teeth, tongue) rides on the lower lip, each moved, not stretched; what opens
between them is painted (``paint_inner_mouth``): a dark, warm cavity (darkest at the back of
the throat and towards the corners, where the cheeks shade it), a band of upper teeth just
under the upper lip when the source shows no teeth of its own, lower teeth and a hint of
tongue when it opens wide. Colours derive from the person's skin, so a dim video gets dim
teeth. Everything is soft-edged: nothing here should draw the eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_SUBPIXEL_BITS = 4
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# Colours as fractions of the skin's (measured on talking-head clips: the back of an open
# mouth is about skin × (0.26, 0.08, 0.04), just inside the lips about (0.48, 0.2, 0.19)).
_CAVITY_DARK = np.array([0.22, 0.07, 0.05], np.float32)
_CAVITY_LIT = np.array([0.44, 0.17, 0.16], np.float32)
_TONGUE = np.array([0.70, 0.40, 0.40], np.float32)
_ENAMEL = np.array([1.0, 0.95, 0.86], np.float32)  # a warm white


@dataclass(frozen=True)
class MouthFrame:
    """The mouth's own axes in frame pixels: ``centre`` (2,) between the inner corners,
    ``across`` (2,) unit vector towards the subject's left corner on screen, ``down`` (2,)
    unit vector towards the chin, and ``half_width``, the centre-to-corner distance."""

    centre: np.ndarray
    across: np.ndarray
    down: np.ndarray
    half_width: float


def polygon_coverage(
    polygon: np.ndarray, shape: tuple[int, int], origin: tuple[int, int]
) -> np.ndarray:
    """float32 (h, w) in [0, 1]: anti-aliased coverage of a (P, 2) polygon in continuous frame
    pixels, drawn into a box of ``shape`` whose top-left pixel is ``origin`` (x, y)."""
    canvas = np.zeros(shape, np.uint8)
    fixed = np.rint((polygon - np.asarray(origin) - 0.5) * (1 << _SUBPIXEL_BITS))
    cv2.fillPoly(canvas, [fixed.astype(np.int32)], 255, cv2.LINE_AA, shift=_SUBPIXEL_BITS)
    return canvas.astype(np.float32) / 255.0


def _profile(u_points: np.ndarray, v_points: np.ndarray, u: np.ndarray) -> np.ndarray:
    order = np.argsort(u_points)
    return np.interp(u, u_points[order], v_points[order])


def _mouth_coordinates(
    axes: MouthFrame, shape: tuple[int, int], origin: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(u, v), float32 (h, w) each: every pixel centre of the box in the mouth's axes (pixels)."""
    # Python floats keep the arrays float32 (NumPy's weak scalars): the per-pixel work halves.
    dx = np.arange(shape[1], dtype=np.float32)[None, :] + float(origin[0] + 0.5 - axes.centre[0])
    dy = np.arange(shape[0], dtype=np.float32)[:, None] + float(origin[1] + 0.5 - axes.centre[1])
    (ax, ay), (bx, by) = (float(c) for c in axes.across), (float(c) for c in axes.down)
    return dx * ax + dy * ay, dx * bx + dy * by


def _project(axes: MouthFrame, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.asarray(points, np.float64) - axes.centre
    return offsets @ axes.across, offsets @ axes.down


def source_axes_of(axes: MouthFrame, source_upper: np.ndarray) -> MouthFrame:
    """The axes of a source mouth carried into this frame (same directions as ``axes``)."""
    left, right = source_upper[0], source_upper[-1]
    return MouthFrame(
        (left + right) / 2, axes.across, axes.down, float(np.linalg.norm(right - left)) / 2
    )


@dataclass(frozen=True)
class InteriorSplit:
    """How a source mouth's interior divides, sampled at ``across`` (C,) pixels from its
    centre: ``split`` (C,), the divide as a fraction of the opening from the upper lip
    (1.0, all of it upper teeth, where no dark gap shows); ``darkest``: mean RGB
    (float32 (3,)) of that gap, or None where there is none (the colour of this person's open
    mouth in this light)."""

    across: np.ndarray
    split: np.ndarray
    darkest: np.ndarray | None


def interior_split(
    image: np.ndarray,
    to_image: np.ndarray,
    axes: MouthFrame,
    upper: np.ndarray,
    lower: np.ndarray,
    columns: int = 24,
    rows: int = 19,
) -> InteriorSplit:
    """Where a source mouth's interior divides into what belongs to the upper jaw (upper
    teeth) and what belongs to the lower one (lower teeth, tongue): where it turns dark
    below the upper teeth (all the way down where no dark gap shows: a smile with closed teeth).

    ``image``: the source's uint8 RGB pixels; ``to_image``: (2, 3) matrix from this frame's
    continuous pixels to the image's; ``axes``, ``upper``, ``lower``: the source mouth's axes
    and inner-lip contours carried into this frame.
    """
    across = np.linspace(-0.9, 0.9, columns) * axes.half_width
    upper_u, upper_v = _project(axes, upper)
    lower_u, lower_v = _project(axes, lower)
    top = _profile(upper_u, upper_v, across)
    gap = np.maximum(_profile(lower_u, lower_v, across) - top, 0.0)
    fractions = np.linspace(0.05, 0.95, rows)
    down = top[None, :] + fractions[:, None] * gap[None, :]
    x = axes.centre[0] + across[None, :] * axes.across[0] + down * axes.down[0]
    y = axes.centre[1] + across[None, :] * axes.across[1] + down * axes.down[1]
    map_x = (to_image[0, 0] * x + to_image[0, 1] * y + to_image[0, 2] - 0.5).astype(np.float32)
    map_y = (to_image[1, 0] * x + to_image[1, 1] * y + to_image[1, 2] - 0.5).astype(np.float32)
    pixels = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    luma = cv2.GaussianBlur(pixels.astype(np.float32) @ _LUMA, (1, 3), 0)
    # Upper teeth hang from the upper lip: the divide is the row most darker than everything
    # above it, looked for below the top quarter (a lip's shadow is no divide).
    above = np.cumsum(luma, axis=0) / np.arange(1, rows + 1)[:, None]
    drop = np.full_like(luma, -np.inf)
    drop[1:] = above[:-1] - luma[1:]
    drop[fractions < 0.25] = -np.inf
    best = np.argmax(drop, axis=0)
    clear = (drop[best, np.arange(columns)] > 20.0) & (gap > 2.0)
    split = np.where(clear, fractions[best], 1.0)
    darkest = None
    if clear.any():
        chosen = np.flatnonzero(clear)
        darkest = pixels[best[chosen], chosen].astype(np.float32).mean(axis=0)
    # Neighbouring columns share their teeth: smooth the split across the mouth.
    padded = np.concatenate([split[:1], split[:1], split, split[-1:], split[-1:]])
    split = np.convolve(padded, np.full(5, 0.2), mode="valid")
    return InteriorSplit(across, split, darkest)


def attached_interior(
    shape: tuple[int, int],
    origin: tuple[int, int],
    axes: MouthFrame,
    upper: np.ndarray,
    lower: np.ndarray,
    source_upper: np.ndarray,
    source_lower: np.ndarray,
    split: InteriorSplit,
    softness: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each cavity pixel takes its colour from a source mouth, and whether it may.

    ``upper``, ``lower``: float (P, 2) inner-lip contours of the wanted mouth (continuous frame
    pixels, corner to corner; ``axes`` are its axes); ``source_upper``, ``source_lower``: the
    source's contours carried into this frame (same head pose); ``split``: from
    ``interior_split``; ``softness``: width in pixels of the edge where the source's interior
    gives way to the gap. Where the wanted mouth is more open than the source, the source's
    interior above the split moves with the upper lip and the rest with the lower lip,
    unstretched; where it is less open, the interior is squeezed evenly. Returns the source
    positions x, y (float32 (h, w), continuous frame pixels, before undoing the head-pose
    transform) and ``attached`` (float32 (h, w) in [0, 1]): 1 where the source has something
    to show, 0 in the gap that opened between its parts.
    """
    u, v = _mouth_coordinates(axes, shape, origin)
    upper_u, upper_v = _project(axes, upper)
    lower_u, lower_v = _project(axes, lower)
    top = _profile(upper_u, upper_v, u)
    gap = np.maximum(_profile(lower_u, lower_v, u) - top, 1e-3)

    source_axes = source_axes_of(axes, source_upper)
    source_across = u * (source_axes.half_width / max(axes.half_width, 1e-3))
    s_upper_u, s_upper_v = _project(source_axes, source_upper)
    s_lower_u, s_lower_v = _project(source_axes, source_lower)
    source_top = _profile(s_upper_u, s_upper_v, source_across)
    source_gap = np.maximum(_profile(s_lower_u, s_lower_v, source_across) - source_top, 0.0)
    upper_share = np.interp(source_across, split.across, split.split) * source_gap

    # Moved, not stretched: the upper part keeps its place under the upper lip, the lower
    # part shifts down with the lower lip; a squeezed mouth is scaled evenly instead.
    squeeze = np.maximum(1.0, source_gap / gap)
    below_top = (v - top) * squeeze
    opened = np.maximum(gap - source_gap, 0.0)  # the new gap, between the two parts
    in_lower = below_top > upper_share + opened / 2
    reach = np.where(in_lower, below_top - opened, below_top)
    inside_part = np.where(in_lower, reach - upper_share, upper_share - reach)
    attached = np.clip(0.5 + inside_part / max(softness, 1.0), 0.0, 1.0)
    source_down = source_top + reach
    x = source_axes.centre[0] + source_across * axes.across[0] + source_down * axes.down[0]
    y = source_axes.centre[1] + source_across * axes.across[1] + source_down * axes.down[1]
    return x.astype(np.float32), y.astype(np.float32), attached.astype(np.float32)


def cavity_coverage(
    shape: tuple[int, int],
    origin: tuple[int, int],
    upper: np.ndarray,
    lower: np.ndarray,
    inter_ocular_px: float,
) -> np.ndarray:
    """float32 (h, w) in [0, 1]: the inside of the inner-lip contours ``upper``, ``lower``
    (float (P, 2) frame pixels, corner to corner) over a box of ``shape`` at ``origin``."""
    coverage = polygon_coverage(np.concatenate([upper, lower[::-1]]), shape, origin)
    if not coverage.any():
        return coverage
    # Lips curl into the mouth: their inner edge is soft, never a cut.
    return np.asarray(cv2.GaussianBlur(coverage, (0, 0), max(0.6, 0.006 * inter_ocular_px)))


def paint_inner_mouth(
    shape: tuple[int, int],
    origin: tuple[int, int],
    upper: np.ndarray,
    lower: np.ndarray,
    axes: MouthFrame,
    inter_ocular_px: float,
    skin: np.ndarray,
    teeth: float = 1.0,
    darkest: np.ndarray | None = None,
    coverage: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Colours and coverage of a painted mouth interior over a box of the frame.

    ``shape``: (h, w) of the box; ``origin``: its top-left pixel (x, y). ``upper``, ``lower``:
    float (P, 2) inner-lip contours (continuous frame pixels, corner to corner).
    ``skin``: float (3,) mean RGB of the skin around the mouth. ``teeth``: how strongly the
    painted teeth show, 0..1 (0 where the source's own teeth show). ``darkest``: RGB (3,)
    of the back of this person's open mouth, if a source shows it. ``coverage``: the
    ``cavity_coverage`` of these contours, when the caller has it. Returns float32 (h, w, 3)
    RGB 0..255 and float32 (h, w) coverage in [0, 1] (the cavity, soft at its edge).
    """
    if coverage is None:
        coverage = cavity_coverage(shape, origin, upper, lower, inter_ocular_px)
    if not coverage.any():
        return np.zeros((*shape, 3), np.float32), coverage

    u, v = _mouth_coordinates(axes, shape, origin)
    upper_u, upper_v = _project(axes, upper)
    lower_u, lower_v = _project(axes, lower)
    top = _profile(upper_u, upper_v, u)
    gap = np.maximum(_profile(lower_u, lower_v, u) - top, 1e-3)
    depth = np.clip((v - top) / gap, 0.0, 1.0)  # 0 at the upper lip, 1 at the lower lip
    side = np.clip(np.abs(u) / max(axes.half_width, 1e-3), 0.0, 1.0)

    skin = np.asarray(skin, np.float32)
    skin_luma = float(skin @ _LUMA)
    # A dark, warm cavity, lit from the front: lighter just inside the lips, darkest at the
    # back of the throat and in the corners, where the cheeks shade it.
    centre = 1.0 - side**2
    near_lips = np.exp(-np.minimum(depth, 1.0 - depth) * gap / (0.015 * inter_ocular_px))
    light = (0.3 + 0.7 * centre) * (0.3 + 0.7 * near_lips * centre)
    dark, lit = skin * _CAVITY_DARK, skin * _CAVITY_LIT
    if darkest is not None:
        # The person's own mouth, seen in another frame, knows this light better.
        dark = np.minimum(dark, np.asarray(darkest, np.float32))
        lit = dark + (lit - dark) * 0.6
    colours = dark + (lit - dark) * light[..., None]

    open_px = float(np.max(lower_v) - np.min(upper_v))
    if open_px > 0.1 * inter_ocular_px:
        # The tongue lies low in the mouth and catches some light once the mouth is wide open.
        weight = 0.7 * _ramp(depth, 0.55, 0.95) * (1.0 - side**2)
        weight *= _ramp(gap, 0.1 * inter_ocular_px, 0.25 * inter_ocular_px)
        colours += (skin * _TONGUE - colours) * weight[..., None]

    if teeth > 0 and open_px > 0.03 * inter_ocular_px:
        hue = skin / max(skin_luma, 1.0)
        enamel = np.clip(1.15 * skin_luma, 60.0, 235.0) * (0.85 * _ENAMEL + 0.15 * hue)
        with_teeth = colours.copy()
        _paint_teeth(
            with_teeth, u, depth * gap, (1.0 - depth) * gap, gap, side, enamel, inter_ocular_px
        )
        colours += (with_teeth - colours) * min(teeth, 1.0)
    return colours.astype(np.float32), coverage


def _paint_teeth(
    colours: np.ndarray,
    across: np.ndarray,
    below_upper: np.ndarray,
    above_lower: np.ndarray,
    gap: np.ndarray,
    side: np.ndarray,
    enamel: np.ndarray,
    iod: float,
) -> None:
    """Upper teeth under the upper lip (and lower ones over the lower lip when wide open),
    in place. Distances are pixels; ``across`` is the position from the mouth's centre."""
    # Tooth edges across the front of the arch (inter-ocular units from the midline): central
    # and lateral incisors, canines, then premolars that turn away into the shadow.
    edges = np.array([0.0, 0.088, 0.155, 0.205, 0.245]) * iod
    distance = np.min(np.abs(np.abs(across)[..., None] - edges), axis=-1)
    seam = np.exp(-((distance / max(0.007 * iod, 0.7)) ** 2))
    notch = np.exp(-((distance / max(0.02 * iod, 1.0)) ** 2))
    # Each tooth a little shorter towards the corners; rounded corners at the biting edge.
    length = np.interp(np.abs(across), edges, [1.0, 1.0, 0.92, 0.95, 0.8])
    band = np.minimum(0.08 * iod, 0.55 * gap) * length * (1.0 - 0.12 * notch)
    soft = max(1.0, 0.008 * iod)
    fade = np.clip((0.95 - side) / 0.35, 0.0, 1.0)  # teeth recede into the corners' shadow
    upper = np.clip((band - below_upper) / soft, 0.0, 1.0) * fade
    # The upper lip shades the top of the teeth, the sides turn away from the light, and
    # the gaps between teeth are darker.
    shade = (1.0 - 0.45 * side**2) * (0.75 + 0.25 * _ramp(below_upper, 0.0, 0.4 * band + 1.0))
    shade *= 1.0 - 0.22 * seam
    tooth = enamel[None, None, :] * shade[..., None]
    colours += (tooth - colours) * upper[..., None]

    wide = _ramp(gap, 0.14 * iod, 0.26 * iod)
    lower_band = np.minimum(0.04 * iod, 0.2 * gap) * length * (1.0 - 0.12 * notch)
    lower = np.clip((lower_band - above_lower) / soft, 0.0, 1.0) * fade * wide * 0.75
    colours += (0.7 * tooth - colours) * lower[..., None]


def _ramp(x: np.ndarray, low: float | np.ndarray, high: float | np.ndarray) -> np.ndarray:
    """0 below ``low``, 1 above ``high``, linear between (element-wise)."""
    return np.clip((x - low) / np.maximum(np.asarray(high) - low, 1e-6), 0.0, 1.0)
