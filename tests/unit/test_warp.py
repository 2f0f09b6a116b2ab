"""Piecewise-affine warping: triangulation, rasterisation, maps and the convenience warp."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lipsync.compose.warp import (
    TriangleRaster,
    corner_inverses,
    crop_raster,
    flipped,
    rasterise,
    remap_bilinear,
    signed_areas,
    source_maps,
    triangle_affines,
    triangulate,
    warp_box,
    warp_piecewise_affine,
)
from lipsync.errors import InputError


def _pattern(size: int = 200) -> np.ndarray:
    """A textured uint8 RGB image: smooth gradients plus a sharp checkerboard."""
    y, x = np.mgrid[0:size, 0:size]
    checker = ((x // 9 + y // 7) % 2) * 120
    image = np.stack([x * 255 // size, y * 255 // size, checker + 60], axis=-1)
    return image.astype(np.uint8)


def _mesh(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random points inside [40, 160]² plus the square's corners, and their triangles."""
    rng = np.random.default_rng(seed)
    inner = rng.uniform(50, 150, (30, 2))
    corners = np.array([[40.0, 40.0], [160.0, 40.0], [40.0, 160.0], [160.0, 160.0]])
    points = np.concatenate([inner, corners])
    return points, triangulate(points)


def _outside_hull(points: np.ndarray, shape: tuple[int, int], margin: int = 2) -> np.ndarray:
    """bool mask of pixels at least ``margin`` pixels away from the points' convex hull."""
    hull = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    hull = cv2.dilate(hull, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    return hull == 0


def test_triangles_are_counter_clockwise_and_cover_the_hull() -> None:
    points, triangles = _mesh()
    assert triangles.dtype == np.int32 and triangles.shape[1] == 3
    areas = signed_areas(points, triangles)
    assert (areas > 0).all()
    assert areas.sum() == pytest.approx(120.0 * 120.0)


def test_affines_map_every_destination_vertex_to_its_source() -> None:
    points, triangles = _mesh()
    rng = np.random.default_rng(1)
    source = points + rng.normal(0, 4, points.shape)
    affines = triangle_affines(points, source, triangles)
    homogeneous = np.concatenate([points[triangles], np.ones((len(triangles), 3, 1))], axis=2)
    mapped = np.einsum("tki,tij->tkj", homogeneous, affines)
    np.testing.assert_allclose(mapped, source[triangles], atol=1e-9)


def test_degenerate_triangles_do_not_produce_nans() -> None:
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    affines = triangle_affines(points, points + 1.0, np.array([[0, 1, 2]]))
    assert np.isfinite(affines).all()


@pytest.mark.parametrize("step", [1, 2, 3])
def test_identity_leaves_the_image_unchanged(step: int) -> None:
    image = _pattern()
    points, triangles = _mesh()
    out = warp_piecewise_affine(image, points, points, triangles, step=step)
    assert np.abs(out.astype(int) - image).max() <= 1


@pytest.mark.parametrize("step", [1, 2])
def test_translating_every_point_moves_the_pattern(step: int) -> None:
    image = _pattern()
    points, triangles = _mesh()
    dx, dy = 7, -4
    offset = np.array([dx, dy], float)
    out = warp_piecewise_affine(image, points, points + offset, triangles, step=step)
    # Content at (x, y) lands at (x + dx, y + dy), well inside the moved mesh.
    moved = out[50 + dy : 150 + dy, 50 + dx : 150 + dx].astype(int)
    assert np.abs(moved - image[50:150, 50:150]).max() <= 1
    outside = _outside_hull(points + offset, image.shape[:2])
    assert np.array_equal(out[outside], image[outside])


def test_a_rotation_matches_cv2_warp_affine() -> None:
    image = _pattern()
    points, triangles = _mesh()
    rotation = cv2.getRotationMatrix2D((100.0, 100.0), 10.0, 1.05)
    # cv2 works in pixel indices; continuous coordinates are shifted by half a pixel.
    to_continuous = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    to_index = np.linalg.inv(to_continuous)
    continuous = (to_continuous @ np.vstack([rotation, [0, 0, 1]]) @ to_index)[:2]
    destination = points @ continuous[:, :2].T + continuous[:, 2]
    out = warp_piecewise_affine(image, points, destination, triangles)
    expected = cv2.warpAffine(image, rotation, (200, 200), flags=cv2.INTER_LINEAR)
    inside = np.zeros(image.shape[:2], bool)
    inside[70:130, 70:130] = True
    assert np.abs(out[inside].astype(int) - expected[inside]).max() <= 2


def test_pixels_outside_the_hull_are_untouched() -> None:
    image = _pattern()
    points, triangles = _mesh()
    rng = np.random.default_rng(2)
    destination = points.copy()
    destination[:30] += rng.normal(0, 2, (30, 2))  # the corners stay
    out = warp_piecewise_affine(image, points, destination, triangles)
    outside = _outside_hull(np.concatenate([points, destination]), image.shape[:2], margin=1)
    assert np.array_equal(out[outside], image[outside])
    assert not np.array_equal(out, image)


def test_coarse_maps_agree_with_exact_ones() -> None:
    image = _pattern()
    points, triangles = _mesh()
    rng = np.random.default_rng(3)
    destination = points.copy()
    destination[:30] += rng.normal(0, 3, (30, 2))
    exact = warp_piecewise_affine(image, points, destination, triangles, step=1)
    coarse = warp_piecewise_affine(image, points, destination, triangles, step=2)
    difference = np.abs(exact.astype(int) - coarse)[45:155, 45:155]
    assert difference.mean() < 2.0


def test_drawing_order_some_triangles_and_cropped_rasters() -> None:
    points, triangles = _mesh()
    chosen = np.arange(0, len(triangles), 2)
    raster = rasterise(points, triangles, (30, 30, 170, 170), order=chosen)
    drawn = np.unique(raster.ids[raster.ids >= 0])
    assert np.isin(drawn, chosen).all()
    # Where triangles overlap, the one drawn last wins.
    overlapping = np.array([[0, 1, 2], [0, 1, 2]])
    square = np.array([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0]])
    assert (rasterise(square, overlapping, (0, 0, 20, 20), order=[1, 0]).ids[2:8, 2:8] == 0).all()
    assert (rasterise(square, overlapping, (0, 0, 20, 20), order=[0, 1]).ids[2:8, 2:8] == 1).all()

    image = _pattern()
    source = points + 3.0
    full = rasterise(points, triangles, (30, 30, 170, 170), step=2)
    part = crop_raster(full, (61, 75, 120, 140))
    assert part.box[0] <= 61 and part.box[1] <= 75 and part.box[2] >= 120 and part.box[3] >= 140
    whole = warp_box(image, full, source)
    piece = warp_box(image, part, source)
    x, y = part.box[0] - full.box[0], part.box[1] - full.box[1]
    assert np.array_equal(whole[y : y + piece.shape[0], x : x + piece.shape[1]], piece)


def test_maps_are_the_identity_outside_the_mesh() -> None:
    points, triangles = _mesh()
    raster = rasterise(points, triangles, (0, 0, 200, 200))
    map_x, map_y = source_maps(raster, points + 5.0)
    assert map_x[10, 20] == pytest.approx(20.0) and map_y[10, 20] == pytest.approx(10.0)
    assert map_x[100, 100] == pytest.approx(105.0)


@pytest.mark.parametrize("step", [1, 3])
def test_the_map_is_each_triangles_own_affine(step: int) -> None:
    points, triangles = _mesh()
    rng = np.random.default_rng(4)
    source = points * 1.1 + rng.normal(0, 3, points.shape) + (400.0, 250.0)
    box = (33, 41, 168, 172)
    raster = rasterise(points, triangles, box, step)
    mapped = np.dstack(source_maps(raster, source))
    height, width = raster.shape
    assert mapped.shape == (height, width, 2) and mapped.dtype == np.float32
    # Every pixel centre whose block centre lies in a triangle maps by that triangle's
    # affine (exactly for step 1; within the blocks' interpolation error otherwise).
    affines = triangle_affines(points, source, triangles)
    ids = raster.ids[1:-1, 1:-1] if step > 1 else raster.ids
    rows, cols = np.nonzero(ids >= 0)
    rows, cols = rows * step + step // 2, cols * step + step // 2  # the block centres
    centres = np.stack([cols + box[0] + 0.5, rows + box[1] + 0.5, np.ones(len(rows))], axis=1)
    owner = ids[rows // step, cols // step]
    expected = np.einsum("ni,nij->nj", centres, affines[owner]) - 0.5
    np.testing.assert_allclose(mapped[rows, cols], expected, atol=2e-3)


def test_the_map_is_the_identity_outside_the_chosen_triangles() -> None:
    points, triangles = _mesh()
    raster = rasterise(points, triangles, (30, 30, 170, 170))
    chosen = np.zeros(len(triangles), bool)
    chosen[::3] = True
    mapped = np.dstack(source_maps(raster, points + 4.0, chosen))
    inside = raster.covered(chosen)
    assert inside.any() and (raster.covered() & ~inside).any()
    rows, cols = np.mgrid[0:140, 0:140]
    identity = np.stack([cols + 30.0, rows + 30.0], axis=-1)
    np.testing.assert_allclose(mapped[~inside], identity[~inside], atol=1e-3)
    np.testing.assert_allclose(mapped[inside], identity[inside] + 4.0, atol=1e-3)


def test_labels_are_compact_and_corner_inverses_solve_each_triangle() -> None:
    points, triangles = _mesh()
    raster = rasterise(points, triangles, (30, 30, 170, 170))
    assert raster.labels.dtype == np.uint8
    assert np.array_equal(raster.ids, raster.labels.astype(np.int32) - 1)
    many = np.tile(triangles, (300 // len(triangles) + 1, 1))
    assert rasterise(points, many, (30, 30, 170, 170)).labels.dtype == np.int32
    inverse, solvable = corner_inverses(points, triangles)
    corners = np.concatenate([points[triangles], np.ones((len(triangles), 3, 1))], axis=2)
    assert solvable.all()
    np.testing.assert_allclose(
        corners @ inverse, np.broadcast_to(np.eye(3), inverse.shape), atol=1e-9
    )
    flat = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    assert not corner_inverses(flat, np.array([[0, 1, 2]]))[1].any()


def test_flipped_finds_a_triangle_turned_over() -> None:
    points = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    triangles = np.array([[0, 1, 2], [1, 3, 2]])
    folded = points.copy()
    folded[2] = (0.0, -10.0)
    assert flipped(points, folded, triangles).tolist() == [True, False]


def test_bad_arguments_raise_input_errors() -> None:
    points, triangles = _mesh()
    with pytest.raises(InputError, match="step"):
        rasterise(points, triangles, (0, 0, 10, 10), step=0)
    with pytest.raises(InputError, match="positive size"):
        rasterise(points, triangles, (10, 10, 10, 20))
    with pytest.raises(InputError, match="triangulate"):
        triangulate(np.zeros((2, 2)))
    raster = rasterise(points, triangles, (0, 0, 50, 50))
    with pytest.raises(InputError, match="overlap"):
        crop_raster(raster, (60, 60, 80, 80))


@pytest.mark.parametrize("step", [1, 3])
def test_maps_from_small_and_large_label_types_agree(step: int) -> None:
    # Under 255 triangles the coefficients are looked up per uint8 label, otherwise gathered
    # by int32 label: the same sums, so the same maps.
    points, triangles = _mesh()
    source = points * 0.9 + (12.0, -7.0)
    small = rasterise(points, triangles, (33, 41, 168, 172), step)
    large = TriangleRaster(
        small.box, small.step, small.labels.astype(np.int32), small.dst_points, small.triangles
    )
    assert small.labels.dtype == np.uint8
    for from_small, from_large in zip(
        source_maps(small, source), source_maps(large, source), strict=True
    ):
        assert np.array_equal(from_small, from_large)


@pytest.mark.parametrize("step", [1, 3])
def test_map_planes_warp_as_one_interleaved_map_does(step: int) -> None:
    # The maps are two planes (no pass to interleave them); cv2.remap must sample the same
    # pixels from them as from the interleaved map they replace.
    points, triangles = _mesh()
    source = points * 1.05 + (7.3, -4.6)
    raster = rasterise(points, triangles, (33, 41, 168, 172), step)
    map_x, map_y = source_maps(raster, source)
    assert map_x.dtype == map_y.dtype == np.float32
    assert map_x.flags.c_contiguous and map_y.flags.c_contiguous
    image = _pattern()
    interleaved = np.dstack([map_x, map_y])
    expected = cv2.remap(  # type: ignore[call-overload]
        image, interleaved, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    assert np.array_equal(remap_bilinear(image, (map_x, map_y)), expected)
