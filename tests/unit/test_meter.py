"""The sync meter's pure-array core: lags, correlations, silence closure and LMD."""

from __future__ import annotations

import numpy as np
import pytest

from lipsync.errors import OptionsError
from lipsync.eval.figures import (
    SILENCE_MARGIN_S,
    lip_distance_percent,
    speech_envelope,
    sync_figures,
    truth_figures,
)
from lipsync.faces.mouth import EYE_OUTER_LEFT, EYE_OUTER_RIGHT, LIPS_INNER, LIPS_OUTER

FPS = 25.0


def speech_like_loudness(n: int, seed: int = 0) -> np.ndarray:
    """Syllable-rate loudness in dBFS with pauses of digital silence, float32 (n,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4.3 * t + rng.uniform(0, 6, n).cumsum() * 0.02)
    words = np.sin(2 * np.pi * 0.4 * t) > -0.3
    loudness = np.where(words, -45.0 + 35.0 * syllables, -100.0)
    return loudness.astype(np.float32)


def delayed(values: np.ndarray, delay: int) -> np.ndarray:
    """``values`` shifted ``delay`` frames later (earlier when negative), NaN where unknown."""
    out = np.full(len(values), np.nan)
    if delay >= 0:
        out[delay:] = values[: len(values) - delay]
    else:
        out[:delay] = values[-delay:]
    return out


@pytest.mark.parametrize("delay", [3, 0, -5])
def test_a_delayed_copy_of_the_envelope_gives_its_lag(delay):
    loudness = speech_like_loudness(500)
    envelope = speech_envelope(loudness, FPS)
    opening = 0.05 + 0.004 * (delayed(envelope, delay) - envelope.min())
    active = loudness > -60
    figures = sync_figures(opening, loudness, active, FPS, max_lag_frames=8)
    assert figures.sync.lag_frames == delay  # positive = the mouth moves after the sound
    assert figures.sync.lag_s == pytest.approx(delay / FPS)
    assert figures.sync.correlation == pytest.approx(1.0, abs=1e-9)
    assert len(figures.sync.correlations) == 17
    assert figures.sync.correlations[8] == figures.sync.correlation_at_zero
    if delay != 0:
        assert figures.sync.correlation_at_zero < 0.95


def test_default_lag_range_is_three_tenths_of_a_second():
    loudness = speech_like_loudness(300)
    opening = delayed(speech_envelope(loudness, 30.0), 2)
    figures = sync_figures(opening, loudness, loudness > -60, 30.0)
    assert figures.sync.max_lag_frames == 9
    assert figures.sync.lag_frames == 2


def test_unrelated_noise_correlates_weakly():
    rng = np.random.default_rng(7)
    loudness = speech_like_loudness(2000)
    opening = rng.uniform(0.0, 0.3, 2000)
    figures = sync_figures(opening, loudness, loudness > -60, FPS, max_lag_frames=8)
    assert figures.sync.correlation is not None
    assert abs(figures.sync.correlation_at_zero) < 0.1
    assert figures.sync.correlation < 0.15
    assert figures.silence.ratio == pytest.approx(1.0, abs=0.1)


def test_frames_without_a_face_are_skipped():
    loudness = speech_like_loudness(400)
    opening = delayed(speech_envelope(loudness, FPS), 2)
    opening[100:250] = np.nan  # the face is lost for six seconds
    figures = sync_figures(opening, loudness, loudness > -60, FPS, max_lag_frames=5)
    assert figures.sync.frames_used == 400 - 2 - 150
    assert figures.sync.lag_frames == 2
    assert figures.sync.correlation == pytest.approx(1.0, abs=1e-9)


def test_too_few_frames_with_a_face_give_a_reason_not_a_number():
    loudness = speech_like_loudness(200)
    opening = np.full(200, np.nan)
    opening[:12] = 0.1 + 0.01 * np.arange(12)
    figures = sync_figures(opening, loudness, loudness > -60, FPS)
    assert figures.sync.correlation is None and figures.sync.lag_frames is None
    assert "12 frames with a face" in figures.sync.reason


def test_silent_audio_and_a_frozen_mouth_give_reasons():
    silent = np.full(100, -100.0, np.float32)
    moving = 0.1 + 0.05 * np.sin(np.arange(100) / 3)
    figures = sync_figures(moving, silent, np.zeros(100, bool), FPS)
    assert figures.sync.correlation is None and "silent" in figures.sync.reason
    assert figures.silence.ratio is None and "0 speech" in figures.silence.reason
    loudness = speech_like_loudness(100)
    frozen = sync_figures(np.full(100, 0.1), loudness, loudness > -60, FPS)
    assert frozen.sync.correlation is None and "does not move" in frozen.sync.reason


def test_silence_closure_ratio_is_exact():
    active = np.zeros(200, bool)
    active[20:80] = active[120:170] = True
    opening = np.where(active, 0.30, 0.06)
    margin = round(SILENCE_MARGIN_S * FPS)
    # Just before and after speech the mouth may still move: those frames must not count.
    for start, stop in ((20, 80), (120, 170)):
        opening[start - margin : start] = 0.9
        opening[stop : stop + margin] = 0.9
    opening[190] = np.nan  # no face: ignored
    loudness = np.where(active, -20.0, -70.0).astype(np.float32)
    closure = sync_figures(opening, loudness, active, FPS).silence
    assert closure.speech_frames == 110
    assert closure.silent_frames == 200 - 110 - 4 * margin - 1
    assert closure.mean_opening_speech == pytest.approx(0.30)
    assert closure.mean_opening_silent == pytest.approx(0.06)
    assert closure.ratio == pytest.approx(0.2, abs=1e-12)


def test_the_envelope_is_flat_in_silence_and_keeps_its_length():
    loudness = speech_like_loudness(400)
    loudness[350:] = -100.0
    loudness[300:350] = -90.0
    envelope = speech_envelope(loudness, FPS)
    assert envelope.shape == (400,)
    assert np.ptp(envelope[310:]) == pytest.approx(0.0, abs=1e-9)
    assert envelope.max() <= loudness.max()


# --- against a truth video -------------------------------------------------------------


def face_landmarks(n_frames: int, seed: int = 0) -> np.ndarray:
    """float64 (n, 468, 3) random but fixed face points whose mouth opens and closes."""
    rng = np.random.default_rng(seed)
    face = np.tile(rng.uniform(50.0, 250.0, (468, 3)), (n_frames, 1, 1))
    face[:, EYE_OUTER_LEFT, :2] = (100.0, 100.0)
    face[:, EYE_OUTER_RIGHT, :2] = (200.0, 100.0)  # inter-ocular distance 100 px
    face[:, 14, 1] += 20.0 * np.sin(np.arange(n_frames) / 4.0)
    return face


def similarity(points: np.ndarray, angle: float, scale: float, shift: tuple[float, float]):
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    moved = points.copy()
    moved[..., 0] = c * points[..., 0] - s * points[..., 1] + shift[0]
    moved[..., 1] = s * points[..., 0] + c * points[..., 1] + shift[1]
    return moved


def test_lmd_of_identical_landmarks_is_zero():
    truth = face_landmarks(40)
    figures = truth_figures(truth.copy(), truth, FPS)
    assert figures.frames_compared == 40
    assert figures.lmd_percent == pytest.approx(0.0, abs=1e-9)
    assert figures.opening_correlation == pytest.approx(1.0)


def test_lmd_ignores_head_pose_and_measures_a_lip_offset():
    truth = face_landmarks(30)
    video = similarity(truth, angle=0.2, scale=1.3, shift=(40.0, -15.0))
    assert lip_distance_percent(video, truth) == pytest.approx(np.zeros(30), abs=1e-9)
    lips = list(LIPS_OUTER + LIPS_INNER)
    shifted_truth = truth.copy()
    shifted_truth[:, lips, 0] += 3.0
    shifted_truth[:, lips, 1] += 4.0  # 5 px = 5 % of the 100-px inter-ocular distance
    figures = truth_figures(video, shifted_truth, FPS)
    assert figures.lmd_percent == pytest.approx(5.0, abs=1e-6)


def test_truth_frames_pair_by_index_over_the_overlap_and_skip_missing_faces():
    truth = face_landmarks(60)
    video = truth[:50].copy()
    video[10:15] = np.nan
    figures = truth_figures(video, truth, FPS)
    assert figures.frames_compared == 45
    assert figures.lmd_percent == pytest.approx(0.0, abs=1e-9)
    far = truth_figures(video, np.full_like(truth, np.nan), FPS)
    assert far.frames_compared == 0 and far.lmd_percent is None and far.reason


def test_bad_arguments_are_option_errors():
    loudness = speech_like_loudness(50)
    with pytest.raises(OptionsError, match="fps"):
        sync_figures(np.zeros(50), loudness, loudness > -60, 0.0)
    with pytest.raises(OptionsError, match="-2"):
        sync_figures(np.zeros(50), loudness, loudness > -60, FPS, max_lag_frames=-2)
