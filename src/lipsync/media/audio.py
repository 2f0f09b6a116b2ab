"""Audio decoding: the speech track for analysis, and a streamed track for the output muxer.

``load_speech`` returns the whole speech as 16 kHz mono float32 (small: 64 kB per second).
``iter_audio`` never holds the track: it yields planar float32 chunks as they decode, so
the writer can mux an hour of audio in constant memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import av
import numpy as np

from ..errors import EmptyMediaError, LimitExceededError, NoAudioStreamError, OptionsError
from ..options import Limits
from .safety import open_sniffed, prepare_decoder, translate_av_errors

SPEECH_RATE = 16000
# Longest encoder end padding seen in practice: HE-AAC's 2048 samples at 44.1 kHz.
_MAX_END_PADDING_S = 0.06
_LAYOUTS = {1: "mono", 2: "stereo"}


class AudioSource(Protocol):
    """Audio the writer can mux: a rate, a channel count (1 or 2), and chunks.

    Iterating yields float32 planar arrays shaped (channels, n), samples in [-1, 1], at
    ``sample_rate`` Hz, in order; each iteration starts from the beginning.
    """

    @property
    def sample_rate(self) -> int: ...

    @property
    def channels(self) -> int: ...

    def __iter__(self) -> Iterator[np.ndarray]: ...


class ArrayAudio:
    """An in-memory AudioSource: ``samples`` float32 (S,) mono or (C, S) planar."""

    def __init__(self, samples: np.ndarray, sample_rate: int, chunk: int = 4096) -> None:
        planar = np.asarray(samples, dtype=np.float32)
        if planar.ndim == 1:
            planar = planar[np.newaxis, :]
        if planar.ndim != 2 or planar.shape[0] not in _LAYOUTS:
            raise OptionsError(f"audio must be (S,) or (1|2, S), got shape {samples.shape}")
        if sample_rate <= 0:
            raise OptionsError(f"sample_rate must be positive, got {sample_rate}")
        self._samples = planar
        self._rate = int(sample_rate)
        self._chunk = chunk

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def channels(self) -> int:
        return int(self._samples.shape[0])

    def __iter__(self) -> Iterator[np.ndarray]:
        for begin in range(0, self._samples.shape[1], self._chunk):
            yield self._samples[:, begin : begin + self._chunk]


class AudioStream:
    """The first audio stream of a file, decoded lazily (see ``iter_audio``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        limits: Limits | None = None,
        sample_rate: int | None = None,
        layout: str | None = None,
    ) -> None:
        self.path = Path(path)
        self._limits = limits or Limits()
        if layout not in (None, "mono", "stereo"):
            raise OptionsError(f"layout must be mono, stereo or None, got {layout!r}")
        if sample_rate is not None and not (1000 <= sample_rate <= 384000):
            raise OptionsError(f"sample_rate must be between 1000 and 384000, got {sample_rate}")
        container, sniffed = open_sniffed(self.path, self._limits)
        with container, translate_av_errors(self.path.name):
            if not container.streams.audio:
                raise NoAudioStreamError(f"{self.path.name} has no audio stream")
            stream = container.streams.audio[0]
            native_channels = int(stream.codec_context.channels or 1)
            native_rate = int(stream.codec_context.sample_rate or 0)
            self._edited_duration_s: float | None = None
            if sniffed.format == "mov" and stream.duration and stream.time_base is not None:
                # MP4/MOV edit lists give the exact length; the decoder still emits the
                # encoder's padding in the last frame, which this lets us cut off.
                self._edited_duration_s = float(stream.duration * stream.time_base)
        if layout is None:
            # Mono and stereo pass through; anything wider is downmixed by libswresample.
            layout = _LAYOUTS.get(native_channels, "stereo")
        if sample_rate is None and native_rate <= 0:
            raise EmptyMediaError(f"{self.path.name} declares no audio sample rate")
        self._layout = layout
        self._rate = int(sample_rate or native_rate)

    @property
    def sample_rate(self) -> int:
        """Rate in Hz of the chunks yielded."""
        return self._rate

    @property
    def channels(self) -> int:
        """Channels of the chunks yielded: 1 or 2."""
        return 1 if self._layout == "mono" else 2

    @property
    def exact_duration_s(self) -> float | None:
        """The track's length from an MP4/MOV edit list, when the container states one."""
        return self._edited_duration_s

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield float32 planar (channels, n) chunks from the start of the stream."""
        return _decode(self.path, self._limits, "fltp", self._layout, self._rate)


def iter_audio(
    path: str | os.PathLike[str],
    limits: Limits | None = None,
    sample_rate: int | None = None,
    layout: str | None = None,
) -> AudioStream:
    """Stream the first audio track of ``path`` as float32 planar (channels, n) chunks.

    ``sample_rate``: output Hz (default: native). ``layout``: "mono", "stereo", or None to
    keep mono/stereo and downmix wider layouts to stereo. Opens the file now to check it
    (NoAudioStreamError when it has no audio); decoding happens on iteration.
    """
    return AudioStream(path, limits=limits, sample_rate=sample_rate, layout=layout)


def load_speech(
    path: str | os.PathLike[str], limits: Limits | None = None, sample_rate: int = SPEECH_RATE
) -> np.ndarray:
    """Decode the first audio stream of ``path`` to float32 mono at ``sample_rate`` Hz, (S,).

    Raises NoAudioStreamError, EmptyMediaError (zero samples), CorruptMediaError or
    another error of the MediaError family.
    """
    path = Path(path)
    stream = AudioStream(path, limits=limits, sample_rate=sample_rate, layout="mono")
    chunks = [chunk[0] for chunk in stream]
    if not chunks or sum(len(c) for c in chunks) == 0:
        raise EmptyMediaError(f"{path.name} holds no audio samples")
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    if stream.exact_duration_s is not None:
        exact = round(stream.exact_duration_s * sample_rate)
        # Only an encoder's end padding (one codec frame at most) is cut, never speech.
        if 0 < len(samples) - exact <= _MAX_END_PADDING_S * sample_rate:
            samples = samples[:exact]
    return np.ascontiguousarray(samples)


def _decode(
    path: Path, limits: Limits, sample_format: str, layout: str, rate: int
) -> Iterator[np.ndarray]:
    name = path.name
    max_samples = int(limits.max_duration_s * rate)
    produced = 0
    container, _ = open_sniffed(path, limits)
    with container, translate_av_errors(name):
        if not container.streams.audio:
            raise NoAudioStreamError(f"{name} has no audio stream")
        stream = container.streams.audio[0]
        prepare_decoder(stream, limits)
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        for frame in container.decode(stream):
            for converted in resampler.resample(frame):
                chunk = converted.to_ndarray()
                produced += chunk.shape[-1]
                if produced > max_samples:
                    raise LimitExceededError(
                        f"{name} has more than {limits.max_duration_s:g} s of audio"
                    )
                yield chunk
        for converted in resampler.resample(None):
            yield converted.to_ndarray()
