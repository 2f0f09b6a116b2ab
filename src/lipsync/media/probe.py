"""What a media file holds: streams, size, rate, duration, rotation; decoded as little as possible.

Only the first video frame is decoded (its side data carries the rotation). Timing comes
from packets, which are demuxed without decoding: the first few hundred for a frame-rate
check, or all of them when the header lacks a duration (browser WebM) or an exact frame
count is asked for.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import statistics
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from ..errors import CorruptMediaError, EmptyMediaError, LimitExceededError
from ..options import Limits
from .orientation import read_orientation
from .safety import (
    codec_name,
    container_duration_s,
    open_sniffed,
    prepare_decoder,
    translate_av_errors,
)

# Packets sampled for the frame-rate check when the whole file need not be read.
_TIMING_SAMPLE_PACKETS = 240
# Common camera and editing rates; a VFR average close to one of them is reported as it.
_STANDARD_RATES = (
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(48),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
)
_MAX_PLAUSIBLE_FPS = 240


@dataclass(frozen=True)
class VideoInfo:
    """The picture stream (or still image) of a file.

    ``width``/``height``: pixels of the frames a reader yields, after rotation.
    ``display_width``/``display_height``: what a player shows, after rotation and the
    sample aspect ratio (they differ from width/height only for anamorphic video).
    ``rotation``: clockwise degrees (0, 90, 180, 270) applied to stored frames for display,
    the convention of the legacy ``rotate`` tag; ``mirrored``: a left-right flip follows.
    ``fps``: nominal frames per second; None for a still or when unknown.
    ``frame_count``: frames in the stream (exact when counted, else an estimate), or None.
    ``duration_s``: seconds of picture (the video stream alone), None for a still or unknown.
    ``start_s``: presentation time of the first frame, in seconds.
    """

    codec: str
    width: int
    height: int
    display_width: int
    display_height: int
    rotation: int
    mirrored: bool
    fps: float | None
    variable_frame_rate: bool
    frame_count: int | None
    is_still: bool
    duration_s: float | None = None
    stream_index: int = 0
    start_s: float = 0.0


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream: codec name, native rate in Hz, channels, seconds (or None)."""

    codec: str
    sample_rate: int
    channels: int
    duration_s: float | None
    stream_index: int = 0


@dataclass(frozen=True)
class MediaInfo:
    """Everything ``probe`` learns about a file. ``format`` is the sniffed label ("MP4")."""

    path: str
    format: str
    size_bytes: int
    duration_s: float | None
    video: VideoInfo | None
    audio: AudioInfo | None
    streams: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (nested dicts for video and audio, None where absent)."""
        return dataclasses.asdict(self)


@dataclass
class _PacketTimes:
    video_pts: list[int] = field(default_factory=list)
    video_count: int = 0
    video_end: int | None = None
    audio_end: int | None = None
    audio_start: int | None = None
    reached_end: bool = False


def probe(
    path: str | os.PathLike[str], limits: Limits | None = None, count_frames: bool = False
) -> MediaInfo:
    """Describe ``path`` after opening it safely (see ``safety.open_input``).

    ``count_frames`` demuxes every packet for an exact video frame count. Raises the
    MediaError family; a video stream whose first frame cannot be decoded gives
    CorruptMediaError or EmptyMediaError.
    """
    limits = limits or Limits()
    path = Path(path)
    name = path.name
    container, sniffed = open_sniffed(path, limits)
    with container, translate_av_errors(name):
        video_stream = pick_video_stream(container)
        if video_stream is not None:
            prepare_decoder(video_stream, limits, threads=False)
        audio_stream = container.streams.audio[0] if container.streams.audio else None
        header_duration = container_duration_s(container)
        is_still = sniffed.kind == "image" or (
            video_stream is not None and _is_attached_picture(video_stream)
        )
        read_all = count_frames or (header_duration is None and not is_still)
        first_frame, times = _scan(container, video_stream, audio_stream, read_all, name)

        video = None
        if video_stream is not None:
            video = _video_info(video_stream, first_frame, times, is_still, header_duration)
        duration = header_duration
        if duration is None and times.reached_end and not is_still:
            duration = _scanned_duration(video_stream, audio_stream, times, video)
        if duration is not None and duration > limits.max_duration_s:
            raise LimitExceededError(
                f"{name} lasts {duration:.1f} s, longer than the limit of {limits.max_duration_s:g} s"
            )
        if video is not None and not is_still:
            video = _with_duration(video, video_stream, times, duration)
        audio = None
        if audio_stream is not None:
            audio = _audio_info(audio_stream, times, duration)
        return MediaInfo(
            path=str(path),
            format=sniffed.label,
            size_bytes=os.stat(path).st_size,
            duration_s=None if is_still else duration,
            video=video,
            audio=audio,
            streams=len(container.streams),
        )


def pick_video_stream(container: InputContainer) -> VideoStream | None:
    """The first real video stream; an attached picture (cover art) only when nothing else."""
    videos = list(container.streams.video)
    for stream in videos:
        if not _is_attached_picture(stream):
            return stream
    return videos[0] if videos else None


def _is_attached_picture(stream: VideoStream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def _scan(
    container: InputContainer,
    video_stream: VideoStream | None,
    audio_stream: AudioStream | None,
    read_all: bool,
    name: str,
) -> tuple[VideoFrame | None, _PacketTimes]:
    """Demux packets for timing, decoding video only until the first frame appears."""
    times = _PacketTimes()
    first_frame: VideoFrame | None = None
    wanted = [s for s in (video_stream, audio_stream) if s is not None]
    if not wanted:
        return None, times
    for packet in container.demux(*wanted):
        if video_stream is not None and packet.stream.index == video_stream.index:
            if packet.size == 0 and packet.pts is None:
                # The end-of-stream packet: decoding it drains frames held by the decoder.
                if first_frame is None:
                    first_frame = _first_of(video_stream.decode(packet))
                continue
            times.video_count += 1
            if packet.pts is not None:
                if len(times.video_pts) < _TIMING_SAMPLE_PACKETS or read_all:
                    times.video_pts.append(packet.pts)
                end = packet.pts + (packet.duration or 0)
                times.video_end = end if times.video_end is None else max(times.video_end, end)
            if first_frame is None:
                first_frame = _first_of(video_stream.decode(packet))
        elif packet.pts is not None:
            end = packet.pts + (packet.duration or 0)
            times.audio_end = end if times.audio_end is None else max(times.audio_end, end)
            if times.audio_start is None:
                times.audio_start = packet.pts
        sampled_enough = video_stream is None or (
            first_frame is not None and times.video_count >= _TIMING_SAMPLE_PACKETS
        )
        if not read_all and sampled_enough:
            break
    else:
        times.reached_end = True
    if video_stream is not None and first_frame is None:
        if times.video_count == 0:
            raise EmptyMediaError(f"{name} has a video stream with no frames")
        raise CorruptMediaError(f"{name}: no frame of its video stream could be decoded")
    return first_frame, times


def _first_of(frames: list[VideoFrame]) -> VideoFrame | None:
    return frames[0] if frames else None


def _video_info(
    stream: VideoStream,
    first_frame: VideoFrame | None,
    times: _PacketTimes,
    is_still: bool,
    header_duration: float | None,
) -> VideoInfo:
    rotation, mirrored = read_orientation(first_frame) if first_frame is not None else (0, False)
    context = stream.codec_context
    width = int(first_frame.width if first_frame is not None else context.width)
    height = int(first_frame.height if first_frame is not None else context.height)
    sar = stream.sample_aspect_ratio
    display_width = round(width * sar) if sar and sar > 0 else width
    display_height = height
    if rotation in (90, 270):
        width, height = height, width
        display_width, display_height = display_height, display_width
    time_base = stream.time_base or Fraction(1, 90000)
    start_pts = _first_pts(stream, first_frame, times)
    fps: float | None = None
    variable = False
    frame_count: int | None = 1 if is_still else None
    if not is_still:
        fps, variable = _frame_rate(stream, times, time_base)
        if times.reached_end and times.video_count:
            frame_count = times.video_count
        elif stream.frames > 0:
            frame_count = int(stream.frames)
        elif header_duration and fps:
            frame_count = max(1, round(header_duration * fps))
    return VideoInfo(
        codec=codec_name(stream),
        width=width,
        height=height,
        display_width=display_width,
        display_height=display_height,
        rotation=rotation,
        mirrored=mirrored,
        fps=fps,
        variable_frame_rate=variable,
        frame_count=frame_count,
        is_still=is_still,
        stream_index=stream.index,
        start_s=float(start_pts * time_base),
    )


def _with_duration(
    video: VideoInfo,
    stream: VideoStream | None,
    times: _PacketTimes,
    container_duration: float | None,
) -> VideoInfo:
    """Fill in the video stream's own duration (it may differ from the container's) and a
    frame-count estimate from it when nothing better is known."""
    seconds: float | None = None
    if stream is not None and stream.duration and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif stream is not None and times.reached_end and times.video_end is not None:
        seconds = _video_end_s(stream, times, video)
    if seconds is None or seconds <= 0:
        seconds = container_duration
    frame_count = video.frame_count
    if frame_count is None and video.fps and seconds:
        frame_count = max(1, round(seconds * video.fps))
    return dataclasses.replace(video, duration_s=seconds, frame_count=frame_count)


def _video_end_s(stream: VideoStream, times: _PacketTimes, video: VideoInfo) -> float | None:
    if times.video_end is None:
        return None
    time_base = stream.time_base or Fraction(1, 90000)
    end_s = float(times.video_end * time_base) - video.start_s
    # A last packet without a duration still shows for one frame interval.
    if video.fps and times.video_pts and times.video_end == max(times.video_pts):
        end_s += 1.0 / video.fps
    return end_s


def _first_pts(stream: VideoStream, first_frame: VideoFrame | None, times: _PacketTimes) -> int:
    # Readers time frames from the first picture actually decoded, so that is the origin.
    if first_frame is not None and first_frame.pts is not None:
        return int(first_frame.pts)
    if stream.start_time is not None:
        return int(stream.start_time)
    return min(times.video_pts) if times.video_pts else 0


def _frame_rate(
    stream: VideoStream, times: _PacketTimes, time_base: Fraction
) -> tuple[float | None, bool]:
    """Nominal rate and whether frame intervals vary, from the sampled packet times."""
    pts = sorted(set(times.video_pts))
    intervals = [b - a for a, b in itertools.pairwise(pts)]
    variable = False
    measured: Fraction | None = None
    if intervals:
        median = statistics.median(intervals)
        # Millisecond time bases round 29.97 fps to 33 or 34 ms: two ticks of slack.
        slack = max(2, 0.1 * median)
        variable = max(intervals) - min(intervals) > slack
        # The typical interval, not the mean: pauses (a static screen, dropped camera
        # frames) must not drag a 30 fps recording's nominal rate down.
        if median > 0:
            measured = 1 / (Fraction(median) * time_base)
    declared = next(
        (r for r in (stream.average_rate, stream.guessed_rate) if _plausible(r)),
        None,
    )
    if variable and measured is not None and _plausible(measured):
        return float(_snap_to_standard(measured)), True
    if declared is not None:
        return float(declared), variable
    if measured is not None and _plausible(measured):
        return float(_snap_to_standard(measured)), variable
    return None, variable


def _plausible(rate: Fraction | None) -> bool:
    return rate is not None and 0 < rate <= _MAX_PLAUSIBLE_FPS


def _snap_to_standard(rate: Fraction) -> Fraction:
    nearest = min(_STANDARD_RATES, key=lambda r: abs(r - rate))
    if abs(nearest - rate) <= Fraction(5, 100) * nearest:
        return nearest
    return Fraction(round(float(rate), 3)).limit_denominator(1000)


def _scanned_duration(
    video_stream: VideoStream | None,
    audio_stream: AudioStream | None,
    times: _PacketTimes,
    video: VideoInfo | None,
) -> float | None:
    ends: list[float] = []
    if video_stream is not None and video is not None:
        video_end = _video_end_s(video_stream, times, video)
        if video_end is not None:
            ends.append(video_end)
    if audio_stream is not None and times.audio_end is not None:
        time_base = audio_stream.time_base or Fraction(1, audio_stream.rate or 48000)
        ends.append(float((times.audio_end - (times.audio_start or 0)) * time_base))
    return max(ends) if ends else None


def _audio_info(stream: AudioStream, times: _PacketTimes, duration: float | None) -> AudioInfo:
    context = stream.codec_context
    seconds: float | None = None
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        seconds = float(stream.duration * stream.time_base)
    elif times.reached_end and times.audio_end is not None and stream.time_base is not None:
        seconds = float((times.audio_end - (times.audio_start or 0)) * stream.time_base)
    elif duration is not None:
        seconds = duration
    return AudioInfo(
        codec=codec_name(stream),
        sample_rate=int(context.sample_rate or stream.rate or 0),
        channels=int(context.channels or 0),
        duration_s=seconds,
        stream_index=stream.index,
    )
