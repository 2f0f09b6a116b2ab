"""Unit selection (the built-in engine's choice of a source mouth per output frame)."""

from __future__ import annotations

import numpy as np
import pytest

from lipsync.engines.builtin.select import SELF, SelectionCosts, select_path

SCALE = np.array([0.2, 0.2, 0.05])


def library_of(opens: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """A library whose entries are consecutive source frames with these openings."""
    shapes = np.array([[o, 0.6, 0.18] for o in opens])
    successor = np.arange(1, len(opens) + 1)
    successor[-1] = -1
    return shapes, successor


def test_picks_the_entry_matching_each_target():
    shapes, successor = library_of([0.02, 0.10, 0.20])
    successor[:] = -1  # unrelated frames: no continuity bonus
    targets = np.array([[0.2, 0.6, 0.18], [0.02, 0.6, 0.18], [0.1, 0.6, 0.18]])
    own = np.full((3, 3), [0.5, 0.9, 0.3])  # the shown frames' own mouths match nothing
    path = select_path(
        targets,
        shapes,
        successor,
        own,
        np.ones(3, bool),
        SCALE,
        SelectionCosts(jump=0.0, jump_shape=0.0),
    )
    assert path.tolist() == [2, 0, 1]


def test_prefers_playing_consecutive_frames_over_jumping():
    # Entries 0,1,2 are consecutive; entry 3 matches frame 1's target slightly better.
    shapes, successor = library_of([0.05, 0.10, 0.15, 0.11])
    successor[2] = -1
    successor[3] = -1
    targets = np.array([[0.05, 0.6, 0.18], [0.11, 0.6, 0.18], [0.15, 0.6, 0.18]])
    own = np.full((3, 3), np.nan)
    own[:] = [0.5, 0.9, 0.3]
    path = select_path(targets, shapes, successor, own, np.ones(3, bool), SCALE)
    assert path.tolist() == [0, 1, 2]


def test_keeps_its_own_mouth_when_it_already_matches():
    shapes, successor = library_of([0.02, 0.2])
    targets = np.array([[0.1, 0.6, 0.18]] * 4)
    own = np.array([[0.1, 0.6, 0.18]] * 4)
    path = select_path(targets, shapes, successor, own, np.ones(4, bool), SCALE)
    assert (path == SELF).all()


def test_frames_without_a_face_stay_themselves():
    shapes, successor = library_of([0.02, 0.2])
    targets = np.array([[0.2, 0.6, 0.18]] * 3)
    own = np.array([[0.0, 0.6, 0.18], [np.nan] * 3, [0.0, 0.6, 0.18]])
    path = select_path(targets, shapes, successor, own, np.ones(3, bool), SCALE)
    assert path[1] == SELF and path[0] == 1 and path[2] == 1


def test_empty_output():
    shapes, successor = library_of([0.1])
    path = select_path(
        np.zeros((0, 3)), shapes, successor, np.zeros((0, 3)), np.zeros(0, bool), SCALE
    )
    assert path.shape == (0,)


def test_long_outputs_are_linear_time():
    rng = np.random.default_rng(0)
    shapes, successor = library_of(list(rng.uniform(0, 0.25, 600)))
    n = 9000  # five minutes at 30 fps
    opening = 0.12 + 0.1 * np.sin(np.arange(n) / 4.0)  # a syllable every ~25 frames
    targets = np.column_stack([opening, np.full(n, 0.6), np.full(n, 0.18)])
    own = np.tile([0.05, 0.6, 0.18], (n, 1))
    path = select_path(targets, shapes, successor, own, np.ones(n, bool), SCALE)
    assert path.shape == (n,)
    chosen = np.where(path >= 0, shapes[np.maximum(path, 0), 0], 0.05)
    assert np.corrcoef(chosen, targets[:, 0])[0, 1] > 0.8


def _path_cost(path, targets, library, successor, own, continues, costs, lib_pose, pose):
    """The cost ``select_path`` minimises, written out frame by frame (a reference)."""
    weights = np.array(costs.feature_weights)

    def shape_of(t: int, choice: int) -> np.ndarray:
        return (own[t] if choice == SELF else library[choice]) / SCALE

    def shape_cost(t: int, choice: int) -> float:
        cost = float((((shape_of(t, choice) - targets[t] / SCALE) ** 2) * weights).sum())
        if choice == SELF:
            return cost - costs.self_bonus
        return cost + costs.pose * float(((lib_pose[choice] - pose[t]) ** 2).sum())

    total = 0.0
    for t, choice in enumerate(path):
        total += shape_cost(t, choice)
        if t == 0:
            continue
        before = path[t - 1]
        if before == SELF and choice == SELF:
            join = 0.0 if continues[t] else costs.hold
        elif before >= 0 and before == choice:
            join = costs.hold
        elif before >= 0 and successor[before] == choice:
            join = 0.0
        else:
            gap = ((shape_of(t - 1, before) - shape_of(t, choice)) ** 2 * weights).sum()
            join = costs.jump + costs.jump_shape * float(gap)
        total += join
    return total


def test_the_path_is_the_cheapest_of_all_paths():
    import itertools

    rng = np.random.default_rng(7)
    costs = SelectionCosts(beam=4)  # the whole library: the search is exhaustive
    for _ in range(15):
        targets = rng.uniform(0.0, 0.3, (4, 3))
        library = rng.uniform(0.0, 0.3, (4, 3))
        successor = np.array([1, 2, -1, -1])
        own = rng.uniform(0.0, 0.3, (4, 3))
        continues = rng.random(4) < 0.5
        lib_pose, pose = rng.normal(0, 0.05, (4, 2)), rng.normal(0, 0.05, (4, 2))
        args = (targets, library, successor, own, continues, costs, lib_pose, pose)
        path = select_path(
            targets, library, successor, own, continues, SCALE, costs, lib_pose, pose
        )
        best = min(
            _path_cost(candidate, *args)
            for candidate in itertools.product([SELF, 0, 1, 2, 3], repeat=4)
        )
        assert _path_cost(path.tolist(), *args) == pytest.approx(best, abs=1e-9)
