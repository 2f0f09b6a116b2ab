"""Choose a source mouth for every output frame: unit selection by dynamic programming.

As in concatenative speech synthesis (and Video Rewrite), each output frame may take its mouth
from any frame in the library, or keep its own (``SELF``). The best path minimises
target cost (how far the candidate's shape is from the wanted shape) plus join cost (a jump
between unrelated source frames shows; playing consecutive source frames does not). Only the
``beam`` best candidates by target cost are considered per frame, so the cost is linear in the
length of the output.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SELF = -1  # the output frame keeps the mouth of the source frame it shows


@dataclass(frozen=True)
class SelectionCosts:
    """Weights of the path cost; shapes are compared after dividing by ``scale`` per column."""

    feature_weights: tuple[float, ...] = (1.0, 0.35, 0.2)  # open matters most, then width
    # A cut to an unrelated source frame (hidden by a cross-fade, still visible in the teeth
    # and lip texture): about the cost of missing the opening by a quarter of the range for
    # a frame. Higher values play longer natural stretches at the expense of sync.
    jump: float = 0.06
    jump_shape: float = 0.1  # …plus this times the shape distance across the cut
    hold: float = 0.02  # repeating the same source frame: fine once, a frozen mouth looks dead
    # A mouth seen from another angle warps less convincingly: cost per squared difference of
    # head pose (inter-ocular units; 0.1 is a clearly different turn of the head).
    pose: float = 2.0
    # Keeping the frame's own mouth needs no rendering and has no seam at all: worth about
    # missing the target opening by a fifth of the speaker's range.
    self_bonus: float = 0.04
    beam: int = 24


def select_path(
    targets: np.ndarray,
    library: np.ndarray,
    successor: np.ndarray,
    self_shapes: np.ndarray,
    self_continues: np.ndarray,
    scale: np.ndarray,
    costs: SelectionCosts | None = None,
    library_pose: np.ndarray | None = None,
    frame_pose: np.ndarray | None = None,
) -> np.ndarray:
    """The best source for each output frame: int64 (T,), a library index or ``SELF``.

    ``targets``: float (T, C) wanted shapes. ``library``: float (K, C) shapes of the library's
    frames; ``successor``: int (K,), the entry that follows each one in its source video, or
    -1. ``self_shapes``: float (T, C) the shape each output frame already shows (NaN rows: no
    face, so ``SELF`` is free and nothing else is possible). ``self_continues``: bool (T,),
    frame t shows the source frame after (or before, in a ping-pong) frame t-1's.
    ``scale``: (C,) typical spread of each column. ``library_pose`` (K, 2) and ``frame_pose``
    (T, 2) (``faces.mouth.head_pose``), when given, make mouths seen from the current angle
    cheaper; ``SELF`` has no pose cost, which is also why it is preferred when it fits.
    """
    costs = costs or SelectionCosts()
    n_frames = len(targets)
    if n_frames == 0:
        return np.zeros(0, np.int64)
    weights = np.asarray(costs.feature_weights[: targets.shape[1]], np.float64)
    lib = np.asarray(library, np.float64) / scale
    tgt = np.asarray(targets, np.float64) / scale
    own = np.asarray(self_shapes, np.float64) / scale
    beam = min(costs.beam, len(lib))
    has_face = np.isfinite(own).all(1)

    # Every frame's candidates at once (the per-frame work below is only the recursion):
    # the ``beam`` library entries of lowest target cost, then SELF. Where a frame has no
    # face, SELF alone is possible: its other candidates are barred by an infinite cost.
    ids = np.full((n_frames, beam + 1), SELF, np.int64)
    shapes = np.zeros((n_frames, beam + 1, lib.shape[1]))
    cand_costs = np.zeros((n_frames, beam + 1))
    if beam:
        lib_cost = _weighted_distance(tgt[:, None, :], lib[None, :, :], weights)  # (T, K)
        if library_pose is not None and frame_pose is not None:
            pose_gap = _weighted_distance(frame_pose[:, None, :], library_pose[None, :, :])
            lib_cost = lib_cost + costs.pose * np.nan_to_num(pose_gap, nan=1.0)
        top = np.argpartition(lib_cost, beam - 1, axis=1)[:, :beam]
        ids[:, :beam] = top
        shapes[:, :beam] = lib[top]
        cand_costs[:, :beam] = np.take_along_axis(lib_cost, top, axis=1)
    shapes[:, beam] = np.where(has_face[:, None], own, 0.0)
    own_cost = ((own - tgt) ** 2 * weights).sum(-1) - costs.self_bonus
    cand_costs[:, beam] = np.where(has_face, own_cost, 0.0)
    ids[~has_face, :beam] = SELF
    cand_costs[~has_face, :beam] = np.inf

    # Join costs between the candidates of frames t-1 (rows) and t (columns), for every t.
    succ = np.asarray(successor, np.int64)
    prev_ids, next_ids = ids[:-1, :, None], ids[1:, None, :]
    distance = _weighted_distance(shapes[:-1, :, None, :], shapes[1:, None, :, :], weights)
    join = costs.jump + costs.jump_shape * distance
    following = succ[np.maximum(prev_ids, 0)] if len(succ) else np.full(prev_ids.shape, SELF)
    natural = (prev_ids >= 0) & (following == next_ids)
    held = (prev_ids == next_ids) & (prev_ids >= 0)
    both_self = (prev_ids == SELF) & (next_ids == SELF)
    join[natural] = 0.0
    join[held] = costs.hold
    join[both_self] = np.where(self_continues[1:], 0.0, costs.hold)[np.nonzero(both_self)[0]]
    # Nothing is shown across a frame without a face: no cut to hide.
    join[~(has_face[1:] & has_face[:-1])] = 0.0

    total = cand_costs[0].copy()
    back = np.zeros((n_frames, beam + 1), np.int64)
    columns = np.arange(beam + 1)
    for t in range(1, n_frames):
        scores = total[:, None] + join[t - 1]
        best_prev = scores.argmin(0)
        total = scores[best_prev, columns] + cand_costs[t]
        back[t] = best_prev

    path = np.empty(n_frames, np.int64)
    k = int(total.argmin())
    for t in range(n_frames - 1, -1, -1):
        path[t] = ids[t, k]
        k = int(back[t, k])
    return path


def _weighted_distance(
    a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Σ_c weights[c]·(a[..., c] − b[..., c])² over the last axis, broadcasting the rest: one
    pass per column, a few times faster than a sum over a last axis of two or three (and
    the same additions in the same order)."""
    total: np.ndarray | None = None
    for c in range(a.shape[-1]):
        term = (a[..., c] - b[..., c]) ** 2
        if weights is not None:
            term = term * weights[c]
        total = term if total is None else total + term
    assert total is not None
    return total
