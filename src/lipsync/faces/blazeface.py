"""BlazeFace face detection (MediaPipe's short- and full-range models) on LiteRT.

The decoding follows MediaPipe's face detection graphs: SSD anchors with a fixed size
(only their centres matter), regressors in input pixels relative to the anchor centre,
sigmoid scores clipped at ±100, then weighted non-maximum suppression, which blends
overlapping boxes by score instead of dropping them (steadier boxes from frame to frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np

from ..errors import InputError, OptionsError
from .boxes import iou_matrix
from .litert import TfliteModel, face_model_path
from .types import Detection

DetectorRange = Literal["short", "full"]

NUM_KEYPOINTS = 6
SCORE_CLIP = 100.0


@dataclass(frozen=True)
class _ModelSpec:
    file_name: str
    input_size: int
    # One entry per SSD layer: (stride, anchors per cell). MediaPipe's short-range graph
    # has strides 8, 16, 16, 16 with two anchors each; equal strides share one grid.
    layers: tuple[tuple[int, int], ...]


_MODELS: dict[str, _ModelSpec] = {
    "short": _ModelSpec("face_detection_short_range.tflite", 128, ((8, 2), (16, 6))),
    "full": _ModelSpec("face_detection_full_range.tflite", 192, ((4, 1),)),
}


class FaceDetector(Protocol):
    """Anything that finds faces: ``detect(frame)`` on uint8 RGB (H, W, 3)."""

    def detect(self, frame: np.ndarray) -> list[Detection]: ...


def anchor_centres(input_size: int, layers: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Float32 (A, 2) anchor centres (x, y) in input pixels, in the models' output order.

    Per layer, rows then columns then anchors of a cell, like MediaPipe's SSD anchors.
    """
    centres = []
    for stride, per_cell in layers:
        cells = -(-input_size // stride)
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float32)
        grid = (grid + 0.5) * (input_size / cells)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres, axis=0)


def check_frame(frame: np.ndarray) -> None:
    """Raise InputError unless ``frame`` is uint8 RGB (H, W, 3) with H, W > 0."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(
            f"frame must be uint8 RGB (H, W, 3), got {frame.dtype} of shape {frame.shape}"
        )
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise InputError(f"frame is empty: shape {frame.shape}")


class BlazeFaceDetector:
    """Detect faces with BlazeFace.

    ``model``: "short" (faces within about 2 m, 128×128 input) or "full" (small, distant
    faces, 192×192 input). ``min_score``: lowest kept confidence. ``iou_threshold``:
    overlap above which boxes are merged. ``threads``: LiteRT threads (default: CPU
    count, at most 4). Not thread-safe.
    """

    def __init__(
        self,
        model: DetectorRange = "short",
        min_score: float = 0.5,
        iou_threshold: float = 0.3,
        threads: int | None = None,
    ) -> None:
        if model not in _MODELS:
            raise OptionsError(f"face detector model must be 'short' or 'full', got {model!r}")
        if not 0.0 <= min_score <= 1.0:
            raise OptionsError(f"min_score must be between 0 and 1, got {min_score}")
        if not 0.0 < iou_threshold <= 1.0:
            raise OptionsError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        spec = _MODELS[model]
        self.model = model
        self.min_score = min_score
        self.iou_threshold = iou_threshold
        self.input_size = spec.input_size
        self._net = TfliteModel(face_model_path(spec.file_name), threads)
        self._input_name = self._net.inputs[0].name
        self._regressors = self._net.output_named_by_shape(4 + 2 * NUM_KEYPOINTS)
        self._scores = self._net.output_named_by_shape(1)
        self._anchors = anchor_centres(spec.input_size, spec.layers)

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Faces in ``frame`` (uint8 RGB (H, W, 3), any size), best score first.

        Boxes and keypoints are in frame pixels.
        """
        check_frame(frame)
        tensor, scale_x, scale_y, pad_x, pad_y = self._letterbox(frame)
        outputs = self._net.run({self._input_name: tensor})
        raw = outputs[self._regressors].reshape(-1, 4 + 2 * NUM_KEYPOINTS)
        logits = outputs[self._scores].reshape(-1)
        if len(raw) != len(self._anchors):
            raise InputError(
                f"{self.model}-range detector returned {len(raw)} boxes, "
                f"expected {len(self._anchors)}"
            )
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
        keep = np.flatnonzero(scores >= self.min_score)
        if len(keep) == 0:
            return []
        boxes, keypoints = _decode(raw[keep], self._anchors[keep])
        merged = weighted_nms(boxes, keypoints, scores[keep], self.iou_threshold)
        detections = []
        for box, points, score in merged:
            box[[0, 2]] = (box[[0, 2]] - pad_x) / scale_x
            box[[1, 3]] = (box[[1, 3]] - pad_y) / scale_y
            points = (points - (pad_x, pad_y)) / (scale_x, scale_y)
            x1, y1, x2, y2 = (float(v) for v in box)
            detections.append(Detection((x1, y1, x2, y2), score, points.astype(np.float32)))
        return detections

    def _letterbox(self, frame: np.ndarray) -> tuple[np.ndarray, float, float, float, float]:
        """Fit the frame into the square input keeping its aspect ratio, padded with black.

        Returns the float32 (1, S, S, 3) tensor in [-1, 1], the scale per axis and the pad
        offsets (input pixels) that map frame pixels to input pixels.
        """
        height, width = frame.shape[:2]
        size = self.input_size
        fit = size / max(height, width)
        new_w, new_h = max(1, round(width * fit)), max(1, round(height * fit))
        # INTER_AREA averages all source pixels when shrinking (no aliasing of 1080p).
        interpolation = cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
        pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
        canvas = np.zeros((size, size, 3), dtype=np.uint8)
        canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
        tensor = canvas.astype(np.float32)[None] * (2.0 / 255.0) - 1.0
        return tensor, new_w / width, new_h / height, float(pad_x), float(pad_y)


class AnyRangeDetector:
    """Short-range BlazeFace first; the full-range model only when it finds nothing.

    The full-range model (loaded on first need) catches faces far from the camera that
    the short-range model misses, at about twice its cost. ``full_range_every``: while
    consecutive calls find no face at all (a stretch of frames without anyone), the
    full-range model runs only on every n-th of them, so searching costs little more
    than one detector; a distant face is then found at most n - 1 frames late. The
    default 1 runs it on every call.
    """

    def __init__(
        self,
        min_score: float = 0.5,
        iou_threshold: float = 0.3,
        threads: int | None = None,
        full_range_every: int = 1,
    ) -> None:
        if full_range_every < 1:
            raise OptionsError(f"full_range_every must be at least 1, got {full_range_every}")
        self._settings = (min_score, iou_threshold, threads)
        self.full_range_every = full_range_every
        self.short = BlazeFaceDetector("short", min_score, iou_threshold, threads)
        self._full: BlazeFaceDetector | None = None
        self._empty_calls = 0

    @property
    def full(self) -> BlazeFaceDetector:
        if self._full is None:
            self._full = BlazeFaceDetector("full", *self._settings)
        return self._full

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Faces in ``frame`` (uint8 RGB (H, W, 3)), best score first, frame pixels."""
        detections = self.short.detect(frame)
        if not detections and self._empty_calls % self.full_range_every == 0:
            detections = self.full.detect(frame)
        self._empty_calls = 0 if detections else self._empty_calls + 1
        return detections


def _decode(raw: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Regressor rows (K, 16) → boxes (K, 4) x1 y1 x2 y2 and keypoints (K, 6, 2), input px."""
    centre = anchors + raw[:, 0:2]
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    keypoints = raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + anchors[:, None, :]
    return boxes.astype(np.float64), keypoints.astype(np.float64)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression.

    Takes the best remaining box, gathers every remaining box overlapping it by more than
    ``iou_threshold`` and replaces the group by its score-weighted mean box and keypoints,
    keeping the best score. ``boxes`` (K, 4), ``keypoints`` (K, P, 2), ``scores`` (K,).
    Returns (box (4,), keypoints (P, 2), score) per face, best first.
    """
    order = np.argsort(-scores, kind="stable")
    overlaps = iou_matrix(boxes, boxes)
    remaining = list(order)
    results = []
    while remaining:
        best = remaining[0]
        group = [i for i in remaining if i == best or overlaps[best, i] > iou_threshold]
        remaining = [i for i in remaining if i not in group]
        weights = scores[group] / scores[group].sum()
        box = (boxes[group] * weights[:, None]).sum(axis=0)
        points = (keypoints[group] * weights[:, None, None]).sum(axis=0)
        results.append((box, points, float(scores[best])))
    return results
