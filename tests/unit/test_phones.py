"""Phone recognition with pocketsphinx on espeak-ng speech generated per test."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from lipsync import samples
from lipsync.audio import phones as phones_module
from lipsync.audio.phones import (
    ARPABET,
    SILENCE,
    Phone,
    normalise_label,
    recognise_phones,
    split_points,
)
from lipsync.errors import Cancelled, ModelError
from lipsync.media.audio import load_speech
from lipsync.progress import CancelToken, ProgressEvent

RATE = 16_000
BILABIALS = {"P", "B", "M"}


def speak(tmp_path: Path, text: str, voice: str = "en") -> np.ndarray:
    """``text`` spoken by espeak-ng, as float32 mono 16 kHz."""
    try:
        path = samples.speech_wav(tmp_path / f"{abs(hash((text, voice)))}.wav", text, voice)
    except samples.ToolNotFoundError as exc:
        pytest.skip(str(exc))
    return load_speech(path)


def assert_covers(phones: Sequence[Phone], duration_s: float) -> None:
    assert phones, "no phones"
    assert phones[0].start_s == 0.0
    assert phones[-1].end_s == pytest.approx(duration_s)
    for before, after in itertools.pairwise(phones):
        assert before.end_s == pytest.approx(after.start_s)
    assert all(p.end_s > p.start_s for p in phones)
    assert all(p.label in ARPABET or p.label == SILENCE for p in phones)


def test_bilabial_speech_yields_bilabials_in_time_order(tmp_path: Path) -> None:
    speech = speak(tmp_path, "papa mama baba")
    phones = recognise_phones(speech, RATE)
    assert_covers(phones, len(speech) / RATE)
    labels = [p.label for p in phones]
    assert BILABIALS & set(labels)
    assert len([x for x in labels if x != SILENCE]) >= 4


def test_spread_speech_has_fewer_bilabials(tmp_path: Path) -> None:
    lips = [p.label for p in recognise_phones(speak(tmp_path, "papa mama baba"))]
    spread = recognise_phones(speak(tmp_path, "see tea"))
    assert_covers(spread, spread[-1].end_s)
    spread_labels = [p.label for p in spread]
    assert {"IY", "IH", "EY", "Y"} & set(spread_labels)
    count = sum(x in BILABIALS for x in lips)
    assert sum(x in BILABIALS for x in spread_labels) < count


def test_silence_is_only_silence() -> None:
    for silence in (
        np.zeros(2 * RATE, dtype=np.float32),
        np.random.default_rng(0).normal(0, 1e-4, 2 * RATE).astype(np.float32),  # -80 dBFS hiss
    ):
        phones = recognise_phones(silence)
        assert [p.label for p in phones] == [SILENCE]
        assert phones[0].start_s == 0.0 and phones[0].end_s == pytest.approx(2.0)


def test_empty_and_tiny_inputs() -> None:
    assert recognise_phones(np.zeros(0, dtype=np.float32)) == []
    tiny = recognise_phones(np.zeros(100, dtype=np.float32))
    assert [p.label for p in tiny] == [SILENCE]


def test_other_rates_are_resampled(tmp_path: Path) -> None:
    speech = speak(tmp_path, "mama")
    import scipy.signal

    at_22k = scipy.signal.resample_poly(speech, 441, 320).astype(np.float32)
    phones = recognise_phones(at_22k, 22_050)
    assert_covers(phones, len(at_22k) / 22_050)
    assert any(p.label != SILENCE for p in phones)


def test_other_languages_still_give_phones(tmp_path: Path) -> None:
    speech = speak(tmp_path, "Guten Morgen, wie geht es dir?", voice="de")
    phones = recognise_phones(speech)
    assert_covers(phones, len(speech) / RATE)
    assert sum(p.label != SILENCE for p in phones) >= 5


def concatenation(tmp_path: Path) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Four utterances with 0.6 s pauses, and the pauses as sample ranges."""
    gap = np.zeros(int(0.6 * RATE), dtype=np.float32)
    texts = ("mama baba", "see tea", "papa mama", "my boat")
    pieces: list[np.ndarray] = []
    pauses: list[tuple[int, int]] = []
    at = 0
    for text in texts:
        speech = speak(tmp_path, text)
        pieces += [speech, gap]
        at += len(speech)
        pauses.append((at, at + len(gap)))
        at += len(gap)
    return np.concatenate(pieces), pauses


def test_long_audio_is_cut_in_pauses(tmp_path: Path) -> None:
    clip, pauses = concatenation(tmp_path)
    bounds = split_points(clip, RATE, max_piece_s=2.5)
    assert bounds[0] == 0 and bounds[-1] == len(clip)
    assert len(bounds) >= 3
    steps = np.diff(bounds)
    assert steps.max() <= 2.5 * RATE
    for cut in bounds[1:-1]:
        assert any(start <= cut <= end for start, end in pauses), cut
    assert split_points(clip, RATE, max_piece_s=1000.0) == [0, len(clip)]


def test_split_without_pauses_still_bounds_the_pieces() -> None:
    noise = np.random.default_rng(3).normal(0, 0.1, 10 * RATE).astype(np.float32)
    bounds = split_points(noise, RATE, max_piece_s=3.0)
    assert bounds[0] == 0 and bounds[-1] == len(noise)
    assert np.diff(bounds).max() <= 3 * RATE and np.diff(bounds).min() > 0


def test_pieces_decode_like_the_whole(tmp_path: Path) -> None:
    clip, _ = concatenation(tmp_path)
    events: list[ProgressEvent] = []
    pieces = recognise_phones(clip, RATE, max_piece_s=2.5, progress=events.append)
    assert_covers(pieces, len(clip) / RATE)
    whole = recognise_phones(clip, RATE)
    assert BILABIALS & {p.label for p in pieces}
    # Cuts lie in pauses, so both decodings see the same speech: similar phone counts.
    spoken = [sum(p.label != SILENCE for p in result) for result in (pieces, whole)]
    assert abs(spoken[0] - spoken[1]) <= 0.25 * spoken[1]
    assert events[0].stage == "phones" and events[0].unit == "s"
    assert events[-1].done == events[-1].total == int(np.ceil(len(clip) / RATE))


def test_cancel_stops_between_pieces() -> None:
    token = CancelToken()
    token.cancel("stop")
    with pytest.raises(Cancelled, match="stop"):
        recognise_phones(np.zeros(RATE, dtype=np.float32), cancel=token)


def test_labels_are_normalised() -> None:
    assert normalise_label("AH1") == "AH"
    assert normalise_label("ey2") == "EY"
    for noise in ("SIL", "+NSN+", "+SPN+", "<sil>", "[NOISE]", "XX"):
        assert normalise_label(noise) == SILENCE


def test_missing_model_is_a_model_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pocketsphinx

    monkeypatch.setattr(pocketsphinx, "get_model_path", lambda *args: str(tmp_path))
    with pytest.raises(ModelError, match="acoustic model is missing"):
        recognise_phones(np.zeros(RATE, dtype=np.float32))


def test_missing_pocketsphinx_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    with pytest.raises(ModelError, match="pip install pocketsphinx"):
        phones_module.model_paths()


def test_background_phones_match_the_inline_result(tmp_path: Path) -> None:
    from lipsync.audio.phones_child import BackgroundPhones

    speech = speak(tmp_path, "Bob met a man by the boat.")
    background = BackgroundPhones(speech, RATE)
    assert background.result() == recognise_phones(speech, RATE)


def test_background_phones_fall_back_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lipsync.audio import phones_child

    def no_processes(*args: object, **kwargs: object) -> None:
        raise OSError("no child processes here")

    speech = speak(tmp_path, "Hello there.")
    monkeypatch.setattr(phones_child.subprocess, "Popen", no_processes)
    assert phones_child.BackgroundPhones(speech, RATE).result() == recognise_phones(speech, RATE)


def test_background_phones_can_be_cancelled(tmp_path: Path) -> None:
    from lipsync.audio.phones_child import BackgroundPhones

    speech = speak(tmp_path, "A sentence long enough to still be decoding. " * 4)
    token = CancelToken()
    token.cancel()
    background = BackgroundPhones(speech, RATE)
    with pytest.raises(Cancelled):
        background.result(token)
    assert background._process is not None and background._process.poll() is not None
