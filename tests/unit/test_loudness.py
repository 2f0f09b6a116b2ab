"""Per-frame loudness, speech activity and spectral features on generated signals."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lipsync.audio.loudness import (
    FEATURE_DIM,
    FLOOR_DB,
    N_MEL_BANDS,
    frame_loudness,
    frame_spectral_features,
    speech_activity,
    speech_threshold_db,
)

RATE = 16_000
FPS = 25.0


def tone_burst(
    total_s: float, start_s: float, end_s: float, frequency: float = 440.0, amplitude: float = 1.0
) -> np.ndarray:
    """float32 (S,): silence with a sine from ``start_s`` to ``end_s``."""
    samples = np.zeros(round(total_s * RATE), dtype=np.float32)
    first, last = round(start_s * RATE), round(end_s * RATE)
    t = np.arange(last - first) / RATE
    samples[first:last] = amplitude * np.sin(2 * np.pi * frequency * t)
    return samples


def test_full_scale_sine_reads_minus_3_db_and_silence_the_floor() -> None:
    burst = tone_burst(2.0, 0.6, 1.4)
    loudness = frame_loudness(burst, RATE, FPS, 50)
    assert loudness.dtype == np.float32 and loudness.shape == (50,)
    # Frames 15..34 lie wholly inside the tone (0.6 s = start of frame 15 at 25 fps).
    np.testing.assert_allclose(loudness[15:35], -3.01, atol=0.05)
    assert np.all(loudness[:14] == FLOOR_DB)
    assert np.all(loudness[36:] == FLOOR_DB)


def test_half_amplitude_is_6_db_quieter() -> None:
    loud = frame_loudness(tone_burst(1.0, 0.0, 1.0), RATE, FPS, 25)
    quiet = frame_loudness(tone_burst(1.0, 0.0, 1.0, amplitude=0.5), RATE, FPS, 25)
    np.testing.assert_allclose(loud[2:-2] - quiet[2:-2], 20 * np.log10(2), atol=0.01)


def test_frames_past_the_end_of_the_audio_are_floor() -> None:
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, RATE).astype(np.float32)  # 1 s
    loudness = frame_loudness(noise, RATE, FPS, 40)
    assert np.all(loudness[:25] > -20)
    assert np.all(loudness[25:] == FLOOR_DB)


def test_high_frame_rates_use_a_25_ms_window() -> None:
    # A 200 Hz tone has 5 ms periods; a 1/120 s window would still be fine, but a 25 ms
    # window gives the same level at every frame rate.
    tone = tone_burst(1.0, 0.0, 1.0, frequency=200.0, amplitude=0.5)
    for fps in (25.0, 60.0, 120.0):
        loudness = frame_loudness(tone, RATE, fps, int(fps))
        np.testing.assert_allclose(loudness[3:-3], -9.03, atol=0.1)


def test_burst_activity_matches_the_tone_within_a_frame() -> None:
    loudness = frame_loudness(tone_burst(3.0, 1.0, 2.0, amplitude=0.3), RATE, FPS, 75)
    active = speech_activity(loudness, FPS)
    assert active.dtype == bool and active.shape == (75,)
    frames = np.flatnonzero(active)
    assert abs(frames[0] - 25) <= 1 and abs(frames[-1] - 49) <= 1
    assert np.all(active[frames[0] : frames[-1] + 1])


def test_silence_and_steady_noise_are_never_speech() -> None:
    assert not speech_activity(np.full(100, FLOOR_DB, dtype=np.float32)).any()
    assert not speech_activity(frame_loudness(np.zeros(RATE), RATE, FPS, 25)).any()
    steady = np.random.default_rng(1).normal(0, 0.05, 3 * RATE).astype(np.float32)
    assert not speech_activity(frame_loudness(steady, RATE, FPS, 75), FPS).any()
    assert not speech_activity(np.zeros(0)).any()


def test_short_gaps_are_bridged_and_blips_dropped() -> None:
    speech, quiet = -20.0, -80.0
    levels = np.full(60, quiet)
    levels[5:15] = speech
    levels[16:26] = speech  # a one-frame (40 ms) gap at 15
    levels[30:40] = speech  # a three-frame (120 ms) gap at 26..29 stays
    levels[50] = speech  # a one-frame (40 ms) blip
    active = speech_activity(levels, FPS)
    assert active[5:26].all()
    assert not active[26:30].any()
    assert active[30:40].all()
    assert not active[45:].any()


def test_threshold_rule_lies_between_floor_and_level() -> None:
    levels = np.concatenate([np.full(50, -60.0), np.full(50, -20.0)])
    threshold = speech_threshold_db(levels)
    assert threshold is not None
    assert threshold == pytest.approx(-60 + 0.4 * 40)
    assert speech_threshold_db(np.full(10, -30.0)) is None


def test_spectral_features_shape_normalisation_and_centroid() -> None:
    low = tone_burst(1.0, 0.0, 1.0, frequency=300.0, amplitude=0.3)
    high = tone_burst(1.0, 0.0, 1.0, frequency=3000.0, amplitude=0.3)
    clip = np.concatenate([low, high])
    features = frame_spectral_features(clip, RATE, FPS, 55)  # 5 frames past the end
    assert features.shape == (55, FEATURE_DIM) and features.dtype == np.float32
    assert np.isfinite(features).all()
    np.testing.assert_allclose(features[:50, :N_MEL_BANDS].mean(axis=0), 0.0, atol=1e-4)
    centroid = features[:, N_MEL_BANDS + 1]
    assert centroid[30:48].mean() > 5 * centroid[2:20].mean()
    # The change from low to high tone shows as spectral flux.
    flux = features[:, N_MEL_BANDS + 2]
    assert flux[24:27].max() > 10 * np.median(flux[5:20])


def test_five_minutes_take_well_under_a_few_seconds() -> None:
    clip = np.random.default_rng(2).normal(0, 0.1, 300 * RATE).astype(np.float32)
    start = time.perf_counter()
    loudness = frame_loudness(clip, RATE, FPS, 7500)
    features = frame_spectral_features(clip, RATE, FPS, 7500)
    elapsed = time.perf_counter() - start
    assert loudness.shape == (7500,) and features.shape == (7500, FEATURE_DIM)
    assert elapsed < 4.0


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="fps"):
        frame_loudness(np.zeros(10), RATE, 0.0, 1)
    with pytest.raises(ValueError, match="mono"):
        frame_loudness(np.zeros((2, 10)), RATE, FPS, 1)
