"""Encode frames to H.264 (+ AAC) while they arrive, and publish the file atomically.

The output is written to a hidden ``.part`` file next to the target and renamed over it
only when everything succeeded, so a crash or an exception never leaves a half-written
file at ``path`` nor destroys a previous one. Audio is pulled from its source as video
frames arrive (up to the current video time), so neither track is ever held in memory,
and at the end it is cut or padded with silence to the video's exact duration.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

import av
import cv2
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream

from ..errors import EmptyMediaError, OptionsError
from ..options import X264_PRESETS
from ..threads import small_machine
from .audio import AudioSource
from .carry import CopiedAudio
from .yuv import Matrix, i420_from_rgb

_CONTAINER_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Audio is encoded in steps of this many seconds of video, not after every frame (the muxer
# interleaves the packets, which are the same either way): switching between the encoders
# every frame left x264's caches cold, and the audio cost twice its own time (20 s of 720p
# with AAC: 0.67 s of CPU more than without audio, instead of 0.32 s).
_AUDIO_STEP_S = 1.0
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
_BT709 = 1  # AVCOL_PRI_BT709 = AVCOL_TRC_BT709
# AVCOL_SPC_SMPTE170M (the matrix OpenCV's RGB→I420 conversion uses) and AVCOL_SPC_BT709.
_MATRIX_TAGS: dict[Matrix, int] = {"bt601": 6, "bt709": 1}
_LIMITED_RANGE = 1  # AVCOL_RANGE_MPEG

LosslessCodec = Literal["libx264rgb", "ffv1"]


class VideoWriter:
    """Write uint8 RGB (H, W, 3) frames at a constant ``fps`` to ``path``, with optional audio.

    Use as a context manager; ``write`` each frame; on a clean exit the file appears at
    ``path``. Container from the suffix: .mp4 (H.264 + AAC, moov first for streaming),
    .mov, .mkv. Normal mode: libx264, yuv420p, BT.709, CRF ``crf``; odd sizes are padded
    to even by repeating the last row/column. The colours are BT.709 primaries and transfer
    with the ``matrix`` tagged: by default BT.601, because OpenCV converts RGB to that YUV
    in 1 ms per 720p frame where swscale takes 11; ``write_planes`` takes pictures already
    in YUV, in the ``matrix`` they were decoded with. ``lossless``: libx264rgb at qp 0 (or FFV1
    with ``lossless_codec="ffv1"`` in .mkv), decoding back to exactly the RGB written, at
    the size given. Audio is always AAC (the writer's audio is for listening, not analysis).

    ``audio``: any AudioSource (e.g. ``iter_audio(speech_path)``): float32 planar
    (channels, n) chunks, 1 or 2 channels. It starts with the first frame and is cut or
    padded with silence to exactly ``frames_written / fps`` seconds. Or a ``CopiedAudio``
    (where ``carry.copyable`` holds for ``path``'s suffix): its packets are copied whole,
    neither cut nor padded, bit-exact.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        width: int,
        height: int,
        *,
        audio: AudioSource | CopiedAudio | None = None,
        lossless: bool = False,
        crf: int = 18,
        preset: str = "veryfast",
        lossless_codec: LosslessCodec = "libx264rgb",
        matrix: Matrix = "bt601",
    ) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _CONTAINER_FORMATS:
            raise OptionsError(
                f"output suffix {self.path.suffix or '(none)'!r} is not supported; "
                "use .mp4, .mov or .mkv"
            )
        if not (0 < fps <= 1000):
            raise OptionsError(f"fps must be between 0 and 1000, got {fps}")
        if width < 1 or height < 1:
            raise OptionsError(f"frame size must be positive, got {width}×{height}")
        if not (0 <= crf <= 51):
            raise OptionsError(f"crf must be between 0 and 51, got {crf}")
        if preset not in X264_PRESETS:
            raise OptionsError(f"preset must be one of {', '.join(X264_PRESETS)}; got {preset!r}")
        if lossless_codec not in ("libx264rgb", "ffv1"):
            raise OptionsError(f"lossless_codec must be libx264rgb or ffv1, got {lossless_codec!r}")
        if lossless and lossless_codec == "ffv1" and suffix != ".mkv":
            raise OptionsError(f"FFV1 needs an .mkv output, got {self.path.name}")
        if (
            not isinstance(audio, CopiedAudio)
            and audio is not None
            and audio.channels not in (1, 2)
        ):
            raise OptionsError(f"audio must have 1 or 2 channels, got {audio.channels}")
        if matrix not in _MATRIX_TAGS:
            raise OptionsError(f"matrix must be bt601 or bt709, got {matrix!r}")
        self.matrix = matrix
        self.fps = float(fps)
        self.rate = Fraction(fps).limit_denominator(1001)
        self.width = width
        self.height = height
        self._format = _CONTAINER_FORMATS[suffix]
        self._audio_source = audio
        self._lossless = lossless
        self._lossless_codec = lossless_codec
        self._crf = crf
        self._preset = preset
        self._frames_written = 0
        self._audio_every = max(1, round(self.fps * _AUDIO_STEP_S))  # frames
        self._temp_path: Path | None = None
        self._container: OutputContainer | None = None
        self._video: VideoStream | None = None
        self._audio: _AudioFeed | _CopiedFeed | None = None

    @property
    def frames_written(self) -> int:
        """Frames accepted so far (the final count after the context exits)."""
        return self._frames_written

    def __enter__(self) -> VideoWriter:
        self._temp_path = self.path.with_name(
            f".{self.path.stem}.{secrets.token_hex(4)}.part{self.path.suffix}"
        )
        container_options = {"movflags": "+faststart"} if self._format in ("mp4", "mov") else {}
        # An absolute path never starts with "name:", which FFmpeg would take as a protocol.
        self._container = av.open(
            os.path.abspath(self._temp_path),
            mode="w",
            format=self._format,
            container_options=container_options,
        )
        try:
            self._video = self._add_video_stream(self._container)
            if isinstance(self._audio_source, CopiedAudio):
                self._audio = _CopiedFeed(self._container, self._audio_source)
            elif self._audio_source is not None:
                self._audio = _AudioFeed(self._container, self._audio_source)
        except BaseException:
            self._discard()
            raise
        return self

    def _add_video_stream(self, container: OutputContainer) -> VideoStream:
        if not self._lossless:
            options = {"crf": str(self._crf), "preset": self._preset}
            if small_machine():
                options["threads"] = "1"  # see lipsync.threads
            stream = container.add_stream("libx264", rate=self.rate, options=options)
            stream.width = self.width + self.width % 2
            stream.height = self.height + self.height % 2
            stream.pix_fmt = "yuv420p"
            context = stream.codec_context
            context.color_primaries = _BT709
            context.color_trc = _BT709
            context.colorspace = _MATRIX_TAGS[self.matrix]
            context.color_range = _LIMITED_RANGE
            return stream
        if self._lossless_codec == "ffv1":
            stream = container.add_stream("ffv1", rate=self.rate)
            stream.pix_fmt = "bgr0"
        else:
            stream = container.add_stream(
                "libx264rgb", rate=self.rate, options={"qp": "0", "preset": self._preset}
            )
            stream.pix_fmt = "rgb24"
        stream.width = self.width
        stream.height = self.height
        return stream

    def write(self, frame: np.ndarray) -> None:
        """Encode one uint8 RGB (height, width, 3) frame; audio follows up to its time."""
        self._check_open()
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame must be uint8 ({self.height}, {self.width}, 3), "
                f"got {frame.dtype} {frame.shape}"
            )
        self._encode(self._to_video_frame(frame))

    def write_planes(self, planes: np.ndarray, *, copy: bool = True) -> None:
        """Encode one picture given as uint8 I420 planes (height·3/2, width), in ``matrix``
        (normal mode, even sizes only). The planes are copied, so the array may be reused;
        ``copy=False`` encodes straight from them instead (0.4 ms less per 720p frame), for a
        caller that changes them only after this returns: x264 takes its own copy of each
        picture during the call (see ``_i420_frame``)."""
        self._check_open()
        if self._lossless or self.width % 2 or self.height % 2:
            raise ValueError("I420 planes need normal mode and an even frame size")
        if planes.shape != (self.height * 3 // 2, self.width) or planes.dtype != np.uint8:
            raise ValueError(
                f"planes must be uint8 ({self.height * 3 // 2}, {self.width}), "
                f"got {planes.dtype} {planes.shape}"
            )
        self._encode(self._i420_frame(planes, wrap=not copy))

    def _check_open(self) -> None:
        if self._container is None or self._video is None:
            raise RuntimeError("VideoWriter.write() called outside its 'with' block")

    def _encode(self, video_frame: av.VideoFrame) -> None:
        assert self._container is not None and self._video is not None
        video_frame.pts = self._frames_written
        video_frame.time_base = 1 / self.rate
        for packet in self._video.encode(video_frame):
            self._container.mux(packet)
        self._frames_written += 1
        if self._audio is not None and self._frames_written % self._audio_every == 0:
            self._audio.write_until(self._frames_written / self.rate, pad=False)

    def _to_video_frame(self, frame: np.ndarray) -> av.VideoFrame:
        if self._lossless:
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            if self._lossless_codec != "ffv1":
                return rgb
            return rgb.reformat(format="bgr0", threads=1)  # no pool per frame (video._to_array)
        pad_rows, pad_cols = self.height % 2, self.width % 2
        if pad_rows or pad_cols:
            frame = np.pad(frame, ((0, pad_rows), (0, pad_cols), (0, 0)), mode="edge")
        frame = np.ascontiguousarray(frame)
        if self.matrix == "bt601":
            planes = np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420), dtype=np.uint8)
        else:
            planes = i420_from_rgb(frame, self.matrix)
        return self._i420_frame(planes, wrap=True)

    def _i420_frame(self, planes: np.ndarray, wrap: bool) -> av.VideoFrame:
        if wrap and planes.shape[0] % 6 == 0:
            # Wrapped, not copied (a copy costs 0.4 ms per 720p frame). The frame keeps the
            # array alive for as long as FFmpeg refers to it, and FFmpeg is done with it when
            # ``encode`` returns: libavcodec passes each frame it is sent to the encoder at
            # once (PyAV takes out every packet after each frame, so no packet waiting could
            # make it hold the frame back), and x264_encoder_encode copies the picture into
            # a frame of its own before it returns.
            # PyAV (18.1) misplaces the chroma planes of a wrapped array when they have an odd
            # number of rows (height not a multiple of 4), hence the copy for those.
            yuv = av.VideoFrame.from_numpy_buffer(planes, format="yuv420p")
        else:
            yuv = av.VideoFrame.from_ndarray(planes, format="yuv420p")
        yuv.colorspace = _MATRIX_TAGS[self.matrix]
        yuv.color_range = _LIMITED_RANGE
        return yuv

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            self._finish()
        except BaseException:
            self._discard()
            raise
        assert self._temp_path is not None
        os.replace(self._temp_path, self.path)

    def _finish(self) -> None:
        assert self._container is not None and self._video is not None
        if self._frames_written == 0:
            raise EmptyMediaError(f"no frames were written to {self.path.name}")
        for packet in self._video.encode(None):
            self._container.mux(packet)
        if self._audio is not None:
            self._audio.write_until(self._frames_written / self.rate, pad=True)
            self._audio.flush()
            self._audio.close()
        self._container.close()
        self._container = None

    def _discard(self) -> None:
        if self._audio is not None:
            self._audio.close()
        if self._container is not None:
            # The file is being thrown away; a failure to finalise it changes nothing.
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        if self._temp_path is not None:
            self._temp_path.unlink(missing_ok=True)


class _AudioFeed:
    """Pulls chunks from an AudioSource into an AAC stream, sample-exact."""

    def __init__(self, container: OutputContainer, source: AudioSource) -> None:
        self._container = container
        self._channels = source.channels
        self._layout = "mono" if source.channels == 1 else "stereo"
        source_rate = source.sample_rate
        self.rate = source_rate if source_rate in _AAC_RATES else 48000
        # FFmpeg's "fast" AAC coder: a fifth to a half of the default (twoloop)'s CPU for the
        # same bit rate; on 20 s of speech its signal-to-noise ratio was as good (42 against
        # 44 dB at 16 kHz, 36 against 33 dB at 44.1 kHz).
        self._stream: AudioStream = container.add_stream(
            "aac", rate=self.rate, options={"aac_coder": "fast"}
        )
        self._stream.layout = self._layout
        self._stream.bit_rate = 96_000 if self._channels == 1 else 128_000
        self._source_iterator = iter(source)
        self._chunks = self._resampled(self._source_iterator, source_rate)
        self._pending = np.zeros((self._channels, 0), dtype=np.float32)
        self._exhausted = False
        self.samples_written = 0

    def _resampled(self, chunks: Iterator[np.ndarray], source_rate: int) -> Iterator[np.ndarray]:
        if source_rate == self.rate:
            yield from chunks
            return
        resampler = av.AudioResampler(format="fltp", layout=self._layout, rate=self.rate)
        for chunk in chunks:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk, dtype=np.float32), format="fltp", layout=self._layout
            )
            frame.sample_rate = source_rate
            for converted in resampler.resample(frame):
                yield converted.to_ndarray()
        for converted in resampler.resample(None):
            yield converted.to_ndarray()

    def write_until(self, seconds: Fraction, pad: bool) -> None:
        """Encode audio up to ``seconds`` of output time; with ``pad``, fill gaps with silence."""
        target = round(seconds * self.rate) if pad else int(seconds * self.rate)
        while self.samples_written < target:
            block = self._take(target - self.samples_written)
            if block.shape[1] == 0:
                if not pad:
                    return
                block = np.zeros(
                    (self._channels, min(target - self.samples_written, 4096)), np.float32
                )
            self._encode(block)

    def _take(self, wanted: int) -> np.ndarray:
        while self._pending.shape[1] < wanted and not self._exhausted:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._exhausted = True
                break
            chunk = np.asarray(chunk, dtype=np.float32).reshape(self._channels, -1)
            self._pending = np.concatenate([self._pending, chunk], axis=1)
        block, self._pending = self._pending[:, :wanted], self._pending[:, wanted:]
        return block

    def _encode(self, block: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block), format="fltp", layout=self._layout
        )
        frame.sample_rate = self.rate
        frame.pts = self.samples_written
        frame.time_base = Fraction(1, self.rate)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.samples_written += block.shape[1]

    def flush(self) -> None:
        for packet in self._stream.encode(None):
            self._container.mux(packet)

    def close(self) -> None:
        """Stop reading the source (a decoder generator holds its file open until closed)."""
        for iterator in (self._chunks, self._source_iterator):
            close = getattr(iterator, "close", None)
            if close is not None:
                close()


class _CopiedFeed:
    """Muxes a CopiedAudio's packets as the video reaches their time (``_AudioFeed``'s
    interface); at the end, every packet left."""

    def __init__(self, container: OutputContainer, source: CopiedAudio) -> None:
        self._container = container
        self._source = source.__enter__()
        try:
            source.add_to(container)
        except BaseException:
            source.__exit__(None, None, None)
            raise

    def write_until(self, seconds: Fraction, pad: bool) -> None:
        """Mux the packets before ``seconds``; with ``pad`` (the end), all that are left."""
        for packet in self._source.packets_until(None if pad else seconds):
            self._container.mux(packet)

    def flush(self) -> None:
        """Nothing is buffered."""

    def close(self) -> None:
        self._source.__exit__(None, None, None)


class FrameSink(Protocol):
    """Where a pass hands its finished frames: a ``BackgroundWriter`` or an
    ``encoder_process.EncoderProcess``."""

    def write(self, frame: np.ndarray) -> None:
        """Take one uint8 RGB (H, W, 3) frame; raises an error of the encoding so far."""

    def close(self) -> None:
        """Write everything taken and publish the file; raises an error of the encoding."""

    def abort(self) -> None:
        """Drop what is still queued and publish nothing."""


class BackgroundWriter:
    """Feeds a VideoWriter from a thread, so colour conversion and encoding overlap with the
    caller's work (decoding, the engine) instead of following it.

    PyAV releases the GIL while FFmpeg converts and encodes, so x264 runs beside the
    pipeline's Python stages, but it waits for the GIL each time it takes it back; where it
    can, the pipeline encodes in a child process instead (``encoder_process``). ``depth``
    frames at most wait in the queue.
    ``write`` re-raises an error from the thread; ``close`` waits for every frame to be
    written (call it before the VideoWriter's ``with`` block ends); ``abort`` drops the rest.
    """

    def __init__(self, writer: VideoWriter, depth: int = 8) -> None:
        self._writer = writer
        self._frames: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lipsync-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            frame = self._frames.get()
            if frame is None or self._stop.is_set():
                return
            try:
                self._writer.write(frame)
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc
                self._stop.set()
                return

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, frame: np.ndarray) -> None:
        """Queue one uint8 RGB (H, W, 3) frame; the array must not be modified afterwards."""
        self._raise_pending()
        while not self._stop.is_set():
            try:
                self._frames.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue
        self._raise_pending()

    def close(self) -> None:
        """Write every queued frame, then stop the thread; re-raises the thread's error."""
        while self._thread.is_alive():
            try:
                self._frames.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._raise_pending()

    def abort(self) -> None:
        """Stop without writing what is still queued (the output is being discarded)."""
        self._stop.set()
        with contextlib.suppress(queue.Full):
            self._frames.put_nowait(None)
        self._thread.join()
