"""probe() reports rate, duration, rotation and stills correctly for every kind of input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import av
import numpy as np
import pytest

from lipsync.media import VideoWriter, probe
from lipsync.media.orientation import orient, orientation_from_matrix


def _ffmpeg_rotation_matrix(clockwise_degrees: float) -> np.ndarray:
    """What FFmpeg's av_display_rotation_set() writes: a pure clockwise rotation (16.16)."""
    radians = -math.radians(clockwise_degrees)
    cos, sin = math.cos(radians), math.sin(radians)
    matrix = np.zeros(9, np.int32)
    matrix[0], matrix[1] = round(cos * 65536), round(-sin * 65536)
    matrix[3], matrix[4] = round(sin * 65536), round(cos * 65536)
    matrix[8] = 1 << 30
    return matrix


def _ffmpeg_flip(matrix: np.ndarray, hflip: bool, vflip: bool) -> np.ndarray:
    """What av_display_matrix_flip() does: scale the x (and/or y) column by -1."""
    flipped = matrix.copy()
    factors = (-1 if hflip else 1, -1 if vflip else 1, 1)
    for index in range(9):
        flipped[index] *= factors[index % 3]
    return flipped


def test_face_video(face_video: Path) -> None:
    info = probe(face_video)
    assert info.format == "MP4"
    assert info.streams == 2
    assert info.duration_s == pytest.approx(3.0, abs=0.01)
    video = info.video
    assert video is not None
    assert (video.codec, video.width, video.height) == ("h264", 256, 256)
    assert video.fps == 25.0
    assert not video.variable_frame_rate
    assert video.frame_count == 75
    assert (video.rotation, video.mirrored, video.is_still) == (0, False, False)
    audio = info.audio
    assert audio is not None
    assert (audio.codec, audio.sample_rate, audio.channels) == ("aac", 22050, 1)
    assert audio.duration_s == pytest.approx(3.0, abs=0.03)


def test_count_frames_is_exact(face_video: Path) -> None:
    video = probe(face_video, count_frames=True).video
    assert video is not None and video.frame_count == 75


def test_browser_webm_duration_and_rate_come_from_packets(browser_webm: Path) -> None:
    with av.open(str(browser_webm)) as raw:
        assert raw.duration is None  # like Chrome's MediaRecorder output
        packets = sum(1 for p in raw.demux(raw.streams.video[0]) if p.size)
    info = probe(browser_webm)
    assert info.format == "WebM"
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    video = info.video
    assert video is not None
    assert video.codec == "vp8"
    assert video.variable_frame_rate
    assert video.fps is not None and 28.0 <= video.fps <= 31.0
    assert video.frame_count == packets
    assert info.audio is not None and info.audio.codec == "opus"
    assert info.audio.sample_rate == 48000


def test_rotated_clip_reports_the_upright_size(rotated_clip: Path) -> None:
    video = probe(rotated_clip).video
    assert video is not None
    assert (video.rotation, video.mirrored) == (90, False)
    assert (video.width, video.height) == (192, 256)
    assert (video.display_width, video.display_height) == (192, 256)


@pytest.mark.parametrize(("fixture", "label"), [("still_png", "PNG"), ("still_jpg", "JPEG")])
def test_stills(request: pytest.FixtureRequest, fixture: str, label: str) -> None:
    info = probe(request.getfixturevalue(fixture))
    assert info.format == label
    assert info.duration_s is None
    assert info.audio is None
    video = info.video
    assert video is not None
    assert video.is_still and video.frame_count == 1 and video.fps is None
    assert (video.width, video.height) == (256, 256)


def test_audio_only(speech_wav: Path, speech_mp3: Path) -> None:
    for path in (speech_wav, speech_mp3):
        info = probe(path)
        assert info.video is None
        assert info.audio is not None and info.audio.channels == 1
        assert info.duration_s is not None and 2.0 < info.duration_s < 3.5


def test_ntsc_rate_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "ntsc.mp4"
    with VideoWriter(path, 30000 / 1001, 32, 32, preset="ultrafast") as writer:
        for _ in range(12):
            writer.write(np.zeros((32, 32, 3), np.uint8))
    video = probe(path).video
    assert video is not None
    assert video.fps == pytest.approx(30000 / 1001, abs=1e-9)
    assert not video.variable_frame_rate
    assert video.frame_count == 12


def test_to_dict_is_json_ready(face_video: Path, still_png: Path) -> None:
    for path in (face_video, still_png):
        data = probe(path).to_dict()
        text = json.dumps(data)
        assert json.loads(text)["path"] == str(path)
    data = probe(face_video).to_dict()
    assert data["video"]["fps"] == 25.0 and data["audio"]["sample_rate"] == 22050


@pytest.mark.parametrize("clockwise", [0, 90, 180, 270])
def test_display_matrix_rotations(clockwise: int) -> None:
    assert orientation_from_matrix(_ffmpeg_rotation_matrix(clockwise)) == (clockwise, False)


@pytest.mark.parametrize("clockwise", [0, 90, 180, 270])
def test_display_matrix_flips(clockwise: int) -> None:
    rotated = _ffmpeg_rotation_matrix(clockwise)
    assert orientation_from_matrix(_ffmpeg_flip(rotated, True, False)) == (clockwise, True)
    # A vertical flip is a horizontal one after a half turn.
    expected = ((clockwise + 180) % 360, True)
    assert orientation_from_matrix(_ffmpeg_flip(rotated, False, True)) == expected


def test_orient_turns_clockwise_and_mirrors_after() -> None:
    image = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)  # [[0 1 2], [3 4 5]]
    assert orient(image, 90, False)[..., 0].tolist() == [[3, 0], [4, 1], [5, 2]]
    assert orient(image, 270, False)[..., 0].tolist() == [[2, 5], [1, 4], [0, 3]]
    assert orient(image, 180, False)[..., 0].tolist() == [[5, 4, 3], [2, 1, 0]]
    assert orient(image, 0, True)[..., 0].tolist() == [[2, 1, 0], [5, 4, 3]]
    assert orient(image, 90, True).flags["C_CONTIGUOUS"]
