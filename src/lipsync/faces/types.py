"""Small result types of the face stage: detections, FaceMesh results, observations, tracks.

Coordinates are frame pixels, continuous: pixel (col, row) covers [col, col + 1) ×
[row, row + 1), so its centre is (col + 0.5, row + 0.5). Boxes are (x1, y1, x2, y2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, OptionsError
from .smoothing import smooth_boxes

NUM_LANDMARKS = 468

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    """One BlazeFace detection.

    ``box``: (x1, y1, x2, y2) in frame pixels. ``score``: sigmoid confidence in [0, 1].
    ``keypoints``: float32 (6, 2) frame pixels (x, y): right eye, left eye, nose tip, mouth
    centre, right ear tragion, left ear tragion ("right" is the subject's right, which is
    on the left of an unmirrored image).
    """

    box: Box
    score: float
    keypoints: np.ndarray

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)


@dataclass(frozen=True)
class FaceRoi:
    """A square, rotated region of the frame that FaceMesh looks at.

    ``center_x``, ``center_y`` and ``size`` (side length) in frame pixels; ``rotation`` in
    radians, positive clockwise on screen (image y points down), so that the region's x
    axis runs along the eye line of a tilted head.
    """

    center_x: float
    center_y: float
    size: float
    rotation: float


@dataclass(frozen=True)
class MeshResult:
    """FaceMesh output for one face.

    ``points``: float32 (468, 3) frame pixels (x, y, z); z is relative depth (smaller is
    nearer the camera) in the same pixel scale as x. ``presence``: face-presence
    probability in [0, 1]; below 0.5 the face is lost.
    """

    points: np.ndarray
    presence: float


@dataclass(frozen=True)
class FaceObservation:
    """The followed face in one frame.

    ``box``: (x1, y1, x2, y2) float frame pixels, shaped like the S3FD boxes Wav2Lip was
    trained on (see ``boxes.face_box_from_landmarks``). ``landmarks``: float32 (468, 3)
    frame pixels. ``score``: FaceMesh face-presence probability.
    """

    box: Box
    landmarks: np.ndarray
    score: float


def _empty_bool(n: int) -> np.ndarray:
    return np.zeros(n, dtype=bool)


@dataclass(frozen=True)
class FaceTrack:
    """Per-frame face boxes and landmarks of one clip (small data, no frames).

    ``boxes``: float32 (N, 4) x1, y1, x2, y2 frame pixels, NaN rows where no face.
    ``landmarks``: float32 (N, 468, 3) frame pixels, NaN where no face (also NaN for a
    fixed ``--box`` track, which has boxes but no landmarks). ``present``: bool (N,).
    ``breaks``: bool (N,), True where continuity with the previous frame is known to be
    broken (a scene cut, or the face chosen anew); smoothing never crosses a break.
    ``pad_boxes``: whether ``crop_box`` applies pads (False for a user-given box).
    """

    boxes: np.ndarray
    landmarks: np.ndarray
    present: np.ndarray
    breaks: np.ndarray = field(default_factory=lambda: _empty_bool(0))
    pad_boxes: bool = True

    def __post_init__(self) -> None:
        n = len(self.present)
        if self.breaks.shape != (n,):
            if len(self.breaks) != 0:
                raise InputError(f"breaks must have shape ({n},), got {self.breaks.shape}")
            object.__setattr__(self, "breaks", _empty_bool(n))
        if self.boxes.shape != (n, 4):
            raise InputError(f"boxes must have shape ({n}, 4), got {self.boxes.shape}")
        if self.landmarks.shape != (n, NUM_LANDMARKS, 3):
            raise InputError(
                f"landmarks must have shape ({n}, {NUM_LANDMARKS}, 3), got {self.landmarks.shape}"
            )

    def __len__(self) -> int:
        return len(self.present)

    @classmethod
    def empty(cls, n_frames: int) -> FaceTrack:
        """A track of ``n_frames`` frames with no face in any of them."""
        return cls(
            boxes=np.full((n_frames, 4), np.nan, dtype=np.float32),
            landmarks=np.full((n_frames, NUM_LANDMARKS, 3), np.nan, dtype=np.float32),
            present=np.zeros(n_frames, dtype=bool),
        )

    @classmethod
    def fixed(cls, box: tuple[int, int, int, int], n_frames: int) -> FaceTrack:
        """A track with the user's ``--box`` (x1, y1, x2, y2 pixels) in every frame.

        As in the reference Wav2Lip, a given box is used as is: ``crop_box`` applies no
        pads (it still clips to the frame). Landmarks are unknown (NaN).
        """
        x1, y1, x2, y2 = box
        if not (0 <= x1 < x2 and 0 <= y1 < y2):
            raise OptionsError(f"box must satisfy 0 <= x1 < x2 and 0 <= y1 < y2, got {box}")
        empty = cls.empty(n_frames)
        return cls(
            boxes=np.tile(np.asarray(box, dtype=np.float32), (n_frames, 1)),
            landmarks=empty.landmarks,
            present=np.ones(n_frames, dtype=bool),
            pad_boxes=False,
        )

    def smoothed(self, window: int = 5) -> FaceTrack:
        """Boxes averaged over a centred ``window`` of frames (odd), without lag.

        The window shrinks symmetrically near gaps, breaks, sudden jumps and the ends, so a
        head moving at constant speed keeps its exact trajectory while jitter is averaged
        out. Landmarks are left as they are (masks need the current frame's points).
        """
        if not self.pad_boxes:
            return self
        boxes = smooth_boxes(self.boxes, self.present, self.breaks, window)
        return FaceTrack(boxes, self.landmarks, self.present, self.breaks, self.pad_boxes)

    def box_at(self, i: int) -> Box | None:
        """The (unpadded) float box of frame ``i``, or None where no face."""
        if not self.present[i]:
            return None
        x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
        return (x1, y1, x2, y2)

    def landmarks_at(self, i: int) -> np.ndarray | None:
        """Float32 (468, 3) landmarks of frame ``i``, or None where unknown."""
        if not self.present[i] or not np.isfinite(self.landmarks[i, 0, 0]):
            return None
        return self.landmarks[i]

    def crop_box(
        self,
        i: int,
        pads: tuple[int, int, int, int],
        frame_size: tuple[int, int],
    ) -> tuple[int, int, int, int] | None:
        """Integer crop box (x1, y1, x2, y2) of frame ``i`` as the reference Wav2Lip cuts it.

        ``pads`` are pixels (top, bottom, left, right) added around a detected box (not a
        fixed ``--box``); ``frame_size`` is (width, height). The result is clipped to the
        frame; None where no face or where nothing of the box is inside the frame.
        """
        box = self.box_at(i)
        if box is None:
            return None
        width, height = frame_size
        top, bottom, left, right = pads if self.pad_boxes else (0, 0, 0, 0)
        x1 = max(0, math.floor(box[0] + 0.5) - left)
        y1 = max(0, math.floor(box[1] + 0.5) - top)
        x2 = min(width, math.floor(box[2] + 0.5) + right)
        y2 = min(height, math.floor(box[3] + 0.5) + bottom)
        if x2 <= x1 or y2 <= y1:
            return None
        return (x1, y1, x2, y2)
