"""The lip-sync pipeline: validate, analyse faces, generate mouths, composite, encode.

Two passes over the video, both streaming:

1. **Analysis**: decode at a constant frame rate and track the chosen face, keeping boxes and
   landmarks (a few KB per frame) and, for a quick engine while the frame cache lasts, the
   decoded pictures.
2. **Synthesis**: follow the output schedule (trim, forward loop or ping-pong), feed batches
   of frames to the engine, blend the regenerated faces in and encode while frames arrive.

Memory is bounded by the batch size, the reverse-read block and the frame cache (the first
pass's decoded pictures, kept for the second while ``frame_cache_bytes`` lasts, for an engine
that asks), never by the video's length. Components (engine, tracker) are injected, so tests
and later engines slot in without changes.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import numpy as np

from .compose.blend import composite
from .engines.base import ClipContext, Engine, EngineInput, PictureInput, Speech
from .errors import NoAudioStreamError, NoFaceError, NoVideoStreamError, OptionsError
from .faces.tracker import FaceTracker
from .faces.types import FaceTrack
from .media import encoder_process
from .media.audio import iter_audio, load_speech
from .media.carry import CopiedAudio, copyable
from .media.encoder_process import EncoderProcess, StartedEncoder
from .media.probe import MediaInfo, probe
from .media.video import VideoSource, open_video
from .media.writer import BackgroundWriter, FrameSink, VideoWriter
from .media.yuv import Matrix, Yuv420Picture
from .models.store import ModelStore
from .options import Limits, SyncOptions, parse_face_choice
from .prefetch import prefetch, queue_depth
from .progress import CancelToken, ProgressCallback, Reporter
from .schedule import output_frame_count, plan_runs, scheduled_frames, source_schedule
from .side_outputs import OUTPUT_SUFFIXES, SideOutputs, changed_overlay, check_side_outputs
from .threads import library_threads

if TYPE_CHECKING:
    from .enhance.intermediates import Intermediates
    from .enhance.stage import EnhanceStage

T = TypeVar("T")
_REVERSE_BLOCK_BYTES = 192 * 1024**2  # frames held while reading a ping-pong run backwards
# Decoded pictures the first pass keeps for the second, for an engine that asks
# (``Engine.cache_frames``): 20 s of 720p (1.4 MB a frame in YUV 4:2:0).
FRAME_CACHE_BYTES = 1024**3


@dataclass
class StageTimer:
    """Wall-clock seconds spent per stage, for benchmarks and logs."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, start: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    def timed(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        """Charge the time spent waiting for each item (e.g. decoding) to ``stage``."""
        iterator = iter(items)
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.add(stage, start)
                return
            self.add(stage, start)
            yield item


@dataclass(frozen=True)
class SyncResult:
    """What a run produced. ``timings`` holds seconds per stage."""

    output: Path
    engine: str
    fps: float
    frames: int
    source_frames: int
    frames_with_face: int
    duration_s: float
    timings: dict[str, float]


@dataclass(frozen=True)
class CheckedInputs:
    video: MediaInfo
    audio: MediaInfo


def check_inputs(video: Path, audio: Path, output: Path, limits: Limits) -> CheckedInputs:
    """Probe both inputs and check the output path before anything heavy starts."""
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise OptionsError(f"output {output.name} must end in one of {', '.join(OUTPUT_SUFFIXES)}")
    if not output.parent.is_dir():
        raise OptionsError(f"output folder {output.parent} does not exist")
    if output.resolve() in (video.resolve(), audio.resolve()):
        raise OptionsError(f"output {output.name} would overwrite an input")
    video_info = probe(video, limits)
    if video_info.video is None:
        raise NoVideoStreamError(f"{video.name} has no video stream or image")
    audio_info = video_info if audio.resolve() == video.resolve() else probe(audio, limits)
    if audio_info.audio is None:
        raise NoAudioStreamError(f"{audio.name} has no audio stream")
    return CheckedInputs(video_info, audio_info)


TrackerFactory = Callable[[SyncOptions], FaceTracker]


def default_tracker(options: SyncOptions) -> FaceTracker:
    return FaceTracker(parse_face_choice(options.face), smooth=options.smooth)


class Pipeline:
    """Lip-syncs one video (or still) to one speech track with an injected engine.

    ``Pipeline(engine, options).run(video, audio, output, progress=..., cancel=...)``.
    The engine is prepared per run and can be reused across runs.
    """

    def __init__(
        self,
        engine: Engine,
        options: SyncOptions | None = None,
        *,
        limits: Limits | None = None,
        tracker_factory: TrackerFactory = default_tracker,
        enhance_stage: EnhanceStage | None = None,
        frame_cache_bytes: int = FRAME_CACHE_BYTES,
    ) -> None:
        self.engine = engine
        self.frame_cache_bytes = frame_cache_bytes
        self.options = options or SyncOptions()
        self.limits = limits or Limits()
        self.tracker_factory = tracker_factory
        self.enhance_stage = enhance_stage

    # --- the run ---------------------------------------------------------------------

    def run(
        self,
        video: str | Path,
        audio: str | Path,
        output: str | Path,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        side_outputs: SideOutputs | None = None,
    ) -> SyncResult:
        video, audio, output = Path(video), Path(audio), Path(output)
        check_inputs(video, audio, output, self.limits)
        check_side_outputs(side_outputs, video, audio, output)
        return self._run_checked(video, audio, output, progress, cancel, side_outputs)

    def _run_checked(
        self,
        video: Path,
        audio: Path,
        output: Path,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        side_outputs: SideOutputs | None = None,
    ) -> SyncResult:
        with (
            library_threads(),  # one thread per library on a small machine (see there)
            ThreadPoolExecutor(1, thread_name_prefix="lipsync-speech") as speech_thread,
            contextlib.ExitStack() as early,
        ):
            timer = StageTimer()
            # The speech decodes, and the engine starts on it (``Engine.listen``), while the
            # first pass begins: a tenth of a second that one core would otherwise idle.
            listening = speech_thread.submit(self._listen, audio)
            # The encoder's process starts now too, while a core is still free: its
            # interpreter and imports (0.3-0.4 s) would otherwise hold up the second pass.
            encoder = early.enter_context(StartedEncoder()) if self._encodes_in_child() else None
            cache_bytes = self.frame_cache_bytes if self.engine.cache_frames else 0
            source = open_video(
                video, fps=self.options.fps, limits=self.limits, cache_bytes=cache_bytes
            )
            try:
                return self._run_on(
                    source, listening, audio, output, timer, progress, cancel, side_outputs, encoder
                )
            finally:
                source.drop_cache()

    def _listen(self, audio: Path) -> Speech:
        speech = Speech(load_speech(audio, self.limits), 16000)
        self.engine.listen(speech)
        return speech

    def _run_on(
        self,
        source: VideoSource,
        listening: Future[Speech],
        audio: Path,
        output: Path,
        timer: StageTimer,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        side_outputs: SideOutputs | None,
        encoder: StartedEncoder | None = None,
    ) -> SyncResult:
        options, video = self.options, source.path
        track = self._analyse(source, timer, progress, cancel, listening)
        start = time.perf_counter()
        speech = listening.result()
        timer.add("audio", start)  # waiting for the speech once the first pass is done
        n_source = len(track)
        fps = source.fps
        speech_s = speech.duration_s
        if options.still_duration_s is not None and source.is_still:
            speech_s = options.still_duration_s
        n_out = output_frame_count(speech_s, fps, n_source, options.pad_audio)
        # An output as long as the speech (neither padded nor cut by more than half a frame)
        # may carry its sound as it is (``_open_outputs``).
        as_long_as_speech = speech_s == speech.duration_s and n_out == max(1, round(speech_s * fps))

        with contextlib.ExitStack() as files:
            outputs = self._open_outputs(
                files, source, audio, output, side_outputs, as_long_as_speech, encoder
            )
            start = time.perf_counter()
            if self.engine.uses_video_audio:
                own_speech = self._own_speech(video, audio, speech)
            else:
                own_speech = None
            schedule = source_schedule(plan_runs(n_out, n_source, options.loop))
            self.engine.analyse_clip(ClipContext(fps, track, schedule, own_speech))
            self.engine.prepare(speech, fps, n_out)
            timer.add("features", start)

            frames_with_face = self._synthesise(
                source, track, n_out, outputs, timer, progress, cancel
            )
        return SyncResult(
            output=output,
            engine=self.engine.describe(),
            fps=fps,
            frames=n_out,
            source_frames=n_source,
            frames_with_face=frames_with_face,
            duration_s=n_out / fps,
            timings=dict(timer.seconds),
        )

    def _own_speech(self, video: Path, audio: Path, speech: Speech) -> Speech | None:
        """The video's own sound track (the engine learns the speaker's mouth from it)."""
        if video.resolve() == audio.resolve():
            return speech
        if probe(video, self.limits).audio is None:
            return None
        return Speech(load_speech(video, self.limits), 16000)

    def _analyse(
        self,
        source: VideoSource,
        timer: StageTimer,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
        listening: Future[Speech],
    ) -> FaceTrack:
        """First pass: count the constant-rate frames and track the face (small data only).
        Stops early with the error of ``listening`` (the speech's loading) if it failed."""
        options = self.options
        reporter = Reporter("faces", source.frame_count, progress, cancel)
        if options.box is not None:
            _, _, x2, y2 = options.box
            if x2 > source.width or y2 > source.height:
                raise OptionsError(
                    f"box {options.box} lies outside the {source.width}×{source.height} frame"
                )
            n = sum(1 for _ in reporter.track(timer.timed("decode", prefetch(source.frames()))))
            reporter.finish()
            return FaceTrack.fixed(options.box, n)
        tracker = self.tracker_factory(options)
        frames = timer.timed("decode", prefetch(source.frames()))
        for index, frame in enumerate(reporter.track(frames)):
            if listening.done() and listening.exception() is not None:
                listening.result()  # raises the speech's error: no point going on
            start = time.perf_counter()
            observation = tracker.observe(frame)
            timer.add("detect+track", start)
            start = time.perf_counter()
            self.engine.analyse_frame(
                index, frame, observation.landmarks if observation is not None else None
            )
            timer.add("engine analysis", start)
        reporter.finish()
        track = tracker.finish()
        if not track.present.any():
            raise NoFaceError(f"no face found in any of the {len(track)} frames of the video")
        return track  # the tracker already smoothed it when options.smooth is set

    def _batch_size(self) -> int:
        return min(self.options.batch_size, self.engine.max_batch_size or self.options.batch_size)

    def _open_outputs(
        self,
        files: contextlib.ExitStack,
        source: VideoSource,
        audio: Path,
        output: Path,
        side_outputs: SideOutputs | None,
        as_long_as_speech: bool = False,
        encoder: StartedEncoder | None = None,
    ) -> _Outputs:
        """The output file's writer and the side outputs asked for. ``files`` closes them; when
        the run fails before the second pass has closed them, nothing is published.
        ``as_long_as_speech``: the video is as long as the speech, so where its container
        allows (``media.carry``) it carries ``audio``'s sound as it is: bit-exact, with
        nothing to encode. ``encoder``: a child started for the output (``_encodes_in_child``)."""
        options = self.options
        side = side_outputs or SideOutputs()
        depth = queue_depth(self._batch_size(), source.width * source.height * 3)

        matrix = self._picture_matrix(source, side)
        # With pictures, the second pass may make them in the encoder's slots themselves
        # (``_synthesise``): the queue, the batch being edited and the picture being read
        # hold slots, and one more is left, so the encoder never waits for one they hold.
        slots = depth + self._batch_size() + 2 if matrix is not None else depth

        def open_writer(path: Path, started: StartedEncoder | None = None) -> FrameSink:
            copy_audio = as_long_as_speech and copyable(
                audio, path.suffix, self.limits, widely_playable=True
            )
            if self._encodes_in_child():
                child = EncoderProcess(
                    path,
                    source.fps,
                    source.width,
                    source.height,
                    audio=audio,
                    limits=self.limits,
                    preset=options.encoder_preset,
                    slots=slots,
                    planes=matrix is not None,
                    matrix=matrix or "bt601",
                    copy_audio=copy_audio,
                    started=started,
                )
                files.callback(child.abort)  # nothing to do once it was closed
                return child
            writer = VideoWriter(
                path,
                source.fps,
                source.width,
                source.height,
                audio=CopiedAudio(audio, self.limits)
                if copy_audio
                else iter_audio(audio, self.limits),
                lossless=options.lossless,
                preset=options.encoder_preset,
            )
            background = BackgroundWriter(files.enter_context(writer), depth)
            files.callback(background.abort)  # stops its thread if the run fails before
            return background

        writer = open_writer(output, encoder)
        debug_writer = open_writer(side.debug_mask) if side.debug_mask is not None else None
        intermediates = (
            files.enter_context(self._open_intermediates(side.keep_intermediates, source, audio))
            if side.keep_intermediates is not None
            else None
        )
        return _Outputs(writer, debug_writer, intermediates, matrix)

    def _encodes_in_child(self) -> bool:
        """Whether the output is encoded in a child process (``EncoderProcess``)."""
        return not self.options.lossless and encoder_process.supported()

    def _picture_matrix(self, source: VideoSource, side: SideOutputs) -> Matrix | None:
        """The matrix of the source's YUV when the second pass can edit its pictures in place
        (``Engine.edits_pictures``), converting only the changed region to RGB and back;
        None when something needs whole RGB frames (an enhancer, a side output, lossless or
        RGB output) or the source's pictures are not plain 8-bit 4:2:0."""
        if not self.engine.edits_pictures or self.enhance_stage is not None:
            return None
        if side.debug_mask is not None or side.keep_intermediates is not None:
            return None
        if not self._encodes_in_child():
            return None
        return source.picture_matrix()

    def _synthesise(
        self,
        source: VideoSource,
        track: FaceTrack,
        n_out: int,
        outputs: _Outputs,
        timer: StageTimer,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> int:
        """Second pass: schedule, generate, composite, enhance and encode into ``outputs``;
        returns frames with a face."""
        options = self.options
        size = (source.width, source.height)
        pads = (0, 0, 0, 0) if options.box is not None else options.pads
        runs = plan_runs(n_out, len(track), options.loop)
        frame_bytes = source.width * source.height * 3
        block = int(max(1, min(64, _REVERSE_BLOCK_BYTES // frame_bytes)))
        batch_size = self._batch_size()
        depth = queue_depth(batch_size, frame_bytes)
        reporter = Reporter("sync", n_out, progress, cancel)
        frames_with_face = 0

        # One forward run (the speech is no longer than the video) reads every frame once,
        # so the first pass's kept pictures can go as they are read.
        last_read = len(runs) == 1 and runs[0].step == 1

        writer, debug_writer, intermediates, matrix = outputs
        read: Callable[[int, int], Iterator[np.ndarray | Yuv420Picture]]
        if matrix is not None:
            # Read once, in order, each picture can be made in the encoder's shared memory,
            # edited there and handed over as it is: no copy of the whole frame is left
            # for the engine's thread to make (0.3 ms a 720p frame). Frames held longer (a
            # ping-pong run's blocks) would need more slots than there are.
            into = writer.take_slot if last_read and isinstance(writer, EncoderProcess) else None
            read = functools.partial(source.pictures, release=last_read, into=into)
        else:
            read = functools.partial(source.frames, release=last_read)
        # Encoding runs beside decoding and the engine (in a child process where it can);
        # "encode" below is the time spent waiting for it.
        writers = [w for w in (writer, debug_writer) if w is not None]
        finisher = _Finisher(self, timer, writer, debug_writer, intermediates)
        batch: list[EngineInput] = []
        pictures: list[PictureInput] = []

        def flush() -> None:
            nonlocal frames_with_face
            start = time.perf_counter()
            crops = self.engine.generate(batch)
            timer.add("model", start)
            synced: list[np.ndarray] = []
            for item, crop in zip(batch, crops, strict=True):
                start = time.perf_counter()
                if self.engine.composites_itself:
                    synced.append(item.frame if crop is None else crop)
                else:
                    synced.append(
                        composite(item.frame, crop, item.box, item.landmarks, options.blend)
                    )
                timer.add("blend", start)
                frames_with_face += crop is not None
            finisher.finish(batch, synced)
            reporter.step(len(batch))
            batch.clear()

        def flush_pictures() -> None:
            nonlocal frames_with_face
            start = time.perf_counter()
            frames_with_face += sum(self.engine.edit_pictures(pictures))
            timer.add("model", start)
            start = time.perf_counter()
            for item in pictures:
                writer.write(item.picture.planes)
            timer.add("encode", start)
            reporter.step(len(pictures))
            pictures.clear()

        def inputs() -> Iterator[EngineInput | PictureInput]:
            scheduled: Iterator[tuple[int, int, np.ndarray | Yuv420Picture]]
            scheduled = scheduled_frames(runs, read, block)
            for out_index, src_index, frame in scheduled:
                box = track.crop_box(src_index, pads, size)
                landmarks = track.landmarks_at(src_index) if box is not None else None
                if isinstance(frame, Yuv420Picture):
                    # On the decoding thread (prefetch), ahead of the engine.
                    item = PictureInput(out_index, frame, landmarks, src_index)
                    yield self.engine.preload(item)
                else:
                    yield EngineInput(out_index, frame, box, landmarks, src_index)

        try:
            for item in timer.timed("decode", prefetch(inputs(), depth)):
                if isinstance(item, PictureInput):
                    pictures.append(item)
                    if len(pictures) >= batch_size:
                        flush_pictures()
                    continue
                batch.append(item)
                if len(batch) >= batch_size:
                    flush()
            if batch:
                flush()
            if pictures:
                flush_pictures()
        except BaseException:
            for w in writers:
                w.abort()
            raise
        start = time.perf_counter()
        for w in writers:
            w.close()
        timer.add("encode", start)  # finishing the files: flushing encoders, faststart
        reporter.finish()
        return frames_with_face

    def _open_intermediates(
        self, directory: Path, source: VideoSource, audio: Path
    ) -> Intermediates:
        from .enhance.intermediates import Intermediates

        return Intermediates(
            directory,
            fps=source.fps,
            size=(source.width, source.height),
            audio=audio,
            limits=self.limits,
        )


class _Outputs(NamedTuple):
    """What the second pass writes to: the output file, and the side outputs asked for."""

    writer: FrameSink
    debug_writer: FrameSink | None
    intermediates: Intermediates | None
    # Not None: the writer takes I420 planes in this matrix, and the engine edits pictures.
    matrix: Matrix | None = None


class _Finisher:
    """The end of the second pass for a batch of synced frames: the enhancement stage (when
    there is one), the side outputs, and the writers."""

    def __init__(
        self,
        pipeline: Pipeline,
        timer: StageTimer,
        writer: FrameSink,
        debug_writer: FrameSink | None,
        intermediates: Intermediates | None,
    ) -> None:
        self.stage = pipeline.enhance_stage
        self.regenerated = pipeline.engine.regenerated_region
        self.timer = timer
        self.writer = writer
        self.debug_writer = debug_writer
        self.intermediates = intermediates
        self._previous_source = -2

    def finish(self, batch: Sequence[EngineInput], synced: list[np.ndarray]) -> None:
        final = synced
        if self.stage is not None:
            from .enhance.stage import EnhanceItem

            items = []
            for item, frame in zip(batch, synced, strict=True):
                # Temporal smoothing restarts where the shown source frame jumps (a loop's
                # seam or a trimmed gap), not at a ping-pong turn.
                continuous = abs(item.source_index - self._previous_source) <= 1
                self._previous_source = item.source_index
                items.append(
                    EnhanceItem(
                        frame,
                        item.landmarks,
                        self.regenerated if item.landmarks is not None else None,
                        continuous,
                    )
                )
            start = time.perf_counter()
            final = [enhanced.frame for enhanced in self.stage.process(items)]
            self.timer.add("enhance", start)
        for item, frame, out in zip(batch, synced, final, strict=True):
            if self.intermediates is not None:
                start = time.perf_counter()
                self.intermediates.write_synced(item.index, frame)
                if self.stage is not None:
                    self.intermediates.write_enhanced(item.index, out)
                self.timer.add("intermediates", start)
            if self.debug_writer is not None:
                self.debug_writer.write(changed_overlay(item.frame, out))
            start = time.perf_counter()
            self.writer.write(out)
            self.timer.add("encode", start)


def sync(
    video: str | Path,
    audio: str | Path,
    output: str | Path,
    options: SyncOptions | None = None,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    limits: Limits | None = None,
    store: ModelStore | None = None,
    side_outputs: SideOutputs | None = None,
) -> SyncResult:
    """Lip-sync ``video`` (a video or still image) to the speech in ``audio``, writing ``output``.

    Chooses the engine from ``options.engine`` (``auto``: the best installed) and the
    enhancer from ``options.enhancer``, validates the inputs, runs both passes and returns a
    SyncResult. ``side_outputs``: intermediates and a debug-mask video, on request. Raises
    LipsyncError subclasses.
    """
    from .engines.registry import choose_engine
    from .enhance.registry import choose_enhancer

    options = options or SyncOptions()
    limits = limits or Limits()
    store = store or ModelStore()
    video, audio, output = Path(video), Path(audio), Path(output)
    spec = choose_engine(options.engine, store)  # fails fast when weights are missing
    choose_enhancer(options.enhancer, store)  # the same for the enhancer's
    check_inputs(video, audio, output, limits)  # before the (slow) model load
    check_side_outputs(side_outputs, video, audio, output)
    with contextlib.ExitStack() as resources:
        engine = spec.factory(options, store)
        resources.callback(engine.close)
        stage = None
        if options.enhancer != "none":
            from .enhance.stage import build_stage

            stage = build_stage(options, store)
            if stage is not None:
                resources.callback(stage.close)
        pipeline = Pipeline(engine, options, limits=limits, enhance_stage=stage)
        result = pipeline._run_checked(video, audio, output, progress, cancel, side_outputs)
    return result
