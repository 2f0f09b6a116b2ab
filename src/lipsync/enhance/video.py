"""``enhance_video``: the enhancement half on its own, for any existing video.

Two streaming passes, like the sync pipeline: the first tracks the face (landmarks only),
the second decodes again, enhances batches of frames and encodes them while they arrive.
The picture is re-encoded; the sound is not: its packets are copied into the output as
they are, so it stays bit-exact (see ``mux_video_with_audio``).

The output has the input's frame rate and, for a constant-rate video, exactly its frames.
A variable-rate video (phones, browsers) becomes constant-rate at its nominal rate: each
output frame is the picture on screen at its time, so frames are repeated or dropped where
the input's intervals wander, and the sound stays in sync.
"""

from __future__ import annotations

import heapq
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Literal, cast

import av
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer, OutputContainer
from av.stream import Stream

from ..compose.debug import mask_overlay
from ..errors import MediaError, NoFaceError, NoVideoStreamError, OptionsError
from ..faces.tracker import FaceTracker
from ..faces.types import FaceTrack
from ..media.carry import MUXERS, can_copy_audio
from ..media.probe import MediaInfo, probe
from ..media.safety import codec_name, open_sniffed, prepare_decoder, translate_av_errors
from ..media.video import VideoSource, open_video
from ..media.writer import BackgroundWriter, VideoWriter
from ..models.store import ModelStore
from ..options import Limits, SyncOptions, parse_face_choice
from ..pipeline import OUTPUT_SUFFIXES, StageTimer
from ..prefetch import prefetch, queue_depth
from ..progress import CancelToken, ProgressCallback, Reporter
from .intermediates import Intermediates, check_intermediates_dir
from .stage import EnhanceItem, EnhanceStage, build_stage

DEFAULT_ENHANCER = "realesrgan"
AudioCarry = Literal["copied", "lossless", "none"]


@dataclass(frozen=True)
class EnhanceResult:
    """What ``enhance_video`` wrote. ``frames`` at ``fps`` (the input's rate);
    ``frames_enhanced``: frames where a region was enhanced; ``audio``: how the sound was
    carried ("copied" packets, "lossless" re-encoding of the decoded samples, or "none");
    ``variable_frame_rate``: the input was variable-rate and was made constant-rate;
    ``timings``: seconds per stage."""

    output: Path
    frames: int
    fps: float
    timings: dict[str, float]
    enhancer: str
    frames_enhanced: int = 0
    audio: AudioCarry = "none"
    variable_frame_rate: bool = False


def check_enhance_paths(
    video: Path, output: Path, intermediates: Path | None, debug_mask: Path | None
) -> None:
    """Refuse bad output paths before anything is decoded (OptionsError naming the path)."""
    for path, what in ((output, "output"), (debug_mask, "debug mask video")):
        if path is None:
            continue
        if path.suffix.lower() not in OUTPUT_SUFFIXES:
            raise OptionsError(
                f"{what} {path.name} must end in one of {', '.join(OUTPUT_SUFFIXES)}"
            )
        if not path.parent.is_dir():
            raise OptionsError(f"{what} folder {path.parent} does not exist")
        if path.resolve() == video.resolve():
            raise OptionsError(f"{what} {path.name} would overwrite the input")
    if debug_mask is not None and debug_mask.resolve() == output.resolve():
        raise OptionsError(f"debug mask video {debug_mask.name} would overwrite the output")
    if intermediates is not None:
        check_intermediates_dir(intermediates)


def enhance_video(
    video: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: SyncOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    limits: Limits | None = None,
    store: ModelStore | None = None,
    intermediates: str | os.PathLike[str] | None = None,
    debug_mask: str | os.PathLike[str] | None = None,
) -> EnhanceResult:
    """Enhance the face (``options.enhance_region``) in every frame of ``video`` into ``output``.

    ``options``: the enhancement fields of SyncOptions (default: Real-ESRGAN on the face);
    ``enhancer`` must not be ``none``. ``intermediates``: a folder for the frames before and
    after, the video and its sound (see ``Intermediates``). ``debug_mask``: a video of the
    output with the replaced pixels tinted. The sound is copied bit-exact. Progress stages:
    ``faces`` (skipped when the whole frame is enhanced), ``enhance``. Raises the
    LipsyncError family: OptionsError, the MediaError family, NoFaceError, ModelError,
    Cancelled. Nothing is left at ``output`` unless everything succeeded.
    """
    video_path, output_path = Path(video), Path(output)
    options = options or SyncOptions(enhancer=DEFAULT_ENHANCER)
    limits = limits or Limits()
    store = store or ModelStore()
    intermediates_dir = Path(intermediates) if intermediates is not None else None
    debug_path = Path(debug_mask) if debug_mask is not None else None
    if options.enhancer == "none":
        raise OptionsError("enhancer is none: choose one, e.g. realesrgan, gfpgan or codeformer")
    check_enhance_paths(video_path, output_path, intermediates_dir, debug_path)
    info = _probe_video(video_path, limits)
    stage = build_stage(options, store)
    assert stage is not None
    try:
        return _Run(stage, options, limits, info, progress, cancel).run(
            video_path, output_path, intermediates_dir, debug_path
        )
    finally:
        stage.close()


def _probe_video(video: Path, limits: Limits) -> MediaInfo:
    info = probe(video, limits)
    if info.video is None:
        raise NoVideoStreamError(f"{video.name} has no video stream")
    if info.video.is_still:
        raise MediaError(f"{video.name} is a still image; lipsync enhance needs a video")
    return info


class _Run:
    """One ``enhance_video`` call's state: the stage, the clock and the progress sink."""

    def __init__(
        self,
        stage: EnhanceStage,
        options: SyncOptions,
        limits: Limits,
        info: MediaInfo,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> None:
        self.stage = stage
        self.options = options
        self.limits = limits
        self.info = info
        self.progress = progress
        self.cancel = cancel
        self.timer = StageTimer()

    def run(
        self, video: Path, output: Path, intermediates: Path | None, debug_mask: Path | None
    ) -> EnhanceResult:
        source = open_video(video, limits=self.limits)
        track = self._track(source)
        temp = output.with_name(f".{output.stem}.{secrets.token_hex(4)}.video{output.suffix}")
        try:
            written, enhanced = self._enhance(source, track, temp, video, intermediates, debug_mask)
            start = time.perf_counter()
            carry = mux_video_with_audio(
                temp,
                video,
                output,
                video_offset_s=self.info.video.start_s if self.info.video else 0.0,
                limits=self.limits,
                cancel=self.cancel,
            )
            self.timer.add("mux", start)
        finally:
            temp.unlink(missing_ok=True)
        assert self.info.video is not None
        return EnhanceResult(
            output=output,
            frames=written,
            fps=source.fps,
            timings=dict(self.timer.seconds),
            enhancer=self.stage.describe(),
            frames_enhanced=enhanced,
            audio=carry,
            variable_frame_rate=self.info.video.variable_frame_rate,
        )

    def _needs_faces(self) -> bool:
        return self.options.enhance_region != "frame" or self.stage.enhancer.needs_face

    def _track(self, source: VideoSource) -> FaceTrack | None:
        """First pass: the face's landmarks in every frame (None when none are needed)."""
        if not self._needs_faces():
            return None
        reporter = Reporter("faces", source.frame_count, self.progress, self.cancel)
        tracker = FaceTracker(parse_face_choice(self.options.face), smooth=self.options.smooth)
        frames = self.timer.timed("decode", prefetch(source.frames()))
        for frame in reporter.track(frames):
            start = time.perf_counter()
            tracker.observe(frame)
            self.timer.add("detect+track", start)
        reporter.finish()
        track = tracker.finish()
        if not track.present.any():
            raise NoFaceError(
                f"no face found in any of the {len(track)} frames of the video; "
                "use --enhance-region frame to enhance whole frames"
            )
        return track

    def _enhance(
        self,
        source: VideoSource,
        track: FaceTrack | None,
        temp: Path,
        video: Path,
        intermediates: Path | None,
        debug_mask: Path | None,
    ) -> tuple[int, int]:
        """Second pass: enhance and encode (picture only); returns the frames written and
        how many of them had a region enhanced."""
        options, timer = self.options, self.timer
        reporter = Reporter("enhance", source.frame_count, self.progress, self.cancel)
        enhanced = 0
        depth = queue_depth(options.batch_size, source.width * source.height * 3)
        with (
            VideoWriter(
                temp,
                source.fps,
                source.width,
                source.height,
                lossless=options.lossless,
                preset=options.encoder_preset,
            ) as file_writer,
            _optional_writer(debug_mask, source, options.encoder_preset) as debug_writer,
            _optional_intermediates(intermediates, source, video, self) as keep,
        ):
            writer = BackgroundWriter(file_writer, depth)
            batch: list[EnhanceItem] = []
            first_index = 0

            def flush() -> None:
                nonlocal enhanced, first_index
                start = time.perf_counter()
                results = self.stage.process(batch)
                timer.add("enhance", start)
                start = time.perf_counter()
                for offset, (item, result) in enumerate(zip(batch, results, strict=True)):
                    writer.write(result.frame)
                    if debug_writer is not None:
                        debug_writer.write(mask_overlay(result.frame, result.box, result.mask))
                    if keep is not None:
                        keep.write_synced(first_index + offset, item.frame)
                        keep.write_enhanced(first_index + offset, result.frame)
                    enhanced += result.box is not None
                timer.add("encode", start)
                reporter.step(len(batch))
                first_index += len(batch)
                batch.clear()

            try:
                frames = timer.timed("decode", prefetch(source.frames(), depth))
                for index, frame in enumerate(frames):
                    batch.append(_item(frame, track, index))
                    if len(batch) >= options.batch_size:
                        flush()
                if batch:
                    flush()
            except BaseException:
                writer.abort()
                raise
            start = time.perf_counter()
            writer.close()
            timer.add("encode", start)
        reporter.finish()
        return file_writer.frames_written, enhanced


def _item(frame: np.ndarray, track: FaceTrack | None, index: int) -> EnhanceItem:
    if track is None or index >= len(track):
        return EnhanceItem(frame, None, regenerated="face")
    return EnhanceItem(
        frame,
        track.landmarks_at(index),
        regenerated="face",  # an existing video: nothing says which part is new
        continuous=not bool(track.breaks[index]),
    )


class _Nothing:
    """A context manager that gives None, for an optional writer that was not asked for."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _optional_writer(path: Path | None, source: VideoSource, preset: str) -> VideoWriter | _Nothing:
    if path is None:
        return _Nothing()
    return VideoWriter(path, source.fps, source.width, source.height, preset=preset)


def _optional_intermediates(
    directory: Path | None, source: VideoSource, video: Path, run: _Run
) -> Intermediates | _Nothing:
    if directory is None:
        return _Nothing()
    return Intermediates(
        directory,
        fps=source.fps,
        size=(source.width, source.height),
        audio=video if run.info.audio is not None else None,
        trim_audio=False,  # the output carries the whole track
        limits=run.limits,
    )


# --- carrying the sound over ------------------------------------------------------------

# Decoded sample format → the lossless encoder that stores it unchanged (16-bit: FLAC,
# else PCM of the same format; FLAC holds no floats, and MOV holds no FLAC).
_LOSSLESS = {
    "s16": ("flac", "s16"),
    "s32": ("pcm_s32le", "s32"),
    "flt": ("pcm_f32le", "flt"),
    "dbl": ("pcm_f64le", "dbl"),
    "u8": ("pcm_u8", "u8"),
}
_CANCEL_EVERY = 256  # packets between cancellation checks while muxing


def mux_video_with_audio(
    video_only: Path,
    source: Path,
    output: Path,
    *,
    video_offset_s: float = 0.0,
    limits: Limits | None = None,
    cancel: CancelToken | None = None,
) -> AudioCarry:
    """Write ``output`` from the picture of ``video_only`` and the first sound track of
    ``source``, atomically (a hidden ``.part`` file renamed at the end).

    ``video_only``: a file this process wrote (its first video stream is copied, shifted
    by ``video_offset_s`` seconds so it keeps its place against the sound). ``source``: the
    user's file, opened through ``media.safety`` (sniffed, one demuxer, local file only).
    Its audio packets are copied untouched where ``can_copy_audio`` allows; otherwise they
    are decoded and stored losslessly (FLAC for 16-bit, else PCM of the decoded format), so
    a decoder gives back exactly the samples it gives for the source. Returns how the sound
    was carried: "copied", "lossless" or "none" (``source`` has no audio).
    """
    limits = limits or Limits()
    muxer = MUXERS.get(output.suffix.lower())
    if muxer is None:
        raise OptionsError(f"output {output.name} must end in one of {', '.join(MUXERS)}")
    part = output.with_name(f".{output.stem}.{secrets.token_hex(4)}.part{output.suffix}")
    try:
        try:
            carry = _mux(video_only, source, part, muxer, video_offset_s, limits, cancel, True)
        except av.FFmpegError:
            # The muxer refused the copied stream after all: store the decoded samples.
            part.unlink(missing_ok=True)
            carry = _mux(video_only, source, part, muxer, video_offset_s, limits, cancel, False)
        os.replace(part, output)
    except av.FFmpegError as exc:
        raise MediaError(f"could not write {output.name}: {exc}") from exc
    finally:
        part.unlink(missing_ok=True)
    return carry


def _mux(
    video_only: Path,
    source: Path,
    part: Path,
    muxer: str,
    video_offset_s: float,
    limits: Limits,
    cancel: CancelToken | None,
    allow_copy: bool,
) -> AudioCarry:
    options = {"movflags": "+faststart"} if muxer in ("mp4", "mov") else {}
    audio_in, sniffed = open_sniffed(source, limits)
    with (
        audio_in,
        av.open(os.path.abspath(video_only)) as picture,
        av.open(os.path.abspath(part), mode="w", format=muxer, container_options=options) as out,
    ):
        in_video = picture.streams.video[0]
        out_video = out.add_stream_from_template(in_video)
        packets: list[Iterator[av.Packet]] = [
            _shifted(picture.demux(in_video), out_video, video_offset_s)
        ]
        carry: AudioCarry = "none"
        if audio_in.streams.audio:
            in_audio = audio_in.streams.audio[0]
            codec = codec_name(in_audio)
            if allow_copy and can_copy_audio(sniffed.format, codec, part.suffix):
                out_audio = out.add_stream_from_template(in_audio)
                packets.append(_copied(audio_in.demux(in_audio), out_audio, source.name))
                carry = "copied"
            else:
                encoded = _losslessly(audio_in, in_audio, out, muxer, source.name, limits)
                if encoded is not None:
                    packets.append(encoded)
                    carry = "lossless"
        for count, packet in enumerate(heapq.merge(*packets, key=_packet_time)):
            if cancel is not None and count % _CANCEL_EVERY == 0:
                cancel.raise_if_cancelled()
            out.mux(packet)
    return carry


def _packet_time(packet: av.Packet) -> float:
    stamp = packet.dts if packet.dts is not None else packet.pts
    if stamp is None or packet.time_base is None:
        return 0.0
    return float(stamp * packet.time_base)


def _shifted(packets: Iterator[av.Packet], stream: Stream, offset_s: float) -> Iterator[av.Packet]:
    for packet in packets:
        if packet.size == 0:
            continue  # the demuxer's end-of-stream marker
        if offset_s and packet.time_base is not None:
            shift = round(Fraction(offset_s).limit_denominator(1_000_000) / packet.time_base)
            if packet.pts is not None:
                packet.pts += shift
            if packet.dts is not None:
                packet.dts += shift
        packet.stream = stream
        yield packet


def _copied(packets: Iterator[av.Packet], stream: Stream, name: str) -> Iterator[av.Packet]:
    with translate_av_errors(name):
        for packet in packets:
            if packet.size == 0:
                continue
            packet.stream = stream
            yield packet


def _losslessly(
    container: InputContainer,
    in_audio: AudioStream,
    out: OutputContainer,
    muxer: str,
    name: str,
    limits: Limits,
) -> Iterator[av.Packet] | None:
    """Add a lossless audio stream to ``out`` and return its packets (lazily), or None when
    the source's audio decodes to nothing. The stream is added now, before any muxing."""
    with translate_av_errors(name):
        prepare_decoder(in_audio, limits)
        frames = container.decode(in_audio)
        first = next(frames, None)
        if first is None:
            return None
        packed = first.format.packed.name
        if packed not in _LOSSLESS:
            raise MediaError(f"{name}: audio sample format {packed} cannot be stored losslessly")
    codec, sample_format = _LOSSLESS[packed]
    if codec == "flac" and muxer == "mov":
        codec = "pcm_s16le"
    stream = cast(AudioStream, out.add_stream(codec, rate=first.sample_rate))
    stream.layout = first.layout
    stream.format = sample_format

    def encode() -> Iterator[av.Packet]:
        for frame in _decoded(chain([first], frames), name):
            yield from stream.encode(frame)
        yield from stream.encode(None)

    return encode()


def _decoded(frames: Iterator[AudioFrame], name: str) -> Iterator[AudioFrame]:
    with translate_av_errors(name):
        yield from frames
