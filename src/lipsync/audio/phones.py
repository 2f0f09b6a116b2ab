"""Phone recognition with pocketsphinx's bundled English phone model.

pocketsphinx (5.x) ships a context-independent US-English acoustic model and a phone
n-gram (``en-us-phone.lm.bin``) inside its wheel, so phones come without downloading
anything. The decoder is run in "allphone" mode: it returns the most likely phone sequence
with 10 ms boundaries. It is an English model; other languages still come out as the
nearest English phones, which is enough for the mouth to open and close at the right times.

Long audio is decoded in pieces cut at quiet points, so memory and latency stay bounded and
progress can be reported and cancelled between pieces.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..progress import CancelToken, ProgressCallback, Reporter

SAMPLE_RATE = 16_000
"""The acoustic model's rate; other rates are resampled to it."""
FRAME_S = 0.010
"""pocketsphinx's frame step (frate 100)."""
SILENCE = "SIL"

# The 39 CMU phones (no stress digits) of the bundled model's phone set.
# fmt: off
ARPABET = frozenset({
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH",
    "UH", "UW", "V", "W", "Y", "Z", "ZH",
})
# fmt: on

MAX_PIECE_S = 25.0
"""Longest stretch decoded at once: under 2 s of decoding on 2 cores, a few MB of lattice."""
MIN_PIECE_FRACTION = 0.5
"""A cut is searched for in the second half of a piece: pieces stay at least half as long
as the maximum, so there are few cuts (each cut may split a phone)."""
QUIET_WINDOW_S = 0.2
"""Cuts go to the quietest 0.2 s: long enough to be a pause, not a stop closure."""

DITHER_LSB = 2.0
"""Gaussian noise (std, in int16 steps ≈ -84 dBFS) added before decoding. Digital silence
makes the log energy -inf-like and the decoder then hallucinates fricatives ("S") in it."""
_DITHER_SEED = 20_240_601
"""Fixed, so the same audio always gives the same phones."""
TARGET_PEAK = 0.5
MAX_GAIN_DB = 30.0
"""Quiet recordings are raised towards half full scale (never beyond +30 dB) so int16 keeps
their detail; the decoder's cepstral mean normalisation removes the gain itself."""
SILENT_PHONE_DB = -70.0
"""A recognised phone whose audio is quieter than this (dBFS RMS, before gain) is silence."""

# Decoder settings for phone recognition with the allphone search: a low language weight,
# so the phone n-gram does not overrule the acoustics, and beams narrower than the default.
# 1e-12 gave the same phones, frame for frame, as 1e-20 on seven clips (English, Chinese,
# German, Japanese), 5-30 % faster; 1e-10 changed 1-3 % of the frames and 1e-8 most.
_LANGUAGE_WEIGHT = 2.0
_BEAM = 1e-12
_PHONE_BEAM = 1e-12


@dataclass(frozen=True)
class Phone:
    """One recognised phone: a CMU/ARPAbet label without stress digits ("AA", "B", ...) or
    "SIL", from ``start_s`` to ``end_s`` seconds of the clip."""

    label: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def normalise_label(unit: str) -> str:
    """Map a decoder unit to an ARPAbet label or "SIL": stress digits go, silence and noise
    units (SIL, +NSN+, +SPN+, <sil>, ...) and anything unknown become "SIL"."""
    label = unit.strip().upper().rstrip("012")
    return label if label in ARPABET else SILENCE


def model_paths() -> tuple[Path, Path]:
    """The acoustic model directory and the phone language model of the installed
    pocketsphinx; raises ModelError when pocketsphinx or its model files are missing."""
    try:
        import pocketsphinx
    except ImportError as exc:
        raise ModelError(
            f"phone recognition needs pocketsphinx (pip install pocketsphinx): {exc}"
        ) from None
    root = Path(pocketsphinx.get_model_path())
    acoustic = root / "en-us" / "en-us"
    phone_lm = root / "en-us" / "en-us-phone.lm.bin"
    if not (acoustic / "mdef").is_file():
        raise ModelError(f"pocketsphinx's English acoustic model is missing: {acoustic}")
    if not phone_lm.is_file():
        raise ModelError(f"pocketsphinx's English phone model is missing: {phone_lm}")
    return acoustic, phone_lm


def _new_decoder() -> Any:
    acoustic, phone_lm = model_paths()
    from pocketsphinx import Decoder

    try:
        return Decoder(
            hmm=str(acoustic),
            allphone=str(phone_lm),
            lw=_LANGUAGE_WEIGHT,
            beam=_BEAM,
            pbeam=_PHONE_BEAM,
            # Its log goes straight to the process's stderr; only fatal errors remain.
            loglevel="FATAL",
        )
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"pocketsphinx could not load its English phone model: {exc}") from None


def _to_model_rate(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"samples must be mono (S,), got shape {audio.shape}")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if sample_rate == SAMPLE_RATE:
        return audio
    from scipy.signal import resample_poly

    common = math.gcd(sample_rate, SAMPLE_RATE)
    resampled = resample_poly(audio, SAMPLE_RATE // common, sample_rate // common)
    return np.asarray(resampled, dtype=np.float32)


def _frame_power(audio: np.ndarray, hop: int) -> np.ndarray:
    """Mean square of consecutive ``hop``-sample frames, (ceil(S / hop),); the last frame is
    zero-padded."""
    n_frames = -(-len(audio) // hop)
    padded = np.zeros(n_frames * hop, dtype=np.float64)
    padded[: len(audio)] = audio
    return np.square(padded).reshape(n_frames, hop).mean(axis=1)


def split_points(
    samples: np.ndarray, sample_rate: int = SAMPLE_RATE, max_piece_s: float = MAX_PIECE_S
) -> list[int]:
    """Sample indices where long audio is cut into pieces of at most ``max_piece_s``: each
    cut lies in the quietest ``QUIET_WINDOW_S`` of the second half of its piece. Returns
    the piece boundaries [0, ..., S] (just [0, S] when no cut is needed)."""
    if max_piece_s <= 0:
        raise ValueError(f"max_piece_s must be positive, got {max_piece_s}")
    audio = np.asarray(samples)
    total = len(audio)
    max_piece = max(int(max_piece_s * sample_rate), 1)
    bounds = [0]
    if total <= max_piece:
        return [*bounds, total]
    hop = max(round(FRAME_S * sample_rate), 1)
    frame_power = _frame_power(audio, hop)
    n_frames = len(frame_power)
    # Power summed over a sliding window, indexed by its first frame.
    window = max(round(QUIET_WINDOW_S / FRAME_S), 1)
    running = np.concatenate([[0.0], np.cumsum(frame_power)])
    span = np.arange(n_frames)
    window_power = running[np.minimum(span + window, n_frames)] - running[span]
    start = 0
    while total - start > max_piece:
        first = (start + int(max_piece * MIN_PIECE_FRACTION)) // hop
        last = max((start + max_piece) // hop - window, first + 1)
        quietest = first + int(np.argmin(window_power[first:last]))
        cut = min((quietest + window // 2) * hop, start + max_piece)
        cut = max(cut, start + 1)
        bounds.append(cut)
        start = cut
    bounds.append(total)
    return bounds


def _decode_piece(decoder: Any, pcm: np.ndarray) -> Iterator[tuple[str, int, int]]:
    """(unit, first frame, last frame inclusive) of the best path through one piece."""
    # Shorter than one analysis window, the front end produces no frames (and an empty
    # buffer is an error): such a sliver is silence for our purposes.
    if len(pcm) < round(0.03 * SAMPLE_RATE):
        return
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), False, True)
    decoder.end_utt()
    segments = decoder.seg()
    if segments is None:
        return
    for segment in segments:
        yield str(segment.word), int(segment.start_frame), int(segment.end_frame)


def _to_pcm16(audio: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    gain = 1.0
    if 0.0 < peak < TARGET_PEAK:
        gain = min(TARGET_PEAK / peak, 10.0 ** (MAX_GAIN_DB / 20.0))
    rng = np.random.default_rng(_DITHER_SEED)
    scaled = np.clip(audio * gain, -1.0, 1.0) * 32767.0
    scaled += rng.standard_normal(len(audio)) * DITHER_LSB
    return np.clip(np.round(scaled), -32768, 32767).astype(np.int16)


def _merge(phones: list[Phone], duration_s: float) -> list[Phone]:
    """Fill gaps with SIL, clip to the clip, and join neighbouring SILs."""
    merged: list[Phone] = []
    cursor = 0.0
    for phone in phones:
        start, end = max(phone.start_s, cursor), min(phone.end_s, duration_s)
        if end <= start:
            continue
        if start > cursor:
            merged.append(Phone(SILENCE, cursor, start))
        merged.append(Phone(phone.label, start, end))
        cursor = end
    if cursor < duration_s:
        merged.append(Phone(SILENCE, cursor, duration_s))
    joined: list[Phone] = []
    for phone in merged:
        if joined and phone.label == SILENCE and joined[-1].label == SILENCE:
            joined[-1] = Phone(SILENCE, joined[-1].start_s, phone.end_s)
        else:
            joined.append(phone)
    return joined


def recognise_phones(
    samples: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    max_piece_s: float = MAX_PIECE_S,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[Phone]:
    """Phones covering the whole clip in time order, contiguous (gaps filled with SIL).

    ``samples``: float mono in [-1, 1], (S,), at ``sample_rate`` Hz (16 kHz is native;
    other rates are resampled). Audio longer than ``max_piece_s`` is decoded in pieces cut
    at quiet points. ``progress`` receives ProgressEvent("phones", done, total, unit="s")
    in whole seconds of audio; ``cancel`` is checked between pieces (raises Cancelled).
    Raises ModelError when pocketsphinx or its English model is missing.
    """
    audio = _to_model_rate(samples, sample_rate)
    # The caller's duration, not the resampled one (which may differ by a sample).
    duration_s = len(samples) / sample_rate
    if len(audio) == 0:
        return []
    decoder = _new_decoder()
    bounds = split_points(audio, SAMPLE_RATE, max_piece_s)
    reporter = Reporter("phones", math.ceil(duration_s), progress, cancel, unit="s")
    frame_power = _frame_power(audio, round(FRAME_S * SAMPLE_RATE))
    energy_db = 10.0 * np.log10(np.maximum(frame_power, 1e-10))
    pcm = _to_pcm16(audio)
    recognised: list[Phone] = []
    for first, last in itertools.pairwise(bounds):
        reporter.check()
        offset_frames = first / (FRAME_S * SAMPLE_RATE)
        for unit, start_frame, end_frame in _decode_piece(decoder, pcm[first:last]):
            start, end = offset_frames + start_frame, offset_frames + end_frame + 1
            loudest_db = energy_db[int(start) : int(end)].max(initial=-100.0)
            label = normalise_label(unit) if loudest_db >= SILENT_PHONE_DB else SILENCE
            recognised.append(Phone(label, start * FRAME_S, end * FRAME_S))
        reporter.step(min(math.ceil(last / SAMPLE_RATE), reporter.total or 0) - reporter.done)
    reporter.finish()
    return _merge(recognised, duration_s)
