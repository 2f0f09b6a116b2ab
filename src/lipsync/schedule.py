"""Which source frame each output frame shows.

The output has one frame per video frame of speech. When the speech outlasts the video the
source frames repeat: ``pingpong`` plays them back and forth (no jump at the loop point),
``forward`` starts over. Reading follows the schedule in runs, so a reverse run is read in
forward blocks that are then reversed: memory stays bounded by the block, not the video.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from .options import LoopMode

if TYPE_CHECKING:
    from typing import Self  # Python 3.11; only for the type checker


def output_frame_count(speech_s: float, fps: float, source_frames: int, pad_audio: bool) -> int:
    """Frames in the output: the speech's length at ``fps`` (at least one frame); with
    ``pad_audio`` a longer video is kept whole and the speech is padded with silence."""
    n = max(1, round(speech_s * fps))
    if pad_audio and source_frames > n:
        return source_frames
    return n


def source_index(i: int, n_source: int, loop: LoopMode) -> int:
    """The source frame shown at output index ``i`` for a source of ``n_source`` frames."""
    if i < n_source:
        return i
    if loop == "forward" or n_source < 3:
        return i % n_source
    period = 2 * n_source - 2
    k = i % period
    return k if k < n_source else period - k


def source_schedule(runs: list[Run]) -> np.ndarray:
    """int64 (n_output,): the source frame shown at each output frame, from ``plan_runs``."""
    parts = [run.first + run.step * np.arange(run.length, dtype=np.int64) for run in runs]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


@dataclass(frozen=True)
class Run:
    """Output frames ``out_start`` … show source frames ``first``, ``first ± 1`` … (``length`` of them)."""

    out_start: int
    first: int
    length: int
    step: int  # +1 forward, -1 reverse, 0 the same frame repeated


def plan_runs(n_output: int, n_source: int, loop: LoopMode) -> list[Run]:
    """Split the schedule into maximal runs of consecutive (or repeated) source frames."""
    runs: list[Run] = []
    i = 0
    while i < n_output:
        first = source_index(i, n_source, loop)
        step = 1
        if i + 1 < n_output:
            delta = source_index(i + 1, n_source, loop) - first
            if delta in (-1, 0, 1):
                step = delta
        j = i + 1
        while j < n_output and source_index(j, n_source, loop) == first + step * (j - i):
            j += 1
        runs.append(Run(i, first, j - i, step))
        i = j
    return runs


class Frame(Protocol):
    """What a reader yields: an RGB array or a ``Yuv420Picture``."""

    def copy(self) -> Self: ...


F = TypeVar("F", bound=Frame)
FrameReader = Callable[[int, int], Iterator[F]]


def scheduled_frames(
    runs: list[Run], read: FrameReader[F], block: int
) -> Iterator[tuple[int, int, F]]:
    """Yield ``(output_index, source_index, frame)`` following ``runs``.

    ``read(start, stop)`` yields source frames start … stop-1 in order, each a fresh one.
    Reverse runs are read ``block`` frames at a time and reversed, so at most ``block``
    frames are held. Every frame yielded is the caller's to draw on: a frame held still is
    copied for each output frame.
    """
    for run in runs:
        if run.step == 1:
            for k, frame in enumerate(read(run.first, run.first + run.length)):
                yield run.out_start + k, run.first + k, frame
        elif run.step == 0:
            frame = next(iter(read(run.first, run.first + 1)))
            for k in range(run.length):
                yield run.out_start + k, run.first, frame.copy()
        else:
            emitted = 0
            top = run.first  # highest source index still to emit
            while emitted < run.length:
                count = min(block, run.length - emitted)
                low = top - count + 1
                frames = list(read(low, top + 1))
                for k, frame in enumerate(reversed(frames)):
                    yield run.out_start + emitted + k, top - k, frame
                emitted += count
                top = low - 1
