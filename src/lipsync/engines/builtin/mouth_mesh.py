"""The triangle mesh over the lower face that the mouth renderer warps.

About 120 FaceMesh points: the lips (outer and inner contours and one middle row each), a ring
of skin around them, the chin, the lower cheeks and the jaw line (these *move* with the mouth),
and a row under the nose and across the cheeks (these are *fixed*: the upper jaw is part of
the skull). Around them a ring of *anchors*, the jaw line pushed outwards, holds the neck and
background in place, so the warp fades to nothing before the mesh's edge.

The triangulation is computed once, from a canonical face (the mean of several talking
clips, made symmetric, in inter-ocular units) with the mouth opened wide, so that the mouth
cavity is triangles of inner-lip points only and no triangle turns over as the mouth opens or
closes. The same topology serves every face.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ...compose.warp import signed_areas, triangulate
from ...faces import mouth as facemesh

# Canonical (x, y) in inter-ocular units: x to the subject's left on screen, y down, origin
# on the face's midline at the height of the outer eye corners.
_CANONICAL: dict[int, tuple[float, float]] = {
    61: (-0.291, 0.734), 185: (-0.269, 0.704), 40: (-0.228, 0.678), 39: (-0.174, 0.647), 37: (-0.087, 0.624),
    0: (0.000, 0.634), 267: (0.087, 0.624), 269: (0.174, 0.647), 270: (0.228, 0.678), 409: (0.269, 0.704),
    291: (0.291, 0.734), 146: (-0.264, 0.776), 91: (-0.226, 0.822), 181: (-0.168, 0.871), 84: (-0.092, 0.903),
    17: (0.000, 0.913), 314: (0.092, 0.903), 405: (0.168, 0.871), 321: (0.226, 0.822), 375: (0.264, 0.776),
    78: (-0.249, 0.728), 191: (-0.212, 0.711), 80: (-0.171, 0.707), 81: (-0.122, 0.703), 82: (-0.066, 0.702),
    13: (0.000, 0.704), 312: (0.066, 0.702), 311: (0.122, 0.703), 310: (0.171, 0.707), 415: (0.212, 0.711),
    308: (0.249, 0.728), 95: (-0.214, 0.758), 88: (-0.182, 0.773), 178: (-0.132, 0.786), 87: (-0.072, 0.795),
    14: (0.000, 0.799), 317: (0.072, 0.795), 402: (0.132, 0.786), 318: (0.182, 0.773), 324: (0.214, 0.758),
    73: (-0.153, 0.678), 72: (-0.082, 0.663), 11: (0.000, 0.667),
    302: (0.082, 0.663), 303: (0.153, 0.678),
    180: (-0.158, 0.834), 85: (-0.087, 0.862), 16: (0.000, 0.872), 315: (0.087, 0.862),
    404: (0.158, 0.834), 164: (0.000, 0.530), 393: (0.093, 0.538),
    391: (0.221, 0.562), 322: (0.282, 0.604), 410: (0.331, 0.661), 287: (0.358, 0.730), 273: (0.311, 0.806),
    335: (0.257, 0.867), 406: (0.188, 0.923), 313: (0.096, 0.963), 18: (0.000, 0.968), 83: (-0.096, 0.963),
    182: (-0.188, 0.923), 106: (-0.257, 0.867), 43: (-0.311, 0.806), 57: (-0.358, 0.730), 186: (-0.331, 0.661),
    92: (-0.282, 0.604), 165: (-0.221, 0.562), 167: (-0.093, 0.538), 32: (-0.250, 1.046), 262: (0.250, 1.046),
    199: (0.000, 1.115), 207: (-0.495, 0.557), 427: (0.495, 0.557), 208: (-0.136, 1.103), 428: (0.136, 1.103),
    210: (-0.423, 0.890), 430: (0.423, 0.890), 211: (-0.337, 0.971), 431: (0.337, 0.971), 214: (-0.505, 0.757),
    434: (0.505, 0.757), 192: (-0.591, 0.682), 416: (0.591, 0.682),
    58: (-0.680, 0.718), 172: (-0.609, 0.860), 136: (-0.529, 0.961), 150: (-0.428, 1.051),
    149: (-0.341, 1.115), 176: (-0.248, 1.172), 148: (-0.140, 1.215), 152: (0.000, 1.231), 377: (0.140, 1.215),
    400: (0.248, 1.172), 378: (0.341, 1.115), 379: (0.428, 1.051), 365: (0.529, 0.961), 397: (0.609, 0.860),
    288: (0.680, 0.718), 2: (0.000, 0.480), 93: (-0.755, 0.373),
    98: (-0.186, 0.465), 187: (-0.590, 0.508), 205: (-0.442, 0.444), 206: (-0.347, 0.521), 426: (0.347, 0.521),
    323: (0.755, 0.373), 327: (0.186, 0.465), 411: (0.590, 0.508), 425: (0.442, 0.444),
}  # fmt: skip

# The nose's base, and the cheeks beside the nose: rigid with the skull.
FIXED = (2, 98, 327, 93, 323, 187, 411, 205, 425, 206, 426)
LOWER_LIP = (
    facemesh.LIPS_OUTER_LOWER[1:-1] + facemesh.LIPS_INNER_LOWER[1:-1] + (180, 85, 16, 315, 404)
)
_UPPER_LIP = facemesh.LIPS_OUTER_UPPER + facemesh.LIPS_INNER_UPPER + (73, 72, 11, 302, 303)
# The face outline from ear to ear under the nose: pushed outwards, it becomes the anchors.
ANCHOR_BASE = (
    93, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 323,
)  # fmt: skip
ANCHOR_CENTRE = facemesh.NOSE_TIP
# How far the canonical mouth is opened for triangulating (inter-ocular units).
_TRIANGULATION_OPENING = 0.3
_CANONICAL_ANCHOR_MARGIN = 0.4
_CANONICAL_NOSE_TIP = (0.0, 0.402)
# The ring of skin around the lips. With the lips, these points take a source's positions as
# they are; the chin, cheeks and jaw line follow them smoothly (``_spread``).
RING = (
    164, 393, 391, 322, 410, 287, 273, 335, 406, 313, 18, 83, 182, 106, 43, 57, 186, 92, 165, 167,
)  # fmt: skip
_SPREAD_SIGMA = 0.15  # inter-ocular units


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class MouthMesh:
    """The fixed mesh topology and per-point roles (see the module docstring).

    Points are numbered: the K FaceMesh points of ``indices`` first, then one anchor per
    ``ANCHOR_BASE`` point. ``triangles``: int32 (T, 3), the mouth cavity first so that lip
    triangles win where a closed mouth's cavity folds over. ``appearance``: bool (T,), the
    triangles without anchors (where a source mouth's pixels exist). ``cavity``: bool (T,).
    ``core``: bool (K,), the lips and the ring of skin around them. ``side``: float (K,), 0
    under the mouth and chin, rising to 1 at the cheeks and the jaw's sides, where a turned
    head foreshortens the mesh. ``spread``: float (K, K),
    the displacement each point takes from a source mouth, as a
    mix of the *core* points' displacements (lips, the skin around them, the chin): the
    identity for the core, a smooth average of nearby core points for the cheeks and the jaw
    line (so they follow the mouth and the jaw without taking a source's cheek outline, which a
    different head pose would fold over), zero for fixed points.
    ``follow_lateral``, ``follow_vertical``: float (K,), how much of that displacement
    (across / along the face) a point takes: 1 at the mouth and chin, tapering to 0 towards the
    ears, where the current frame's head pose rules; 0 for fixed points.
    ``opening``: float (K,), how far a point moves down when the mouth is opened further (1 at
    the lower lip's centre and the chin). ``canonical``: float (K + anchors, 2).
    """

    indices: np.ndarray
    triangles: np.ndarray
    appearance: np.ndarray
    cavity: np.ndarray
    core: np.ndarray
    side: np.ndarray
    spread: np.ndarray
    follow_lateral: np.ndarray
    follow_vertical: np.ndarray
    opening: np.ndarray
    canonical: np.ndarray

    @property
    def size(self) -> int:
        """Number of FaceMesh points in the mesh (anchors excluded)."""
        return len(self.indices)

    @functools.cached_property
    def rendered_points(self) -> np.ndarray:
        """The FaceMesh points that rendering reads: the mesh's, and those that give the head
        pose (``faces.mouth.STABLE``, the nose tip); read-only."""
        points = np.concatenate([self.indices, facemesh.STABLE, [facemesh.NOSE_TIP]])
        points.flags.writeable = False
        return points

    def position(self, facemesh_index: int) -> int:
        """Where a FaceMesh point sits among the mesh points."""
        return int(self.positions((facemesh_index,))[0])

    def positions(self, facemesh_indices: tuple[int, ...]) -> np.ndarray:
        """Where FaceMesh points sit among the mesh points, in the given order: a read-only
        index array, made once per set (the renderer looks up a dozen sets per frame)."""
        known = self._positions
        found = known.get(facemesh_indices)
        if found is None:
            lookup = {int(index): k for k, index in enumerate(self.indices)}
            found = np.array([lookup[index] for index in facemesh_indices], np.intp)
            found.flags.writeable = False
            known[facemesh_indices] = found
        return found

    @functools.cached_property
    def _positions(self) -> dict[tuple[int, ...], np.ndarray]:
        return {}

    @functools.cached_property
    def side_with_anchors(self) -> np.ndarray:
        """float (K + A,): ``side``, and 0 for the anchors."""
        return np.concatenate([self.side, np.zeros(len(self.canonical) - self.size)])

    @functools.cached_property
    def at_side(self) -> np.ndarray:
        """bool (T,): the triangles with a corner at the cheeks or the jaw's sides."""
        return self.side_with_anchors[self.triangles].max(axis=1) > 0.5

    @functools.cached_property
    def canonical_orientation(self) -> np.ndarray:
        """float (T,): the sign of each triangle's area in the canonical face."""
        return np.sign(signed_areas(self.canonical, self.triangles))


def opening_weights(canonical: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """float (K,): downward motion per unit of extra opening for canonical points (K, 2).

    The lower lip and everything under it move with the jaw, fully under the mouth's centre.
    Towards the sides the motion fades out, within the mouth's width at the corners (where
    the lower lip is tied to the upper one) and ever wider further down, to the jaw's angles.
    The motion never decreases downwards, so no triangle folds over.
    """
    x, y = canonical[:, 0], canonical[:, 1]
    below_corners = y - _CANONICAL[facemesh.MOUTH_LEFT][1]
    half_width = 0.26 + 3.0 * np.maximum(below_corners, 0.0)
    lateral = np.sqrt(np.clip(1.0 - (x / half_width) ** 2, 0.0, 1.0))
    vertical = np.where(np.isin(indices, LOWER_LIP), 1.0, _smoothstep(0.0, 0.06, below_corners))
    weights = lateral * vertical
    upper = np.isin(indices, FIXED + _UPPER_LIP)
    weights[upper] = 0.0
    return weights


def anchor_points(
    outline: np.ndarray, centre: np.ndarray, down: np.ndarray, margin: float
) -> np.ndarray:
    """float (A, 2): the face outline (A, 2) pushed ``margin`` further away from ``centre``
    (2,), and up to half as much again downwards (unit vector ``down``), where the chin
    travels furthest when the jaw drops."""
    offsets = outline - centre
    directions = offsets / np.maximum(np.linalg.norm(offsets, axis=1, keepdims=True), 1e-9)
    distance = margin * (1.0 + 0.5 * np.clip(directions @ down, 0.0, 1.0))
    return outline + directions * distance[:, None]


def _spread(indices: np.ndarray, canonical: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """float (K, K): see ``MouthMesh.spread``."""
    core = np.isin(indices, _UPPER_LIP + LOWER_LIP + RING)
    distance = np.linalg.norm(canonical[:, None, :] - canonical[None, core, :], axis=-1)
    weights = np.exp(-0.5 * (distance / _SPREAD_SIGMA) ** 2)
    weights /= weights.sum(axis=1, keepdims=True)
    spread = np.zeros((len(canonical), len(canonical)))
    spread[:, core] = weights
    spread[core] = np.eye(len(canonical))[core]
    spread[fixed] = 0.0
    return spread


def _canonical_points() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """FaceMesh indices (K,), their canonical points (K, 2), the anchors (A, 2), and the
    points the triangulation is made over: the canonical face with its mouth opened wide,
    then the anchors ((K + A, 2))."""
    indices = np.array(list(_CANONICAL), np.int64)
    canonical = np.array([_CANONICAL[i] for i in indices], np.float64)
    anchor_base = np.array([_CANONICAL[i] for i in ANCHOR_BASE])
    anchors = anchor_points(
        anchor_base, np.array(_CANONICAL_NOSE_TIP), np.array([0.0, 1.0]), _CANONICAL_ANCHOR_MARGIN
    )
    opened = canonical.copy()
    opened[:, 1] += _TRIANGULATION_OPENING * opening_weights(canonical, indices)
    return indices, canonical, anchors, np.concatenate([opened, anchors])


def triangulate_canonical() -> np.ndarray:
    """int32 (T, 3): the Delaunay triangulation of the opened canonical face and its anchors,
    computed (with scipy); ``_TRIANGLES`` is this, stored."""
    return triangulate(_canonical_points()[3])


# ``triangulate_canonical()``, stored: computing it needs scipy, whose import alone costs
# almost a second of every run. A unit test recomputes it; after changing the canonical
# face, print ``triangulate_canonical().tolist()`` here.
_TRIANGLES: tuple[tuple[int, int, int], ...] = (
    (100, 69, 102), (126, 99, 127), (99, 107, 127), (126, 98, 99), (50, 69, 100), (98, 125, 124),
    (125, 98, 126), (104, 101, 102), (104, 103, 101), (103, 104, 73), (108, 110, 106),
    (108, 100, 102), (110, 108, 107), (69, 68, 102), (93, 120, 119), (97, 98, 124), (123, 97, 124),
    (97, 123, 96), (120, 94, 121), (94, 120, 93), (98, 82, 99), (51, 50, 100), (108, 51, 100),
    (83, 103, 73), (81, 83, 73), (3, 68, 69), (123, 122, 96), (80, 97, 96), (80, 71, 58),
    (76, 94, 93), (94, 76, 71), (110, 74, 106), (74, 82, 55), (97, 78, 98), (80, 78, 97),
    (118, 91, 119), (116, 89, 117), (66, 67, 1), (67, 105, 68), (105, 104, 102), (68, 105, 102),
    (104, 105, 73), (105, 66, 73), (66, 105, 67), (65, 81, 73), (66, 65, 73), (65, 64, 81),
    (64, 65, 11), (64, 11, 12), (103, 85, 101), (83, 85, 103), (101, 85, 111), (85, 83, 81),
    (4, 3, 69), (41, 4, 5), (4, 50, 5), (50, 4, 69), (41, 24, 23), (122, 95, 96), (95, 94, 71),
    (94, 95, 121), (95, 122, 121), (95, 80, 96), (80, 95, 71), (72, 76, 93), (82, 84, 99),
    (74, 84, 82), (109, 110, 107), (109, 74, 110), (109, 84, 74), (109, 107, 99), (84, 109, 99),
    (74, 54, 106), (54, 74, 55), (54, 53, 106), (78, 56, 98), (56, 82, 98), (82, 56, 55),
    (56, 19, 55), (45, 13, 12), (13, 45, 46), (70, 90, 89), (89, 90, 117), (118, 90, 91),
    (90, 118, 117), (75, 70, 61), (75, 72, 91), (72, 75, 61), (90, 75, 91), (75, 90, 70),
    (16, 17, 58), (49, 48, 36), (17, 48, 49), (48, 17, 16), (59, 16, 58), (71, 59, 58),
    (76, 59, 71), (72, 59, 76), (59, 15, 16), (19, 10, 55), (10, 54, 55), (43, 42, 5),
    (24, 42, 25), (42, 41, 5), (42, 24, 41), (24, 31, 23), (31, 22, 23), (22, 31, 20), (65, 0, 11),
    (0, 31, 11), (31, 0, 20), (20, 0, 1), (0, 66, 1), (0, 65, 66), (79, 70, 89), (85, 112, 111),
    (112, 86, 113), (86, 112, 85), (64, 86, 81), (86, 85, 81), (37, 49, 36), (37, 38, 49),
    (92, 72, 93), (72, 92, 91), (92, 93, 119), (91, 92, 119), (57, 78, 80), (57, 56, 78),
    (57, 80, 58), (17, 57, 58), (70, 62, 61), (79, 62, 70), (14, 15, 61), (14, 13, 46),
    (62, 14, 61), (14, 62, 13), (60, 59, 72), (60, 15, 59), (60, 72, 61), (15, 60, 61),
    (47, 14, 46), (14, 47, 15), (47, 48, 16), (15, 47, 16), (52, 51, 108), (52, 7, 51),
    (52, 108, 106), (53, 52, 106), (7, 6, 51), (6, 43, 5), (50, 6, 5), (51, 6, 50), (35, 25, 36),
    (35, 47, 46), (48, 35, 36), (47, 35, 48), (34, 24, 25), (35, 34, 25), (45, 34, 46),
    (34, 35, 46), (22, 40, 23), (40, 22, 3), (40, 41, 23), (40, 4, 41), (4, 40, 3), (22, 2, 3),
    (67, 2, 1), (2, 20, 1), (2, 67, 68), (3, 2, 68), (77, 86, 64), (42, 26, 25), (26, 42, 43),
    (25, 26, 36), (26, 37, 36), (8, 52, 53), (52, 8, 7), (57, 18, 56), (18, 38, 19), (56, 18, 19),
    (38, 18, 49), (18, 17, 49), (18, 57, 17), (63, 62, 79), (77, 63, 79), (13, 63, 12),
    (62, 63, 13), (63, 64, 12), (63, 77, 64), (33, 31, 24), (34, 33, 24), (33, 34, 45),
    (21, 22, 20), (2, 21, 20), (21, 2, 22), (77, 87, 86), (87, 77, 79), (38, 39, 19), (37, 39, 38),
    (26, 39, 37), (39, 10, 19), (39, 30, 10), (8, 28, 7), (39, 28, 30), (30, 9, 10), (8, 9, 30),
    (10, 9, 54), (54, 9, 53), (9, 8, 53), (32, 45, 12), (32, 33, 45), (33, 32, 31), (11, 32, 12),
    (31, 32, 11), (86, 114, 113), (87, 114, 86), (114, 87, 115), (88, 79, 89), (88, 87, 79),
    (87, 88, 115), (88, 116, 115), (116, 88, 89), (29, 8, 30), (28, 29, 30), (29, 28, 8),
    (28, 44, 7), (6, 44, 43), (44, 6, 7), (27, 26, 43), (44, 27, 43), (27, 44, 28), (27, 39, 26),
    (27, 28, 39), (107, 101, 111), (127, 107, 111), (107, 108, 101), (101, 108, 102),
)  # fmt: skip


@functools.lru_cache(maxsize=1)
def mouth_mesh() -> MouthMesh:
    """The renderer's mesh (built once per process, about 2 ms)."""
    indices, canonical, anchors, _ = _canonical_points()
    opening = opening_weights(canonical, indices)
    triangles: np.ndarray = np.array(_TRIANGLES, np.int32)

    inner = np.isin(indices, facemesh.LIPS_INNER)
    is_inner = np.concatenate([inner, np.zeros(len(anchors), bool)])
    is_still = np.concatenate([np.isin(indices, FIXED), np.ones(len(anchors), bool)])
    cavity = is_inner[triangles].all(axis=1)
    still = is_still[triangles].all(axis=1)
    # Drawing order (later wins where triangles overlap, e.g. where a turned head folds the
    # mesh): the cavity, then everything else.
    # Triangles that never move are left out: outside the mesh the warp is the identity anyway,
    # and the long, thin ones across the top would fold over when the head nods.
    moving, cavity = triangles[~still], cavity[~still]
    order = np.argsort(~cavity, kind="stable")
    triangles, cavity = moving[order], cavity[order]
    appearance = np.asarray((triangles < len(indices)).all(axis=1))

    lateral = np.abs(canonical[:, 0])
    fixed = np.isin(indices, FIXED)
    follow_lateral = np.where(fixed, 0.0, 1.0 - _smoothstep(0.35, 0.7, lateral))
    follow_vertical = np.where(fixed, 0.0, 1.0 - _smoothstep(0.4, 0.75, lateral))
    return MouthMesh(
        indices=indices,
        triangles=triangles,
        appearance=appearance,
        cavity=cavity,
        core=np.isin(indices, _UPPER_LIP + LOWER_LIP + RING),
        side=_smoothstep(0.4, 0.65, lateral),
        spread=_spread(indices, canonical, fixed),
        follow_lateral=follow_lateral,
        follow_vertical=follow_vertical,
        opening=opening,
        canonical=np.concatenate([canonical, anchors]),
    )
