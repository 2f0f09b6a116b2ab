"""The enhancement stage: cut a region of each frame, enhance it, and paste it back unseen.

Per batch of frames: the region (mouth, face or the whole frame) is cut around the tracked
face, all crops go through the enhancer in one call, and each enhanced crop is then
colour-matched to the crop it replaces, steadied over time against flicker, and pasted
back through a soft mask, so pixels outside the mask keep their values exactly.

The stage holds one face's history (the temporal smoother), so frames must arrive in order
and belong to one track; ``EnhanceItem.continuous`` says where that track breaks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from ..compose.colour import match_colour
from ..compose.regions import mouth_interior_mask, paste_region, region_box, region_mask
from ..compose.temporal import STABLE_ANCHORS, TemporalSmoother
from ..errors import InputError, OptionsError, UnknownModelError
from ..options import BlendMode, EnhanceMask, EnhanceRegion, SyncOptions
from .base import Enhancer
from .registry import choose_enhancer

if TYPE_CHECKING:
    from ..models.store import ModelStore

Region = Literal["mouth", "face", "frame"]
Box = tuple[int, int, int, int]
PARSING_MODEL = "face_parsing"
# A parsing mask is hard-edged at the crop's border where the face fills it; it fades to
# zero over this share of the crop's shorter side, like the FaceMesh masks do.
_PARSING_BORDER_FADE = 0.06


class FaceMaskParser(Protocol):
    """What the stage needs from a face parser (``enhance.parsing.FaceParser``)."""

    def parse(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]: ...

    def keep_mask(
        self, labels: np.ndarray, kind: Literal["mouth", "face"] = "mouth"
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class EnhanceItem:
    """One frame for the stage.

    ``frame``: uint8 RGB (H, W, 3). ``landmarks``: FaceMesh float32 (468, 3) in frame
    pixels, or None where no face is tracked. ``regenerated``: the region a sync engine
    replaced in this frame (what ``enhance_region=auto`` enhances), None when it replaced
    nothing. ``continuous``: False where the face track breaks (a scene cut, another face),
    so the temporal history is dropped.
    """

    frame: np.ndarray
    landmarks: np.ndarray | None
    regenerated: Literal["mouth", "face"] | None = "mouth"
    continuous: bool = True


@dataclass(frozen=True)
class EnhancedFrame:
    """A frame after the stage: ``frame`` uint8 RGB (H, W, 3) (the input array itself when
    nothing was enhanced); ``box`` (x1, y1, x2, y2) frame pixels of the region pasted, and
    ``mask`` float32 (y2 - y1, x2 - x1) in [0, 1], the weight each of its pixels got; both
    None when the frame passed through unchanged."""

    frame: np.ndarray
    box: Box | None
    mask: np.ndarray | None


@dataclass
class _Cut:
    """What the stage cut from one frame: the composite region, the (possibly larger) box
    the enhancer sees, the un-enhanced crop, and the landmarks in frame and crop pixels."""

    region: Region
    box: Box
    crop: np.ndarray
    landmarks: np.ndarray | None
    crop_landmarks: np.ndarray | None
    parsed: bool


class EnhanceStage:
    """Enhances the chosen region of frames with an Enhancer and composites it back.

    ``region``: ``auto`` (each item's ``regenerated`` region), ``mouth``, ``face`` or
    ``frame``. ``blend``: ``feather`` (soft mask), ``box`` (the whole region) or ``poisson``.
    ``mask``: ``auto`` (``parser`` when given and the crop is a face, else FaceMesh),
    ``facemesh`` or ``parsing`` (needs ``parser``; a mouth region is then cut as the whole
    face, which the parser needs to see, and masked down to the mouth).
    ``temporal_smoothing``: 0 … 1, the history's weight in the aligned moving average.
    The stage owns ``enhancer`` and ``parser``: ``close`` releases both.
    """

    def __init__(
        self,
        enhancer: Enhancer,
        *,
        region: EnhanceRegion = "auto",
        blend: BlendMode = "feather",
        mask: EnhanceMask = "auto",
        parser: FaceMaskParser | None = None,
        temporal_smoothing: float = 0.5,
    ) -> None:
        if region not in ("auto", "mouth", "face", "frame"):
            raise OptionsError(f"region must be auto, mouth, face or frame, got {region!r}")
        if blend not in ("feather", "box", "poisson"):
            raise OptionsError(f"blend must be feather, box or poisson, got {blend!r}")
        if mask not in ("auto", "facemesh", "parsing"):
            raise OptionsError(f"mask must be auto, facemesh or parsing, got {mask!r}")
        if mask == "parsing" and parser is None:
            raise OptionsError("mask 'parsing' needs a face parser (the face_parsing model)")
        self.enhancer = enhancer
        self.region: EnhanceRegion = region
        self.blend: BlendMode = blend
        self.mask_mode: EnhanceMask = mask
        self.parser = parser
        self.smoother = TemporalSmoother(temporal_smoothing)
        self._last_region: Region | None = None

    def describe(self) -> str:
        return self.enhancer.describe()

    def close(self) -> None:
        """Release the enhancer's and the parser's models."""
        self.enhancer.close()
        close_parser = getattr(self.parser, "close", None)
        if close_parser is not None:
            close_parser()

    # --- per batch ------------------------------------------------------------------------

    def process(self, items: Sequence[EnhanceItem]) -> list[EnhancedFrame]:
        """Enhance a batch of consecutive frames; returns one EnhancedFrame per item, in order.

        Frames without a face (and, under ``auto``, frames where nothing was regenerated)
        pass through unchanged, as the same array, with box and mask None.
        """
        cuts = [self._cut(item) for item in items]
        todo = [cut for cut in cuts if cut is not None]
        enhanced = self._enhance(todo)
        masks = self._masks(todo, enhanced)
        results: list[EnhancedFrame] = []
        done = iter(zip(enhanced, masks, strict=True))
        for item, cut in zip(items, cuts, strict=True):
            if cut is None:
                self._restart()
                results.append(EnhancedFrame(item.frame, None, None))
                continue
            crop, mask = next(done)
            if not item.continuous or cut.region != self._last_region:
                self.smoother.reset()
            self._last_region = cut.region
            crop = match_colour(crop, cut.crop, mask)
            crop = self._steady(crop, cut)
            frame = paste_region(item.frame, crop, cut.box, mask, self.blend)
            results.append(EnhancedFrame(frame, cut.box, mask))
        return results

    def _restart(self) -> None:
        self.smoother.reset()
        self._last_region = None

    def _resolve_region(self, item: EnhanceItem) -> Region | None:
        if self.region == "auto":
            return item.regenerated
        return self.region

    def _cut(self, item: EnhanceItem) -> _Cut | None:
        """The crop to enhance for ``item``, or None when it passes through."""
        region = self._resolve_region(item)
        landmarks = _usable_landmarks(item.landmarks)
        if region is None:
            return None
        if landmarks is None and (region != "frame" or self.enhancer.needs_face):
            return None
        height, width = item.frame.shape[:2]
        if landmarks is None:
            box: Box = (0, 0, width, height)
        else:
            try:
                box = region_box(landmarks, self._cut_region(region), (width, height))
            except InputError:
                return None  # the face has (almost) left the frame: nothing to enhance
        x1, y1, x2, y2 = box
        crop_landmarks = None
        if landmarks is not None:
            crop_landmarks = landmarks - np.array([x1, y1, 0], dtype=np.float32)
        return _Cut(
            region=region,
            box=box,
            crop=np.ascontiguousarray(item.frame[y1:y2, x1:x2]),
            landmarks=landmarks,
            crop_landmarks=crop_landmarks,
            parsed=self._uses_parsing(region, self._cut_region(region)),
        )

    def _cut_region(self, region: Region) -> Region:
        """Face restorers align on the whole face, and the parser segments whole faces, so
        a mouth region is cut as the face for them and masked down to the mouth later."""
        if region == "mouth" and (self.enhancer.needs_face or self.mask_mode == "parsing"):
            return "face"
        return region

    def _uses_parsing(self, region: Region, cut_region: Region) -> bool:
        if self.parser is None or region == "frame" or self.blend == "box":
            return False
        if self.mask_mode == "parsing":
            return True
        return self.mask_mode == "auto" and cut_region == "face"

    def _enhance(self, todo: Sequence[_Cut]) -> list[np.ndarray]:
        if not todo:
            return []
        crops = [cut.crop for cut in todo]
        enhanced = self.enhancer.enhance(crops, [cut.crop_landmarks for cut in todo])
        if len(enhanced) != len(crops):
            raise RuntimeError(
                f"enhancer {self.enhancer.describe()} returned {len(enhanced)} crops "
                f"for {len(crops)}"
            )
        for before, after in zip(crops, enhanced, strict=True):
            if after.shape != before.shape or after.dtype != np.uint8:
                raise RuntimeError(
                    f"enhancer {self.enhancer.describe()} returned a {after.dtype} "
                    f"{after.shape} crop for a uint8 {before.shape} one"
                )
        return list(enhanced)

    def _masks(self, todo: Sequence[_Cut], enhanced: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The paste weight of every crop, float32 (h, w) in [0, 1]."""
        parsed = [i for i, cut in enumerate(todo) if cut.parsed]
        labels: dict[int, np.ndarray] = {}
        if parsed and self.parser is not None:
            # The enhanced face is parsed: its edges are sharper than the input's.
            found = self.parser.parse([enhanced[i] for i in parsed])
            labels = dict(zip(parsed, found, strict=True))
        masks = []
        for i, cut in enumerate(todo):
            h, w = cut.crop.shape[:2]
            if self.blend == "box" or cut.region == "frame":
                mask = np.ones((h, w), np.float32)
            elif i in labels and self.parser is not None:
                kind: Literal["mouth", "face"] = "face" if cut.region == "face" else "mouth"
                keep = self.parser.keep_mask(labels[i], kind=kind)
                mask = _fade_to_border(np.asarray(keep, np.float32))
            else:
                mask = region_mask(cut.box, cut.landmarks, cut.region)
            masks.append(mask)
        return masks

    def _steady(self, crop: np.ndarray, cut: _Cut) -> np.ndarray:
        if self.smoother.strength == 0.0:
            return crop
        if cut.crop_landmarks is None:
            self.smoother.reset()
            return crop
        anchors = cut.crop_landmarks[list(STABLE_ANCHORS), :2]
        mouth = mouth_interior_mask(cut.box, cut.landmarks)
        return self.smoother.smooth(crop, anchors, mouth)


def _usable_landmarks(landmarks: np.ndarray | None) -> np.ndarray | None:
    if landmarks is None:
        return None
    points = np.asarray(landmarks, dtype=np.float32)
    if points.ndim != 2 or points.shape[0] != 468 or not np.isfinite(points[:, :2]).all():
        return None
    if points.shape[1] == 2:
        points = np.concatenate([points, np.zeros((468, 1), np.float32)], axis=1)
    return points


def _fade_to_border(mask: np.ndarray) -> np.ndarray:
    """``mask`` (h, w) clipped to [0, 1] and faded to 0 at the crop's border."""
    h, w = mask.shape
    margin = max(2.0, _PARSING_BORDER_FADE * min(h, w))
    ramp_x = np.clip(np.minimum(np.arange(w), np.arange(w)[::-1]) / margin, 0.0, 1.0)
    ramp_y = np.clip(np.minimum(np.arange(h), np.arange(h)[::-1]) / margin, 0.0, 1.0)
    faded = np.clip(np.nan_to_num(mask), 0.0, 1.0) * ramp_y[:, None] * ramp_x[None, :]
    return faded.astype(np.float32)


def _parser_available(store: ModelStore) -> bool:
    try:
        return store.is_installed(PARSING_MODEL)
    except UnknownModelError:
        return False


def build_stage(options: SyncOptions, store: ModelStore) -> EnhanceStage | None:
    """The stage ``options`` ask for, models loaded; None for ``enhancer="none"``.

    Fails fast, before loading anything: OptionsError for an unknown enhancer,
    ModelNotInstalledError when its weights are missing, or when ``enhance_mask="parsing"``
    and the ``face_parsing`` model is not installed. ``enhance_mask="auto"`` uses the parser
    when it is installed.
    """
    from .registry import create_enhancer

    if choose_enhancer(options.enhancer, store) is None:
        return None
    parser_path = None
    if options.enhance_region != "frame" and options.blend != "box":
        if options.enhance_mask == "parsing":
            parser_path = store.path(PARSING_MODEL)  # raises with the install command
        elif options.enhance_mask == "auto" and _parser_available(store):
            parser_path = store.path(PARSING_MODEL)
    enhancer = create_enhancer(options, store)
    assert enhancer is not None
    try:
        parser = None
        if parser_path is not None:
            from .parsing import FaceParser

            parser = FaceParser(parser_path, device=options.device)
        mask: EnhanceMask = options.enhance_mask
        if parser is None and mask == "parsing":
            mask = "facemesh"  # region frame or blend box: no mask to parse
        return EnhanceStage(
            enhancer,
            region=options.enhance_region,
            blend=options.blend,
            mask=mask,
            parser=parser,
            temporal_smoothing=options.temporal_smoothing,
        )
    except BaseException:
        enhancer.close()
        raise
