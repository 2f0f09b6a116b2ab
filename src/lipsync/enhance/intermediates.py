"""``--keep-intermediates DIR``: the files the two-step recipes wrote, for inspection.

The stage streams and needs none of them; asked for, the folder receives::

    DIR/synced_lowq.mp4     the synced video before enhancement, with its sound
    DIR/frames/000000.png   its frames, numbered from 0 (lossless RGB)
    DIR/enhanced/000000.png the same frames after enhancement
    DIR/audio.wav           the sound that went into the output, 16-bit PCM

Nothing is overwritten: a folder that already holds any of these is refused up front.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from ..errors import OptionsError
from ..media.audio import AudioSource, iter_audio
from ..media.export import write_audio
from ..media.writer import VideoWriter
from ..options import Limits

FRAMES_DIR = "frames"
ENHANCED_DIR = "enhanced"
SYNCED_VIDEO = "synced_lowq.mp4"
AUDIO_FILE = "audio.wav"
# Fast PNG: intermediates are for looking at, and level 1 writes a 720p frame in ~10 ms.
_PNG_OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 1]


class Intermediates:
    """Writes the intermediate files into ``directory`` (created if missing).

    ``fps``: rate of ``synced_lowq.mp4``; ``size``: its (width, height) (default: that of
    the first frame). ``audio``: its sound, a file (its first audio track) or an
    AudioSource, or None; when given, a clean exit also writes ``audio.wav``: with
    ``trim_audio`` cut or padded to the video's length, exactly what ``VideoWriter`` muxes,
    else the whole track (what ``lipsync enhance`` copies). Use as a context manager: on a
    clean exit the video and the WAV are finished; after an error the video is discarded
    (PNGs already written stay). Raises OptionsError when ``directory`` is a file or
    already holds intermediate files.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        fps: float,
        size: tuple[int, int] | None = None,
        audio: AudioSource | str | os.PathLike[str] | None = None,
        trim_audio: bool = True,
        limits: Limits | None = None,
        preset: str = "ultrafast",
    ) -> None:
        self.directory = Path(directory)
        check_intermediates_dir(self.directory)
        self.frames_dir = self.directory / FRAMES_DIR
        self.enhanced_dir = self.directory / ENHANCED_DIR
        self.video_path = self.directory / SYNCED_VIDEO
        self.audio_path = self.directory / AUDIO_FILE
        if isinstance(audio, (str, os.PathLike)):
            audio = iter_audio(Path(audio), limits)
        self._fps = fps
        self._size = size
        self._audio: AudioSource | None = audio
        self._trim_audio = trim_audio
        self._preset = preset
        self._stack = contextlib.ExitStack()
        self._video: VideoWriter | None = None
        try:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
            self.enhanced_dir.mkdir(exist_ok=True)
        except OSError as exc:
            raise OptionsError(
                f"cannot create intermediates folder {self.directory}: {exc.strerror}"
            ) from None

    def __enter__(self) -> Intermediates:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        frames = self._video.frames_written if self._video is not None else 0
        self._stack.__exit__(exc_type, exc, traceback)
        if exc_type is None and self._audio is not None and frames:
            # The writer's own clock: its rate is the fps as a fraction.
            rate = Fraction(self._fps).limit_denominator(1001)
            duration = float(frames / rate) if self._trim_audio else None
            self.write_audio(self._audio, duration_s=duration)

    def write_synced(self, index: int, frame: np.ndarray) -> None:
        """Frame ``index`` (uint8 RGB (H, W, 3)) before enhancement: PNG plus the video."""
        _write_png(self.frames_dir / frame_name(index), frame)
        if self._video is None:
            width, height = self._size or (frame.shape[1], frame.shape[0])
            writer = VideoWriter(
                self.video_path, self._fps, width, height, audio=self._audio, preset=self._preset
            )
            self._video = self._stack.enter_context(writer)
        self._video.write(frame)

    def write_enhanced(self, index: int, frame: np.ndarray) -> None:
        """Frame ``index`` (uint8 RGB (H, W, 3)) after enhancement, as a PNG."""
        _write_png(self.enhanced_dir / frame_name(index), frame)

    def write_audio(
        self,
        audio: AudioSource | str | os.PathLike[str],
        *,
        duration_s: float | None = None,
        limits: Limits | None = None,
    ) -> Path:
        """Write ``audio`` (an AudioSource, or a file whose first audio track is taken) to
        ``audio.wav`` as 16-bit PCM at its own rate and channels; with ``duration_s``, cut
        or padded with silence to exactly that length, as the video writer muxes it. (Done
        on a clean exit when the constructor was given ``audio``.)"""
        if isinstance(audio, (str, os.PathLike)):
            audio = iter_audio(Path(audio), limits)
        source: AudioSource = audio
        if duration_s is not None:
            source = _FixedLength(source, round(duration_s * source.sample_rate))
        return write_audio(self.audio_path, source)


def frame_name(index: int) -> str:
    """The PNG name of frame ``index``: ``000042.png``."""
    if index < 0:
        raise OptionsError(f"frame index must be non-negative, got {index}")
    return f"{index:06d}.png"


def check_intermediates_dir(directory: Path) -> None:
    """Refuse a file, or a folder that already holds intermediate files (nothing is
    overwritten); a missing or unrelated folder is fine."""
    if directory.exists() and not directory.is_dir():
        raise OptionsError(f"intermediates folder {directory} is a file")
    taken = [
        name
        for name in (SYNCED_VIDEO, AUDIO_FILE)
        if (directory / name).exists() or (directory / name).is_symlink()
    ]
    taken += [
        f"{name}/"
        for name in (FRAMES_DIR, ENHANCED_DIR)
        if (directory / name).is_dir() and any((directory / name).iterdir())
    ]
    if taken:
        raise OptionsError(
            f"intermediates folder {directory} already holds {', '.join(taken)}; "
            "choose an empty folder"
        )


def _write_png(path: Path, frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8 RGB (H, W, 3), got {frame.dtype} {frame.shape}")
    bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr, _PNG_OPTIONS):
        raise OSError(f"could not write {path}")


class _FixedLength:
    """An AudioSource cut or padded with silence to exactly ``samples`` samples."""

    def __init__(self, source: AudioSource, samples: int) -> None:
        self._source = source
        self._samples = max(0, samples)

    @property
    def sample_rate(self) -> int:
        return self._source.sample_rate

    @property
    def channels(self) -> int:
        return self._source.channels

    def __iter__(self) -> Iterator[np.ndarray]:
        remaining = self._samples
        chunks = iter(self._source)
        try:
            for chunk in chunks:
                if remaining <= 0:
                    break
                piece = np.asarray(chunk, np.float32)[:, :remaining]
                remaining -= piece.shape[1]
                yield piece
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        while remaining > 0:
            size = min(remaining, 4096)
            yield np.zeros((self.channels, size), np.float32)
            remaining -= size
