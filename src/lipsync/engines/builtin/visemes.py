"""From phones and loudness to a co-articulated mouth-shape target per video frame.

The target has three columns, each relative to the speaker's own range (0..1); the engine
maps them onto the range it measures on the person's frames:

* ``open``: inner-lip opening (0 closed, 1 the speaker's wide opening, a loud "AA");
* ``width``: mouth-corner spread (0 narrow/rounded "UW", 0.5 neutral, 1 spread "IY");
* ``round``: lip rounding and protrusion (1 for "UW", "OW", "SH"; 0 for spread vowels).

Steps:

1. Every phone has a target shape and a *dominance* (how strongly it imposes its shape):
   lip closures and labiodentals must reach their target; tongue consonants barely touch
   the lips, so their neighbours' shapes show through.
2. Co-articulation after Cohen & Massaro (1993): phone k contributes
   D_k(t) = α_k · exp(−θ · |τ|^c), τ being the time from the phone's centre (less a
   plateau of half its duration, so a long vowel holds its shape instead of peaking at one
   instant), with different rates before (anticipation) and after (carry-over) the phone.
   The target is the dominance-weighted mean of the phone targets at each frame centre.
3. Loudness shapes the opening (louder speech opens wider), speech activity closes the mouth
   in pauses with a short ramp, and "P", "B", "M" close the lips at their centre.
4. The opening is blended with a loudness-only opening, so speech the English phone model
   does not cover (other languages, singing, noise) still moves the mouth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...audio.loudness import speech_level_db, speech_threshold_db
from ...audio.phones import SILENCE, Phone

OPEN, WIDTH, ROUND = 0, 1, 2
NEUTRAL_WIDTH = 0.5


@dataclass(frozen=True)
class MouthTarget:
    """A phone's viseme class, its shape (open, width, round in [0, 1]) and its dominance α."""

    viseme: str
    open: float
    width: float
    round: float
    dominance: float


# Dominance levels, relative: a strong phone outweighs a vowel three times over at its
# centre, so it reaches its target even between two vowels.
STRONG = 3.0  # lip closures and lip-to-teeth contacts: the lips must get there
ROUNDING = 1.5  # rounding/protrusion consonants (W, SH, CH, JH, ZH): a visible lip gesture
VOWEL = 1.0
MEDIUM = 0.6  # dental and sibilant consonants: jaw nearly closed, lips free
WEAK = 0.25  # tongue-body and alveolar consonants: the lips take the neighbours' shapes
ASPIRATE = 0.1  # "HH" is shaped entirely like the vowel that follows it

# fmt: off
PHONE_TARGETS: dict[str, MouthTarget] = {
    SILENCE: MouthTarget("silence",      0.00, 0.50, 0.00, VOWEL),
    # lip closure
    "P":  MouthTarget("bilabial",        0.00, 0.50, 0.10, STRONG),
    "B":  MouthTarget("bilabial",        0.00, 0.50, 0.10, STRONG),
    "M":  MouthTarget("bilabial",        0.00, 0.50, 0.10, STRONG),
    # lower lip to upper teeth
    "F":  MouthTarget("labiodental",     0.10, 0.55, 0.00, STRONG),
    "V":  MouthTarget("labiodental",     0.10, 0.55, 0.00, STRONG),
    # rounded and protruded
    "W":  MouthTarget("rounded",         0.15, 0.05, 1.00, ROUNDING),
    "UW": MouthTarget("rounded",         0.25, 0.00, 1.00, VOWEL),
    "UH": MouthTarget("rounded",         0.35, 0.25, 0.60, VOWEL),
    "OW": MouthTarget("round_open",      0.50, 0.15, 0.90, VOWEL),
    "OY": MouthTarget("round_open",      0.50, 0.25, 0.80, VOWEL),
    "AO": MouthTarget("round_open",      0.70, 0.30, 0.60, VOWEL),
    "SH": MouthTarget("postalveolar",    0.20, 0.25, 0.90, ROUNDING),
    "ZH": MouthTarget("postalveolar",    0.20, 0.25, 0.90, ROUNDING),
    "CH": MouthTarget("postalveolar",    0.20, 0.25, 0.90, ROUNDING),
    "JH": MouthTarget("postalveolar",    0.20, 0.25, 0.90, ROUNDING),
    "ER": MouthTarget("r_coloured",      0.35, 0.35, 0.50, VOWEL),
    "R":  MouthTarget("r_coloured",      0.25, 0.30, 0.60, WEAK),
    # open vowels
    "AA": MouthTarget("open",            1.00, 0.55, 0.00, VOWEL),
    "AE": MouthTarget("open",            0.85, 0.70, 0.00, VOWEL),
    "AY": MouthTarget("open",            0.85, 0.60, 0.00, VOWEL),
    "AW": MouthTarget("open",            0.80, 0.40, 0.30, VOWEL),
    "AH": MouthTarget("mid",             0.65, 0.50, 0.00, VOWEL),
    "EH": MouthTarget("mid",             0.60, 0.70, 0.00, VOWEL),
    "IH": MouthTarget("mid",             0.40, 0.75, 0.00, VOWEL),
    # spread
    "IY": MouthTarget("spread",          0.25, 1.00, 0.00, VOWEL),
    "EY": MouthTarget("spread",          0.50, 0.90, 0.00, VOWEL),
    "Y":  MouthTarget("spread",          0.20, 0.85, 0.00, WEAK),
    # teeth together or tongue between them
    "S":  MouthTarget("sibilant",        0.15, 0.60, 0.00, MEDIUM),
    "Z":  MouthTarget("sibilant",        0.15, 0.60, 0.00, MEDIUM),
    "TH": MouthTarget("dental",          0.20, 0.55, 0.00, MEDIUM),
    "DH": MouthTarget("dental",          0.20, 0.55, 0.00, MEDIUM),
    # tongue consonants: the lips are free
    "T":  MouthTarget("alveolar",        0.20, 0.55, 0.00, WEAK),
    "D":  MouthTarget("alveolar",        0.20, 0.55, 0.00, WEAK),
    "N":  MouthTarget("alveolar",        0.20, 0.55, 0.00, WEAK),
    "L":  MouthTarget("alveolar",        0.30, 0.50, 0.00, WEAK),
    "K":  MouthTarget("velar",           0.30, 0.50, 0.00, WEAK),
    "G":  MouthTarget("velar",           0.30, 0.50, 0.00, WEAK),
    "NG": MouthTarget("velar",           0.30, 0.50, 0.00, WEAK),
    "HH": MouthTarget("aspirate",        0.40, 0.50, 0.00, ASPIRATE),
}
# fmt: on

VISEME_OF: dict[str, str] = {phone: target.viseme for phone, target in PHONE_TARGETS.items()}
"""Phone (ARPAbet, or "SIL") -> viseme class name."""

BILABIALS = frozenset({"P", "B", "M"})

# --- co-articulation (Cohen–Massaro) ---------------------------------------------------
ANTICIPATION_RATE = 20.0
"""θ before a phone's centre, 1/s: lips prepare a gesture early (rounding is visible
~100-200 ms ahead), so the shape spreads further backwards in time..."""
CARRY_OVER_RATE = 30.0
"""...than it lingers afterwards, 1/s."""
DOMINANCE_EXPONENT = 1.0
"""c in exp(−θ·|τ|^c): 1 gives the exponential fall-off Cohen & Massaro fitted."""
PLATEAU_FRACTION = 0.5
"""The middle half of a phone counts as its centre (τ = 0)."""
HORIZON_S = 0.6
"""Beyond this distance a phone's dominance is below exp(−20·0.6) ≈ 6e-6: ignored."""

# --- loudness ---------------------------------------------------------------------------
LOUDNESS_EXPONENT = 0.25
"""Phone-based opening × (amplitude relative to the speech level)^0.25: 10 dB quieter opens
to 0.75, 20 dB quieter to 0.56. Compressive, as jaw opening grows slower than effort."""
EFFORT_WINDOW_S = 0.4
"""The loudness that scales the phone-based opening is averaged over the speech frames of
about a syllable pair: frame-level loudness would count every consonant twice (its phone
target is already nearly closed). Measured against FaceMesh lip opening on two real clips
with their own speech, per-frame gain at exponent 0.35 correlated 0.70/0.73, this 0.74/0.73."""
MAX_LOUDNESS_GAIN = 1.15
"""Shouting opens a little wider than the usual level, not without bound."""
LOUDNESS_OPEN_AT_LEVEL = 0.75
"""Loudness-only opening at the speech level: a typical vowel, short of the widest."""
LOUDNESS_OPEN_GAMMA = 0.7
"""Loudness-only opening = 0.75 · x^0.7, x = 0 at the activity threshold, 1 at the level."""
SILENCE_RAMP_S = 0.08
"""Lips part before the voice starts and close after it stops, over about two frames."""
SMOOTHING_KERNEL = (0.25, 0.5, 0.25)
"""Light smoothing of the opening before closures are imposed: loudness varies from frame
to frame with the waveform, the jaw does not."""

# --- bilabial closure -------------------------------------------------------------------
CLOSURE_HOLD_S = 0.015
"""The lips stay shut for at least this long either side of a bilabial's centre..."""
CLOSURE_RELEASE_S = 0.04
"""...then open over this long."""

CALIBRATION_PERCENTILE = 95.0
CALIBRATION_TARGET = 0.9
MAX_CALIBRATION_GAIN = 1.5
MIN_CALIBRATION_FRAMES = 10
"""The engine maps 1 to the speaker's own 95th-percentile opening, so the track's 95th
percentile over speech frames is raised to 0.9 (never lowered, at most ×1.5; only with at
least 10 speech frames). Running speech is mostly mid vowels and consonants: uncalibrated,
its 95th percentile sits near 0.6 and the mouth would move in a narrower range than the
person's own."""

MAX_OPEN_SPEED = 10.0
"""Fastest change of the opening, full ranges per second (fully open to shut in 0.1 s, about
what lips and jaw manage): at 25 fps at most 0.4 per frame. Imposed by lowering frames next
to a closure, never by raising any, so every closure is still reached."""

# --- phone / loudness blend -------------------------------------------------------------
PHONE_WEIGHT = 0.75
"""Share of the phone-based opening when the phones cover the speech well."""
MIN_COVERAGE = 0.3
FULL_COVERAGE = 0.8
"""Fraction of speech frames under a non-silence phone: below 0.3 the phones are ignored,
from 0.8 they get the full PHONE_WEIGHT, linearly in between."""


def _frame_times(fps: float, n_frames: int) -> np.ndarray:
    return (np.arange(n_frames, dtype=np.float64) + 0.5) / fps


def _check(fps: float, n_frames: int, *arrays: np.ndarray) -> None:
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    for array in arrays:
        if len(array) != n_frames:
            raise ValueError(f"expected {n_frames} frames, got an array of {len(array)}")


def target_of(label: str) -> MouthTarget:
    """The mouth target of a phone label; unknown labels are treated as a weak neutral sound."""
    target = PHONE_TARGETS.get(label)
    if target is None:
        return MouthTarget("unknown", 0.3, NEUTRAL_WIDTH, 0.0, WEAK)
    return target


def phone_at_frames(phones: Sequence[Phone], fps: float, n_frames: int) -> list[str]:
    """The phone label under each frame centre (i + 0.5) / fps; "SIL" outside every phone."""
    _check(fps, n_frames)
    times = _frame_times(fps, n_frames)
    starts = np.array([p.start_s for p in phones], dtype=np.float64)
    ends = np.array([p.end_s for p in phones], dtype=np.float64)
    index = np.searchsorted(starts, times, side="right") - 1
    labels: list[str] = []
    for t, k in zip(times, index, strict=True):
        labels.append(phones[k].label if k >= 0 and t < ends[k] else SILENCE)
    return labels


def coarticulated_targets(phones: Sequence[Phone], fps: float, n_frames: int) -> np.ndarray:
    """float64 (n_frames, 3): dominance-weighted phone targets (open, width, round) at frame
    centres, before any loudness shaping. Frames no phone reaches are closed and neutral."""
    _check(fps, n_frames)
    times = _frame_times(fps, n_frames)
    weighted = np.zeros((n_frames, 3))
    total = np.zeros(n_frames)
    for phone in phones:
        if phone.end_s <= phone.start_s:
            continue
        first, last = np.searchsorted(
            times, [phone.start_s - HORIZON_S, phone.end_s + HORIZON_S]
        ).tolist()
        if first >= last:
            continue
        target = target_of(phone.label)
        centre = 0.5 * (phone.start_s + phone.end_s)
        plateau = 0.5 * PLATEAU_FRACTION * (phone.end_s - phone.start_s)
        offset = times[first:last] - centre
        distance = np.maximum(np.abs(offset) - plateau, 0.0)
        rate = np.where(offset < 0, ANTICIPATION_RATE, CARRY_OVER_RATE)
        dominance = target.dominance * np.exp(-rate * distance**DOMINANCE_EXPONENT)
        weighted[first:last] += dominance[:, None] * (target.open, target.width, target.round)
        total[first:last] += dominance
    out = np.tile(np.array([0.0, NEUTRAL_WIDTH, 0.0]), (n_frames, 1))
    reached = total > 1e-12
    out[reached] = weighted[reached] / total[reached, None]
    return out


def _silence_envelope(active: np.ndarray, fps: float) -> np.ndarray:
    """1 in speech, falling linearly to 0 over SILENCE_RAMP_S into each pause."""
    active = np.asarray(active, dtype=bool)
    n = len(active)
    if not active.any():
        return np.zeros(n)
    ramp = max(1, round(SILENCE_RAMP_S * fps))
    index = np.arange(n)
    # Distance in frames to the nearest active frame, from both sides.
    last_active = np.maximum.accumulate(np.where(active, index, -(10**9)))
    next_active = np.minimum.accumulate(np.where(active, index, 10**9)[::-1])[::-1]
    distance = np.minimum(index - last_active, next_active - index)
    return np.clip(1.0 - distance / (ramp + 1), 0.0, 1.0)


def _smooth(values: np.ndarray) -> np.ndarray:
    kernel = np.asarray(SMOOTHING_KERNEL)
    if len(values) == 0:
        return values
    padded = np.pad(values, len(kernel) // 2, mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _loudness_opening(levels: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Raw loudness-only opening (n,): 0 at the speech threshold, LOUDNESS_OPEN_AT_LEVEL at the
    speech level; all 0 when the clip holds no modulated sound."""
    threshold = speech_threshold_db(levels)
    if threshold is None:
        return np.zeros(len(levels))
    level = speech_level_db(levels[active]) if active.any() else speech_level_db(levels)
    span = max(level - threshold, 1.0)
    above = np.clip((levels - threshold) / span, 0.0, None)
    return np.clip(LOUDNESS_OPEN_AT_LEVEL * above**LOUDNESS_OPEN_GAMMA, 0.0, 1.0)


def loudness_track(loudness_db: np.ndarray, active: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """float32 (n, 3): the opening from loudness alone (width neutral 0.5, round 0).

    ``loudness_db``: float (n,) dBFS per frame; ``active``: bool (n,) speech activity;
    ``fps``: their frame rate (sets the pause ramps). The opening is 0 at the clip's speech
    threshold and LOUDNESS_OPEN_AT_LEVEL at its speech level, compressively in between, and
    closes in pauses over about two frames.
    """
    levels = np.asarray(loudness_db, dtype=np.float64)
    active = np.asarray(active, dtype=bool)
    _check(fps, len(levels), active)
    track = np.zeros((len(levels), 3), dtype=np.float32)
    track[:, WIDTH] = NEUTRAL_WIDTH
    opening = _loudness_opening(levels, active)
    track[:, OPEN] = _smooth(opening) * _silence_envelope(active, fps)
    return track


def _centred_sum(values: np.ndarray, half: int) -> np.ndarray:
    """Sum of values[i - half : i + half + 1] for every i (clipped at the ends), (n,)."""
    running = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(len(values))
    upper = np.minimum(index + half + 1, len(values))
    lower = np.maximum(index - half, 0)
    return running[upper] - running[lower]


def _loudness_gain(levels: np.ndarray, active: np.ndarray, fps: float) -> np.ndarray:
    """Multiplier of the phone-based opening per frame, from the vocal effort: the loudness of
    the speech frames around it (EFFORT_WINDOW_S) relative to the clip's speech level."""
    level = speech_level_db(levels[active]) if active.any() else speech_level_db(levels)
    half = round(0.5 * EFFORT_WINDOW_S * fps)
    weight = _centred_sum(active.astype(np.float64), half)
    total = _centred_sum(np.where(active, levels, 0.0), half)
    effort_db = np.where(weight > 0, total / np.maximum(weight, 1e-12), levels)
    gain = 10.0 ** (LOUDNESS_EXPONENT * (effort_db - level) / 20.0)
    return np.minimum(gain, MAX_LOUDNESS_GAIN)


def _bilabial_closure(phones: Sequence[Phone], fps: float, n_frames: int) -> np.ndarray:
    """(n_frames,) in [0, 1]: how firmly the lips must be shut (1 at every bilabial centre,
    including the frame nearest to it, so that no closure falls between two frames)."""
    times = _frame_times(fps, n_frames)
    closure = np.zeros(n_frames)
    for phone in phones:
        if phone.label not in BILABIALS or phone.end_s <= phone.start_s:
            continue
        centre = 0.5 * (phone.start_s + phone.end_s)
        hold = max(CLOSURE_HOLD_S, 0.25 * (phone.end_s - phone.start_s))
        first, last = np.searchsorted(
            times, [centre - hold - CLOSURE_RELEASE_S, centre + hold + CLOSURE_RELEASE_S]
        ).tolist()
        distance = np.abs(times[first:last] - centre)
        shut = np.clip(1.0 - (distance - hold) / CLOSURE_RELEASE_S, 0.0, 1.0)
        closure[first:last] = np.maximum(closure[first:last], shut)
        nearest = min(max(int(centre * fps), 0), n_frames - 1)
        if n_frames and phone.start_s <= times[nearest] < phone.end_s:
            closure[nearest] = 1.0
    return closure


def _limit_speed(opening: np.ndarray, fps: float) -> np.ndarray:
    """The largest curve under ``opening`` that changes by at most MAX_OPEN_SPEED / fps per
    frame: o'[i] = min over j of (o[j] + step·|i − j|), from a running minimum each way."""
    step = MAX_OPEN_SPEED / fps
    ramp = step * np.arange(len(opening))
    from_before = ramp + np.minimum.accumulate(opening - ramp)
    from_after = -ramp + np.minimum.accumulate((opening + ramp)[::-1])[::-1]
    return np.minimum(from_before, from_after)


def _calibrate(opening: np.ndarray, active: np.ndarray) -> np.ndarray:
    if int(active.sum()) < MIN_CALIBRATION_FRAMES:
        return opening
    high = float(np.percentile(opening[active], CALIBRATION_PERCENTILE))
    if high <= 0.0:
        return opening
    gain = float(np.clip(CALIBRATION_TARGET / high, 1.0, MAX_CALIBRATION_GAIN))
    return opening * gain


def phone_weight(phones: Sequence[Phone], active: np.ndarray, fps: float) -> float:
    """How much to trust the phones for the opening, in [0, PHONE_WEIGHT]: grows with the
    share of speech frames that lie under a non-silence phone."""
    active = np.asarray(active, dtype=bool)
    if not active.any():
        return PHONE_WEIGHT
    labels = np.array(phone_at_frames(phones, fps, len(active)))
    coverage = float(np.mean(labels[active] != SILENCE))
    share = np.clip((coverage - MIN_COVERAGE) / (FULL_COVERAGE - MIN_COVERAGE), 0.0, 1.0)
    return float(PHONE_WEIGHT * share)


def viseme_track(
    phones: Sequence[Phone],
    loudness_db: np.ndarray,
    active: np.ndarray,
    fps: float,
    n_frames: int,
) -> np.ndarray:
    """float32 (n_frames, 3): columns open, width, round in [0, 1], per video frame.

    ``phones``: time-ordered phones (``audio.phones.recognise_phones``); ``loudness_db``:
    float (n_frames,) dBFS (``audio.loudness.frame_loudness``); ``active``: bool (n_frames,)
    (``audio.loudness.speech_activity``); frame i is centred at (i + 0.5) / fps.
    """
    levels = np.asarray(loudness_db, dtype=np.float64)
    active = np.asarray(active, dtype=bool)
    _check(fps, n_frames, levels, active)
    if n_frames == 0:
        return np.zeros((0, 3), dtype=np.float32)
    shapes = coarticulated_targets(phones, fps, n_frames)
    envelope = _silence_envelope(active, fps)

    phone_open = shapes[:, OPEN] * _loudness_gain(levels, active, fps)
    loud_open = _loudness_opening(levels, active)
    weight = phone_weight(phones, active, fps)
    opening = weight * phone_open + (1.0 - weight) * loud_open
    opening = _calibrate(_smooth(opening) * envelope, active)
    opening *= 1.0 - _bilabial_closure(phones, fps, n_frames)
    opening = _limit_speed(opening, fps)

    # Unreliable phones should not pull the corners around either: their shapes fade
    # towards neutral as their weight falls.
    trust = weight / PHONE_WEIGHT
    width = NEUTRAL_WIDTH + trust * (shapes[:, WIDTH] - NEUTRAL_WIDTH)
    rounding = trust * shapes[:, ROUND]

    track = np.stack([opening, width, rounding], axis=1)
    return np.clip(track, 0.0, 1.0).astype(np.float32)
