"""Which source frame each output frame shows, and reading the schedule in bounded blocks."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from lipsync.prefetch import queue_depth
from lipsync.schedule import output_frame_count, plan_runs, scheduled_frames, source_index


def test_output_length_follows_the_speech():
    assert output_frame_count(2.0, 25, 10, pad_audio=False) == 50
    assert output_frame_count(2.0, 25, 80, pad_audio=False) == 50  # trimmed
    assert output_frame_count(2.0, 25, 80, pad_audio=True) == 80  # padded
    assert output_frame_count(0.001, 25, 1, pad_audio=False) == 1


def test_pingpong_turns_without_repeating_the_end_frames():
    order = [source_index(i, 4, "pingpong") for i in range(12)]
    assert order == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]
    assert [source_index(i, 4, "forward") for i in range(6)] == [0, 1, 2, 3, 0, 1]
    assert [source_index(i, 1, "pingpong") for i in range(3)] == [0, 0, 0]


@pytest.mark.parametrize("loop", ["pingpong", "forward"])
@pytest.mark.parametrize(
    ("n_out", "n_source", "block"), [(50, 7, 3), (5, 9, 2), (30, 2, 4), (9, 1, 5)]
)
def test_scheduled_frames_follow_the_schedule_with_bounded_reads(loop, n_out, n_source, block):
    reads: list[tuple[int, int]] = []

    def read(start: int, stop: int) -> Iterator[np.ndarray]:
        reads.append((start, stop))
        return iter([np.array([k]) for k in range(start, stop)])

    runs = plan_runs(n_out, n_source, loop)
    got = list(scheduled_frames(runs, read, block))
    assert [o for o, _, _ in got] == list(range(n_out))
    assert [s for _, s, _ in got] == [source_index(i, n_source, loop) for i in range(n_out)]
    assert all(int(f[0]) == s for _, s, f in got)
    # Reverse runs are read in blocks: nothing but a forward run is read in one go.
    forward_lengths = {r.length for r in runs if r.step == 1}
    assert all(b - a <= block or b - a in forward_lengths for a, b in reads)
    assert all(0 <= a < b <= n_source for a, b in reads)


def test_queues_hold_a_batch_and_some_slack_within_their_memory() -> None:
    frame_720p = 1280 * 720 * 3
    assert queue_depth(1, frame_720p) == 9
    assert queue_depth(16, frame_720p) == 24
    assert queue_depth(64, 3840 * 2160 * 3) == 5  # 4K: 128 MiB hold five frames
    assert queue_depth(64, 8192 * 8192 * 3) == 4  # never fewer than four


def test_a_frame_held_still_is_a_new_copy_each_time() -> None:
    reads: list[tuple[int, int]] = []

    def read(start: int, stop: int) -> Iterator[np.ndarray]:
        reads.append((start, stop))
        return iter([np.full(3, k) for k in range(start, stop)])

    got = [frame for _, _, frame in scheduled_frames(plan_runs(4, 1, "pingpong"), read, 2)]
    assert reads == [(0, 1)]  # read once
    got[0][:] = 9  # the caller draws on one output frame: the others keep the source
    assert [f.tolist() for f in got] == [[9, 9, 9], [0, 0, 0], [0, 0, 0], [0, 0, 0]]
