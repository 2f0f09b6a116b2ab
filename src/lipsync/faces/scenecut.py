"""A cheap scene-cut detector: compares tiny grey thumbnails of consecutive frames.

The tracker uses it to know when a lost face may legitimately be chosen anew right away
(after a cut the speaker can be anywhere), and where box smoothing must not average
across. A false alarm (a flash, a whip pan) only costs one extra face detection.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMBNAIL_SIZE = (32, 18)
# Mean absolute grey difference (0..1) above which two frames belong to different shots.
# Motion inside one shot stays far below it on thumbnails this small.
CUT_THRESHOLD = 0.15


class SceneCutDetector:
    """Feed frames in order; ``is_cut(frame)`` is True when ``frame`` starts a new shot."""

    def __init__(self, threshold: float = CUT_THRESHOLD) -> None:
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def is_cut(self, frame: np.ndarray) -> bool:
        """``frame``: uint8 RGB (H, W, 3). The first frame is never a cut."""
        thumbnail = self._thumbnail(frame)
        previous, self._previous = self._previous, thumbnail
        if previous is None:
            return False
        difference = float(np.mean(np.abs(thumbnail - previous)))
        return difference > self.threshold

    def reset(self) -> None:
        self._previous = None

    @staticmethod
    def _thumbnail(frame: np.ndarray) -> np.ndarray:
        # Sampling every step-th pixel first keeps this well under a millisecond on 1080p;
        # the thumbnail only needs the coarse layout of the picture. A nearest-neighbour
        # resize samples in 0.02 ms what NumPy's strided copy gathered in 0.2 ms (720p).
        step = max(1, min(frame.shape[0], frame.shape[1]) // 90)
        size = (-(-frame.shape[1] // step), -(-frame.shape[0] // step))
        sampled = cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST)
        grey = cv2.cvtColor(sampled, cv2.COLOR_RGB2GRAY)
        small = cv2.resize(grey, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA)
        return small.astype(np.float32) * (1.0 / 255.0)
