"""The co-articulated mouth-shape target track on synthetic phone sequences."""

from __future__ import annotations

import numpy as np
import pytest

from lipsync.audio.loudness import FLOOR_DB, speech_activity
from lipsync.audio.phones import ARPABET, SILENCE, Phone
from lipsync.engines.builtin.visemes import (
    MAX_OPEN_SPEED,
    PHONE_TARGETS,
    VISEME_OF,
    loudness_track,
    phone_at_frames,
    viseme_track,
)

FPS = 25.0
FRAME_S = 1 / FPS
LOUD_DB = -12.0


def utterance(
    spoken: list[tuple[str, int]], lead: int = 10, tail: int = 10, level_db: float = LOUD_DB
) -> tuple[list[Phone], np.ndarray, np.ndarray, int]:
    """Phones (label, length in frames) between silences, aligned to frame boundaries, with a
    loudness track that is ``level_db`` under speech phones and the floor elsewhere."""
    phones = [Phone(SILENCE, 0.0, lead * FRAME_S)]
    frame = lead
    for label, length in spoken:
        phones.append(Phone(label, frame * FRAME_S, (frame + length) * FRAME_S))
        frame += length
    phones.append(Phone(SILENCE, frame * FRAME_S, (frame + tail) * FRAME_S))
    n_frames = frame + tail
    loudness = np.full(n_frames, FLOOR_DB)
    loudness[lead:frame] = level_db
    return phones, loudness, speech_activity(loudness, FPS), n_frames


def track_of(spoken: list[tuple[str, int]]) -> np.ndarray:
    phones, loudness, active, n_frames = utterance(spoken)
    track = viseme_track(phones, loudness, active, FPS, n_frames)
    assert track.shape == (n_frames, 3) and track.dtype == np.float32
    assert np.all((track >= 0) & (track <= 1))
    return track


def test_every_phone_has_a_viseme() -> None:
    assert set(ARPABET) | {SILENCE} == set(VISEME_OF) == set(PHONE_TARGETS)
    assert {VISEME_OF[p] for p in ("P", "B", "M")} == {"bilabial"}
    assert PHONE_TARGETS["M"].dominance > PHONE_TARGETS["AA"].dominance
    assert PHONE_TARGETS["T"].dominance < PHONE_TARGETS["AA"].dominance


def test_silence_keeps_the_mouth_closed() -> None:
    n_frames = 50
    phones = [Phone(SILENCE, 0.0, n_frames * FRAME_S)]
    loudness = np.full(n_frames, FLOOR_DB)
    track = viseme_track(phones, loudness, np.zeros(n_frames, bool), FPS, n_frames)
    assert np.all(track[:, 0] < 0.01)
    np.testing.assert_allclose(track[:, 1], 0.5)
    np.testing.assert_allclose(track[:, 2], 0.0)
    assert viseme_track([], np.zeros(0), np.zeros(0, bool), FPS, 0).shape == (0, 3)


def test_loud_open_vowel_opens_wide() -> None:
    track = track_of([("AA", 10)])
    assert track[13:17, 0].min() > 0.8
    assert track[:6, 0].max() < 0.01 and track[-6:, 0].max() < 0.01


def test_lip_closure_between_open_vowels() -> None:
    track = track_of([("AA", 6), ("M", 3), ("AA", 6)])
    m_centre = 10 + 6 + 1
    assert track[m_centre, 0] < 0.02
    assert track[13, 0] > 0.6 and track[21, 0] > 0.6


def test_short_closure_between_frames_is_still_shown() -> None:
    # A 50 ms "B" centred between two frame centres: the nearest frame closes anyway.
    phones = [
        Phone(SILENCE, 0.0, 0.4),
        Phone("AA", 0.4, 0.6),
        Phone("B", 0.6, 0.65),
        Phone("AA", 0.65, 0.85),
        Phone(SILENCE, 0.85, 1.2),
    ]
    n_frames = 30
    times = (np.arange(n_frames) + 0.5) / FPS
    loudness = np.where((times > 0.4) & (times < 0.85), LOUD_DB, FLOOR_DB)
    track = viseme_track(phones, loudness, speech_activity(loudness, FPS), FPS, n_frames)
    assert track[15, 0] < 0.02  # frame 15 is centred at 0.62 s, inside the "B"


def test_weak_consonant_takes_its_neighbours_shape() -> None:
    track = track_of([("AA", 6), ("T", 2), ("AA", 6)])
    assert track[16:18, 0].min() > 0.5
    closed = track_of([("AA", 6), ("P", 2), ("AA", 6)])
    assert closed[16:18, 0].min() < 0.1


def test_rounded_and_spread_vowels() -> None:
    rounded = track_of([("UW", 8)])[12:16].mean(axis=0)
    spread = track_of([("IY", 8)])[12:16].mean(axis=0)
    assert rounded[2] > spread[2] + 0.5
    assert rounded[1] < spread[1] - 0.5


def test_louder_speech_opens_wider() -> None:
    # One clip: the same phones quietly (-30 dB) and then loudly (-10 dB).
    quiet_phones, quiet_db, _, n = utterance([("AA", 8), ("M", 2)] * 3, tail=0)
    loud_phones, loud_db, _, _ = utterance([("AA", 8), ("M", 2)] * 3, lead=0)
    shift = n * FRAME_S
    phones = quiet_phones + [
        Phone(p.label, p.start_s + shift, p.end_s + shift) for p in loud_phones
    ]
    loudness = np.concatenate([np.where(quiet_db > FLOOR_DB, -30.0, FLOOR_DB), loud_db + 2.0])
    total = len(loudness)
    track = viseme_track(phones, loudness, speech_activity(loudness, FPS), FPS, total)
    vowel = [PHONE_TARGETS[label].viseme == "open" for label in phone_at_frames(phones, FPS, total)]
    is_vowel = np.array(vowel)
    quiet_open = track[:n][is_vowel[:n], 0].mean()
    loud_open = track[n:][is_vowel[n:], 0].mean()
    assert loud_open > quiet_open + 0.05


def test_opening_changes_smoothly() -> None:
    track = track_of([("AA", 5), ("M", 2), ("IY", 4), ("B", 1), ("AA", 6), ("S", 2), ("UW", 5)])
    steps = np.abs(np.diff(track[:, 0]))
    assert steps.max() <= MAX_OPEN_SPEED / FPS + 1e-6
    assert np.abs(np.diff(track[:, 1])).max() < 0.5
    assert np.abs(np.diff(track[:, 2])).max() < 0.5


def test_closing_into_a_pause_is_a_ramp() -> None:
    track = track_of([("AA", 10)])
    after = track[19:24, 0]  # last AA frame, then the pause
    assert np.all(np.diff(after) <= 0)
    assert after[1] > 0.05 and after[-1] < 0.01  # not a one-frame jump to closed


def test_unreliable_phones_still_move_the_mouth_with_loudness() -> None:
    # Loud speech the recogniser called silence throughout (e.g. another language).
    _, loudness, active, n_frames = utterance([("AA", 10), ("T", 3), ("AA", 10)])
    loudness[20:23] = -30.0  # a dip, like a consonant
    active = speech_activity(loudness, FPS)
    phones = [Phone(SILENCE, 0.0, n_frames * FRAME_S)]
    track = viseme_track(phones, loudness, active, FPS, n_frames)
    assert track[12:18, 0].mean() > 0.4
    assert track[21, 0] < track[15, 0]
    np.testing.assert_allclose(track[:, 1], 0.5, atol=1e-6)


def test_loudness_track_follows_loudness_only() -> None:
    _, loudness, active, n_frames = utterance([("AA", 10)])
    loudness[14:16] = -20.0
    track = loudness_track(loudness, active, FPS)
    assert track.shape == (n_frames, 3)
    assert track[:5, 0].max() == 0.0 and track[-5:, 0].max() == 0.0
    assert track[12, 0] > track[15, 0] > 0.0
    np.testing.assert_allclose(track[:, 1], 0.5)
    np.testing.assert_allclose(track[:, 2], 0.0)
    silent = loudness_track(np.full(20, FLOOR_DB), np.zeros(20, bool))
    assert silent[:, 0].max() == 0.0


def test_phone_at_frames() -> None:
    phones = [Phone(SILENCE, 0.0, 0.1), Phone("M", 0.1, 0.2), Phone("AA", 0.2, 0.5)]
    labels = phone_at_frames(phones, FPS, 15)
    assert labels[:2] == [SILENCE, SILENCE]  # centres 0.02, 0.06
    assert labels[2:6] == ["M", "M", "M", "AA"]  # centres 0.10, 0.14, 0.18, 0.22
    assert labels[12:] == [SILENCE] * 3  # past the last phone


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="frames"):
        viseme_track([], np.zeros(5), np.zeros(4, bool), FPS, 5)
