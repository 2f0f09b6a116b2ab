"""Opening untrusted media so that FFmpeg reads this one file and nothing else.

FFmpeg's demuxers can follow references: an HLS playlist or a concat list names other
files, a MOV data reference points outside the file, a ``subfile:`` or ``http:`` URL
reaches elsewhere, and an AVI can even carry a nested playlist. So the demuxer is forced
to the one that the magic bytes name, only that demuxer may run (``format_whitelist``,
which nested demuxers inherit), only the ``file`` protocol may be used, and the path is
handed over as an absolute ``file:`` URL so that no part of its name is read as a protocol.
Limits on size, streams, pixels and duration are checked from headers before decoding.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import av
import av.error
from av.container import InputContainer
from av.stream import Stream
from av.video.stream import VideoStream

from ..errors import (
    CorruptMediaError,
    EmptyMediaError,
    LimitExceededError,
    LipsyncError,
    UnsupportedCodecError,
    UnsupportedFormatError,
)
from ..options import Limits
from .sniff import Sniffed, sniff

# Extra demuxer options per forced format. MOV data references (``dref``) can point at
# other files; FFmpeg 8 leaves them off by default, and we say so explicitly.
_DEMUXER_OPTIONS: dict[str, dict[str, str]] = {
    "mov": {"enable_drefs": "0", "use_absolute_path": "0"},
}

_AV_TIME_BASE = 1_000_000


@contextmanager
def translate_av_errors(name: str) -> Iterator[None]:
    """Turn PyAV/FFmpeg exceptions raised inside the block into Lipsync's typed errors.

    ``name`` is the file's basename, used in the messages.
    """
    try:
        yield
    except LipsyncError:
        raise
    except (av.error.DecoderNotFoundError, av.error.PatchWelcomeError) as exc:
        raise UnsupportedCodecError(
            f"{name} uses a codec or feature that cannot be decoded ({_reason(exc)})"
        ) from exc
    except av.error.ArgumentError as exc:
        raise UnsupportedFormatError(
            f"{name} was refused ({_reason(exc)}): it may refer to other files "
            "or use a feature that is not supported"
        ) from exc
    except (av.error.InvalidDataError, av.error.EOFError, EOFError) as exc:
        raise CorruptMediaError(f"{name} is damaged or truncated ({_reason(exc)})") from exc
    except av.error.MemoryError as exc:
        raise LimitExceededError(f"{name} needs more memory than is available to decode") from exc
    except av.FFmpegError as exc:
        raise CorruptMediaError(f"{name} cannot be read ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip() or type(exc).__name__


def open_input(path: str | os.PathLike[str], limits: Limits | None = None) -> InputContainer:
    """Open ``path`` for demuxing with its format forced and its reach confined to the file.

    Returns an open PyAV input container (the caller closes it). Raises the MediaError
    family: MediaError, EmptyMediaError, UnsupportedFormatError, UnsupportedCodecError,
    CorruptMediaError or LimitExceededError; never a raw PyAV exception.
    """
    container, _ = open_sniffed(path, limits)
    return container


def open_sniffed(
    path: str | os.PathLike[str], limits: Limits | None = None
) -> tuple[InputContainer, Sniffed]:
    """Like ``open_input``, and also return what sniffing found (format, label, kind)."""
    limits = limits or Limits()
    path = Path(path)
    name = path.name
    sniffed = sniff(path, limits)
    if sniffed.dimensions is not None:
        # Still images are decoded whole while streams are analysed, so refuse a huge
        # one from its header bytes before FFmpeg sees it.
        _check_dimensions(name, *sniffed.dimensions, limits)
    options = {
        "protocol_whitelist": "file",
        "format_whitelist": sniffed.format,
        # Also reaches the decoders opened during stream analysis: a frame bigger than
        # this is refused instead of allocated.
        "max_pixels": str(limits.max_pixels),
        **_DEMUXER_OPTIONS.get(sniffed.format, {}),
    }
    url = "file:" + os.path.abspath(path)
    with translate_av_errors(name):
        container = av.open(url, mode="r", format=sniffed.format, options=options)
    try:
        with translate_av_errors(name):
            validate_container(container, sniffed, name, limits)
    except BaseException:
        container.close()
        raise
    return container, sniffed


def validate_container(
    container: InputContainer, sniffed: Sniffed, name: str, limits: Limits
) -> None:
    """Check stream count, decodability, frame size and duration against ``limits``."""
    streams = list(container.streams)
    if not streams:
        if sniffed.format == "mov":
            raise CorruptMediaError(
                f"{name} has no readable index (moov box); the file is probably truncated"
            )
        raise EmptyMediaError(f"{name} contains no audio or video streams")
    if len(streams) > limits.max_streams:
        raise LimitExceededError(
            f"{name} has {len(streams)} streams, more than the limit of {limits.max_streams}"
        )
    for stream in streams:
        if stream.type not in ("video", "audio"):
            continue  # timecode, metadata and subtitle tracks are never decoded
        if stream.codec_context is None:
            raise UnsupportedCodecError(
                f"{name} has a {stream.type} stream in codec {codec_name(stream)}, "
                "which cannot be decoded"
            )
        if isinstance(stream, VideoStream):
            _check_dimensions(name, int(stream.width), int(stream.height), limits)
    duration = container_duration_s(container)
    if duration is not None and duration > limits.max_duration_s:
        raise LimitExceededError(
            f"{name} lasts {duration:.1f} s, longer than the limit of {limits.max_duration_s:g} s"
        )


def codec_name(stream: Stream) -> str:
    """The codec's FFmpeg name, or a readable stand-in when no decoder is known."""
    if stream.codec_context is not None:
        return str(stream.codec_context.codec.canonical_name)
    tag = getattr(stream, "codec_tag", "") or ""
    return repr(tag) if tag.strip("\x00") else "unknown"


def container_duration_s(container: InputContainer) -> float | None:
    """Duration from the header in seconds, or None when the header does not say."""
    if container.duration is not None and container.duration > 0:
        return container.duration / _AV_TIME_BASE
    longest: float | None = None
    for stream in container.streams:
        if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
            seconds = float(stream.duration * stream.time_base)
            longest = seconds if longest is None else max(longest, seconds)
    return longest


def prepare_decoder(stream: Stream, limits: Limits, threads: bool = True) -> None:
    """Configure a stream's decoder before first use: frames capped at the pixel limit and,
    with ``threads``, frame/slice threading on (worth it for whole streams, not one frame)."""
    context = stream.codec_context
    if context is None:
        return
    context.options = {**(context.options or {}), "max_pixels": str(limits.max_pixels)}
    if stream.type != "video":
        return
    if threads:
        context.thread_type = "AUTO"
    else:
        # Explicitly one thread: FFmpeg's default (slice threads, one per core) keeps idle
        # workers that cost a third more CPU per frame without decoding any faster.
        context.thread_type = "NONE"
        context.thread_count = 1


def _check_dimensions(name: str, width: int, height: int, limits: Limits) -> None:
    if width > limits.max_width or height > limits.max_height:
        raise LimitExceededError(
            f"{name} is {width}×{height} pixels, larger than the limit of "
            f"{limits.max_width}×{limits.max_height}"
        )
    if width * height > limits.max_pixels:
        raise LimitExceededError(
            f"{name} has {width * height} pixels per frame, more than the limit of "
            f"{limits.max_pixels}"
        )
