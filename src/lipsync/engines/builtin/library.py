"""The mouth library: this person's own mouths, cut from the video during the first pass.

Each entry keeps a small lower-face crop (``MouthSample``) and its shape. Memory is bounded:
entries are kept in contiguous segments (so that playing a segment reproduces natural motion),
and when the library would exceed ``max_entries`` every other segment is dropped, doubling the
stride. A 20 s clip keeps every frame; a 10-minute clip keeps evenly spread segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...faces.mouth import head_pose, mouth_features
from .render import MouthSample, cut_sample

SHAPE_COLUMNS = 3  # open, width, round: the columns of faces.mouth.mouth_features used here


@dataclass(frozen=True)
class MouthLibrary:
    """Entries in source order. ``shapes``: float32 (K, 3); ``source_index``: int64 (K,);
    ``successor``: int64 (K,), the entry holding the next source frame, or -1;
    ``poses``: float32 (K, 2), the head pose of each entry."""

    samples: list[MouthSample]
    shapes: np.ndarray
    source_index: np.ndarray
    successor: np.ndarray
    poses: np.ndarray  # float32 (K, 2), faces.mouth.head_pose of each entry

    def __len__(self) -> int:
        return len(self.samples)


class LibraryBuilder:
    """Collects entries frame by frame; ``build()`` returns the MouthLibrary."""

    def __init__(
        self,
        max_entries: int = 900,
        segment_frames: int = 30,
        max_inter_ocular_px: float = 160.0,
    ) -> None:
        self.max_entries = max_entries
        self.segment_frames = segment_frames
        self.max_inter_ocular_px = max_inter_ocular_px
        self._stride = 1  # keep segments whose number is a multiple of this
        self._entries: dict[int, tuple[MouthSample, np.ndarray, np.ndarray]] = {}

    def _keeps(self, index: int) -> bool:
        return (index // self.segment_frames) % self._stride == 0

    def add(self, index: int, frame: np.ndarray, landmarks: np.ndarray | None) -> None:
        """Offer source frame ``index`` (uint8 RGB (H, W, 3)) with its raw landmarks (468, 3)."""
        if landmarks is None or not np.isfinite(landmarks).all() or not self._keeps(index):
            return
        shape = mouth_features(landmarks)[:SHAPE_COLUMNS]
        if not np.isfinite(shape).all():
            return
        sample = cut_sample(frame, landmarks, self.max_inter_ocular_px)
        self._entries[index] = (sample, shape, head_pose(landmarks))
        while len(self._entries) > self.max_entries:
            self._stride *= 2
            self._entries = {i: e for i, e in self._entries.items() if self._keeps(i)}

    def build(self) -> MouthLibrary:
        order = sorted(self._entries)
        samples = [self._entries[i][0] for i in order]
        shapes = np.array([self._entries[i][1] for i in order], np.float32).reshape(
            -1, SHAPE_COLUMNS
        )
        source_index = np.array(order, np.int64)
        position = {src: k for k, src in enumerate(order)}
        successor = np.array([position.get(src + 1, -1) for src in order], np.int64)
        poses = np.array([self._entries[i][2] for i in order], np.float32).reshape(-1, 2)
        return MouthLibrary(samples, shapes, source_index, successor, poses)
