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

    def shape_cost(shapes: np.ndarray, target: np.ndarray) -> np.ndarray:
        return ((shapes - target) ** 2 * weights).sum(-1)

    # Per frame: candidate ids (library indices, then SELF) and their shapes.
    cand_ids: list[np.ndarray] = []
    cand_shapes: list[np.ndarray] = []
    cand_costs: list[np.ndarray] = []
    has_face = np.isfinite(own).all(1)
    for t in range(n_frames):
        if not has_face[t]:
            cand_ids.append(np.array([SELF]))
            cand_shapes.append(np.zeros((1, lib.shape[1])))
            cand_costs.append(np.zeros(1))
            continue
        lib_cost = shape_cost(lib, tgt[t]) if beam else np.zeros(0)
        if library_pose is not None and frame_pose is not None and beam:
            pose_gap = ((library_pose - frame_pose[t]) ** 2).sum(-1)
            lib_cost = lib_cost + costs.pose * np.nan_to_num(pose_gap, nan=1.0)
        top = np.argpartition(lib_cost, beam - 1)[:beam] if beam else np.zeros(0, np.int64)
        ids = np.concatenate([top, [SELF]]).astype(np.int64)
        shapes = np.concatenate([lib[top], own[t][None]])
        cand_ids.append(ids)
        cand_shapes.append(shapes)
        own_cost = shape_cost(own[t], tgt[t]) - costs.self_bonus
        cand_costs.append(np.concatenate([lib_cost[top], [own_cost]]))

    succ = np.asarray(successor, np.int64)
    total = cand_costs[0].copy()
    back: list[np.ndarray] = [np.zeros(len(total), np.int64)]
    for t in range(1, n_frames):
        prev_ids, ids = cand_ids[t - 1], cand_ids[t]
        distance = (cand_shapes[t - 1][:, None, :] - cand_shapes[t][None, :, :]) ** 2 * weights
        join = costs.jump + costs.jump_shape * distance.sum(-1)
        prev_lib = prev_ids >= 0
        natural = np.zeros_like(join, dtype=bool)
        natural[prev_lib] = succ[prev_ids[prev_lib]][:, None] == ids[None, :]
        held = (prev_ids[:, None] == ids[None, :]) & (prev_ids[:, None] >= 0)
        both_self = (prev_ids[:, None] == SELF) & (ids[None, :] == SELF)
        join[natural] = 0.0
        join[held] = costs.hold
        join[both_self] = 0.0 if self_continues[t] else costs.hold
        if not (has_face[t] and has_face[t - 1]):
            join[:] = 0.0  # nothing is shown across a frame without a face: no cut to hide
        scores = total[:, None] + join
        best_prev = scores.argmin(0)
        total = scores[best_prev, np.arange(len(ids))] + cand_costs[t]
        back.append(best_prev)

    path = np.empty(n_frames, np.int64)
    k = int(total.argmin())
    for t in range(n_frames - 1, -1, -1):
        path[t] = cand_ids[t][k]
        k = int(back[t][k])
    return path
