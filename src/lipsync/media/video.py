"""Frames of a video (or a still image) at a constant rate, upright, as RGB arrays.

Sources may be variable-rate (phones, browsers), rotated by metadata, or start late; the
reader hides all of that: output frame ``i`` is the source picture on screen at time
``i / fps``. Frames are decoded one container pass at a time; only a source opened with a
``cache_bytes`` budget keeps decoded pictures, for a second pass over the same frames.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Iterator
from itertools import chain
from pathlib import Path
from typing import TypeVar

import numpy as np
from av.video.frame import VideoFrame

from ..errors import (
    CorruptMediaError,
    EmptyMediaError,
    LimitExceededError,
    NoVideoStreamError,
    OptionsError,
)
from ..options import Limits
from .orientation import orient
from .probe import VideoInfo, probe
from .safety import open_sniffed, prepare_decoder, translate_av_errors
from .yuv import Matrix, Yuv420Picture

DEFAULT_FPS = 25.0
_MAX_FPS = 1000.0

TimedFrame = tuple[float, VideoFrame]
T = TypeVar("T")
# FFmpeg's colour tags (AVColorSpace, AVColorRange) → the matrix swscale decodes them with:
# an untagged picture is BT.601, as swscale assumes.
_MATRICES: dict[int, Matrix] = {1: "bt709", 2: "bt601", 5: "bt601", 6: "bt601"}
_UNSPECIFIED_RANGE, _LIMITED_RANGE = 0, 1


class VideoSource:
    """A video file or still image read as constant-rate frames (see ``open_video``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float | None = None,
        limits: Limits | None = None,
        cache_bytes: int = 0,
    ) -> None:
        self.path = Path(path)
        self._limits = limits or Limits()
        # Decoded pictures of frames 0, 1, … kept by the first pass from the start, up to
        # ``cache_bytes``, in the decoder's own YUV (half the bytes of RGB), and converted
        # again each time they are read: a second pass then decodes only what was not kept.
        self._cache: list[VideoFrame | None] = []  # None: released (``frames(release=True)``)
        self._cache_room = max(0, int(cache_bytes))
        self._caching = cache_bytes > 0
        self._matrix: Matrix | None = None  # see ``picture_matrix``
        media = probe(self.path, self._limits)
        if media.video is None:
            raise NoVideoStreamError(f"{self.path.name} has no video stream")
        if fps is not None and not (0 < fps <= _MAX_FPS):
            raise OptionsError(f"fps must be between 0 and {_MAX_FPS:g}, got {fps}")
        self._info = media.video
        self._fps = float(fps or self._info.fps or DEFAULT_FPS)
        if self._info.is_still:
            self._frame_count = 1
        else:
            seconds = self._info.duration_s or media.duration_s
            if seconds is None and self._info.frame_count and self._info.fps:
                seconds = self._info.frame_count / self._info.fps
            self._frame_count = max(1, round((seconds or 0.0) * self._fps))

    @property
    def info(self) -> VideoInfo:
        """What probing found about the picture stream."""
        return self._info

    @property
    def fps(self) -> float:
        """Output frame rate: the requested one, else the nominal one, else 25."""
        return self._fps

    @property
    def width(self) -> int:
        """Width in pixels of the frames yielded (after rotation)."""
        return self._info.width

    @property
    def height(self) -> int:
        """Height in pixels of the frames yielded (after rotation)."""
        return self._info.height

    @property
    def frame_count(self) -> int:
        """Constant-rate frames this source yields: round(duration × fps), at least 1."""
        return self._frame_count

    @property
    def is_still(self) -> bool:
        """True for a PNG/JPEG/WebP image, which yields exactly one frame."""
        return self._info.is_still

    def frames(
        self, start: int = 0, stop: int | None = None, *, release: bool = False
    ) -> Iterator[np.ndarray]:
        """Yield uint8 RGB (H, W, 3) C-contiguous frames for indices ``start`` .. ``stop - 1``.

        ``stop`` defaults to (and is capped at) ``frame_count``. A block that starts later
        than 0 seeks to the keyframe before it instead of decoding from the beginning.
        ``release``: free each kept picture (see ``cache_bytes``) once it is yielded, for a
        last pass over those frames; a later read decodes them again.
        Raises CorruptMediaError (naming the frame index) when data is damaged mid-stream,
        EmptyMediaError when nothing decodes, LimitExceededError past the duration limit.
        """
        if self._info.is_still:
            if max(0, start) < (1 if stop is None else min(stop, 1)):
                yield self._read_still()
            return
        yield from self._read(start, stop, release, self._to_array)

    def picture_matrix(self) -> Matrix | None:
        """The YUV matrix of ``pictures``, when this source can be read as 8-bit 4:2:0
        pictures as decoded (limited range, BT.601 or BT.709, even size, upright); None
        otherwise, or before the first pass has kept its first picture."""
        return self._matrix

    def _matrix_of(self, frame: VideoFrame) -> Matrix | None:
        if self._info.is_still or self._info.rotation or self._info.mirrored:
            return None
        if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
            return None
        if frame.color_range not in (_UNSPECIFIED_RANGE, _LIMITED_RANGE):
            return None
        return _MATRICES.get(frame.colorspace)

    def pictures(
        self,
        start: int = 0,
        stop: int | None = None,
        *,
        release: bool = False,
        into: Callable[[], np.ndarray] | None = None,
    ) -> Iterator[Yuv420Picture]:
        """Like ``frames``, as I420 pictures in the decoder's own YUV (see ``picture_matrix``,
        which must not be None): nothing is converted to RGB. ``into``: gives the uint8
        (H·3/2, W) array each picture is copied into (an encoder's slot, say), called once
        per picture; by default each gets a new one."""
        matrix = self.picture_matrix()
        if matrix is None:
            raise OptionsError(f"{self.path.name} cannot be read as 8-bit 4:2:0 pictures")

        def to_picture(frame: VideoFrame) -> Yuv420Picture:
            if frame.format.name != "yuv420p":  # the stream changed format midway
                frame = frame.reformat(format="yuv420p", threads=1)
            if into is None:
                return Yuv420Picture(frame.to_ndarray(), matrix)
            return Yuv420Picture(_copy_i420(frame, into()), matrix)

        yield from self._read(start, stop, release, to_picture)

    def _read(
        self, start: int, stop: int | None, release: bool, convert: Callable[[VideoFrame], T]
    ) -> Iterator[T]:
        stop = self._frame_count if stop is None else min(stop, self._frame_count)
        start = max(0, start)
        if start >= stop:
            return
        while start < min(stop, len(self._cache)):
            kept = self._cache[start]
            if kept is None:  # released by an earlier read
                break
            if release:
                # Freeing the pictures as the pass goes, rather than all at the end, spreads
                # the cost (0.4 s for 20 s of 720p) over the pass instead of adding to it.
                self._cache[start] = None
            yield convert(kept)
            start += 1
        if start >= stop:
            return
        target_s = start / self._fps
        timed = self._timed_frames(seek_s=target_s if start > 0 else None)
        try:
            first = next(timed, None)
            if start > 0 and first is not None and first[0] > target_s + self._tolerance():
                # The seek landed after the target (no usable keyframe index): start over.
                timed.close()
                timed = self._timed_frames(seek_s=None)
                first = next(timed, None)
            if first is None:
                raise EmptyMediaError(f"{self.path.name} has no decodable video frames")
            yield from self._constant_rate(chain([first], timed), start, stop, convert)
        finally:
            timed.close()

    def _tolerance(self) -> float:
        # Timestamps rounded to the container's clock (1 ms in WebM) must still land in
        # the slot they belong to.
        return 0.1 / self._fps

    def _constant_rate(
        self,
        timed: Iterator[TimedFrame],
        start: int,
        stop: int,
        convert: Callable[[VideoFrame], T],
    ) -> Iterator[T]:
        """Pick, for each output slot, the last source frame shown at or before its time.

        A repeated frame is converted again rather than copied from the array yielded
        before, which the caller may already have drawn on.
        """
        tolerance = self._tolerance()
        index = start
        held: VideoFrame | None = None
        shown_until = 0.0
        try:
            for time_s, frame in timed:
                shown_until = time_s + self._shown_for(frame)
                while index < stop and time_s > index / self._fps + tolerance:
                    # Before the first frame's time (a late start) its picture is shown.
                    shown = held if held is not None else frame
                    self._keep(index, shown)
                    yield convert(shown)
                    index += 1
                if index >= stop:
                    return
                held = frame
        except CorruptMediaError as exc:
            raise CorruptMediaError(f"{exc.message}, at frame {index}") from exc
        if held is None:
            return
        self._check_not_truncated(shown_until, index)
        while index < stop:
            self._keep(index, held)
            yield convert(held)
            index += 1

    def _keep(self, index: int, frame: VideoFrame) -> None:
        """Cache frame ``index`` if every frame before it is cached and there is room."""
        if not self._caching or index != len(self._cache):
            return
        repeated = bool(self._cache) and self._cache[-1] is frame
        size = 0 if repeated else sum(plane.buffer_size for plane in frame.planes)
        if size > self._cache_room:
            self._caching = False
            return
        self._cache_room -= size
        if index == 0:
            self._matrix = self._matrix_of(frame)
        self._cache.append(frame)

    @property
    def cached_frames(self) -> int:
        """Frames 0 … cached_frames - 1 were kept decoded by the first pass (see
        ``cache_bytes``), some perhaps released since."""
        return len(self._cache)

    def drop_cache(self) -> None:
        """Free the kept pictures; later reads decode again."""
        self._cache = []
        self._caching = False

    def _shown_for(self, frame: VideoFrame) -> float:
        """Seconds a frame stays on screen: its own duration, else one nominal interval."""
        if frame.duration and frame.time_base is not None:
            return float(frame.duration * frame.time_base)
        return 1.0 / (self._info.fps or self._fps)

    def _check_not_truncated(self, shown_until_s: float, index: int) -> None:
        """Refuse to pad silently when the pictures stop well before the header's end."""
        expected = self._info.duration_s
        if not expected:
            return
        if shown_until_s < expected - max(1.0, 0.1 * expected):
            raise CorruptMediaError(
                f"{self.path.name} ends at {shown_until_s:.2f} s although its "
                f"header says {expected:.2f} s (no picture from frame {index} on); "
                "the file is probably truncated"
            )

    def _timed_frames(self, seek_s: float | None) -> Generator[TimedFrame, None, None]:
        """Decoded frames with their time in seconds from the stream's first frame."""
        name = self.path.name
        container, _ = open_sniffed(self.path, self._limits)
        with container, translate_av_errors(name):
            stream = next(s for s in container.streams.video if s.index == self._info.stream_index)
            # One decoder thread: the pipeline already decodes beside its other stages
            # (prefetch), and FFmpeg's frame threads cost a third more CPU per frame (2.2 vs
            # 3.0 ms at 720p), which the other stages need on a small machine.
            prepare_decoder(stream, self._limits, threads=False)
            time_base = stream.time_base
            if time_base is None:
                raise CorruptMediaError(f"{name}: its video stream has no time base")
            if seek_s is not None:
                container.seek(
                    int((self._info.start_s + seek_s) / time_base), stream=stream, backward=True
                )
            fallback_interval = 1.0 / (self._info.fps or self._fps)
            for decoded, frame in enumerate(container.decode(stream)):
                if frame.pts is not None:
                    time_s = float(frame.pts * time_base) - self._info.start_s
                else:
                    time_s = decoded * fallback_interval
                if time_s > self._limits.max_duration_s:
                    raise LimitExceededError(
                        f"{name} runs past the limit of {self._limits.max_duration_s:g} s"
                    )
                yield time_s, frame

    def _read_still(self) -> np.ndarray:
        for _, frame in self._timed_frames(seek_s=None):
            return self._to_array(frame)
        raise EmptyMediaError(f"{self.path.name} holds no decodable image")

    def _to_array(self, frame: VideoFrame) -> np.ndarray:
        # PyAV assumes an unspecified range unless told; a full-range tag must be honoured.
        # One thread: by default each frame's converter starts a pool of its own (one thread
        # per core), which lives as long as the frame; 600 kept frames held 1200 threads,
        # and a conversion cost 1.1 ms of CPU instead of 0.8.
        array = frame.to_ndarray(
            format="rgb24", src_color_range=frame.color_range or None, threads=1
        )
        return orient(array, self._info.rotation, self._info.mirrored)


def _copy_i420(frame: VideoFrame, planes: np.ndarray) -> np.ndarray:
    """Copy a yuv420p frame into ``planes`` (uint8 (H·3/2, W), the layout of ``to_ndarray``),
    which it returns."""
    width, height = frame.width, frame.height
    if planes.shape != (height * 3 // 2, width) or planes.dtype != np.uint8:
        raise ValueError(f"planes must be uint8 ({height * 3 // 2}, {width}), got {planes.shape}")
    flat = planes.reshape(-1)
    start = 0
    sizes = ((height, width), (height // 2, width // 2), (height // 2, width // 2))
    for plane, (rows, columns) in zip(frame.planes, sizes, strict=True):
        # Each decoded row may be padded beyond the picture (``line_size``).
        data = np.frombuffer(memoryview(plane), np.uint8)  # the plane's own memory
        source = data.reshape(-1, plane.line_size)[:rows, :columns]
        flat[start : start + rows * columns].reshape(rows, columns)[...] = source
        start += rows * columns
    return planes


def open_video(
    path: str | os.PathLike[str],
    fps: float | None = None,
    limits: Limits | None = None,
    cache_bytes: int = 0,
) -> VideoSource:
    """Open a video or still image for constant-rate reading at ``fps`` (default: nominal).

    Probes the file now (raising the MediaError family, NoVideoStreamError when it holds
    no picture); frames are decoded only when ``frames()`` is iterated. ``cache_bytes``:
    memory for keeping the first pass's decoded pictures for a second pass (0: none).
    """
    return VideoSource(path, fps=fps, limits=limits, cache_bytes=cache_bytes)
