"""What a run writes besides its output, on request: the stages' intermediate files and a
video that shows which pixels were replaced."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import OptionsError

# Containers the writer can produce (see media.writer).
OUTPUT_SUFFIXES = (".mp4", ".mov", ".mkv")


@dataclass(frozen=True)
class SideOutputs:
    """What a run writes besides its output, on request.

    ``keep_intermediates``: a folder for each stage's product (the low-quality synced video,
    its frames and the enhanced frames as PNG, the muxed audio as WAV). ``debug_mask``: a
    video of the output with the pixels that differ from the input tinted, to see what was
    replaced.
    """

    keep_intermediates: Path | None = None
    debug_mask: Path | None = None


def changed_overlay(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``after`` (uint8 RGB (H, W, 3)) with the pixels that differ from ``before`` tinted and
    outlined, in proportion to how much they changed: what a run replaced."""
    from .compose.debug import mask_overlay

    change = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=2)
    mask = np.clip(change.astype(np.float32) / 24.0, 0.0, 1.0)
    rows, cols = np.nonzero(change > 2)
    if rows.size == 0:
        return after
    box = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    x1, y1, x2, y2 = box
    return mask_overlay(after, box, mask[y1:y2, x1:x2])


def check_side_outputs(
    side_outputs: SideOutputs | None, video: Path, audio: Path, output: Path
) -> None:
    """Refuse side outputs that would overwrite an input or the output, before any work."""
    if side_outputs is None:
        return
    inputs = {video.resolve(), audio.resolve(), output.resolve()}
    if side_outputs.debug_mask is not None:
        debug = side_outputs.debug_mask
        if debug.suffix.lower() not in OUTPUT_SUFFIXES:
            raise OptionsError(
                f"debug mask video {debug.name} must end in one of {', '.join(OUTPUT_SUFFIXES)}"
            )
        if not debug.parent.is_dir():
            raise OptionsError(f"debug mask folder {debug.parent} does not exist")
        if debug.resolve() in inputs:
            raise OptionsError(
                f"debug mask video {debug.name} would overwrite an input or the output"
            )
    if side_outputs.keep_intermediates is not None:
        folder = side_outputs.keep_intermediates
        if folder.exists() and not folder.is_dir():
            raise OptionsError(f"intermediates folder {folder} is a file")
        if folder.resolve() in inputs:
            raise OptionsError(f"intermediates folder {folder} would overwrite an input")
