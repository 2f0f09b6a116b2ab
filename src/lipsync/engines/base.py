"""The sync-engine interface: what every engine (Wav2Lip, the built-in engine, …) provides.

The pipeline owns decoding, face tracking, compositing and encoding; an engine only turns
"this frame, this face, this moment of speech" into a regenerated face crop. Engines that
need the whole clip first (the built-in engine's mouth library) do it in ``prepare``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..faces.types import FaceTrack
from ..media.yuv import Yuv420Picture


@dataclass(frozen=True)
class Speech:
    """The speech track, decoded: float32 mono at ``sample_rate`` (16 kHz), shape (S,)."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class EngineInput:
    """One output frame for the engine.

    ``frame``: uint8 RGB (H, W, 3), the source frame shown at output index ``index``.
    ``box``: the padded face crop (x1, y1, x2, y2) in frame pixels, integer, clipped to the
    frame; None when no face is tracked in this frame (the engine must return None for it).
    ``landmarks``: FaceMesh points (468, 3) float32 in frame pixels, or None.
    """

    index: int
    frame: np.ndarray
    box: tuple[int, int, int, int] | None
    landmarks: np.ndarray | None
    source_index: int = -1  # the source frame shown (differs from ``index`` when looping)


@dataclass(frozen=True)
class PictureInput:
    """One output frame for ``Engine.edit_pictures``: ``picture``, the source frame shown at
    output index ``index`` in the decoder's YUV, which the engine edits in place;
    ``landmarks`` as in ``EngineInput`` (None: no face tracked here). ``rgb``: a box of the
    picture (x1, y1, x2, y2) and a frame-sized uint8 RGB canvas holding that box's pixels in
    frame coordinates (the rest undefined), when ``Engine.preload`` converted one."""

    index: int
    picture: Yuv420Picture
    landmarks: np.ndarray | None
    source_index: int = -1
    rgb: tuple[tuple[int, int, int, int], np.ndarray] | None = None


@dataclass(frozen=True)
class ClipContext:
    """What the pipeline learnt about the video in its first pass, for engines that use it.

    ``track``: the face track of every source frame. ``schedule``: int64 (n_out,), the source
    frame shown at each output frame (trim, forward loop or ping-pong). ``own_speech``: the
    video's own sound track (16 kHz mono) when it has one and the engine asked for it.
    """

    fps: float
    track: FaceTrack
    schedule: np.ndarray
    own_speech: Speech | None = None


class Engine(ABC):
    """A sync engine. Life cycle: ``prepare`` once, ``generate`` per batch, ``close``.

    Engines that learn from the video itself (the built-in engine's mouth library) also get
    every analysed frame through ``analyse_frame`` during the first pass and the clip's
    context through ``analyse_clip`` before ``prepare``.
    """

    name: str = "engine"
    # True: ``generate`` returns whole frames, already composited (the engine blends itself);
    # False: it returns face crops of the box's size, which the pipeline blends in.
    composites_itself: bool = False
    # True: the pipeline also decodes the video's own sound track into ``ClipContext``.
    uses_video_audio: bool = False
    # The most frames one ``generate`` call gains from (None: any number, as a network that
    # batches them). An engine that renders frame by frame says 1: frames then flow to the
    # encoder one by one, not in bursts that leave the decoder and the encoder idle in turn.
    max_batch_size: int | None = None
    # True: the engine is quick enough that decoding the video twice is a noticeable share of
    # a run (a fifth of the built-in engine's CPU), so the pipeline keeps the first pass's
    # decoded pictures for the second, up to its ``frame_cache_bytes``. Not worth the memory
    # beside Wav2Lip on a CPU, where decoding is 3 % of the time.
    cache_frames: bool = False

    # The region ``generate`` regenerates: "face" (the whole face crop) or "mouth" (lips and
    # jaw); the enhancement stage improves that region unless told otherwise.
    regenerated_region: Literal["mouth", "face"] = "face"
    # True: ``edit_pictures`` is implemented. An engine that composites itself and changes a
    # small region gains from it: the pipeline then converts nothing to RGB and back but
    # that region (used when no enhancer or side output needs whole RGB frames).
    edits_pictures: bool = False

    def listen(self, speech: Speech) -> None:  # noqa: B027
        """As the first pass starts: the speech, for engines that analyse it meanwhile. Called
        from another thread, possibly while ``analyse_frame`` runs (the pipeline decodes the
        speech beside the first pass); always before ``analyse_clip``."""

    def analyse_frame(self, index: int, frame: np.ndarray, landmarks: np.ndarray | None) -> None:  # noqa: B027
        """First pass: source frame ``index`` (uint8 RGB (H, W, 3)) and its raw landmarks."""

    def analyse_clip(self, clip: ClipContext) -> None:  # noqa: B027
        """After the first pass, before ``prepare``: the clip's track and output schedule."""

    @abstractmethod
    def prepare(self, speech: Speech, fps: float, n_frames: int) -> None:
        """Compute per-clip features (e.g. mel windows) for ``n_frames`` output frames at ``fps``."""

    @abstractmethod
    def generate(self, batch: Sequence[EngineInput]) -> list[np.ndarray | None]:
        """Return, for each input, the regenerated face crop: uint8 RGB of the box's size
        (y2 - y1, x2 - x1, 3), or the whole frame when ``composites_itself``; None where the
        input has no box (the frame is written unchanged)."""

    def preload(self, item: PictureInput) -> PictureInput:
        """Ahead of ``edit_pictures``, on the thread that decodes: work that needs only this
        input (the built-in engine converts the region it will edit to RGB). Returns the
        input to hand on; must not change the engine's state."""
        return item

    def edit_pictures(self, batch: Sequence[PictureInput]) -> list[bool]:
        """Like ``generate`` for an engine that ``edits_pictures``: change each picture in
        place; True where the input has a face (as ``generate`` returning a frame)."""
        raise NotImplementedError(f"the {self.name} engine does not edit pictures")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models, device memory and background work."""

    def describe(self) -> str:
        return self.name
