"""Lag-free temporal smoothing of face boxes.

The reference Wav2Lip averages each box with the next four, a window that runs ahead of
the frame: a moving head's box lags behind the face and the pasted mouth lands beside
the real one ("two mouths"). Here every window is centred on its frame and shrinks
symmetrically near its segment's ends, so any constant-velocity motion is reproduced
exactly while frame-to-frame jitter is averaged away.
"""

from __future__ import annotations

import numpy as np

# A box whose centre moves by more than this fraction of its size between two frames,
# or whose size changes by more than JUMP_SCALE, is a jump (a cut or a re-detection on
# another spot): averaging across it would put the box between two places.
JUMP_SHIFT = 0.5
JUMP_SCALE = 1.3


def segment_starts(boxes: np.ndarray, present: np.ndarray, breaks: np.ndarray) -> np.ndarray:
    """Bool (N,): True where a run of continuous present frames starts.

    A run starts after a missing frame, at a known break, and at a jump of the box.
    ``boxes``: float (N, 4) x1, y1, x2, y2.
    """
    n = len(present)
    starts = present.copy()
    if n < 2:
        return starts
    prev, cur = boxes[:-1].astype(np.float64), boxes[1:].astype(np.float64)
    size_prev = np.maximum(np.maximum(prev[:, 2] - prev[:, 0], prev[:, 3] - prev[:, 1]), 1e-6)
    size_cur = np.maximum(np.maximum(cur[:, 2] - cur[:, 0], cur[:, 3] - cur[:, 1]), 1e-6)
    shift = np.hypot(
        (cur[:, 0] + cur[:, 2] - prev[:, 0] - prev[:, 2]) / 2,
        (cur[:, 1] + cur[:, 3] - prev[:, 1] - prev[:, 3]) / 2,
    )
    with np.errstate(invalid="ignore"):
        ratio = np.maximum(size_cur / size_prev, size_prev / size_cur)
        jump = (shift > JUMP_SHIFT * np.minimum(size_prev, size_cur)) | (ratio > JUMP_SCALE)
    continues = present[1:] & present[:-1] & ~breaks[1:] & ~jump
    starts[1:] = present[1:] & ~continues
    return starts


def smooth_boxes(
    boxes: np.ndarray, present: np.ndarray, breaks: np.ndarray, window: int = 5
) -> np.ndarray:
    """Centred moving average of ``boxes`` (float (N, 4)) within continuous segments.

    Returns float32 (N, 4); rows where ``present`` is False stay NaN. ``window`` must be
    odd and positive; 1 returns the boxes unchanged.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"smoothing window must be a positive odd number, got {window}")
    out = np.array(boxes, dtype=np.float32, copy=True)
    half = window // 2
    if half == 0 or len(present) == 0:
        return out
    is_start = segment_starts(boxes, present, breaks)
    source = boxes.astype(np.float64)
    n = len(present)
    start = 0
    while start < n:
        if not is_start[start]:
            start += 1
            continue
        end = start + 1
        while end < n and present[end] and not is_start[end]:
            end += 1
        # Prefix sums make each window's mean O(1).
        cumulative = np.vstack([np.zeros((1, 4)), np.cumsum(source[start:end], axis=0)])
        for i in range(start, end):
            reach = min(half, i - start, end - 1 - i)
            lo, hi = i - start - reach, i - start + reach + 1
            out[i] = (cumulative[hi] - cumulative[lo]) / (hi - lo)
        start = end
    return out
