"""Follow one chosen face through a video: detect once, then track with FaceMesh.

Per frame the tracker normally runs FaceMesh once, on the ROI predicted from the previous
frame's landmarks (about 3 ms). It runs the detector only to choose the face, every
``redetect_every`` frames as a check, after a scene cut, and while the face is lost.

Which face: until one is chosen, every frame is searched and the user's rule (largest,
index, point) picks among the faces found. Afterwards detections are only matched to
the followed face by position, so another person never steals the track. Only when the
followed face has been gone for ``rechoose_after`` frames, or a scene cut happened since
it was last seen, does the rule choose again (the speaker may now be anywhere).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import OptionsError
from ..options import FaceChoice, parse_face_choice
from .blazeface import AnyRangeDetector, FaceDetector, check_frame
from .boxes import face_box_from_landmarks
from .facemesh import PRESENCE_THRESHOLD, FaceMesh, roi_from_detection, roi_from_landmarks
from .scenecut import SceneCutDetector
from .types import Box, Detection, FaceObservation, FaceRoi, FaceTrack

# A detection is the followed face when its centre lies within this fraction of the
# face's size from where the face was last seen, and its size is similar. Two faces side
# by side are at least about one face width apart, so this never jumps between people.
MATCH_MAX_SHIFT = 0.6
MATCH_MAX_SCALE = 2.0
# While no face is in sight, the costlier full-range detector runs on every third frame:
# searching then costs about one detection per frame (under 10 ms at 720p on 2 cores).
FULL_RANGE_EVERY = 3


def choose_face(detections: Sequence[Detection], choice: FaceChoice) -> Detection | None:
    """The face ``choice`` picks among ``detections``; None when there are none.

    ``largest``: largest box area. ``index``: 0 = leftmost by box centre x; raises
    OptionsError when the index is beyond the faces found. ``point`` (frame pixels): the
    face whose box contains it (the nearest centre among several), else the nearest centre.
    """
    if not detections:
        return None
    if choice.kind == "largest":
        return max(detections, key=lambda d: d.area)
    if choice.kind == "index":
        ordered = sorted(detections, key=lambda d: d.center[0])
        if choice.index >= len(ordered):
            raise OptionsError(
                f"face index {choice.index} is out of range: found {len(ordered)} face(s) "
                f"in the first frame with faces (valid: 0..{len(ordered) - 1})"
            )
        return ordered[choice.index]
    px, py = choice.point

    def distance(d: Detection) -> float:
        return math.hypot(d.center[0] - px, d.center[1] - py)

    containing = [
        d for d in detections if d.box[0] <= px <= d.box[2] and d.box[1] <= py <= d.box[3]
    ]
    return min(containing or detections, key=distance)


def match_followed(detections: Sequence[Detection], last_box: Box) -> Detection | None:
    """The detection that is the face last seen in ``last_box``, or None."""
    lx1, ly1, lx2, ly2 = last_box
    size = max(lx2 - lx1, ly2 - ly1)
    cx, cy = (lx1 + lx2) / 2, (ly1 + ly2) / 2
    best, best_distance = None, math.inf
    for detection in detections:
        dx1, dy1, dx2, dy2 = detection.box
        ratio = max(dx2 - dx1, dy2 - dy1) / max(size, 1e-6)
        distance = math.hypot(detection.center[0] - cx, detection.center[1] - cy)
        similar_size = 1 / MATCH_MAX_SCALE <= ratio <= MATCH_MAX_SCALE
        if similar_size and distance <= MATCH_MAX_SHIFT * size and distance < best_distance:
            best, best_distance = detection, distance
    return best


class FaceTracker:
    """Streaming face tracker: ``observe(frame)`` for each frame in order, then ``finish()``.

    ``choice``: which face (a FaceChoice or its text, e.g. "largest", "1", "320,240").
    ``detector``: finds faces (default: short-range BlazeFace with a full-range fallback,
    tried on every third frame while no face is in sight).
    ``mesh``: FaceMesh (default: a new one). ``redetect_every``: frames between detector
    checks while tracking. ``smooth``: ``finish()`` returns lag-free smoothed boxes.
    ``rechoose_after``: frames the followed face may be lost before the rule may pick
    another face. ``threads``: LiteRT threads for the default models. Not thread-safe.
    """

    def __init__(
        self,
        choice: FaceChoice | str = "largest",
        detector: FaceDetector | None = None,
        mesh: FaceMesh | None = None,
        redetect_every: int = 30,
        smooth: bool = True,
        rechoose_after: int = 30,
        threads: int | None = None,
    ) -> None:
        if redetect_every < 1:
            raise OptionsError(f"redetect_every must be at least 1, got {redetect_every}")
        if rechoose_after < 0:
            raise OptionsError(f"rechoose_after must be at least 0, got {rechoose_after}")
        self.choice = parse_face_choice(choice) if isinstance(choice, str) else choice
        self.detector: FaceDetector = detector or AnyRangeDetector(
            threads=threads, full_range_every=FULL_RANGE_EVERY
        )
        self.mesh = mesh or FaceMesh(threads=threads)
        self.redetect_every = redetect_every
        self.smooth = smooth
        self.rechoose_after = rechoose_after
        self._reset()

    def _reset(self) -> None:
        self._cuts = SceneCutDetector()
        self._boxes: list[Box | None] = []
        self._landmarks: list[np.ndarray | None] = []
        self._breaks: list[bool] = []
        self._chosen = False
        self._points: np.ndarray | None = None  # landmarks while the face is followed
        self._last_box: Box | None = None
        self._last_seen = -1
        self._cut_since_seen = False
        self._since_detect = 0

    def observe(self, frame: np.ndarray) -> FaceObservation | None:
        """Locate the followed face in the next frame (uint8 RGB (H, W, 3)).

        Returns its box, landmarks and presence score, or None when it is not in this
        frame. Raises OptionsError when an index choice exceeds the faces found.
        """
        check_frame(frame)
        cut = self._cuts.is_cut(frame)
        self._cut_since_seen |= cut
        observation, chosen_anew = self._locate(frame, cut)
        index = len(self._boxes)
        self._breaks.append(cut or chosen_anew)
        if observation is None:
            self._points = None
            self._boxes.append(None)
            self._landmarks.append(None)
            return None
        self._points = observation.landmarks
        self._last_box = observation.box
        self._last_seen = index
        self._cut_since_seen = False
        self._boxes.append(observation.box)
        self._landmarks.append(observation.landmarks)
        return observation

    def finish(self) -> FaceTrack:
        """The track of every observed frame (smoothed if ``smooth``); resets the tracker."""
        n = len(self._boxes)
        track = FaceTrack.empty(n)
        for i, (box, points) in enumerate(zip(self._boxes, self._landmarks, strict=True)):
            if box is not None and points is not None:
                track.boxes[i] = box
                track.landmarks[i] = points
                track.present[i] = True
        track.breaks[:] = self._breaks
        self._reset()
        return track.smoothed() if self.smooth else track

    def track(self, frames: Iterable[np.ndarray]) -> FaceTrack:
        """Observe every frame of ``frames`` (uint8 RGB (H, W, 3)) and return the track."""
        for frame in frames:
            self.observe(frame)
        return self.finish()

    def _locate(self, frame: np.ndarray, cut: bool) -> tuple[FaceObservation | None, bool]:
        """The followed face in ``frame`` and whether it was just chosen by the rule."""
        previous = self._points
        if previous is not None and not cut:
            self._since_detect += 1
            if self._since_detect < self.redetect_every:
                observation = self._mesh(frame, roi_from_landmarks(previous))
                if observation is not None:
                    return observation, False
            else:
                # The periodic check: re-anchor on a fresh detection of the same face,
                # else keep following the landmarks (the detector can miss a turned head).
                self._since_detect = 0
                found = match_followed(self.detector.detect(frame), self._face_box())
                observation = self._mesh(frame, roi_from_detection(found)) if found else None
                return observation or self._mesh(frame, roi_from_landmarks(previous)), False
        self._since_detect = 0
        detections = self.detector.detect(frame)
        if not detections:
            return None, False
        found = match_followed(detections, self._face_box()) if self._chosen else None
        chosen_anew = found is None
        if found is None:
            if self._chosen and not self._may_rechoose():
                return None, False
            if self._chosen:
                found = self._choose_again(detections)
            else:
                found = choose_face(detections, self.choice)
        observation = self._mesh(frame, roi_from_detection(found)) if found else None
        if observation is not None:
            self._chosen = True
        return observation, chosen_anew

    def _may_rechoose(self) -> bool:
        lost_for = len(self._boxes) - self._last_seen
        return self._cut_since_seen or lost_for > self.rechoose_after

    def _choose_again(self, detections: list[Detection]) -> Detection | None:
        # An index valid on the first frame may not be on a later one: never fail midway,
        # take the face nearest to where the followed one was last seen instead.
        if self.choice.kind == "index" and self.choice.index >= len(detections):
            last = self._face_box()
            centre = ((last[0] + last[2]) / 2, (last[1] + last[3]) / 2)
            return choose_face(detections, FaceChoice("point", point=centre))
        return choose_face(detections, self.choice)

    def _face_box(self) -> Box:
        return self._last_box if self._last_box is not None else (0.0, 0.0, 0.0, 0.0)

    def _mesh(self, frame: np.ndarray, roi: FaceRoi) -> FaceObservation | None:
        result = self.mesh.landmarks(frame, roi)
        if result is None or result.presence < PRESENCE_THRESHOLD:
            return None
        if not np.isfinite(result.points).all():
            return None
        box = face_box_from_landmarks(result.points)
        return FaceObservation(box=box, landmarks=result.points, score=result.presence)
