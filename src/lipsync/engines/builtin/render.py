"""Render one output frame of the built-in engine: a source frame's mouth in the current face.

Two layers, both warped onto the same *target* geometry over the mesh of ``mouth_mesh``:

1. Target (``mouth_geometry``): each source mouth is carried into the current head pose by
   the similarity of the rigid upper face, and the sources are averaged by weight; the chin,
   cheeks and jaw follow the lips smoothly, so the face outline stays the current one.
2. Geometry layer: the current frame, warped so its lower face takes the target shape (the
   chin and jaw open and close with the new mouth; anchors beyond the jaw hold the rest).
3. Appearance layer: each source's pixels warped onto the target, blended by weight, their
   lighting matched to the geometry layer on a ring of skin around the lips
   (``mouth_blend``), the inside of a mouth opened further than its sources redone
   (``inner_mouth``), and laid over the geometry layer through a feathered mask around the
   lips that stays inside the warped area and the face's outline.

All work happens in a box around the lower face; pixels outside the replaced region are
returned bit-identical.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ...compose.warp import (
    TriangleRaster,
    crop_raster,
    rasterise,
    remap_bilinear,
    source_maps,
)
from ...errors import InputError, OptionsError
from ...faces import mouth as facemesh
from .inner_mouth import (
    attached_interior,
    cavity_coverage,
    interior_split,
    paint_inner_mouth,
    source_axes_of,
)
from .mouth_blend import lighting_gain, mask_polygon, soft_mask
from .mouth_geometry import (
    Box,
    MouthGeometry,
    clip_box,
    face_anchors,
    inner_gap,
    mouth_axes,
    render_box,
    target_geometry,
)
from .mouth_mesh import ANCHOR_BASE, anchor_points, mouth_mesh
from .mouth_sample import MouthSample, check_frame, check_landmarks, cut_sample

__all__ = ["MouthRenderer", "MouthSample", "RenderedMouth", "cut_sample"]

_MIN_INTER_OCULAR_PX = 16.0  # smaller faces are left as they are: their mouths are a few pixels
_MAX_EXTRA_OPEN = 0.4
# Room beyond the mesh and its anchors for the mouth to move, for ``region``: inter-ocular units.
_REGION_SLACK = 0.1
# Resolution of the geometry layer's map: blocks per inter-ocular distance (see
# ``MouthRenderer._geometry_layer``).
_GEOMETRY_BLOCKS_PER_IOD = 160
# The outer lip contour as one closed ring (faces.mouth.LIPS_OUTER runs both halves left to
# right, which draws a bow tie once the mouth opens).
_OUTER_LIP_RING = facemesh.LIPS_OUTER_UPPER + facemesh.LIPS_OUTER_LOWER[-2:0:-1]


@dataclass(frozen=True)
class RenderedMouth:
    """A rendered frame and where it differs from its input.

    ``frame``: uint8 RGB (H, W, 3). ``box``: (x1, y1, x2, y2) outside which the frame is the
    input's, or None when nothing changed. ``alpha``: float32 (H, W), the weight of the
    samples' pixels. ``warped``: bool (H, W), pixels the geometry layer moved.
    """

    frame: np.ndarray
    box: Box | None
    alpha: np.ndarray
    warped: np.ndarray


class MouthRenderer:
    """Transplants source mouths into frames (see the module docstring); keeps no per-frame state.

    ``feather``: softness of the mask's edge (Gaussian sigma), inter-ocular units.
    ``margin``: how far the mask reaches beyond the outer lip contour (sideways and down;
    less upwards, where the nose is), inter-ocular units. ``colour_match``: match the
    samples' lighting to the current frame. ``anchor_margin``: distance from the jaw line to
    the anchors that hold the neck and background, inter-ocular units. ``teeth``: paint
    teeth into a mouth opened beyond a source that shows none.
    """

    def __init__(
        self,
        feather: float = 0.04,
        colour_match: bool = True,
        margin: float = 0.12,
        anchor_margin: float = 0.4,
        teeth: bool = True,
    ) -> None:
        for name, value, low, high in (
            ("feather", feather, 0.005, 0.3),
            ("margin", margin, 0.0, 0.4),
            ("anchor_margin", anchor_margin, 0.15, 1.0),
        ):
            if not low <= value <= high:
                raise OptionsError(f"{name} must be in [{low}, {high}], got {value}")
        self.feather = feather
        self.colour_match = colour_match
        self.margin = margin
        self.anchor_margin = anchor_margin
        self.teeth = teeth
        self.mesh = mouth_mesh()

    def render(
        self,
        frame: np.ndarray,
        landmarks: np.ndarray,
        samples: Sequence[tuple[MouthSample, float]],
        extra_open: float = 0.0,
    ) -> np.ndarray:
        """uint8 RGB (H, W, 3): ``frame`` with the lower face showing the weighted mouth of ``samples``
        (weights sum to 1; one sample, or two while cross-fading between source frames) in this frame's head pose.
        ``extra_open`` (inter-ocular units, >= 0) opens the mouth further than the samples by warping, filling the
        inner mouth. Pixels outside the replaced region are bit-identical to ``frame``; the input is not modified."""
        return self.render_layers(frame, landmarks, samples, extra_open, debug=False).frame

    def mask(
        self,
        frame_shape: tuple[int, ...],
        landmarks: np.ndarray,
        samples: Sequence[tuple[MouthSample, float]],
        extra_open: float = 0.0,
    ) -> np.ndarray:
        """float32 (H, W) in [0, 1]: how much of the samples' pixels ``render`` shows where
        (for a debug overlay). ``frame_shape``: (H, W[, 3])."""
        blank = np.zeros((frame_shape[0], frame_shape[1], 3), np.uint8)
        return self.render_layers(blank, landmarks, samples, extra_open).alpha

    def render_layers(
        self,
        frame: np.ndarray,
        landmarks: np.ndarray,
        samples: Sequence[tuple[MouthSample, float]],
        extra_open: float = 0.0,
        debug: bool = True,
        in_place: bool = False,
    ) -> RenderedMouth:
        """Like ``render``, also returning where the frame changed (full-frame ``alpha`` and
        ``warped`` only when ``debug``; otherwise they are empty (0, 0) arrays).
        ``in_place``: draw into ``frame`` itself rather than a copy."""
        check_frame(frame)
        check_landmarks(landmarks, self.mesh)
        weighted = _check_samples(samples)
        if not (np.isfinite(extra_open) and extra_open >= 0):
            raise OptionsError(f"extra_open must be a number >= 0, got {extra_open}")
        height, width = frame.shape[:2]
        out = frame if in_place else frame.copy()
        alpha_full = np.zeros((height, width) if debug else (0, 0), np.float32)
        warped_full = np.zeros((height, width) if debug else (0, 0), bool)
        nothing = RenderedMouth(out, None, alpha_full, warped_full)
        if float(facemesh.inter_ocular(landmarks)) < _MIN_INTER_OCULAR_PX:
            return nothing
        geometry = target_geometry(
            self.mesh, landmarks, weighted, min(extra_open, _MAX_EXTRA_OPEN), self.anchor_margin
        )
        box = render_box(geometry, self.mesh, (width, height))
        if box is None:
            return nothing
        layer, moved, raster = self._geometry_layer(frame, geometry, box)
        x1, y1, x2, y2 = box
        region = out[y1:y2, x1:x2]
        cv2.copyTo(layer, moved.view(np.uint8), region)  # in place, into the output
        if debug:
            warped_full[y1:y2, x1:x2] = moved

        appearance = self._appearance(geometry, layer, raster)
        if appearance is not None:
            (mx1, my1, mx2, my2), alpha, colours = appearance
            base = region[my1 - y1 : my2 - y1, mx1 - x1 : mx2 - x1]
            blended = cv2.blendLinear(colours, base, alpha, 1.0 - alpha)
            cv2.copyTo(blended, (alpha > 1e-3).view(np.uint8), base)
            if debug:
                alpha_full[my1:my2, mx1:mx2] = alpha
        return RenderedMouth(out, box, alpha_full, warped_full)

    def region(self, landmarks: np.ndarray, frame_size: tuple[int, int]) -> Box:
        """The part of a (width, height) frame that rendering these landmarks normally reads
        and changes: the lower face with its anchors and room for the mouth to move, as
        ``render_layers`` reports in ``RenderedMouth.box`` (callers check it: a mouth moved
        unusually far reaches beyond)."""
        check_landmarks(landmarks, self.mesh)
        iod = float(facemesh.inter_ocular(landmarks))
        anchors = face_anchors(landmarks, mouth_axes(landmarks), self.anchor_margin * iod)
        points = np.concatenate([landmarks[self.mesh.indices, :2], anchors])
        reach = _REGION_SLACK * iod
        low, high = np.floor(points.min(axis=0) - reach), np.ceil(points.max(axis=0) + reach)
        box = clip_box((int(low[0]), int(low[1]), int(high[0]), int(high[1])), (0, 0, *frame_size))
        return box if box is not None else (0, 0, *frame_size)

    # -- geometry ---------------------------------------------------------------------------

    def _geometry_layer(
        self, frame: np.ndarray, geometry: MouthGeometry, box: Box
    ) -> tuple[np.ndarray, np.ndarray, TriangleRaster]:
        """The current frame warped onto the target over ``box``: uint8 (h, w, 3), bool
        (h, w), the pixels that actually moved, and the triangle raster (reused by the
        appearance layer)."""
        # A coarse map, interpolated, is exact inside each triangle but errs by up to several
        # pixels where the motion turns sharply (the thin triangles at a turned head's side,
        # measured on real clips): exact maps up to ~240 px between the eyes, then blocks of
        # well under 1% of that distance.
        step = max(1, round(geometry.iod / _GEOMETRY_BLOCKS_PER_IOD))
        # A thin fold left at a turned head's side (see ``mouth_geometry.unfold``) is drawn
        # first, so that its neighbours win where they overlap it.
        folded = geometry.folded & ~self.mesh.cavity
        order = np.concatenate([np.flatnonzero(folded), np.flatnonzero(~folded)])
        raster = rasterise(geometry.target, self.mesh.triangles, box, step, order)
        x1, y1, x2, y2 = box
        map_x, map_y = source_maps(raster, geometry.current)
        layer = remap_bilinear(frame, (map_x[: y2 - y1, : x2 - x1], map_y[: y2 - y1, : x2 - x1]))
        touched = geometry.moving[self.mesh.triangles].any(axis=1)
        moved = raster.covered(touched) if step == 1 else self._moved_blocks(raster, touched)
        moved = moved[: y2 - y1, : x2 - x1]
        return layer, moved, raster

    @staticmethod
    def _moved_blocks(raster: TriangleRaster, touched: np.ndarray) -> np.ndarray:
        """bool (h, w): the pixels a coarse map moves; ``touched``: bool (T,), the triangles
        that move."""
        blocks = np.take(np.append(False, touched).astype(np.uint8), raster.labels)
        # Maps are interpolated between block centres: a block beside a moving one moves
        # a little too.
        moved = np.asarray(cv2.dilate(blocks, np.ones((3, 3), np.uint8)))[1:-1, 1:-1]
        size = (moved.shape[1] * raster.step, moved.shape[0] * raster.step)
        return np.asarray(cv2.resize(moved, size, interpolation=cv2.INTER_NEAREST)).view(bool)

    # -- appearance -------------------------------------------------------------------------

    def _appearance(
        self, geometry: MouthGeometry, layer: np.ndarray, layer_raster: TriangleRaster
    ) -> tuple[Box, np.ndarray, np.ndarray] | None:
        """The mask's box, the mask (float32 (h, w)) and the samples' colours (uint8
        (h, w, 3)) there, matched to the frame's lighting, with the cavity painted where no
        sample shows one. ``layer``: the geometry layer, uint8 (h, w, 3), over the box of
        ``layer_raster``, the raster that made it."""
        mesh, iod, axes, target = self.mesh, geometry.iod, geometry.axes, geometry.target
        outer = target[mesh.positions(_OUTER_LIP_RING)]
        polygon = mask_polygon(outer, target[mesh.position(2)], axes, self.margin * iod)
        reach = int(np.ceil(3 * self.feather * iod)) + 1
        low, high = np.floor(polygon.min(axis=0)), np.ceil(polygon.max(axis=0))
        wanted = (
            int(low[0]) - reach,
            int(low[1]) - reach,
            int(high[0]) + reach,
            int(high[1]) + reach,
        )
        layer_box = (
            layer_raster.box[0],
            layer_raster.box[1],
            layer_raster.box[0] + layer.shape[1],
            layer_raster.box[1] + layer.shape[0],
        )
        box = clip_box(wanted, layer_box)
        if box is None:
            return None
        # The same triangles as the geometry layer, less those with anchors (no sample has
        # pixels there); the crop keeps whole blocks, so its end may pass the layer's.
        raster = crop_raster(layer_raster, box)
        x1, y1 = raster.box[0], raster.box[1]
        x2, y2 = min(raster.box[2], layer_box[2]), min(raster.box[3], layer_box[3])
        box = (x1, y1, x2, y2)
        shape, origin = (y2 - y1, x2 - x1), (x1, y1)

        # Never beyond the face's outline: on a turned head the far mouth corner is close to
        # it, and a source's cheek must not spill onto the hair or background behind.
        outline = target[mesh.positions(ANCHOR_BASE)]
        inside_outline = anchor_points(outline, target[mesh.position(2)], axes.down, -0.06 * iod)
        alpha = soft_mask(polygon, shape, origin, self.feather * iod, within=inside_outline)
        # The mask must stay where the samples have pixels; it does by construction, and
        # this makes sure of it.
        covered = raster.covered(mesh.appearance)[: shape[0], : shape[1]].astype(np.uint8)
        alpha *= cv2.erode(covered, np.ones((3, 3), np.uint8))

        padding = np.zeros((len(target) - mesh.size, 2))
        warped = []
        for source in geometry.sources:
            points = np.concatenate([source.points, padding])
            map_x, map_y = source_maps(raster, points, mesh.appearance)
            rows, cols = slice(0, shape[0]), slice(0, shape[1])
            pixels = remap_bilinear(source.sample.image, (map_x[rows, cols], map_y[rows, cols]))
            warped.append((source.weight, pixels))
        colours = _weighted_sum(warped)

        lx, ly = layer_box[0], layer_box[1]
        reference = layer[y1 - ly : y2 - ly, x1 - lx : x2 - lx]
        gain, skin = lighting_gain(reference, colours, outer, polygon, origin, iod)
        if self.colour_match:
            colours = cv2.multiply(colours, gain, dtype=cv2.CV_8U)
        target_gap = inner_gap(target, mesh)
        opened_further = any(
            target_gap > inner_gap(source.placed, mesh) + 0.5 for source in geometry.sources
        )
        if opened_further:
            self._fill_cavity(colours, gain if self.colour_match else None, origin, geometry, skin)
        return box, alpha, colours

    def _fill_cavity(
        self,
        colours: np.ndarray,
        gain: np.ndarray | None,
        origin: tuple[int, int],
        geometry: MouthGeometry,
        skin: np.ndarray,
    ) -> None:
        """Redo, in place, the inside of a mouth opened further than (some of) its sources.

        ``colours``: uint8 (h, w, 3), the blended samples at ``origin``, already multiplied
        by ``gain``. Each source's interior is moved with its lips (``attached_interior``);
        where no source shows anything, the cavity is painted from the frame's ``skin``."""
        mesh, target, iod = self.mesh, geometry.target, geometry.iod
        upper = target[mesh.positions(facemesh.LIPS_INNER_UPPER)]
        lower = target[mesh.positions(facemesh.LIPS_INNER_LOWER)]
        contour = np.concatenate([upper, lower])
        x1 = max(origin[0], int(np.floor(contour[:, 0].min())) - 2)
        y1 = max(origin[1], int(np.floor(contour[:, 1].min())) - 2)
        x2 = min(origin[0] + colours.shape[1], int(np.ceil(contour[:, 0].max())) + 2)
        y2 = min(origin[1] + colours.shape[0], int(np.ceil(contour[:, 1].max())) + 2)
        if x2 <= x1 or y2 <= y1:
            return
        rows = slice(y1 - origin[1], y2 - origin[1])
        cols = slice(x1 - origin[0], x2 - origin[0])
        view = colours[rows, cols]
        shape = (y2 - y1, x2 - x1)
        left, right = upper[0], upper[-1]
        axes = dataclasses.replace(
            geometry.axes,
            centre=(left + right) / 2,
            half_width=float(np.linalg.norm(right - left)) / 2,
        )

        real = np.zeros((*shape, 3), np.float32)
        real_weight = np.zeros(shape, np.float32)
        shown = np.zeros(shape, np.float32)
        own_teeth = 0.0
        darkest, darkest_weight = np.zeros(3, np.float32), 0.0
        for source in geometry.sources:
            mapped = source.placed
            if inner_gap(mapped, mesh) < 1.0:
                continue  # a closed source has no inside to show
            source_upper = mapped[mesh.positions(facemesh.LIPS_INNER_UPPER)]
            source_lower = mapped[mesh.positions(facemesh.LIPS_INNER_LOWER)]
            back = cv2.invertAffineTransform(source.matrix)
            split = interior_split(
                source.sample.image,
                back,
                source_axes_of(axes, source_upper),
                source_upper,
                source_lower,
            )
            if split.darkest is not None:
                darkest += source.weight * split.darkest
                darkest_weight += source.weight
            x, y, attached = attached_interior(
                shape, (x1, y1), axes, upper, lower, source_upper, source_lower, split, 0.03 * iod
            )
            map_x = (back[0, 0] * x + back[0, 1] * y + (back[0, 2] - 0.5)).astype(np.float32)
            map_y = (back[1, 0] * x + back[1, 1] * y + (back[1, 2] - 0.5)).astype(np.float32)
            pixels = cv2.remap(
                source.sample.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            ).astype(np.float32)
            real += (source.weight * attached)[..., None] * pixels
            real_weight += source.weight * attached
            shown = np.maximum(shown, attached)
            # A source open by a few percent of the eye distance shows its own teeth, if
            # any; painted ones would double them.
            opening = inner_gap(mapped, mesh) / iod
            own_teeth += source.weight * float(np.clip((opening - 0.02) / 0.03, 0.0, 1.0))
        real /= np.maximum(real_weight, 1e-6)[..., None]
        if gain is not None:
            real *= gain[rows, cols]
        own_dark = None
        if darkest_weight > 0:
            own_dark = darkest / darkest_weight
            if gain is not None:
                own_dark = own_dark * gain[rows, cols].reshape(-1, 3).mean(axis=0)
        cavity = cavity_coverage(shape, (x1, y1), upper, lower, iod)
        if (shown[cavity > 0.01] > 0.999).all():
            inside = real  # a source shows all of it (a cross-fade towards an open mouth)
        else:
            teeth = (1.0 - own_teeth) * float(self.teeth)
            painted, _ = paint_inner_mouth(
                shape, (x1, y1), upper, lower, axes, iod, skin, teeth, own_dark, cavity
            )
            inside = painted + (real - painted) * shown[..., None]
        current = view.astype(np.float32)
        current += (inside - current) * cavity[..., None]
        view[:] = np.clip(current + 0.5, 0, 255).astype(np.uint8)


def _weighted_sum(layers: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """uint8: the weighted sum of uint8 images whose weights sum to 1."""
    total, image = layers[0]
    image = image.copy()
    for weight, other in layers[1:]:
        # Running blend: after each step ``image`` holds the normalised mix so far.
        total += weight
        image = cv2.addWeighted(image, 1.0 - weight / total, other, weight / total, 0.0)
    return image


def _check_samples(samples: Sequence[tuple[MouthSample, float]]) -> list[tuple[MouthSample, float]]:
    if len(samples) == 0:
        raise InputError("at least one mouth sample is needed")
    weights = np.array([float(weight) for _, weight in samples])
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise OptionsError(
            f"sample weights must be >= 0 with a positive sum, got {weights.tolist()}"
        )
    for sample, _ in samples:
        if not isinstance(sample, MouthSample):
            raise InputError(f"samples must be MouthSample, got {type(sample).__name__}")
    weights = weights / weights.sum()
    return [(sample, float(w)) for (sample, _), w in zip(samples, weights, strict=True) if w > 0]
