"""Wav2Lip's speech features: the reference's mel spectrogram and its per-frame windows.

The released Wav2Lip weights were trained on one exact feature recipe (Rudrabha/Wav2Lip's
``audio.py`` with its ``hparams.py``), so every constant here is the reference's:

* pre-emphasis ``y[n] - 0.97·y[n-1]``;
* STFT with n_fft 800, hop 200 (80 frames per second at 16 kHz), periodic Hann window of
  800, centred. The reference ran on librosa 0.7/0.8, whose centred STFT padded with
  ``mode='reflect'``; librosa 0.10+ switched the default to zero padding. We reproduce the
  reference (reflect), which is what the weights saw: the two differ only in the first and
  last two frames;
* magnitude, then 80 Slaney-style mel bands from 55 Hz to 7600 Hz with Slaney area
  normalisation (librosa's default filter bank, written here in numpy so that library
  code does not depend on librosa);
* ``20·log10(max(1e-5, x)) - 20`` and the symmetric normalisation into [-4, 4].

Everything is computed in float64 and returned as float32.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
N_FFT = 800
HOP_LENGTH = 200
WIN_LENGTH = 800
N_MELS = 80
FMIN_HZ = 55.0
FMAX_HZ = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0

MEL_FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH  # 80.0
MEL_STEP_SIZE = 16
"""Mel frames per video frame's window (0.2 s of speech), as the generator expects."""

SILENCE_VALUE = -MAX_ABS_VALUE
"""The normalised value of digital silence: every band clips to the floor."""

# Frames are transformed in chunks so that a long clip never holds all of its windowed
# frames at once (an hour of speech would otherwise need several GB of float64).
_FRAMES_PER_CHUNK = 4096


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear_step_hz = 200.0 / 3.0
    break_hz = 1000.0
    break_mel = break_hz / linear_step_hz
    log_step = np.log(6.4) / 27.0
    mel = hz / linear_step_hz
    above = hz >= break_hz
    mel[above] = break_mel + np.log(hz[above] / break_hz) / log_step
    return mel


def _slaney_mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    linear_step_hz = 200.0 / 3.0
    break_hz = 1000.0
    break_mel = break_hz / linear_step_hz
    log_step = np.log(6.4) / 27.0
    hz = mel * linear_step_hz
    above = mel >= break_mel
    hz[above] = break_hz * np.exp(log_step * (mel[above] - break_mel))
    return hz


def slaney_mel_filter_bank(
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    fmin_hz: float = FMIN_HZ,
    fmax_hz: float = FMAX_HZ,
) -> np.ndarray:
    """Triangular mel filters on the Slaney scale with Slaney (constant-area) normalisation.

    Returns float64 (n_mels, n_fft // 2 + 1): row m weights the magnitude of each rFFT bin.
    Matches ``librosa.filters.mel(sr=..., n_fft=..., n_mels=..., fmin=..., fmax=...)``.
    """
    bin_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edge_mels = np.linspace(
        _hz_to_slaney_mel(np.array([fmin_hz]))[0],
        _hz_to_slaney_mel(np.array([fmax_hz]))[0],
        n_mels + 2,
    )
    edges_hz = _slaney_mel_to_hz(edge_mels)
    widths_hz = np.diff(edges_hz)
    # distance of every band edge above every bin: (n_mels + 2, n_bins)
    offsets = edges_hz[:, None] - bin_hz[None, :]
    rising = -offsets[:-2] / widths_hz[:-1, None]
    falling = offsets[2:] / widths_hz[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    # Slaney normalisation: every triangle gets the same area, so wide high bands do not
    # dominate the narrow low ones.
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights


def _periodic_hann(length: int) -> np.ndarray:
    # periodic (fftbins=True) like scipy/librosa, not the symmetric textbook window
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


_MEL_BASIS = slaney_mel_filter_bank()
_WINDOW = _periodic_hann(WIN_LENGTH)


def preemphasise(samples: np.ndarray, coefficient: float = PREEMPHASIS) -> np.ndarray:
    """First-order high-pass ``y[n] = x[n] - coefficient·x[n-1]`` (with ``x[-1] = 0``).

    float (S,) → float64 (S,); identical to ``scipy.signal.lfilter([1, -c], [1], x)``.
    """
    x = np.asarray(samples, dtype=np.float64)
    out = x.copy()
    out[1:] -= coefficient * x[:-1]
    return out


def _mel_magnitudes(y: np.ndarray) -> np.ndarray:
    """Mel-weighted magnitude of the centred, reflect-padded STFT: float64 (S,) → (80, T)."""
    padded = np.pad(y, N_FFT // 2, mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP_LENGTH
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    mel_by_frame = np.empty((n_frames, N_MELS), dtype=np.float64)
    basis_t = _MEL_BASIS.T
    for start in range(0, n_frames, _FRAMES_PER_CHUNK):
        spectrum = np.fft.rfft(frames[start : start + _FRAMES_PER_CHUNK] * _WINDOW, axis=1)
        mel_by_frame[start : start + len(spectrum)] = np.abs(spectrum) @ basis_t
    return mel_by_frame.T


def wav2lip_mel(samples: np.ndarray) -> np.ndarray:
    """Wav2Lip's normalised log-mel spectrogram.

    ``samples``: float mono 16 kHz (S,), nominally in [-1, 1]. Returns float32 (80, T) in
    [-4, 4] with ``T = 1 + S // 200`` (80 frames per second); T is 0 for empty input.
    """
    y = np.asarray(samples)
    if y.ndim != 1:
        raise ValueError(f"samples must be mono (S,), got shape {y.shape}")
    if len(y) == 0:
        return np.zeros((N_MELS, 0), dtype=np.float32)
    emphasised = preemphasise(y)
    mel_power = _mel_magnitudes(emphasised)
    level_db = 20.0 * np.log10(np.maximum(1e-5, mel_power)) - REF_LEVEL_DB
    normalised = (2.0 * MAX_ABS_VALUE) * ((level_db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS_VALUE
    return np.clip(normalised, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def pad_mel_for_windows(mel: np.ndarray) -> np.ndarray:
    """Right-pad a mel shorter than one window (T < 16) with silence to exactly 16 frames.

    float32 (80, T) → float32 (80, max(T, 16)). The reference simply fails on speech
    shorter than 0.2 s; treating the missing tail as silence gives a closed mouth instead.
    """
    if mel.shape[1] >= MEL_STEP_SIZE:
        return mel
    padded = np.full((mel.shape[0], MEL_STEP_SIZE), SILENCE_VALUE, dtype=np.float32)
    padded[:, : mel.shape[1]] = mel
    return padded


def mel_window_starts(n_mel_frames: int, fps: float, n_frames: int) -> np.ndarray:
    """First mel frame of each video frame's 16-step window, as the reference picks them.

    Frame i starts at ``int(i · (80 / fps))`` (the reference's float expression, so the
    rounding at exact multiples matches it); a window that would run past the end of the
    mel is clamped to the last 16 steps. ``n_mel_frames`` below 16 is treated as 16, the
    length :func:`pad_mel_for_windows` gives it. Returns int64 (n_frames,).
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if n_frames < 0:
        raise ValueError(f"n_frames must not be negative, got {n_frames}")
    mel_frames_per_video_frame = MEL_FRAMES_PER_SECOND / fps
    starts = (np.arange(n_frames, dtype=np.float64) * mel_frames_per_video_frame).astype(np.int64)
    last_start = max(n_mel_frames, MEL_STEP_SIZE) - MEL_STEP_SIZE
    return np.minimum(starts, last_start)


def gather_mel_windows(
    mel: np.ndarray, starts: np.ndarray, frame_indices: np.ndarray
) -> np.ndarray:
    """The generator's audio input for the given video frames.

    ``mel``: float32 (80, T) with T ≥ 16 (see :func:`pad_mel_for_windows`); ``starts``: from
    :func:`mel_window_starts`; ``frame_indices``: int (B,). Returns float32 (B, 1, 80, 16).
    """
    indices = np.asarray(frame_indices, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= len(starts)):
        raise IndexError(f"frame index out of range 0..{len(starts) - 1}: {indices.tolist()}")
    if mel.shape[1] < MEL_STEP_SIZE:
        raise ValueError(f"mel has {mel.shape[1]} frames, fewer than one window of {MEL_STEP_SIZE}")
    columns = starts[indices][:, None] + np.arange(MEL_STEP_SIZE)[None, :]
    # mel[:, columns] is (80, B, 16); the network wants (B, 1, 80, 16)
    windows = np.transpose(mel[:, columns], (1, 0, 2))[:, None]
    return np.ascontiguousarray(windows, dtype=np.float32)
