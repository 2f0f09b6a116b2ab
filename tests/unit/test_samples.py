"""Generated samples are what they claim to be, and deterministic."""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from lipsync import samples
from lipsync.errors import OptionsError
from lipsync.media import load_speech, open_video, probe, sniff


def test_speech_is_audible_and_deterministic(tmp_path: Path, speech_wav: Path) -> None:
    speech = load_speech(speech_wav)
    assert 2.0 < len(speech) / 16000 < 3.0
    assert float(np.sqrt(np.mean(speech**2))) > 0.02
    again = samples.speech_wav(tmp_path / "again.wav")
    assert again.read_bytes() == speech_wav.read_bytes()


def test_speech_text_and_voice(tmp_path: Path, speech_wav: Path) -> None:
    short = samples.speech_wav(tmp_path / "short.wav", text="Hi.")
    assert len(load_speech(short)) < len(load_speech(speech_wav)) / 3
    # Text beginning with a dash is spoken, never taken as an option.
    assert samples.speech_wav(tmp_path / "dash.wav", text="-w /tmp/x.wav").stat().st_size > 44
    assert samples.speech_wav(tmp_path / "f.wav", text="Hi.", voice="en+f3").stat().st_size > 44
    with pytest.raises(OptionsError, match="no-such-voice"):
        samples.speech_wav(tmp_path / "bad.wav", voice="no-such-voice")


def test_missing_espeak_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(samples.shutil, "which", lambda name: None)
    with pytest.raises(samples.ToolNotFoundError, match=r"apt-get install espeak-ng"):
        samples.speech_wav(tmp_path / "x.wav")


def test_face_video(face_video: Path) -> None:
    info = probe(face_video)
    assert info.video is not None and info.audio is not None
    assert (info.video.width, info.video.height, info.video.fps) == (256, 256, 25.0)
    frames = list(
        open_video(face_video).frames(
            0,
            75,
        )
    )
    steps = [np.abs(a.astype(int) - b).mean() for a, b in itertools.pairwise(frames)]
    assert max(steps) < 8.0  # smooth motion
    assert np.abs(frames[0].astype(int) - frames[30]).mean() > 2.0  # but it does move


def test_still_face_video_has_no_motion(tmp_path: Path) -> None:
    path = samples.face_video(tmp_path / "still.mp4", seconds=0.4, size=(64, 48), motion=False)
    frames = list(open_video(path).frames())
    assert (frames[0].shape, len(frames)) == ((48, 64, 3), 10)
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() < 1.0


def test_noface_gap_video_has_a_blank_middle_third(noface_gap_video: Path) -> None:
    frames = list(open_video(noface_gap_video).frames())
    detail = [float(frame.std()) for frame in frames]
    assert all(d < 15 for d in detail[25:50])
    assert all(d > 30 for d in detail[:25] + detail[50:])


def test_two_faces(two_faces_png: Path, tmp_path: Path) -> None:
    image = next(iter(open_video(two_faces_png).frames()))
    assert image.shape == (256, 512, 3)
    right = image[:, 256:]
    assert right[:30].std() < 15 and right[-30:].std() < 15  # wall above and below
    assert image[:, :256].std() > 30 and right[60:200].std() > 30
    video = samples.two_faces(tmp_path / "two.mp4", seconds=0.2)
    assert probe(video).video is not None


@pytest.mark.parametrize(
    ("suffix", "label"), [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WebP")]
)
def test_still_image_formats(tmp_path: Path, suffix: str, label: str) -> None:
    path = samples.still_image(tmp_path / f"face{suffix}", size=(100, 80))
    assert sniff(path).label == label
    image = next(iter(open_video(path).frames()))
    assert image.shape == (80, 100, 3)
    tolerance = 0 if suffix == ".png" else 8
    assert np.abs(image.astype(int) - samples.portrait((100, 80))).mean() <= tolerance


def test_still_image_bad_suffix(tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match=r"\.gif"):
        samples.still_image(tmp_path / "face.gif")


def test_rotated_clip_stores_turned_frames(rotated_clip: Path) -> None:
    with av.open(str(rotated_clip)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (256, 192)
        frame = next(container.decode(stream))
        assert frame.rotation == -90  # FFmpeg's angle: counter-clockwise
    with pytest.raises(OptionsError):
        samples.rotated_clip(rotated_clip.parent / "bad.mp4", rotation=45)


def test_browser_webm_looks_like_media_recorder(browser_webm: Path, tmp_path: Path) -> None:
    with av.open(str(browser_webm)) as container:
        assert container.duration is None
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.name, audio.codec_context.name) == ("vp8", "opus")
        times = [p.pts for p in container.demux(video) if p.pts is not None]
    intervals = np.diff(times)
    assert intervals.min() < 28 and intervals.max() > 38  # milliseconds, irregular
    assert 30 <= intervals.mean() <= 36
    again = samples.browser_webm(tmp_path / "again.webm")
    with av.open(str(again)) as container:
        assert [p.pts for p in container.demux(video=0) if p.pts is not None] == times


def test_audio_helpers(tmp_path: Path) -> None:
    tone = samples.tone_wav(tmp_path / "tone.wav", seconds=0.5, frequency=440.0)
    signal = load_speech(tone)
    assert len(signal) == 8000
    spectrum = np.abs(np.fft.rfft(signal))
    assert abs(int(np.argmax(spectrum)) * 16000 / len(signal) - 440) < 4
    with pytest.raises(OptionsError, match=r"\.xyz"):
        samples.transcode_audio(tone, tmp_path / "tone.xyz")
