"""Wav2Lip's mel features against librosa computed the reference's way, and its windows."""

from __future__ import annotations

import shutil
import subprocess
import time
from math import gcd
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal

from lipsync.audio.mel import (
    MEL_STEP_SIZE,
    SILENCE_VALUE,
    gather_mel_windows,
    mel_window_starts,
    pad_mel_for_windows,
    preemphasise,
    slaney_mel_filter_bank,
    wav2lip_mel,
)

librosa = pytest.importorskip("librosa")


def reference_mel(samples: np.ndarray, pad_mode: str = "reflect") -> np.ndarray:
    """Rudrabha/Wav2Lip audio.melspectrogram, as it ran on librosa 0.7/0.8 (reflect pad)."""
    emphasised = scipy.signal.lfilter([1, -0.97], [1], samples)
    spectrum = librosa.stft(
        y=emphasised, n_fft=800, hop_length=200, win_length=800, pad_mode=pad_mode
    )
    basis = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    level = 20 * np.log10(np.maximum(1e-5, np.dot(basis, np.abs(spectrum)))) - 20
    return np.clip(8 * ((level + 100) / 100) - 4, -4, 4)


@pytest.fixture(scope="module")
def espeak_speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    wav = Path(tmp_path_factory.mktemp("speech")) / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(wav), "Lip sync needs clear speech. Seven brown foxes jumped."],
        check=True,
        capture_output=True,
    )
    rate, pcm = scipy.io.wavfile.read(wav)
    samples = pcm.astype(np.float32) / 32768.0
    common = gcd(16000, rate)
    return scipy.signal.resample_poly(samples, 16000 // common, rate // common).astype(np.float32)


def test_filter_bank_matches_librosa_slaney() -> None:
    expected = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600)
    ours = slaney_mel_filter_bank()
    assert ours.shape == (80, 401)
    assert np.abs(ours - expected).max() < 1e-6


def test_preemphasis_matches_lfilter() -> None:
    x = np.random.default_rng(1).standard_normal(1000).astype(np.float32)
    np.testing.assert_allclose(preemphasise(x), scipy.signal.lfilter([1, -0.97], [1], x), atol=1e-6)


def test_speech_matches_reference(espeak_speech: np.ndarray) -> None:
    ours = wav2lip_mel(espeak_speech)
    expected = reference_mel(espeak_speech)
    assert ours.dtype == np.float32
    assert ours.shape == expected.shape == (80, 1 + len(espeak_speech) // 200)
    assert np.abs(ours - expected).max() < 1e-4
    # real speech uses the whole range, so the comparison is not of two flat floors
    assert ours.min() == -4.0 and ours.max() > 0.0


def test_noise_matches_reference() -> None:
    noise = (np.random.default_rng(0).standard_normal(16000 * 2 + 123) * 0.3).astype(np.float32)
    ours = wav2lip_mel(noise)
    assert np.abs(ours - reference_mel(noise)).max() < 1e-4


def test_edges_use_reflect_padding_not_librosa_011_zeros() -> None:
    tone = np.sin(2 * np.pi * 440 * np.arange(8000) / 16000).astype(np.float32) * 0.5
    ours = wav2lip_mel(tone)
    zero_padded = reference_mel(tone, pad_mode="constant")
    assert np.abs(ours[:, 0] - zero_padded[:, 0]).max() > 0.05
    assert np.abs(ours[:, 5:-5] - zero_padded[:, 5:-5]).max() < 1e-4


def test_silence_is_floor_and_lengths() -> None:
    silent = wav2lip_mel(np.zeros(16000, dtype=np.float32))
    assert silent.shape == (80, 81)
    assert np.all(silent == SILENCE_VALUE)
    assert wav2lip_mel(np.zeros(0, dtype=np.float32)).shape == (80, 0)
    assert wav2lip_mel(np.zeros(1, dtype=np.float32)).shape == (80, 1)
    with pytest.raises(ValueError, match="mono"):
        wav2lip_mel(np.zeros((2, 100), dtype=np.float32))


def test_five_minutes_is_fast() -> None:
    samples = (np.random.default_rng(2).standard_normal(16000 * 300) * 0.1).astype(np.float32)
    wav2lip_mel(samples[:16000])
    started = time.perf_counter()
    mel = wav2lip_mel(samples)
    elapsed = time.perf_counter() - started
    assert mel.shape == (80, 24001)
    assert elapsed < 2.5, f"5 minutes of speech took {elapsed:.2f} s"


def reference_windows(mel_length: int, fps: float) -> list[int]:
    """The window starts of the reference inference.py's loop (it decides the count itself)."""
    starts = []
    multiplier = 80.0 / fps
    i = 0
    while True:
        start = int(i * multiplier)
        if start + MEL_STEP_SIZE > mel_length:
            starts.append(mel_length - MEL_STEP_SIZE)
            return starts
        starts.append(start)
        i += 1


@pytest.mark.parametrize("fps", [25.0, 29.97, 30.0, 24.0, 60.0])
def test_window_starts_match_reference_loop(fps: float) -> None:
    mel_length = 813
    expected = reference_windows(mel_length, fps)
    starts = mel_window_starts(mel_length, fps, len(expected) + 20)
    assert starts.shape == (len(expected) + 20,)
    assert starts.tolist()[: len(expected)] == expected
    # past the reference's last frame every window is the last 16 steps
    assert set(starts[len(expected) - 1 :].tolist()) == {mel_length - MEL_STEP_SIZE}


def test_window_starts_at_25_fps() -> None:
    starts = mel_window_starts(100, 25.0, 30)
    assert starts[:6].tolist() == [0, 3, 6, 9, 12, 16]
    assert starts.max() == 100 - 16
    assert np.all(np.diff(starts) >= 0)
    assert mel_window_starts(100, 25.0, 0).shape == (0,)
    with pytest.raises(ValueError):
        mel_window_starts(100, 0.0, 5)


def test_short_mel_is_padded_with_silence() -> None:
    short = np.zeros((80, 5), dtype=np.float32)
    padded = pad_mel_for_windows(short)
    assert padded.shape == (80, 16)
    assert np.all(padded[:, :5] == 0.0)
    assert np.all(padded[:, 5:] == SILENCE_VALUE)
    assert mel_window_starts(5, 25.0, 4).tolist() == [0, 0, 0, 0]
    long = np.zeros((80, 40), dtype=np.float32)
    assert pad_mel_for_windows(long) is long


def test_gather_windows() -> None:
    mel = np.arange(80 * 50, dtype=np.float32).reshape(80, 50)
    starts = mel_window_starts(50, 25.0, 20)
    windows = gather_mel_windows(mel, starts, np.array([0, 3, 19]))
    assert windows.shape == (3, 1, 80, 16)
    assert windows.dtype == np.float32
    for row, frame in enumerate([0, 3, 19]):
        start = starts[frame]
        np.testing.assert_array_equal(windows[row, 0], mel[:, start : start + 16])
    with pytest.raises(IndexError):
        gather_mel_windows(mel, starts, np.array([20]))
