"""``lipsync enhance`` end to end on generated clips: frames and rate kept, the sound
bit-exact (copied packets, or lossless samples), intermediates, the debug video, errors."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from lipsync import samples
from lipsync.cli import LipsyncGroup
from lipsync.cli.enhance import enhance_command
from lipsync.enhance.base import Enhancer
from lipsync.enhance.registry import ENHANCERS, EnhancerSpec
from lipsync.enhance.video import enhance_video
from lipsync.errors import Cancelled
from lipsync.options import SyncOptions
from lipsync.progress import CancelToken


class SharpenTestEnhancer(Enhancer):
    """A stand-in enhancer (an unsharp mask), registered as ``sharpen_test`` for these tests."""

    name = "sharpen_test"

    def enhance(
        self, crops: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None]
    ) -> list[np.ndarray]:
        out = []
        for crop in crops:
            soft = cv2.GaussianBlur(crop.astype(np.float32), (0, 0), 2.0)
            out.append(np.clip(crop + 2.0 * (crop - soft) + 0.5, 0, 255).astype(np.uint8))
        return out


@pytest.fixture(autouse=True)
def sharpen_test_enhancer(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = EnhancerSpec(
        "sharpen_test",
        "An unsharp mask (tests only).",
        (),
        lambda options, store: SharpenTestEnhancer(),
        "MIT",
        for_tests=True,
    )
    monkeypatch.setitem(ENHANCERS, "sharpen_test", spec)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """0.8 s, 25 fps, 160×160 H.264 MP4 of the moving face, with AAC speech."""
    folder = tmp_path_factory.mktemp("enhance")
    speech = samples.speech_wav(folder / "speech.wav", text="Hello there.")
    return samples.face_video(folder / "clip.mp4", seconds=0.8, size=(160, 160), audio=speech)


def run_enhance(*args: str | Path, home: Path) -> tuple[int, str, str]:
    group = LipsyncGroup("lipsync", commands={"enhance": enhance_command})
    result = CliRunner().invoke(
        group, ["enhance", *map(str, args), "-q"], env={"LIPSYNC_HOME": str(home)}
    )
    return result.exit_code, result.stdout, result.stderr


def video_facts(path: Path) -> tuple[int, Fraction]:
    """Decoded picture count and the stream's average rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return count, Fraction(stream.average_rate)


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [bytes(p) for p in container.demux(stream) if p.size]


def audio_samples(path: Path) -> tuple[str, np.ndarray]:
    """The first audio stream's codec and its decoded samples, planar (channels, n)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = []
        for frame in container.decode(stream):
            array = frame.to_ndarray()
            if not frame.format.is_planar:
                array = array.reshape(-1, len(frame.layout.channels)).T
            chunks.append(array)
        return stream.codec_context.name, np.concatenate(chunks, axis=1)


def test_realesrgan_keeps_frames_rate_and_sound_bit_exact(clip, tmp_path):
    out = tmp_path / "enhanced.mp4"
    code, stdout, stderr = run_enhance(
        clip, "-o", out, "--enhancer", "realesrgan_fast", "--enhance-region", "mouth", home=tmp_path
    )
    assert code == 0, stderr
    assert "wrote" in stdout and "audio copied bit-exact" in stdout
    assert video_facts(out) == video_facts(clip) == (20, Fraction(25))
    assert audio_packets(out) == audio_packets(clip)
    codec, before = audio_samples(clip)
    _, after = audio_samples(out)
    assert codec == "aac" and after.dtype == before.dtype and np.array_equal(after, before)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_mkv_output_stores_the_decoded_samples_losslessly(clip, tmp_path):
    out = tmp_path / "enhanced.mkv"
    result = enhance_video(clip, out, SyncOptions(enhancer="sharpen_test"))
    assert result.audio == "lossless" and result.frames == 20 and result.fps == 25
    assert result.frames_enhanced == 20
    _, before = audio_samples(clip)
    codec, after = audio_samples(out)
    assert codec == "pcm_f32le" and np.array_equal(after, before)
    assert video_facts(out)[0] == 20


def test_variable_rate_webm_becomes_constant_rate_with_its_opus_copied(tmp_path):
    webm = samples.browser_webm(tmp_path / "call.webm", seconds=1.0, size=(128, 128))
    out = tmp_path / "enhanced.mkv"
    result = enhance_video(webm, out, SyncOptions(enhancer="sharpen_test", enhance_region="frame"))
    assert result.audio == "copied" and result.variable_frame_rate
    count, rate = video_facts(out)
    assert count == result.frames and abs(result.frames - 1.0 * result.fps) <= 2
    assert rate == Fraction(result.fps).limit_denominator(1001)
    assert audio_packets(out) == audio_packets(webm)
    assert np.array_equal(audio_samples(out)[1], audio_samples(webm)[1])


def test_keep_intermediates_and_debug_mask(clip, tmp_path):
    out, debug, keep = tmp_path / "o.mp4", tmp_path / "mask.mp4", tmp_path / "keep"
    code, _, stderr = run_enhance(
        clip,
        "-o",
        out,
        "--enhancer",
        "sharpen_test",
        "--keep-intermediates",
        keep,
        "--debug-mask",
        debug,
        home=tmp_path,
    )
    assert code == 0, stderr
    names = [f"{i:06d}.png" for i in range(20)]
    assert sorted(p.name for p in (keep / "frames").iterdir()) == names
    assert sorted(p.name for p in (keep / "enhanced").iterdir()) == names
    assert video_facts(keep / "synced_lowq.mp4")[0] == 20
    assert video_facts(debug)[0] == 20
    before = cv2.imread(str(keep / "frames" / names[5]))
    after = cv2.imread(str(keep / "enhanced" / names[5]))
    assert before.shape == (160, 160, 3) and not np.array_equal(before, after)
    codec, pcm = audio_samples(keep / "audio.wav")
    _, reference = audio_samples(clip)
    assert codec == "pcm_s16le" and pcm.shape == reference.shape
    assert np.abs(pcm / 32768.0 - reference).max() <= 1.0 / 32768 + 1e-6
    # The same folder again: nothing is overwritten.
    code, _, stderr = run_enhance(
        clip, "-o", tmp_path / "p.mp4", "--enhancer", "sharpen_test", "--keep-intermediates", keep,
        home=tmp_path,
    )  # fmt: skip
    assert code == 2 and "already holds" in stderr


def test_bad_inputs_give_one_line_errors(clip, tmp_path):
    speech = samples.speech_wav(tmp_path / "speech.wav", text="Hi.")
    still = samples.still_image(tmp_path / "still.png", size=(64, 64))
    cases = [
        ([speech, "-o", tmp_path / "a.mp4"], 2, "no video"),
        ([still, "-o", tmp_path / "a.mp4"], 2, "still image"),
        ([clip, "-o", clip], 2, "overwrite"),
        ([clip, "-o", tmp_path / "a.avi"], 2, "must end in"),
        ([clip, "-o", tmp_path / "a.mp4", "--enhancer", "sharpest"], 2, "unknown enhancer"),
        ([clip, "-o", tmp_path / "a.mp4", "--enhancer", "none"], 2, "enhancer is none"),
        ([clip, "-o", tmp_path / "a.mp4", "--enhancer", "gfpgan"], 3, "lipsync models install"),
        ([clip, "-o", tmp_path / "a.mp4", "--debug-mask", clip], 2, "overwrite the input"),
    ]
    for args, exit_code, needle in cases:
        enhancer = [] if "--enhancer" in args else ["--enhancer", "sharpen_test"]
        code, _, stderr = run_enhance(*args, *enhancer, home=tmp_path)
        assert code == exit_code, (args, stderr)
        assert needle in stderr and stderr.count("\n") == 1, (args, stderr)
    assert not (tmp_path / "a.mp4").exists()


def test_cancelling_leaves_no_file_behind(clip, tmp_path):
    token = CancelToken()

    def cancel_midway(event) -> None:
        if event.stage == "enhance" and event.done >= 8:
            token.cancel()

    out = tmp_path / "o.mp4"
    with pytest.raises(Cancelled):
        enhance_video(
            clip,
            out,
            SyncOptions(enhancer="sharpen_test", batch_size=4),
            progress=cancel_midway,
            cancel=token,
        )
    assert list(tmp_path.iterdir()) == []
