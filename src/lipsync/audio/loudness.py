"""Per-video-frame loudness, speech activity and small spectral features.

Everything here is sampled at video frame centres: frame ``i`` of a clip at ``fps`` is
centred at ``(i + 0.5) / fps`` seconds. Inputs are float samples in [-1, 1], usually
float32 mono 16 kHz (S,) from ``lipsync.media.audio.load_speech``. numpy only, vectorised:
a five-minute clip takes a few tens of milliseconds.
"""

from __future__ import annotations

import numpy as np

FLOOR_DB = -100.0
"""Loudness of digital silence and of frames past the end of the audio, dBFS."""

MIN_WINDOW_S = 0.025
"""Shortest loudness window: at high frame rates one frame is too short to hold a pitch
period of a low voice (≈ 10 ms), so the level would flicker with the waveform."""

# --- speech activity -------------------------------------------------------------------
NOISE_PERCENTILE = 10.0
"""The noise floor is the level that the quietest tenth of the frames stay under: speech
with pauses nearly always has that much silence, and a robust percentile ignores clicks."""
SPEECH_PERCENTILE = 95.0
"""The speech level: the top 5 % are stressed vowels, a percentile ignores a few peaks."""
THRESHOLD_SPLIT = 0.4
"""Where between floor and speech level the threshold sits (0 = floor, 1 = speech level).
Below the middle, because soft syllables and word endings are 10–20 dB under the peaks."""
MAX_SPEECH_RANGE_DB = 35.0
"""Anything this far below the speech level is not speech even over a dead-silent floor
(breaths, room tone after digital silence)."""
ABSOLUTE_SILENCE_DB = -65.0
"""Never speech: quieter than any usable recording of a voice."""
MIN_CONTRAST_DB = 6.0
"""Speech is modulated by syllables (well over 10 dB between pauses/closures and vowels);
a clip whose levels stay within this range is steady noise or hum, not speech."""
MAX_GAP_S = 0.06
"""Quiet stretches shorter than this inside speech (stop closures) stay active."""
MIN_SPEECH_S = 0.05
"""Active stretches shorter than this (clicks, a cough's edge) are dropped."""

# --- spectral features ------------------------------------------------------------------
N_MEL_BANDS = 20
MEL_FMIN_HZ = 80.0
"""Below the lowest voice fundamentals: mains hum and rumble carry no mouth information."""
MEL_FMAX_HZ = 7600.0
STFT_WINDOW_S = 0.025
STFT_HOP_S = 0.010
"""The usual speech-analysis frame: short enough to follow a consonant, long enough for
the spectral resolution that separates formants."""
FEATURE_DIM = N_MEL_BANDS + 3
"""Columns of ``frame_spectral_features``: 20 log-mel bands (log10 power, minus the clip's
per-band mean), then loudness (dB relative to the clip's speech level, / 20), spectral
centroid (Hz / Nyquist) and spectral flux (mean positive change of the log-mel bands)."""

_POWER_FLOOR = 10.0 ** (FLOOR_DB / 10.0)
# STFT frames are transformed in chunks so an hour of audio never holds all its windows.
_STFT_FRAMES_PER_CHUNK = 8192


def _frame_windows(
    n_samples: int, sample_rate: int, fps: float, n_frames: int, window_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample bounds [start, end) of each frame's window, clipped to the audio, and a mask of
    frames whose centre lies inside the audio."""
    centres = (np.arange(n_frames, dtype=np.float64) + 0.5) / fps * sample_rate
    half = 0.5 * window_s * sample_rate
    starts = np.clip(np.round(centres - half), 0, n_samples).astype(np.int64)
    ends = np.clip(np.round(centres + half), 0, n_samples).astype(np.int64)
    inside = (centres < n_samples) & (ends > starts)
    return starts, ends, inside


def _check(samples: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if n_frames < 0:
        raise ValueError(f"n_frames must not be negative, got {n_frames}")
    audio = np.asarray(samples)
    if audio.ndim != 1:
        raise ValueError(f"samples must be mono (S,), got shape {audio.shape}")
    return audio


def frame_loudness(samples: np.ndarray, sample_rate: int, fps: float, n_frames: int) -> np.ndarray:
    """Loudness per video frame: float32 (n_frames,) in dBFS (RMS of float samples in [-1, 1];
    floor -100 dB).

    Frame i is centred at time (i + 0.5) / fps; the window is max(1/fps, 0.025 s) long, and
    is shortened where it overhangs either end of the audio. Frames whose centre is past the
    end of the audio get -100. A full-scale sine reads about -3 dB.
    """
    audio = _check(samples, sample_rate, fps, n_frames)
    window_s = max(1.0 / fps, MIN_WINDOW_S)
    starts, ends, inside = _frame_windows(len(audio), sample_rate, fps, n_frames, window_s)
    # A running sum of squares gives every window's energy in O(S + n_frames), whatever
    # the overlap; float64 keeps the cancellation error far below the -100 dB floor.
    energy = np.zeros(len(audio) + 1, dtype=np.float64)
    np.cumsum(np.square(audio, dtype=np.float64), out=energy[1:])
    counts = np.maximum(ends - starts, 1)
    mean_square = np.maximum(energy[ends] - energy[starts], 0.0) / counts
    loudness = 10.0 * np.log10(np.maximum(mean_square, _POWER_FLOOR))
    loudness[~inside] = FLOOR_DB
    return loudness.astype(np.float32)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate(([False], mask, [False])).astype(np.int8))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def speech_threshold_db(loudness_db: np.ndarray) -> float | None:
    """The level above which a frame counts as speech, in dBFS, or None when the clip holds
    no modulated sound at all (silence, steady noise or hum).

    Rule: with the noise floor F (10th percentile) and the speech level L (95th percentile),
    the threshold is max(F + 0.4·(L − F), L − 35 dB, −65 dBFS); None when L − F < 6 dB or
    L ≤ −65 dBFS.
    """
    levels = np.asarray(loudness_db, dtype=np.float64)
    if levels.size == 0:
        return None
    floor = float(np.percentile(levels, NOISE_PERCENTILE))
    level = float(np.percentile(levels, SPEECH_PERCENTILE))
    if level <= ABSOLUTE_SILENCE_DB or level - floor < MIN_CONTRAST_DB:
        return None
    return max(
        floor + THRESHOLD_SPLIT * (level - floor),
        level - MAX_SPEECH_RANGE_DB,
        ABSOLUTE_SILENCE_DB,
    )


def speech_level_db(loudness_db: np.ndarray) -> float:
    """The clip's speech level: the 95th percentile of the frame loudness, dBFS (-100 if empty)."""
    levels = np.asarray(loudness_db, dtype=np.float64)
    if levels.size == 0:
        return FLOOR_DB
    return float(np.percentile(levels, SPEECH_PERCENTILE))


def speech_activity(loudness_db: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """bool (n,): True where the frame carries speech.

    ``loudness_db``: float (n,) from ``frame_loudness``; ``fps``: its frame rate, which sets
    how many frames the gap and blip durations span. The threshold adapts to the clip (see
    ``speech_threshold_db``); quiet gaps shorter than 60 ms inside speech stay active, and
    active stretches shorter than 50 ms are dropped. All-silent or steady input -> all False.
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    levels = np.asarray(loudness_db, dtype=np.float64)
    if levels.ndim != 1:
        raise ValueError(f"loudness_db must be 1-D, got shape {levels.shape}")
    threshold = speech_threshold_db(levels)
    if threshold is None:
        return np.zeros(levels.shape, dtype=bool)
    active = levels > threshold
    # The tiny tolerance keeps a duration that equals a limit (e.g. 2 frames at 40 fps =
    # 50 ms) from flipping on float rounding.
    tolerance = 1e-9
    gap_starts, gap_ends = _runs(~active)
    for start, end in zip(gap_starts, gap_ends, strict=True):
        inner = start > 0 and end < len(active)
        if inner and (end - start) / fps < MAX_GAP_S - tolerance:
            active[start:end] = True
    run_starts, run_ends = _runs(active)
    for start, end in zip(run_starts, run_ends, strict=True):
        if (end - start) / fps < MIN_SPEECH_S - tolerance:
            active[start:end] = False
    return active


def _mel_filterbank(sample_rate: int, n_fft: int) -> np.ndarray:
    """Triangular filters (N_MEL_BANDS, n_fft // 2 + 1) on the HTK mel scale, unit peak."""
    fmax = min(MEL_FMAX_HZ, sample_rate / 2.0)

    def to_mel(hz: np.ndarray | float) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)

    mel_edges = np.linspace(to_mel(MEL_FMIN_HZ), to_mel(fmax), N_MEL_BANDS + 2)
    hz_edges = 700.0 * (10.0 ** (mel_edges / 2595.0) - 1.0)
    bins_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = hz_edges[:-2, None], hz_edges[1:-1, None], hz_edges[2:, None]
    rising = (bins_hz[None, :] - lower) / (centre - lower)
    falling = (upper - bins_hz[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def _stft_geometry(sample_rate: int) -> tuple[int, int]:
    """STFT window and hop in samples."""
    return max(round(STFT_WINDOW_S * sample_rate), 2), max(round(STFT_HOP_S * sample_rate), 1)


def _stft_band_power(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Mel band power (T, N_MEL_BANDS) and spectral centroid in Hz (T,) of 25 ms frames every
    10 ms; STFT frame t covers samples [t·hop, t·hop + window)."""
    window, hop = _stft_geometry(sample_rate)
    n_fft = 1 << (window - 1).bit_length()
    padded = audio.astype(np.float32, copy=False)
    if len(padded) < window:
        padded = np.pad(padded, (0, window - len(padded)))
    n_stft = 1 + (len(padded) - window) // hop
    frames = np.lib.stride_tricks.sliding_window_view(padded, window)[::hop][:n_stft]
    taper = np.hanning(window).astype(np.float32)
    filters = _mel_filterbank(sample_rate, n_fft).astype(np.float32)
    bin_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate).astype(np.float32)
    band_power = np.empty((n_stft, N_MEL_BANDS), dtype=np.float64)
    centroid = np.empty(n_stft, dtype=np.float64)
    for begin in range(0, n_stft, _STFT_FRAMES_PER_CHUNK):
        chunk = frames[begin : begin + _STFT_FRAMES_PER_CHUNK] * taper
        power = np.square(np.abs(np.fft.rfft(chunk, n=n_fft, axis=1)))
        band_power[begin : begin + len(chunk)] = power @ filters.T
        total = power.sum(axis=1)
        centroid[begin : begin + len(chunk)] = (power @ bin_hz) / np.maximum(total, 1e-20)
    return band_power, centroid


def frame_spectral_features(
    samples: np.ndarray, sample_rate: int, fps: float, n_frames: int
) -> np.ndarray:
    """float32 (n_frames, FEATURE_DIM): per-frame spectral features for a small regression from
    audio to mouth shape.

    Columns: ``N_MEL_BANDS`` log-mel band energies (log10 power averaged over the frame's
    window, max(1/fps, 25 ms), minus each band's mean over the frames inside the audio), then
    loudness (dB relative to the clip's speech level, divided by 20), spectral centroid
    (Hz / Nyquist) and spectral flux (mean positive change of the log-mel bands from the
    previous frame). Frames past the end of the audio read as silence.
    """
    audio = _check(samples, sample_rate, fps, n_frames)
    features = np.zeros((n_frames, FEATURE_DIM), dtype=np.float32)
    if n_frames == 0:
        return features
    loudness = frame_loudness(audio, sample_rate, fps, n_frames)
    band_power, centroid_hz = _stft_band_power(audio, sample_rate)
    window, hop = _stft_geometry(sample_rate)
    # Each video frame averages the STFT frames whose centres fall inside its window.
    stft_centres_s = (np.arange(len(band_power)) * hop + window / 2.0) / sample_rate
    frame_centres_s = (np.arange(n_frames) + 0.5) / fps
    half_s = 0.5 * max(1.0 / fps, MIN_WINDOW_S)
    first = np.searchsorted(stft_centres_s, frame_centres_s - half_s, side="left")
    last = np.searchsorted(stft_centres_s, frame_centres_s + half_s, side="left")
    # A window narrower than the STFT hop still takes the nearest STFT frame.
    nearest = np.clip(np.searchsorted(stft_centres_s, frame_centres_s), 0, len(band_power) - 1)
    empty = last <= first
    first = np.where(empty, nearest, first)
    last = np.where(empty, nearest + 1, last)
    running_power = np.vstack([np.zeros((1, N_MEL_BANDS)), np.cumsum(band_power, axis=0)])
    running_centroid = np.concatenate([[0.0], np.cumsum(centroid_hz)])
    counts = (last - first)[:, None]
    mean_power = (running_power[last] - running_power[first]) / counts
    log_mel = np.log10(np.maximum(mean_power, _POWER_FLOOR))
    inside = frame_centres_s < len(audio) / sample_rate
    log_mel[~inside] = np.log10(_POWER_FLOOR)
    band_means = log_mel[inside].mean(axis=0) if inside.any() else np.zeros(N_MEL_BANDS)
    normalised = log_mel - band_means
    centroid = (running_centroid[last] - running_centroid[first]) / counts[:, 0]
    centroid[~inside] = 0.0
    flux = np.zeros(n_frames)
    flux[1:] = np.maximum(np.diff(log_mel, axis=0), 0.0).mean(axis=1)
    features[:, :N_MEL_BANDS] = normalised
    features[:, N_MEL_BANDS] = (loudness - speech_level_db(loudness[inside])) / 20.0
    features[:, N_MEL_BANDS + 1] = centroid / (sample_rate / 2.0)
    features[:, N_MEL_BANDS + 2] = flux
    return features
