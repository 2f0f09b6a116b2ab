"""Speech decodes to 16 kHz mono float32 from every accepted format; streaming stays planar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

from lipsync import samples
from lipsync.errors import EmptyMediaError, NoAudioStreamError, OptionsError
from lipsync.media import ArrayAudio, iter_audio, load_speech

FORMATS = ["mp3", "m4a", "aac", "ogg", "flac", "webm", "mkv", "avi", "mp4"]


def _lag(signal: np.ndarray, reference: np.ndarray) -> int:
    """Samples by which ``signal`` lags ``reference`` (best cross-correlation)."""
    scores = correlate(signal, reference, mode="full", method="fft")
    return int(np.argmax(scores)) - (len(reference) - 1)


@pytest.fixture(scope="module")
def speech_in(sample_dir: Path, speech_wav: Path) -> dict[str, Path]:
    return {
        suffix: samples.transcode_audio(speech_wav, sample_dir / f"audio_speech.{suffix}")
        for suffix in FORMATS
    }


@pytest.fixture(scope="module")
def reference(speech_wav: Path) -> np.ndarray:
    return load_speech(speech_wav)


def test_wav_gives_16k_mono_float32(speech_wav: Path, reference: np.ndarray) -> None:
    assert reference.dtype == np.float32 and reference.ndim == 1
    assert reference.flags["C_CONTIGUOUS"]
    # espeak writes 22.05 kHz; the file's own sample count fixes the expected length.
    wav_samples = (speech_wav.stat().st_size - 44) // 2
    assert len(reference) == pytest.approx(wav_samples * 16000 / 22050, abs=2)
    assert 0.05 < float(np.abs(reference).max()) <= 1.0


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_format_decodes_to_the_same_speech(
    speech_in: dict[str, Path], reference: np.ndarray, suffix: str
) -> None:
    speech = load_speech(speech_in[suffix])
    assert speech.dtype == np.float32 and speech.ndim == 1
    # Lossy codecs pad their last frame; raw ADTS also keeps the encoder's start padding.
    tolerance_s = 0.1 if suffix == "aac" else 0.07
    assert abs(len(speech) - len(reference)) <= tolerance_s * 16000
    lag = _lag(speech, reference)
    # Speech must not move in time (it would put the mouth out of sync), except in raw
    # ADTS, which cannot say that its first 1024 samples are encoder padding.
    assert abs(lag) <= (0.05 * 16000 if suffix == "aac" else 2), lag
    aligned = speech[lag:] if lag > 0 else speech
    length = min(len(aligned), len(reference))
    correlation = np.corrcoef(aligned[:length], reference[:length])[0, 1]
    assert correlation > 0.9


def test_lossless_formats_are_sample_exact(
    speech_in: dict[str, Path], reference: np.ndarray
) -> None:
    for suffix in ("flac", "avi"):
        assert np.array_equal(load_speech(speech_in[suffix]), reference)


def test_mp4_edit_list_gives_the_exact_length(
    speech_in: dict[str, Path], reference: np.ndarray
) -> None:
    # The edit list is in the movie's millisecond clock: exact to 1 ms (16 samples).
    for suffix in ("m4a", "mp4"):
        assert abs(len(load_speech(speech_in[suffix])) - len(reference)) <= 16


def test_the_audio_track_of_videos(face_video: Path, browser_webm: Path) -> None:
    assert len(load_speech(face_video)) == 3 * 16000
    assert abs(len(load_speech(browser_webm)) - 3 * 16000) <= 0.05 * 16000


def test_mp3_fixture(speech_mp3: Path, reference: np.ndarray) -> None:
    assert abs(len(load_speech(speech_mp3)) - len(reference)) <= 0.07 * 16000


def test_other_rates(speech_wav: Path) -> None:
    assert len(load_speech(speech_wav, sample_rate=8000)) == pytest.approx(
        len(load_speech(speech_wav)) / 2, abs=2
    )


def test_no_audio_stream(noface_gap_video: Path, still_png: Path) -> None:
    for path in (noface_gap_video, still_png):
        with pytest.raises(NoAudioStreamError, match=f"{path.name} has no audio stream"):
            load_speech(path)
        with pytest.raises(NoAudioStreamError):
            iter_audio(path)


def test_zero_samples_is_empty(tmp_path: Path) -> None:
    path = samples.tone_wav(tmp_path / "nothing.wav", seconds=0.0)
    with pytest.raises(EmptyMediaError, match=r"nothing\.wav holds no audio samples"):
        load_speech(path)


def test_iter_audio_streams_planar_chunks_at_the_native_rate(face_video: Path) -> None:
    stream = iter_audio(face_video)
    assert (stream.sample_rate, stream.channels) == (22050, 1)
    chunks = list(stream)
    assert len(chunks) > 10  # streamed, not one block
    assert all(c.dtype == np.float32 and c.ndim == 2 and c.shape[0] == 1 for c in chunks)
    total = sum(c.shape[1] for c in chunks)
    assert abs(total - 3 * 22050) <= 1024  # plus at most the AAC end padding
    assert sum(c.shape[1] for c in stream) == total  # each iteration starts again


def test_iter_audio_layout_and_rate(speech_wav: Path) -> None:
    stereo = iter_audio(speech_wav, sample_rate=48000, layout="stereo")
    assert (stereo.sample_rate, stereo.channels) == (48000, 2)
    chunks = list(stereo)
    assert all(c.shape[0] == 2 for c in chunks)
    joined = np.concatenate(chunks, axis=1)
    assert np.allclose(joined[0], joined[1])
    with pytest.raises(OptionsError):
        iter_audio(speech_wav, layout="5.1")


def test_array_audio() -> None:
    tone = np.linspace(-1, 1, 10000, dtype=np.float32)
    audio = ArrayAudio(tone, 16000, chunk=4096)
    chunks = list(audio)
    assert [c.shape for c in chunks] == [(1, 4096), (1, 4096), (1, 1808)]
    assert np.array_equal(np.concatenate(chunks, axis=1)[0], tone)
    with pytest.raises(OptionsError):
        ArrayAudio(np.zeros((3, 10), np.float32), 16000)
