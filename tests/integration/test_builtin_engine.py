"""The built-in engine end to end on generated media, judged by the sync meter.

The astronaut's mouth never moves in the input, so whatever the output's mouth does comes
from the engine: it must open with the speech (correlation with the speech envelope, at a
lag within ±2 frames) and close in the pause, and leave the rest of the face untouched.
"""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest

from lipsync import samples
from lipsync.engines.builtin.engine import BuiltinEngine
from lipsync.eval.meter import measure_sync
from lipsync.media.audio import load_speech
from lipsync.media.video import open_video
from lipsync.options import SyncOptions
from lipsync.pipeline import Pipeline, sync

FPS = 25


def write_wav(path: Path, samples_16k: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(samples_16k, -1, 1) * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def paused_speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sentences with 1.2 s of silence between them (≈ 5 s in all), 16 kHz WAV."""
    folder = tmp_path_factory.mktemp("paused")
    try:
        first = samples.speech_wav(folder / "a.wav", text="Papa bought a big apple.")
        second = samples.speech_wav(folder / "b.wav", text="Open wide and say ah, mama.")
    except samples.ToolNotFoundError as exc:
        pytest.skip(str(exc))
    pause = np.zeros(int(1.2 * 16000), np.float32)
    joined = np.concatenate([load_speech(first), pause, load_speech(second)])
    return write_wav(folder / "paused.wav", joined)


@pytest.fixture(scope="module")
def still_mouth_video(tmp_path_factory: pytest.TempPathFactory, paused_speech: Path) -> Path:
    """The astronaut, head moving gently, mouth closed throughout, as long as the speech."""
    seconds = len(load_speech(paused_speech)) / 16000
    return samples.face_video(
        tmp_path_factory.mktemp("still-mouth") / "face.mp4", seconds=seconds, fps=FPS
    )


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, still_mouth_video: Path, paused_speech: Path):
    out = tmp_path_factory.mktemp("synced") / "out.mp4"
    engine = BuiltinEngine()
    result = Pipeline(engine, SyncOptions(engine="builtin", lossless=True)).run(
        still_mouth_video, paused_speech, out
    )
    return result, engine


def test_output_mouth_follows_the_speech_better_than_the_input(
    synced, still_mouth_video, paused_speech
):
    result, _ = synced
    before = measure_sync(still_mouth_video, audio=paused_speech)
    after = measure_sync(result.output)
    before_corr = before.sync.correlation or 0.0
    assert after.sync.correlation is not None, after.sync.reason
    assert after.sync.correlation > 0.4
    assert after.sync.correlation > before_corr + 0.3
    assert after.sync.lag_frames is not None and abs(after.sync.lag_frames) <= 2


# The astronaut smiles with her lips apart: FaceMesh reads her rest opening as about 0.10
# inter-ocular distances. "Closed" for her is that rest pose.
REST_OPENING = 0.10


def test_silence_closes_the_mouth(synced):
    result, _ = synced
    report = measure_sync(result.output)
    silence = report.silence
    assert silence.ratio is not None, silence.reason
    assert silence.mean_opening_silent < REST_OPENING + 0.015  # back to rest in the pause
    assert silence.mean_opening_speech > silence.mean_opening_silent  # open while talking


def test_only_the_lower_face_changes(synced, still_mouth_video):
    result, engine = synced
    assert result.engine == "builtin" and result.frames_with_face == result.frames
    assert engine.analysis is not None and len(engine.analysis.phones) > 5
    changed_rows = np.zeros(256, bool)
    for before, after in zip(
        open_video(still_mouth_video).frames(), open_video(result.output).frames(), strict=False
    ):
        diff = np.abs(before.astype(int) - after.astype(int)).max(axis=(1, 2))
        changed_rows |= diff > 0
    rows = np.flatnonzero(changed_rows)
    assert len(rows) > 0
    # The astronaut's eyes sit at about 45 % of the height, her mouth at 60 %: nothing above
    # the nose may change.
    assert rows.min() > 0.45 * 256


def test_output_keeps_speech_length_and_fps(synced, paused_speech):
    result, _ = synced
    speech_s = len(load_speech(paused_speech)) / 16000
    with av.open(str(result.output)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == FPS
        frames = sum(1 for _ in container.decode(stream))
    assert abs(frames / FPS - speech_s) <= 1 / FPS


def test_a_still_photo_talks(tmp_path, still_png, paused_speech):
    out = tmp_path / "photo.mp4"
    result = sync(still_png, paused_speech, out, SyncOptions(engine="builtin"))
    assert result.engine == "builtin"
    report = measure_sync(out)
    assert report.sync.correlation is not None and report.sync.correlation > 0.4
    silence = report.silence
    assert silence.ratio is not None, silence.reason
    assert silence.mean_opening_silent < REST_OPENING + 0.015
    assert silence.mean_opening_speech > silence.mean_opening_silent


def test_auto_picks_the_builtin_engine_without_weights(
    lipsync_home, face_video, speech_wav, tmp_path
):
    from click.testing import CliRunner

    from lipsync.cli import cli

    out = tmp_path / "auto.mp4"
    result = CliRunner().invoke(
        cli,
        ["sync", str(face_video), str(speech_wav), "-o", str(out), "-q"],
        env={"LIPSYNC_HOME": str(lipsync_home.home)},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "engine builtin (chosen by auto)" in result.stdout
    assert out.exists()


class CountingEngine(BuiltinEngine):
    """The built-in engine, counting the pictures it edits in place (a test spy)."""

    edited = 0

    def edit_pictures(self, batch):
        self.edited += len(batch)
        return super().edit_pictures(batch)


@pytest.fixture(scope="module")
def synced_in_place(tmp_path_factory, still_mouth_video, paused_speech):
    """A normal (lossy) run: the engine edits the decoded pictures in place."""
    out = tmp_path_factory.mktemp("in-place") / "out.mp4"
    engine = CountingEngine()
    result = Pipeline(engine, SyncOptions(engine="builtin")).run(
        still_mouth_video, paused_speech, out
    )
    return result, engine


def test_pictures_are_edited_in_place_and_the_mouth_still_follows(synced_in_place):
    result, engine = synced_in_place
    assert engine.edited == result.frames  # no frame went through RGB whole
    report = measure_sync(result.output)
    assert report.sync.correlation is not None and report.sync.correlation > 0.4
    assert report.sync.lag_frames is not None and abs(report.sync.lag_frames) <= 2
    assert report.silence.mean_opening_silent < REST_OPENING + 0.015


@pytest.mark.parametrize("region", ["usual", "too small"])
def test_editing_a_picture_equals_rendering_its_rgb(
    synced_in_place, still_mouth_video, region, monkeypatch
):
    from lipsync.engines.base import EngineInput, PictureInput
    from lipsync.engines.builtin.render import MouthRenderer
    from lipsync.media.yuv import even_box

    _, engine = synced_in_place
    if region == "too small":  # the engine must notice and read the whole picture
        monkeypatch.setattr(engine.renderer, "region", lambda landmarks, size: (100, 150, 110, 160))
    source = open_video(still_mouth_video, fps=FPS, cache_bytes=10**9)
    track = (
        Pipeline(BuiltinEngine(), SyncOptions())
        .tracker_factory(SyncOptions())
        .track(source.frames())
    )
    assert source.picture_matrix() == "bt601"
    edited = 0
    for index, picture in enumerate(source.pictures()):
        landmarks = track.landmarks_at(index)
        if index % 5 or landmarks is None:
            continue
        size = (picture.width, picture.height)
        rgb = picture.rgb((0, 0, *size))
        [expected] = engine.generate([EngineInput(index, rgb, (0, 0, *size), landmarks, index)])
        before = picture.planes.copy()
        for canvas in engine._canvases:  # poisoned: a read outside the region would show
            canvas[:] = (255, 0, 255)
        [has_face] = engine.edit_pictures([PictureInput(index, picture, landmarks, index)])
        assert has_face == (expected is not None)
        if expected is None:
            assert np.array_equal(picture.planes, before)
            continue
        # The same mouth, but for 4:2:0 chroma: a few levels at sharp colour edges.
        difference = np.abs(picture.rgb((0, 0, *size)).astype(int) - expected)
        assert difference.mean() < 0.2 and (difference > 3).mean() < 0.005
        # Outside the region around the mouth, the picture is exactly as decoded.
        x1, y1, x2, y2 = even_box(MouthRenderer().region(landmarks, size), *size)
        outside = np.ones((size[1], size[0]), bool)
        outside[y1:y2, x1:x2] = False
        assert np.array_equal(picture.planes[: size[1]][outside], before[: size[1]][outside])
        edited += not np.array_equal(picture.planes, before)
    assert edited >= 5
