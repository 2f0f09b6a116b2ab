"""The built-in engine's target shapes: speaker range, speaker model, silence."""

from __future__ import annotations

import numpy as np

from lipsync.engines.builtin.speaker import fit_speaker_model, stack_context
from lipsync.engines.builtin.targets import (
    MIN_OPEN_RANGE,
    SpeakerRange,
    blend_speaker_model,
    close_in_silence,
)


def test_range_is_the_speakers_own_and_opening_has_a_floor():
    rng = np.random.default_rng(1)
    shapes = np.column_stack(
        [rng.uniform(0.02, 0.3, 500), rng.uniform(0.5, 0.7, 500), rng.uniform(0.15, 0.2, 500)]
    )
    measured = SpeakerRange.measure(shapes)
    assert 0.02 < measured.low[0] < 0.05 and 0.27 < measured.high[0] < 0.3
    absolute = measured.to_absolute(np.array([[0.0, 0.5, 1.0]]))
    assert np.allclose(
        absolute[0], [measured.low[0], (measured.low[1] + measured.high[1]) / 2, measured.high[2]]
    )

    closed_only = np.column_stack([np.full(50, 0.01), np.full(50, 0.6), np.full(50, 0.18)])
    still = SpeakerRange.measure(closed_only)
    assert still.high[0] - still.low[0] >= MIN_OPEN_RANGE - 1e-6


def test_silence_closes_the_mouth_with_a_ramp():
    targets = np.column_stack([np.full(20, 0.2), np.full(20, 0.6), np.full(20, 0.18)])
    active = np.zeros(20, bool)
    active[5:15] = True
    out = close_in_silence(targets, active, closed=0.02)
    assert np.allclose(out[:3, 0], 0.02) and np.allclose(out[-3:, 0], 0.02)
    assert np.allclose(out[7:13, 0], 0.2)
    assert np.abs(np.diff(out[:, 0])).max() < 0.18 * 0.5  # no single-frame slam shut
    assert np.array_equal(out[:, 1:], targets[:, 1:])


def test_speaker_model_learns_a_mapping_and_reports_r2():
    rng = np.random.default_rng(2)
    n = 400
    features = rng.normal(size=(n, 6)).astype(np.float32)
    opening = 0.1 + 0.05 * features[:, 0] + 0.01 * rng.normal(size=n)
    shapes = np.column_stack([opening, 0.6 + 0.0 * opening, rng.normal(0.18, 0.01, n)])
    model = fit_speaker_model(features, shapes)
    assert model is not None
    assert model.r2[0] > 0.8 and model.r2[2] < 0.2  # noise is not learnable
    predicted = model.predict(features)
    assert np.corrcoef(predicted[:, 0], opening)[0, 1] > 0.9

    prior = np.column_stack([np.full(n, 0.1), np.full(n, 0.6), np.full(n, 0.18)])
    blended = blend_speaker_model(prior, model, features)
    assert np.corrcoef(blended[:, 0], opening)[0, 1] > 0.9  # the opening follows the speaker
    assert np.allclose(
        blended[:, 2], prior[:, 2], atol=0.02
    )  # an unlearnable column keeps the prior


def test_speaker_model_needs_enough_frames_with_a_face():
    features = np.zeros((30, 4), np.float32)
    shapes = np.full((30, 3), np.nan)
    assert fit_speaker_model(features, shapes) is None


def test_context_stacking_repeats_edges():
    stacked = stack_context(np.arange(4, dtype=np.float32)[:, None], context=1)
    assert stacked.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 3]]
