"""Piecewise-affine image warping on a triangle mesh.

A mesh is a set of points and a fixed list of triangles over them (``triangulate``). Warping
moves an image so that its content at the *source* points lands on the *destination* points,
each triangle by its own affine map; the maps agree along shared edges, so the result is
continuous. The warp is computed backwards: every destination pixel looks up the triangle that
covers it (``rasterise``), that triangle's inverse affine gives its source position
(``source_maps``), and one ``cv2.remap`` samples the image there (``remap_bilinear``).

Coordinates are continuous frame pixels, as in ``lipsync.faces.types``: pixel (col, row) covers
[col, col + 1) × [row, row + 1). Boxes are integer (x1, y1, x2, y2), x2 and y2 exclusive.

Cost is bounded by the destination box and the number of triangles, never by the image size:
one polygon fill per triangle, then a handful of whole-box passes (a look-up of each affine
coefficient by triangle label, two products, two sums) per map.
With ``step`` > 1 the source positions are computed on a coarser grid (block centres) and
interpolated bilinearly, which is exact inside each triangle and only smooths the map within a
block of the edges where the affine maps change.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError

Box = tuple[int, int, int, int]

_IDENTITY = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # as [x, y, 1] @ A
# fillConvexPoly takes fixed-point vertices: 4 fractional bits give 1/16-pixel precision.
_SHIFT = 4
_ONE = 1 << _SHIFT


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles over float (K, 2) points: int32 (T, 3) point indices.

    Every triangle is listed counter-clockwise on screen (positive signed area in image
    coordinates, y down), so ``flipped`` can tell when a deformation turns one inside out.
    """
    from scipy.spatial import Delaunay  # scipy is heavy to import; only meshes need it

    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
        raise InputError(f"triangulate needs (K >= 3, 2) points, got shape {points.shape}")
    triangles = np.asarray(Delaunay(points).simplices, np.int32)
    negative = signed_areas(points, triangles) < 0
    triangles[negative] = triangles[negative][:, ::-1]
    return triangles


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed area of each triangle in square pixels: float64 (T,), positive counter-clockwise."""
    corners = np.take(np.asarray(points, np.float64)[:, :2], triangles, axis=0)
    ab, ac = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    return 0.5 * (ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0])


def flipped(reference: np.ndarray, points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """bool (T,): triangles whose orientation in ``points`` is the opposite of ``reference``."""
    return np.sign(signed_areas(reference, triangles)) * signed_areas(points, triangles) < 0


@dataclass(frozen=True)
class TriangleRaster:
    """Which triangle covers each sample of a destination box, for one destination mesh.

    ``box``: the destination region (x1, y1, x2, y2) in pixels, with width and height
    multiples of ``step``. ``labels``: (h / step + 2·margin, w / step + 2·margin), uint8
    when there are fewer than 255 triangles (int32 otherwise): 1 + the index of the
    triangle at the centre of each step × step block, 0 outside the mesh; when step > 1 a
    ring of blocks around the box is included, so that interpolating the map never clamps
    at the box edge. ``dst_points``: float64 (K, 2) the destination points in continuous
    pixels. ``triangles``: int32 (T, 3).
    """

    box: Box
    step: int
    labels: np.ndarray
    dst_points: np.ndarray
    triangles: np.ndarray

    @property
    def ids(self) -> np.ndarray:
        """int32, the shape of ``labels``: the triangle index of each sample, -1 outside."""
        return self.labels.astype(np.int32) - 1

    @functools.cached_property
    def corner_inverses(self) -> tuple[np.ndarray, np.ndarray]:
        """``corner_inverses`` of the destination mesh, computed once per raster."""
        return corner_inverses(self.dst_points, self.triangles)

    @property
    def margin(self) -> int:
        """Extra grid samples around the box on every side (1 when step > 1, else 0)."""
        return 1 if self.step > 1 else 0

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the destination box in pixels."""
        return (self.box[3] - self.box[1], self.box[2] - self.box[0])

    def covered(self, triangles: np.ndarray | None = None) -> np.ndarray:
        """bool (h, w): pixels of the box inside the mesh (block resolution when step > 1);
        only inside the ``triangles`` (bool (T,)) when given."""
        if triangles is None:
            inside = self.labels > 0
        elif self.labels.dtype == np.uint8:
            # A look-up table: half the time of a gather, which widens every label first.
            table = np.zeros(256, np.uint8)
            table[1 : len(triangles) + 1] = np.asarray(triangles, bool)
            inside = np.asarray(cv2.LUT(self.labels, table)).view(bool)
        else:
            inside = np.take(np.append(False, np.asarray(triangles, bool)), self.labels)
        if self.step == 1:
            return inside
        inside = inside[1:-1, 1:-1]
        return np.repeat(np.repeat(inside, self.step, axis=0), self.step, axis=1)


def rasterise(
    dst_points: np.ndarray,
    triangles: np.ndarray,
    box: Box,
    step: int = 1,
    order: np.ndarray | None = None,
) -> TriangleRaster:
    """Find the triangle of the destination mesh under each sample of ``box``.

    ``dst_points``: float (K, 2+) continuous pixels; ``box``: (x1, y1, x2, y2), enlarged at
    the right and bottom to multiples of ``step``. Where triangles overlap (degenerate or
    folded ones), the one drawn later wins. ``order``: int (M,), the triangles to draw, in
    drawing order (the others count as outside the mesh); default all, in list order.
    Triangles that miss the box are skipped.
    """
    if step < 1:
        raise InputError(f"step must be at least 1, got {step}")
    x1, y1, x2, y2 = box
    width = -(-(x2 - x1) // step) * step
    height = -(-(y2 - y1) // step) * step
    if width <= 0 or height <= 0:
        raise InputError(f"box must have a positive size, got {box}")
    points = np.asarray(dst_points, np.float64)[:, :2]
    margin = 1 if step > 1 else 0
    # Grid sample (j, i) sits at the centre of block (j - margin, i - margin) of the box:
    # continuous x = x1 + (j - margin + 0.5)·step.
    grid = (points - (x1, y1)) / step - 0.5 + margin
    fixed = np.rint(grid * _ONE).astype(np.int32)
    # uint8 labels draw about twice as fast as int32 ones and make lookups cheaper.
    dtype = np.uint8 if len(triangles) < 255 else np.int32
    labels = np.zeros((height // step + 2 * margin, width // step + 2 * margin), dtype)
    corners = np.take(grid, triangles, axis=0)  # (T, 3, 2)
    low, high = corners.min(axis=1), corners.max(axis=1)
    visible = (high[:, 0] >= -1) & (high[:, 1] >= -1)
    visible &= (low[:, 0] <= labels.shape[1]) & (low[:, 1] <= labels.shape[0])
    drawn = np.arange(len(triangles)) if order is None else np.asarray(order, np.int64)
    drawn = drawn[visible[drawn]]
    polygons = list(np.take(fixed, np.take(triangles, drawn, axis=0), axis=0))
    fill = cv2.fillConvexPoly
    for label, polygon in zip((drawn + 1).tolist(), polygons, strict=True):
        fill(labels, polygon, label, cv2.LINE_8, _SHIFT)
    return TriangleRaster((x1, y1, x1 + width, y1 + height), step, labels, points, triangles)


def corner_inverses(dst_points: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle, the inverse of its corners' matrix (rows [x, y, 1]), so that the affine
    taking the corners to any three points S (3, 2) is ``inverse @ S``.

    ``dst_points``: float (K, 2+); ``triangles``: int (T, 3). Returns float64 (T, 3, 3) and
    bool (T,), whether the triangle has an area (degenerate ones get zeros).
    """
    corners = np.take(np.asarray(dst_points, np.float64)[:, :2], triangles, axis=0)
    x, y = corners[..., 0], corners[..., 1]
    following, preceding = [1, 2, 0], [2, 0, 1]
    x_next, x_prev = x[:, following], x[:, preceding]
    y_next, y_prev = y[:, following], y[:, preceding]
    # The adjugate, column by column (one column per corner); the determinant (twice the
    # signed area) is the sum of its last row.
    adjugate = np.stack([y_next - y_prev, x_prev - x_next, x_next * y_prev - x_prev * y_next], 1)
    determinant = adjugate[:, 2].sum(axis=1)
    solvable = np.abs(determinant) > 1e-9
    scale = np.where(solvable, 1.0 / np.where(solvable, determinant, 1.0), 0.0)
    return adjugate * scale[:, None, None], solvable


def triangle_affines(
    dst_points: np.ndarray,
    src_points: np.ndarray,
    triangles: np.ndarray,
    inverses: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """float64 (T, 3, 2): per triangle, ``[x, y, 1] @ A`` maps a destination point to its source.

    Degenerate destination triangles (no area) cover no pixels; they get the translation of
    their first vertex, so they never produce NaNs. ``inverses``: ``corner_inverses`` of
    the destination, when already known.
    """
    inverse, solvable = inverses or corner_inverses(dst_points, triangles)
    source = np.take(np.asarray(src_points, np.float64)[:, :2], triangles, axis=0)
    affines = inverse @ source
    if not solvable.all():
        first = triangles[~solvable, 0]
        shift = source[~solvable, 0] - np.asarray(dst_points, np.float64)[first, :2]
        affines[~solvable] = np.concatenate(
            [np.broadcast_to(np.eye(2), (len(first), 2, 2)), shift[:, None, :]], axis=1
        )
    return affines


@functools.lru_cache(maxsize=8)
def _sample_grid(step: int, rows: int, cols: int) -> np.ndarray:
    """float32 (rows, cols, 2, 3): per grid sample, twice (u, v, 1), its continuous position
    relative to the box's top-left corner (see ``rasterise``)."""
    u, v = _axes_up_to(step, rows, cols)
    grid = np.ones((rows, cols, 2, 3), np.float32)
    grid[..., 0] = u[None, :, None]
    grid[..., 1] = v[:, :, None]
    grid.flags.writeable = False
    return grid


def _grid_for(step: int, rows: int, cols: int) -> np.ndarray:
    # Cached in sizes rounded up, so that the boxes of a clip share a few grids.
    grid = _sample_grid(step, -(-rows // 64) * 64, -(-cols // 64) * 64)
    return grid[:rows, :cols]


def _map_by_lookup(
    rows: np.ndarray, labels: np.ndarray, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """float32 (gh, gw) twice: x = ax·u + bx·v + cx and y likewise, with each coefficient of
    ``rows`` (float32 (T + 1, 6)) looked up per sample by its uint8 label (``cv2.LUT``, a
    fifth faster than gathering whole rows). Same sums, in the same order, as the gather."""
    table = np.zeros((6, 256), np.float32)
    table[:, : len(rows)] = rows.T
    u, v = _sample_axes(step, *labels.shape)
    coordinates = []
    for first in (0, 3):
        a, b, c = (np.asarray(cv2.LUT(labels, table[first + k]), np.float32) for k in range(3))
        np.multiply(a, u, out=a)
        np.multiply(b, v, out=b)
        np.add(a, b, out=a)
        np.add(a, c, out=a)
        coordinates.append(a)
    return coordinates[0], coordinates[1]


def _sample_axes(step: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 (cols,) and (rows, 1): the grid samples' continuous positions relative to the
    box's top-left corner (see ``rasterise``), along x and along y; read-only."""
    # Cached in sizes rounded up, as ``_grid_for``: a sample's position depends on its index
    # alone.
    u, v = _axes_up_to(step, -(-rows // 64) * 64, -(-cols // 64) * 64)
    return u[:cols], v[:rows]


@functools.lru_cache(maxsize=8)
def _axes_up_to(step: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    margin = 1 if step > 1 else 0
    u = ((np.arange(cols, dtype=np.float64) - margin + 0.5) * step).astype(np.float32)
    v = ((np.arange(rows, dtype=np.float64) - margin + 0.5) * step).astype(np.float32)[:, None]
    u.flags.writeable = v.flags.writeable = False
    return u, v


def source_maps(
    raster: TriangleRaster, src_points: np.ndarray, triangles: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap``'s maps for the raster's box: float32 (h, w) each, the source pixel
    indices x and y.

    ``src_points``: float (K, 2+) continuous pixels of the source image, same order as the
    destination points. Outside the mesh (and outside ``triangles``, bool (T,), when given)
    the map is the identity (the box's own pixels). Two separate maps rather than one
    interleaved: interleaving costs a pass over the box, and remap samples no slower (faster,
    measured) from planes.
    """
    affines = triangle_affines(
        raster.dst_points, src_points, raster.triangles, raster.corner_inverses
    )
    if triangles is not None:
        affines[~np.asarray(triangles, bool)] = _IDENTITY
    # Per triangle, the map as [u, v, 1] @ A in box-local continuous coordinates (u, v),
    # minus the half pixel from continuous positions to pixel indices; row 0 (label 0,
    # outside the mesh) is the identity. Rows (ax, bx, cx, ay, by, cy): x = ax·u + bx·v + cx,
    # y = ay·u + by·v + cy.
    table = np.empty((len(affines) + 1, 2, 3))
    table[0] = _IDENTITY.T
    table[1:] = affines.transpose(0, 2, 1)
    table[..., 2] += raster.box[0] * table[..., 0] + raster.box[1] * table[..., 1] - 0.5
    rows = table.astype(np.float32).reshape(-1, 6)
    gh, gw = raster.labels.shape
    if raster.labels.dtype == np.uint8:
        maps = _map_by_lookup(rows, raster.labels, raster.step)
    else:
        # One gather of whole rows, one product with (u, v, 1) twice, one channel sum: each
        # a single pass over the box (three passes per coefficient, with NumPy alone).
        terms = np.take(rows, raster.labels, axis=0)
        np.multiply(terms, _grid_for(raster.step, gh, gw).reshape(gh, gw, 6), out=terms)
        ones = np.ones((1, 3), np.float32)
        interleaved = np.asarray(cv2.transform(terms.reshape(gh, gw * 2, 3), ones))
        maps = (interleaved[:, 0::2], interleaved[:, 1::2])
    if raster.step == 1:
        return np.ascontiguousarray(maps[0]), np.ascontiguousarray(maps[1])
    # Block centres line up with cv2.resize's sample positions, so bilinear resizing
    # interpolates the map exactly where it is affine. Resized as one two-channel image, as
    # before the maps were planes: resizing each plane alone rounds differently (by up to
    # 1e-3 px), and the same maps must give the same pictures.
    step = raster.step
    height, width = raster.shape
    coarse = np.asarray(cv2.merge(list(maps)))
    mapped = np.asarray(cv2.resize(coarse, (gw * step, gh * step), interpolation=cv2.INTER_LINEAR))
    map_x, map_y = cv2.split(mapped[step : step + height, step : step + width])
    return np.asarray(map_x), np.asarray(map_y)


def remap_bilinear(image: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``image`` (h, w[, C]) sampled bilinearly at ``maps`` (float32 (H, W) each, source
    pixel indices x and y: ``source_maps``): same dtype, shape (H, W[, C]). Positions
    beyond the image's edge repeat the edge pixels."""
    map_x, map_y = maps
    return np.asarray(
        cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    )


def warp_box(image: np.ndarray, raster: TriangleRaster, src_points: np.ndarray) -> np.ndarray:
    """The raster's box of the warped image: ``image`` (h, w[, C]) sampled bilinearly.

    Source positions beyond the image edge repeat the edge pixels. Same dtype as ``image``;
    shape (box height, box width[, C]).
    """
    return remap_bilinear(image, source_maps(raster, src_points))


def warp_piecewise_affine(
    image: np.ndarray,
    src_points: np.ndarray,
    dst_points: np.ndarray,
    triangles: np.ndarray,
    step: int = 1,
) -> np.ndarray:
    """A copy of ``image`` (uint8 or float (H, W[, C])) with its content moved from the source
    to the destination mesh; pixels outside the destination mesh are left untouched.

    ``src_points``, ``dst_points``: float (K, 2+) continuous pixels; ``triangles``: int32 (T, 3).
    """
    height, width = image.shape[:2]
    dst = np.asarray(dst_points, np.float64)[:, :2]
    x1 = max(0, int(np.floor(dst[:, 0].min())))
    y1 = max(0, int(np.floor(dst[:, 1].min())))
    x2 = min(width, int(np.ceil(dst[:, 0].max())) + 1)
    y2 = min(height, int(np.ceil(dst[:, 1].max())) + 1)
    out = image.copy()
    if x2 <= x1 or y2 <= y1:
        return out
    raster = rasterise(dst, triangles, (x1, y1, x2, y2), step)
    warped = warp_box(image, raster, src_points)[: y2 - y1, : x2 - x1]
    inside = raster.covered()[: y2 - y1, : x2 - x1]
    if warped.ndim == 3:
        inside = inside[..., None]
    np.copyto(out[y1:y2, x1:x2], warped, where=inside)
    return out


def crop_raster(raster: TriangleRaster, box: Box) -> TriangleRaster:
    """The part of ``raster`` that covers ``box``, widened outwards to whole blocks.

    Lets a second layer be warped over a smaller region with the same triangle lookup.
    ``box`` is clipped to the raster's box; raises InputError when they do not overlap.
    """
    rx1, ry1, rx2, ry2 = raster.box
    step = raster.step
    x1 = rx1 + (max(box[0], rx1) - rx1) // step * step
    y1 = ry1 + (max(box[1], ry1) - ry1) // step * step
    x2 = rx2 - (rx2 - min(box[2], rx2)) // step * step
    y2 = ry2 - (ry2 - min(box[3], ry2)) // step * step
    if x2 <= x1 or y2 <= y1:
        raise InputError(f"box {box} does not overlap the raster's box {raster.box}")
    col, row = (x1 - rx1) // step, (y1 - ry1) // step
    margin = 2 * raster.margin
    labels = raster.labels[
        row : row + (y2 - y1) // step + margin, col : col + (x2 - x1) // step + margin
    ]
    cropped = TriangleRaster((x1, y1, x2, y2), step, labels, raster.dst_points, raster.triangles)
    if "corner_inverses" in raster.__dict__:  # the same mesh: share what was worked out
        cropped.__dict__["corner_inverses"] = raster.corner_inverses
    return cropped
