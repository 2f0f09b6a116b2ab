"""Shared, session-scoped sample media, generated once per test run by ``lipsync.samples``.

Every media fixture returns the path of a file inside ``sample_dir``; tests must not modify
them (copy a file to ``tmp_path`` first when a test needs to damage or rename it).
``landmarks_of`` and ``portrait_face`` give real FaceMesh landmarks of the test portrait.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lipsync import samples

Landmarks = Callable[[np.ndarray], np.ndarray]
PortraitFace = Callable[[tuple[int, int]], tuple[np.ndarray, np.ndarray]]


@pytest.fixture(scope="session")
def landmarks_of() -> Landmarks:
    """A function: uint8 RGB frame → its largest face's FaceMesh landmarks (468, 3)."""
    from lipsync.faces.tracker import FaceTracker

    def find(frame: np.ndarray) -> np.ndarray:
        observation = FaceTracker("largest", smooth=False).observe(frame)
        assert observation is not None, "the test face must be found"
        return observation.landmarks

    return find


@pytest.fixture(scope="session")
def portrait_face(landmarks_of: Landmarks) -> PortraitFace:
    """A function: size (w, h) → the portrait at that size (uint8 RGB) and its landmarks."""

    def make(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        frame = samples.portrait(size)
        return frame, landmarks_of(frame)

    return make


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-session directory holding the generated samples."""
    return tmp_path_factory.mktemp("samples")


@pytest.fixture(scope="session")
def speech_wav(sample_dir: Path) -> Path:
    """About 2.8 s of English speech from espeak-ng (shorter than the 3 s videos): 16-bit mono
    WAV at 22.05 kHz."""
    try:
        return samples.speech_wav(sample_dir / "speech.wav")
    except samples.ToolNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def speech_mp3(sample_dir: Path, speech_wav: Path) -> Path:
    """The same speech as an MP3 (libmp3lame, with the muxer's ID3v2 tag in front)."""
    return samples.transcode_audio(speech_wav, sample_dir / "speech.mp3")


@pytest.fixture(scope="session")
def face_video(sample_dir: Path, speech_wav: Path) -> Path:
    """3 s, 25 fps, 256×256 H.264 MP4 of a gently moving face; its AAC sound is the speech
    padded with silence to 3 s."""
    return samples.face_video(sample_dir / "face.mp4", audio=speech_wav)


@pytest.fixture(scope="session")
def browser_webm(sample_dir: Path, speech_wav: Path) -> Path:
    """3 s of MediaRecorder-like WebM: VP8 at a jittery ~30 fps, Opus, no header duration."""
    return samples.browser_webm(sample_dir / "browser.webm", audio=speech_wav)


@pytest.fixture(scope="session")
def rotated_clip(sample_dir: Path) -> Path:
    """2 s, 25 fps MP4 stored 256×192 with a display matrix turning it to 192×256 upright."""
    return samples.rotated_clip(sample_dir / "rotated.mp4", rotation=90)


@pytest.fixture(scope="session")
def still_png(sample_dir: Path) -> Path:
    """The 256×256 astronaut portrait as PNG."""
    return samples.still_image(sample_dir / "still.png")


@pytest.fixture(scope="session")
def still_jpg(sample_dir: Path) -> Path:
    """The 256×256 astronaut portrait as JPEG."""
    return samples.still_image(sample_dir / "still.jpg")


@pytest.fixture(scope="session")
def noface_gap_video(sample_dir: Path) -> Path:
    """3 s, 25 fps, 256×256 MP4 whose frames 25–49 show an empty wall (no face), no audio."""
    return samples.noface_gap_video(sample_dir / "noface_gap.mp4")


@pytest.fixture(scope="session")
def two_faces_png(sample_dir: Path) -> Path:
    """512×256 PNG: a large face on the left, a smaller one on the right."""
    return samples.two_faces(sample_dir / "two_faces.png")
