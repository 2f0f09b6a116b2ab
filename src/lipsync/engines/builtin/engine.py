"""The built-in engine: sample-based mouth synthesis, with no downloaded weights.

The approach of Video Rewrite (Bregler et al., 1997) and the mouth synthesis of "Synthesizing
Obama" (Suwajanakorn et al., 2017): the mouths come from the person's own frames, so teeth,
lips and skin are real.

1. First pass (``analyse_frame``): every frame's lower face goes into a bounded library.
2. ``prepare``: phones (pocketsphinx) → visemes with co-articulation, shaped by loudness →
   wanted mouth shapes in this person's range, blended with a speaker model fitted on the
   video's own speech → a unit-selection path choosing a source mouth per output frame.
3. ``generate``: the renderer moves the chosen mouth into the current frame's head pose
   through the face mesh, cross-fading where the path cuts between source frames.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...audio.loudness import frame_loudness, frame_spectral_features, speech_activity
from ...audio.phones import Phone, recognise_phones
from ...audio.phones_child import BackgroundPhones
from ...errors import OptionsError
from ...faces.mouth import head_pose, mouth_features
from ...media.yuv import even_box
from ..base import ClipContext, Engine, EngineInput, PictureInput, Speech
from .library import SHAPE_COLUMNS, LibraryBuilder, MouthLibrary
from .mouth_geometry import Box
from .mouth_sample import sample_box
from .render import MouthRenderer, MouthSample, cut_sample
from .select import SELF, SelectionCosts, select_path
from .speaker import SpeakerModel, fit_speaker_model
from .targets import SpeakerRange, blend_speaker_model, close_in_silence
from .visemes import viseme_track

CROSSFADE_WEIGHT = 1.0 / 3.0  # the neighbour's share on each side of a cut
MIN_EXTRA_OPEN = 0.015  # inter-ocular units: below this, opening further by warping is not worth it
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class FramePlan:
    """How to render one output frame: mouths (library index or SELF) with weights, and how
    much further to open them by warping."""

    choices: tuple[tuple[int, float], ...]
    extra_open: float


@dataclass(frozen=True)
class Analysis:
    """What ``prepare`` decided, kept for inspection (contact sheets, tests, benchmarks)."""

    phones: list[Phone]
    targets: np.ndarray  # float32 (T, 3) wanted shapes, inter-ocular units
    path: np.ndarray  # int64 (T,): library index or SELF per output frame
    speaker_r2: np.ndarray | None  # cross-validated R² of the speaker model per column


class BuiltinEngine(Engine):
    """Lip-sync from the person's own mouths; needs only the models registry packages carry."""

    name = "builtin"
    composites_itself = True
    uses_video_audio = True
    regenerated_region = "mouth"
    max_batch_size = 1  # mouths are rendered one frame at a time
    cache_frames = True
    edits_pictures = True

    def __init__(
        self,
        *,
        use_speaker_model: bool = True,
        max_library: int = 600,
        costs: SelectionCosts | None = None,
        renderer: MouthRenderer | None = None,
    ) -> None:
        self.use_speaker_model = use_speaker_model
        self.costs = costs or SelectionCosts()
        self.renderer = renderer or MouthRenderer()
        self._builder = LibraryBuilder(max_entries=max_library)
        self._library: MouthLibrary | None = None
        self._clip: ClipContext | None = None
        self._source_shapes: np.ndarray | None = None
        self._plans: list[FramePlan | None] = []
        self.analysis: Analysis | None = None
        self._phones: BackgroundPhones | None = None
        self._phones_of: Speech | None = None
        # Frame-sized RGB canvases, reused (see ``_take_canvas``); taken by ``preload`` on the
        # decoding thread and given back by ``_edit_one``: a deque's ends are thread-safe.
        self._canvases: deque[np.ndarray] = deque()

    def listen(self, speech: Speech) -> None:
        # Phone recognition (pocketsphinx) runs in a child process during the first pass.
        self._close_phones()
        self._phones = BackgroundPhones(speech.samples, speech.sample_rate)
        self._phones_of = speech

    def _close_phones(self) -> None:
        if self._phones is not None:
            self._phones.close()
        self._phones = self._phones_of = None

    # --- first pass ----------------------------------------------------------------------

    def analyse_frame(self, index: int, frame: np.ndarray, landmarks: np.ndarray | None) -> None:
        self._builder.add(index, frame, landmarks)

    def analyse_clip(self, clip: ClipContext) -> None:
        landmarks = clip.track.landmarks
        shapes = mouth_features(landmarks)[:, :SHAPE_COLUMNS]
        shapes[~clip.track.present] = np.nan
        if not np.isfinite(shapes).all(1).any():
            raise OptionsError(
                "the built-in engine needs face landmarks: a fixed --box is only for Wav2Lip"
            )
        self._clip = clip
        self._source_shapes = shapes
        self._library = self._builder.build()
        self._builder = LibraryBuilder(max_entries=self._builder.max_entries)  # ready for reuse

    # --- speech → plan -------------------------------------------------------------------

    def prepare(self, speech: Speech, fps: float, n_frames: int) -> None:
        clip, library, shapes = self._clip, self._library, self._source_shapes
        if clip is None or library is None or shapes is None:
            raise RuntimeError("the built-in engine needs analyse_clip() before prepare()")
        if speech.sample_rate != SAMPLE_RATE:
            raise OptionsError(f"speech must be {SAMPLE_RATE} Hz, got {speech.sample_rate} Hz")
        loudness = frame_loudness(speech.samples, SAMPLE_RATE, fps, n_frames)
        active = speech_activity(loudness, fps)
        if self._phones is not None and self._phones_of is speech:
            phones = self._phones.result()
        else:
            phones = recognise_phones(speech.samples, SAMPLE_RATE)
        self._close_phones()
        speaker_range = SpeakerRange.measure(shapes)
        targets = speaker_range.to_absolute(viseme_track(phones, loudness, active, fps, n_frames))

        model = self._speaker_model(clip, shapes) if self.use_speaker_model else None
        if model is not None:
            features = frame_spectral_features(speech.samples, SAMPLE_RATE, fps, n_frames)
            targets = blend_speaker_model(targets, model, features)
        targets = close_in_silence(targets, active, float(speaker_range.low[0]))

        schedule = clip.schedule[:n_frames]
        self_shapes = shapes[schedule]
        steps = np.abs(np.diff(schedule, prepend=schedule[:1] - 1))
        path = select_path(
            targets,
            library.shapes,
            library.successor,
            self_shapes,
            steps == 1,
            speaker_range.scale,
            self.costs,
            library_pose=library.poses,
            frame_pose=head_pose(clip.track.landmarks)[schedule],
        )
        self._plans = self._plan_frames(path, targets, self_shapes, library)
        self.analysis = Analysis(
            phones, targets.astype(np.float32), path, None if model is None else model.r2
        )

    def _speaker_model(self, clip: ClipContext, shapes: np.ndarray) -> SpeakerModel | None:
        own = clip.own_speech
        if own is None or own.sample_rate != SAMPLE_RATE:
            return None
        features = frame_spectral_features(own.samples, SAMPLE_RATE, clip.fps, len(shapes))
        # Only frames with speech teach the mapping: silence is handled by the gate anyway.
        loudness = frame_loudness(own.samples, SAMPLE_RATE, clip.fps, len(shapes))
        talking = speech_activity(loudness, clip.fps)
        if talking.mean() < 0.2:  # a silent or music-only track says nothing about the mouth
            return None
        return fit_speaker_model(features, shapes)

    def _plan_frames(
        self,
        path: np.ndarray,
        targets: np.ndarray,
        self_shapes: np.ndarray,
        library: MouthLibrary,
    ) -> list[FramePlan | None]:
        def shape_of(choice: int, t: int) -> np.ndarray:
            return self_shapes[t] if choice == SELF else library.shapes[choice]

        def is_cut(t: int) -> bool:
            """Frame t starts a new stretch: not the natural continuation of frame t-1."""
            prev, cur = int(path[t - 1]), int(path[t])
            if prev == SELF and cur == SELF:
                return False
            return not (prev >= 0 and cur >= 0 and library.successor[prev] == cur)

        plans: list[FramePlan | None] = []
        n = len(path)
        for t in range(n):
            if not np.isfinite(self_shapes[t]).all():
                plans.append(None)
                continue
            choices: list[tuple[int, float]] = [(int(path[t]), 1.0)]
            # Cross-fade across a cut: frame t-1 leans towards the new mouth, frame t keeps
            # some of the old one, so the change spreads over two frames instead of one.
            if t + 1 < n and is_cut(t + 1) and np.isfinite(self_shapes[t + 1]).all():
                choices = [
                    (int(path[t]), 1 - CROSSFADE_WEIGHT),
                    (int(path[t + 1]), CROSSFADE_WEIGHT),
                ]
            elif t > 0 and is_cut(t) and np.isfinite(self_shapes[t - 1]).all():
                choices = [
                    (int(path[t]), 1 - CROSSFADE_WEIGHT),
                    (int(path[t - 1]), CROSSFADE_WEIGHT),
                ]
            shown_open = sum(w * float(shape_of(c, t)[0]) for c, w in choices)
            extra = float(targets[t, 0]) - shown_open
            plans.append(FramePlan(tuple(choices), extra if extra >= MIN_EXTRA_OPEN else 0.0))
        return plans

    # --- second pass ---------------------------------------------------------------------

    def generate(self, batch: Sequence[EngineInput]) -> list[np.ndarray | None]:
        if self._library is None or not self._plans:
            raise RuntimeError("the built-in engine needs prepare() before generate()")
        return [self._render_one(item) for item in batch]

    def edit_pictures(self, batch: Sequence[PictureInput]) -> list[bool]:
        if self._library is None or not self._plans:
            raise RuntimeError("the built-in engine needs prepare() before edit_pictures()")
        return [self._edit_one(item) for item in batch]

    def _plan_at(self, index: int, landmarks: np.ndarray | None) -> FramePlan | None:
        """The frame's plan; None where it has no face."""
        plan = self._plans[index] if index < len(self._plans) else None
        return None if landmarks is None else plan

    @staticmethod
    def _keeps_own_mouth(plan: FramePlan) -> bool:
        return plan.choices == ((SELF, 1.0),) and plan.extra_open == 0.0

    def _samples(
        self, plan: FramePlan, frame: np.ndarray, landmarks: np.ndarray
    ) -> list[tuple[MouthSample, float]]:
        library = self._library
        assert library is not None
        own: MouthSample | None = None
        samples: list[tuple[MouthSample, float]] = []
        for choice, weight in plan.choices:
            if choice == SELF:
                own = own or cut_sample(frame, landmarks)
                samples.append((own, weight))
            else:
                samples.append((library.samples[choice], weight))
        return samples

    def _render_one(self, item: EngineInput) -> np.ndarray | None:
        plan = self._plan_at(item.index, item.landmarks)
        if plan is None or item.landmarks is None:
            return None
        if self._keeps_own_mouth(plan):
            return item.frame  # this frame's own mouth is already the right one
        samples = self._samples(plan, item.frame, item.landmarks)
        return self.renderer.render(item.frame, item.landmarks, samples, plan.extra_open)

    def preload(self, item: PictureInput) -> PictureInput:
        plan = self._plan_at(item.index, item.landmarks)
        if plan is None or item.landmarks is None or self._keeps_own_mouth(plan):
            return item
        size = (item.picture.width, item.picture.height)
        region = self._region(plan, item.landmarks, size)
        canvas = self._take_canvas(size)
        x1, y1, x2, y2 = region
        item.picture.rgb(region, out=canvas[y1:y2, x1:x2])
        return dataclasses.replace(item, rgb=(region, canvas))

    def _region(self, plan: FramePlan, landmarks: np.ndarray, size: tuple[int, int]) -> Box:
        """The part of the frame that rendering ``plan`` reads: even edges (whole chroma
        samples)."""
        region = self.renderer.region(landmarks, size)
        own = sample_box(landmarks, size) if any(c == SELF for c, _ in plan.choices) else None
        if own is not None:  # the frame's own mouth is cut from the canvas too
            region = _union(region, own)
        return even_box(region, *size)

    def _edit_one(self, item: PictureInput) -> bool:
        plan = self._plan_at(item.index, item.landmarks)
        if plan is None or item.landmarks is None:
            return False
        if self._keeps_own_mouth(plan):
            return True
        picture, landmarks = item.picture, item.landmarks
        size = (picture.width, picture.height)
        if item.rgb is not None:
            region, canvas = item.rgb
        else:
            region, canvas = self._region(plan, landmarks, size), self._take_canvas(size)
            x1, y1, x2, y2 = region
            picture.rgb(region, out=canvas[y1:y2, x1:x2])
        try:
            box = self._render_on(canvas, landmarks, plan)
            if box is not None and not _reads_within(box, region, size):
                # The mouth moved unusually far and reached beyond the region: the whole frame.
                picture.rgb((0, 0, *size), out=canvas)
                box = self._render_on(canvas, landmarks, plan)
            if box is not None:
                x1, y1, x2, y2 = changed = even_box(box, *size)
                picture.paste_rgb(changed, canvas[y1:y2, x1:x2])
        finally:
            self._canvases.append(canvas)
        return True

    def _take_canvas(self, size: tuple[int, int]) -> np.ndarray:
        """A frame-sized uint8 RGB canvas of which the caller fills only the region around the
        mouth: the renderer reads and draws there alone (checked by ``_edit_one``), in frame
        coordinates. Canvases are reused, so only that region's pages are ever touched, and
        the region is converted straight into it."""
        while self._canvases:
            try:
                canvas = self._canvases.pop()
            except IndexError:  # another thread took the last one
                break
            if canvas.shape[:2] == (size[1], size[0]):
                return canvas
        return np.empty((size[1], size[0], 3), np.uint8)

    def _render_on(self, canvas: np.ndarray, landmarks: np.ndarray, plan: FramePlan) -> Box | None:
        """Render the frame's mouth on ``canvas`` in place; the box it changed, or None."""
        samples = self._samples(plan, canvas, landmarks)
        return self.renderer.render_layers(
            canvas, landmarks, samples, plan.extra_open, debug=False, in_place=True
        ).box

    def close(self) -> None:
        self._close_phones()
        self._library = None
        self._plans = []
        self._canvases.clear()

    def describe(self) -> str:
        return self.name


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _reads_within(box: Box, region: Box, size: tuple[int, int]) -> bool:
    """Whether rendering into ``box`` read only pixels of ``region``: bilinear sampling
    reaches one pixel beyond the box, except where the frame ends."""
    width, height = size
    return (
        (box[0] - 1 >= region[0] or region[0] == 0)
        and (box[1] - 1 >= region[1] or region[1] == 0)
        and (box[2] + 1 <= region[2] or region[2] == width)
        and (box[3] + 1 <= region[3] or region[3] == height)
    )
