"""FaceMesh: 468 face landmarks from a rotated square crop (MediaPipe's face_landmark model).

The crop (the ROI) is found as MediaPipe's face landmark graphs do: a square centred on
the face, 1.5 times its longer side, rotated so that the eye line is horizontal. From a
detection the eyes are its keypoints 0 and 1; from the previous frame's landmarks the
box is their bounding box and the eyes are the outer eye corners 33 and 263.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .blazeface import check_frame
from .litert import TfliteModel, face_model_path
from .types import NUM_LANDMARKS, Detection, FaceRoi, MeshResult

MESH_MODEL_FILE = "face_landmark.tflite"
MESH_INPUT_SIZE = 192
ROI_SCALE = 1.5
RIGHT_EYE_OUTER = 33
LEFT_EYE_OUTER = 263
PRESENCE_THRESHOLD = 0.5


def _roi(box: tuple[float, float, float, float], eye_a: np.ndarray, eye_b: np.ndarray) -> FaceRoi:
    x1, y1, x2, y2 = box
    rotation = math.atan2(float(eye_b[1] - eye_a[1]), float(eye_b[0] - eye_a[0]))
    size = max(x2 - x1, y2 - y1) * ROI_SCALE
    return FaceRoi((x1 + x2) / 2, (y1 + y2) / 2, size, rotation)


def roi_from_detection(detection: Detection) -> FaceRoi:
    """FaceMesh ROI for a BlazeFace detection (eye line from keypoints 0 → 1)."""
    return _roi(detection.box, detection.keypoints[0], detection.keypoints[1])


def roi_from_landmarks(points: np.ndarray) -> FaceRoi:
    """FaceMesh ROI from landmarks (468, ≥2) frame pixels, e.g. the previous frame's."""
    xy = points[:, :2]
    x1, y1 = xy.min(axis=0)
    x2, y2 = xy.max(axis=0)
    box = (float(x1), float(y1), float(x2), float(y2))
    return _roi(box, xy[RIGHT_EYE_OUTER], xy[LEFT_EYE_OUTER])


def crop_to_frame_matrix(roi: FaceRoi, crop_size: int = MESH_INPUT_SIZE) -> np.ndarray:
    """Float64 (2, 3) affine map from crop pixels (continuous) to frame pixels."""
    scale = roi.size / crop_size
    cos, sin = math.cos(roi.rotation) * scale, math.sin(roi.rotation) * scale
    half = crop_size / 2
    # Column vectors: where the crop's x and y axes point in the frame (y down).
    return np.array(
        [
            [cos, -sin, roi.center_x - cos * half + sin * half],
            [sin, cos, roi.center_y - sin * half - cos * half],
        ]
    )


class FaceMesh:
    """FaceMesh landmarks on LiteRT. ``threads``: LiteRT threads. Not thread-safe."""

    def __init__(self, threads: int | None = None) -> None:
        self._net = TfliteModel(face_model_path(MESH_MODEL_FILE), threads)
        self._input_name = self._net.inputs[0].name
        self._points = self._net.output_named_by_shape(NUM_LANDMARKS * 3)
        self._presence = self._net.output_named_by_shape(1)

    def crop(self, frame: np.ndarray, roi: FaceRoi) -> np.ndarray:
        """The uint8 RGB (192, 192, 3) model input cut from ``frame`` along ``roi``."""
        to_frame = crop_to_frame_matrix(roi)
        # warpAffine addresses pixel centres: shift by half a pixel on both sides.
        centred = to_frame.copy()
        centred[:, 2] += to_frame[:, :2].sum(axis=1) * 0.5 - 0.5
        return cv2.warpAffine(
            frame,
            centred,
            (MESH_INPUT_SIZE, MESH_INPUT_SIZE),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )

    def landmarks(self, frame: np.ndarray, roi: FaceRoi) -> MeshResult | None:
        """Landmarks of the face in ``roi`` of ``frame`` (uint8 RGB (H, W, 3)).

        Returns points (468, 3) float32 in frame pixels with the face-presence probability;
        None when the ROI is degenerate (zero or non-finite size).
        """
        check_frame(frame)
        if not (math.isfinite(roi.size) and roi.size > 1.0):
            return None
        if not (math.isfinite(roi.center_x) and math.isfinite(roi.center_y)):
            return None
        crop = self.crop(frame, roi)
        tensor = crop.astype(np.float32)[None] * (1.0 / 255.0)
        outputs = self._net.run({self._input_name: tensor})
        raw = outputs[self._points].reshape(NUM_LANDMARKS, 3).astype(np.float64)
        logit = float(outputs[self._presence].reshape(-1)[0])
        to_frame = crop_to_frame_matrix(roi)
        points = np.empty((NUM_LANDMARKS, 3), dtype=np.float32)
        points[:, :2] = raw[:, :2] @ to_frame[:, :2].T + to_frame[:, 2]
        points[:, 2] = raw[:, 2] * (roi.size / MESH_INPUT_SIZE)
        presence = 1.0 / (1.0 + math.exp(-max(-100.0, min(100.0, logit))))
        return MeshResult(points=points, presence=presence)
