"""FaceTracker over synthetic sequences made from the astronaut portrait."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from lipsync.errors import OptionsError
from lipsync.faces import (
    AnyRangeDetector,
    Detection,
    FaceMesh,
    FaceObservation,
    FaceRoi,
    FaceTracker,
    MeshResult,
    choose_face,
    match_followed,
)
from lipsync.options import FaceChoice, parse_face_choice

HEAD = (slice(30, 250), slice(120, 330))  # rows, cols of the astronaut's head
FRAME_W, FRAME_H = 640, 360


class CountingDetector:
    def __init__(self, inner: AnyRangeDetector) -> None:
        self.inner = inner
        self.calls = 0

    def detect(self, frame: np.ndarray) -> list[Detection]:
        self.calls += 1
        return self.inner.detect(frame)


class CountingMesh(FaceMesh):
    calls = 0

    def landmarks(self, frame: np.ndarray, roi: FaceRoi) -> MeshResult | None:
        self.calls += 1
        return super().landmarks(frame, roi)


@pytest.fixture(scope="module")
def models() -> tuple[AnyRangeDetector, FaceMesh]:
    return AnyRangeDetector(threads=2), FaceMesh(threads=2)


@pytest.fixture(scope="module")
def heads() -> dict[str, np.ndarray]:
    head = data.astronaut()[HEAD]
    small = cv2.resize(head, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
    big = cv2.resize(head, None, fx=0.9, fy=0.9, interpolation=cv2.INTER_AREA)
    return {"head": head, "big": big, "small": small}


def background(level: int = 90, size: tuple[int, int] = (FRAME_W, FRAME_H)) -> np.ndarray:
    width, height = size
    frame = np.full((height, width, 3), level, dtype=np.uint8)
    frame[:, :, 1] = np.linspace(level // 2, min(255, level + 60), width).astype(np.uint8)
    return frame


def compose(
    faces: list[tuple[np.ndarray, int, int]],
    level: int = 90,
    size: tuple[int, int] = (FRAME_W, FRAME_H),
) -> np.ndarray:
    frame = background(level, size)
    for image, x, y in faces:
        frame[y : y + image.shape[0], x : x + image.shape[1]] = image
    return frame


def tracker(
    models: tuple[AnyRangeDetector, FaceMesh], choice: str = "largest", **kw
) -> FaceTracker:
    detector, mesh = models
    return FaceTracker(parse_face_choice(choice), detector=detector, mesh=mesh, **kw)


def centres(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, :2] + boxes[:, 2:]) / 2


def test_boxes_follow_a_moving_face(heads: dict[str, np.ndarray]) -> None:
    detector = CountingDetector(AnyRangeDetector(threads=2))
    mesh = CountingMesh(threads=2)
    face_tracker = FaceTracker(FaceChoice("largest"), detector=detector, mesh=mesh, smooth=False)
    offsets = np.array([(30 + 9 * i, 20 + i) for i in range(40)])
    for x, y in offsets:
        observation = face_tracker.observe(compose([(heads["big"], x, y)]))
        assert isinstance(observation, FaceObservation)
        assert observation.landmarks.shape == (468, 3) and observation.score > 0.5
    track = face_tracker.finish()
    assert len(track) == 40 and track.present.all()
    relative = centres(track.boxes) - offsets
    assert relative.std(axis=0).max() < 1.5  # the box moves with the face
    np.testing.assert_allclose(relative.mean(axis=0), [94, 88], atol=8)
    # Detection on the first frame and at the periodic check only; FaceMesh once a frame.
    assert detector.calls == 2
    assert mesh.calls == 40


def test_blank_gap_is_absent_and_the_face_comes_back(
    models: tuple[AnyRangeDetector, FaceMesh], heads: dict[str, np.ndarray]
) -> None:
    face_tracker = tracker(models)
    gap = range(10, 15)
    results = []
    for i in range(25):
        frame = background() if i in gap else compose([(heads["big"], 100 + 4 * i, 40)])
        results.append(face_tracker.observe(frame))
    track = face_tracker.finish()
    assert [r is None for r in results] == [i in gap for i in range(25)]
    np.testing.assert_array_equal(track.present, [i not in gap for i in range(25)])
    assert np.isnan(track.boxes[10:15]).all() and np.isnan(track.landmarks[10:15]).all()
    assert track.crop_box(12, (0, 10, 0, 0), (FRAME_W, FRAME_H)) is None
    after = centres(track.boxes[15:]) - [(100 + 4 * i, 40) for i in range(15, 25)]
    before = centres(track.boxes[:10]) - [(100 + 4 * i, 40) for i in range(10)]
    np.testing.assert_allclose(after.mean(axis=0), before.mean(axis=0), atol=3)


def two_faces(heads: dict[str, np.ndarray], left: bool = True, right: bool = True) -> np.ndarray:
    """A 480×270 frame: the full-size head on the left, one at 0.7 scale on the right."""
    faces = []
    if left:
        faces.append((heads["head"], 20, 20))
    if right:
        faces.append((heads["small"], 300, 40))
    return compose(faces, size=(480, 270))


# Face centres: the face sits about 105 px from the head crop's left edge.
LEFT_CENTRE_X, RIGHT_CENTRE_X = 20 + 105, 300 + 74


@pytest.mark.parametrize(
    ("choice", "expected_x"),
    [
        ("largest", LEFT_CENTRE_X),
        ("0", LEFT_CENTRE_X),
        ("1", RIGHT_CENTRE_X),
        ("380,100", RIGHT_CENTRE_X),  # inside the right face
        ("470,10", RIGHT_CENTRE_X),  # in no face: the nearest centre
        ("10,260", LEFT_CENTRE_X),
    ],
)
def test_face_choice(
    models: tuple[AnyRangeDetector, FaceMesh],
    heads: dict[str, np.ndarray],
    choice: str,
    expected_x: int,
) -> None:
    observation = tracker(models, choice).observe(two_faces(heads))
    assert observation is not None
    assert abs((observation.box[0] + observation.box[2]) / 2 - expected_x) < 15


def test_face_index_out_of_range(
    models: tuple[AnyRangeDetector, FaceMesh], heads: dict[str, np.ndarray]
) -> None:
    face_tracker = tracker(models, "2")
    assert face_tracker.observe(background()) is None  # no face yet: nothing to check
    with pytest.raises(OptionsError, match=r"face index 2 is out of range: found 2 face\(s\)"):
        face_tracker.observe(two_faces(heads))


def test_another_face_does_not_steal_the_track(
    models: tuple[AnyRangeDetector, FaceMesh], heads: dict[str, np.ndarray]
) -> None:
    face_tracker = tracker(models, "1", smooth=False)
    hidden = range(5, 10)
    results = [face_tracker.observe(two_faces(heads, right=i not in hidden)) for i in range(15)]
    assert all(results[i] is None for i in hidden)
    for i in set(range(15)) - set(hidden):
        result = results[i]
        assert result is not None
        assert abs((result.box[0] + result.box[2]) / 2 - RIGHT_CENTRE_X) < 15


def test_a_long_loss_lets_the_rule_choose_again(
    models: tuple[AnyRangeDetector, FaceMesh], heads: dict[str, np.ndarray]
) -> None:
    face_tracker = tracker(models, "largest", rechoose_after=3, smooth=False)
    results = [face_tracker.observe(two_faces(heads, left=i < 5)) for i in range(12)]
    assert all(r is not None and r.box[0] < 240 for r in results[:5])
    assert all(r is None for r in results[5:8])
    assert all(r is not None and r.box[0] > 240 for r in results[9:])
    track = face_tracker.finish()
    assert track.breaks[[i for i, r in enumerate(results) if r is not None][5]]


def test_after_a_scene_cut_the_face_is_found_at_once(
    models: tuple[AnyRangeDetector, FaceMesh], heads: dict[str, np.ndarray]
) -> None:
    face_tracker = tracker(models)
    frames = [compose([(heads["big"], 20, 40)])] * 6 + [
        compose([(heads["small"], 420, 60)], 200)
    ] * 4
    results = [face_tracker.observe(frame) for frame in frames]
    assert all(r is not None for r in results)
    cut_result = results[6]
    assert cut_result is not None and cut_result.box[0] > 400
    track = face_tracker.finish()
    np.testing.assert_array_equal(track.breaks, [True] + [False] * 5 + [True] + [False] * 3)


def test_never_a_face(models: tuple[AnyRangeDetector, FaceMesh]) -> None:
    track = tracker(models).track(background(level) for level in (0, 90, 90, 255))
    assert len(track) == 4 and not track.present.any()
    assert track.boxes.shape == (4, 4) and track.landmarks.shape == (4, 468, 3)


def test_finish_resets_for_the_next_clip(
    models: tuple[AnyRangeDetector, FaceMesh], heads: dict[str, np.ndarray]
) -> None:
    face_tracker = tracker(models)
    first = face_tracker.track([compose([(heads["big"], 50, 50)])] * 3)
    second = face_tracker.track([background()] * 2)
    assert len(first) == 3 and first.present.all()
    assert len(second) == 2 and not second.present.any()


def det(box: tuple[float, float, float, float]) -> Detection:
    return Detection(box, 0.9, np.zeros((6, 2), dtype=np.float32))


def test_choose_face_rules() -> None:
    faces = [det((300, 0, 340, 40)), det((0, 0, 100, 100)), det((150, 0, 200, 50))]
    assert choose_face([], FaceChoice("largest")) is None
    assert choose_face(faces, FaceChoice("largest")) is faces[1]
    assert choose_face(faces, FaceChoice("index", index=1)) is faces[2]
    assert choose_face(faces, FaceChoice("index", index=2)) is faces[0]
    assert choose_face(faces, FaceChoice("point", point=(160, 10))) is faces[2]
    assert choose_face(faces, FaceChoice("point", point=(290, 90))) is faces[0]
    with pytest.raises(OptionsError, match="found 3 face"):
        choose_face(faces, FaceChoice("index", index=3))


def test_match_followed_refuses_far_or_differently_sized_faces() -> None:
    last = (100.0, 100.0, 200.0, 200.0)
    near, far, huge = det((120, 110, 220, 210)), det((260, 100, 360, 200)), det((0, 0, 400, 400))
    assert match_followed([far, near, huge], last) is near
    assert match_followed([far, huge], last) is None


def test_bad_tracker_options(models: tuple[AnyRangeDetector, FaceMesh]) -> None:
    with pytest.raises(OptionsError, match="redetect_every"):
        tracker(models, redetect_every=0)
    with pytest.raises(OptionsError, match="face must be"):
        tracker(models, "biggest")
