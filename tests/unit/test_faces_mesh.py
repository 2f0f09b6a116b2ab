"""FaceMesh landmarks, ROIs and the S3FD-style box, on the astronaut portrait."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data

from lipsync.faces import (
    BlazeFaceDetector,
    FaceMesh,
    FaceRoi,
    face_box_from_landmarks,
    iou_matrix,
    roi_from_detection,
    roi_from_landmarks,
)
from lipsync.faces.facemesh import crop_to_frame_matrix
from lipsync.faces.types import Detection

UPPER_LIP, LOWER_LIP, MOUTH_RIGHT, MOUTH_LEFT = 13, 14, 61, 291
RIGHT_EYE, LEFT_EYE, NOSE_TIP, CHIN = 33, 263, 1, 152
FACE_CENTRE = (225.0, 128.0)  # measured on the astronaut, see test_faces_detect


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def detector() -> BlazeFaceDetector:
    return BlazeFaceDetector("short", threads=2)


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    return FaceMesh(threads=2)


@pytest.fixture(scope="module")
def astronaut_points(
    astronaut: np.ndarray, detector: BlazeFaceDetector, mesh: FaceMesh
) -> np.ndarray:
    result = mesh.landmarks(astronaut, roi_from_detection(detector.detect(astronaut)[0]))
    assert result is not None
    return result.points


def eye_angle_degrees(points: np.ndarray) -> float:
    dx, dy = points[LEFT_EYE, :2] - points[RIGHT_EYE, :2]
    return math.degrees(math.atan2(dy, dx))


def test_landmarks_in_plausible_places(
    astronaut: np.ndarray, detector: BlazeFaceDetector, mesh: FaceMesh
) -> None:
    detection = detector.detect(astronaut)[0]
    result = mesh.landmarks(astronaut, roi_from_detection(detection))
    assert result is not None
    assert result.presence > 0.9
    points = result.points
    assert points.shape == (468, 3) and points.dtype == np.float32
    assert points[UPPER_LIP, 1] < points[LOWER_LIP, 1]
    assert points[MOUTH_RIGHT, 0] < points[UPPER_LIP, 0] < points[MOUTH_LEFT, 0]
    assert points[RIGHT_EYE, 0] < points[NOSE_TIP, 0] < points[LEFT_EYE, 0]
    eyes_y = max(points[RIGHT_EYE, 1], points[LEFT_EYE, 1])
    assert eyes_y < points[NOSE_TIP, 1] < points[UPPER_LIP, 1] < points[CHIN, 1]
    mouth = (points[UPPER_LIP, :2] + points[LOWER_LIP, :2]) / 2
    assert np.linalg.norm(mouth - detection.keypoints[3]) < 8
    assert np.linalg.norm(points[:, :2].mean(axis=0) - FACE_CENTRE) < 15
    # The nose tip is nearer the camera than the cheeks' edge.
    assert points[NOSE_TIP, 2] < points[234, 2]


def test_tracking_roi_reproduces_the_points(
    astronaut: np.ndarray, mesh: FaceMesh, astronaut_points: np.ndarray
) -> None:
    again = mesh.landmarks(astronaut, roi_from_landmarks(astronaut_points))
    assert again is not None and again.presence > 0.9
    error = np.linalg.norm(again.points[:, :2] - astronaut_points[:, :2], axis=1)
    assert error.mean() < 1.0


@pytest.mark.parametrize("degrees", [15.0, -15.0])
def test_rotated_face_still_aligns(
    astronaut: np.ndarray,
    detector: BlazeFaceDetector,
    mesh: FaceMesh,
    astronaut_points: np.ndarray,
    degrees: float,
) -> None:
    # OpenCV turns counter-clockwise on screen for positive angles; y points down, so
    # the eye line's angle decreases by the same amount.
    turn = cv2.getRotationMatrix2D(FACE_CENTRE, degrees, 1.0)
    rotated = cv2.warpAffine(astronaut, turn, (512, 512), borderMode=cv2.BORDER_REFLECT)
    detections = detector.detect(rotated)
    assert len(detections) == 1
    result = mesh.landmarks(rotated, roi_from_detection(detections[0]))
    assert result is not None and result.presence > 0.9
    expected_angle = eye_angle_degrees(astronaut_points) - degrees
    assert abs(eye_angle_degrees(result.points) - expected_angle) < 2.0
    # Pixel centres sit at +0.5 in these continuous coordinates, at +0 for OpenCV.
    moved = (np.c_[astronaut_points[:, :2] - 0.5, np.ones(468)] @ turn.T) + 0.5
    assert np.linalg.norm(result.points[:, :2] - moved, axis=1).mean() < 2.0
    tracked = mesh.landmarks(rotated, roi_from_landmarks(result.points))
    assert tracked is not None and tracked.presence > 0.9


def test_no_face_in_roi_means_low_presence(mesh: FaceMesh) -> None:
    for frame in (
        np.zeros((360, 640, 3), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 256, (360, 640, 3), dtype=np.uint8),
    ):
        result = mesh.landmarks(frame, FaceRoi(320, 180, 150, 0.0))
        assert result is not None and result.presence < 0.5


def test_degenerate_roi_gives_none(mesh: FaceMesh) -> None:
    frame = np.zeros((100, 100, 3), dtype=np.uint8)
    assert mesh.landmarks(frame, FaceRoi(50, 50, 0.0, 0.0)) is None
    assert mesh.landmarks(frame, FaceRoi(math.nan, 50, 40.0, 0.0)) is None


def test_roi_from_detection_is_square_scaled_and_turned() -> None:
    keypoints = np.zeros((6, 2), dtype=np.float32)
    keypoints[0] = (100, 100)
    keypoints[1] = (140, 140)  # eye line at +45° (the head tilts clockwise on screen)
    roi = roi_from_detection(Detection((80.0, 60.0, 160.0, 180.0), 0.9, keypoints))
    assert (roi.center_x, roi.center_y) == (120.0, 120.0)
    assert roi.size == pytest.approx(1.5 * 120)
    assert roi.rotation == pytest.approx(math.pi / 4)


def test_crop_matrix_maps_the_crop_onto_the_roi() -> None:
    roi = FaceRoi(300.0, 200.0, 96.0, math.pi / 2)
    to_frame = crop_to_frame_matrix(roi, crop_size=192)
    np.testing.assert_allclose(to_frame @ [96, 96, 1], [300, 200])
    # Turned by 90° clockwise: the crop's x axis points down the frame.
    np.testing.assert_allclose(to_frame @ [192, 96, 1], [300, 248], atol=1e-9)
    np.testing.assert_allclose(to_frame @ [96, 0, 1], [348, 200], atol=1e-9)


def test_crop_is_pixel_exact_for_an_unturned_roi(mesh: FaceMesh, astronaut: np.ndarray) -> None:
    crop = mesh.crop(astronaut, FaceRoi(10 + 96, 20 + 96, 192.0, 0.0))
    assert crop.shape == (192, 192, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(crop, astronaut[20:212, 10:202])


def test_s3fd_style_box(
    astronaut: np.ndarray, detector: BlazeFaceDetector, astronaut_points: np.ndarray
) -> None:
    box = face_box_from_landmarks(astronaut_points)
    x1, y1, x2, y2 = box
    height = y2 - y1
    # Nose tip near mid-height, eyes in the upper third, chin inside near the bottom.
    assert abs((astronaut_points[NOSE_TIP, 1] - y1) / height - 0.5) < 0.06
    assert (astronaut_points[RIGHT_EYE, 1] - y1) / height < 0.33
    assert y2 - 0.08 * height < astronaut_points[CHIN, 1] < y2
    assert x1 <= astronaut_points[234, 0] and astronaut_points[454, 0] <= x2
    blaze = detector.detect(astronaut)[0].box
    assert iou_matrix(np.array([box]), np.array([blaze]))[0, 0] > 0.85


def test_s3fd_style_box_of_a_tilted_head_encloses_the_turned_box(
    astronaut_points: np.ndarray,
) -> None:
    upright = face_box_from_landmarks(astronaut_points)
    turn = cv2.getRotationMatrix2D(FACE_CENTRE, 20.0, 1.0)
    turned = astronaut_points.copy()
    turned[:, :2] = np.c_[astronaut_points[:, :2], np.ones(468)] @ turn.T
    box = face_box_from_landmarks(turned)
    before = np.array([(upright[0] + upright[2]) / 2, (upright[1] + upright[3]) / 2, 1.0])
    np.testing.assert_allclose(
        [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], turn @ before, atol=3
    )
    # An axis-aligned box around a turned square is larger than the square.
    assert box[2] - box[0] > 1.1 * (upright[2] - upright[0])
