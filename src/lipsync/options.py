"""The one spelling of every option.

CLI flags, API fields and (later) the page's form are all derived from these dataclass
fields: ``face_batch_size`` is ``--face-batch-size`` is ``face_batch_size``. Each field's
``metadata["help"]`` is the one-line explanation shown everywhere.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from .errors import OptionsError

# libx264's speed presets, fastest first.
X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)

LoopMode = Literal["pingpong", "forward"]
BlendMode = Literal["feather", "box", "poisson"]
EnhanceRegion = Literal["auto", "mouth", "face", "frame"]
EnhanceMask = Literal["auto", "facemesh", "parsing"]


def _opt(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class Limits:
    """Caps applied to untrusted media before anything heavy is done with it."""

    max_file_bytes: int = _opt(4 * 1024**3, "Largest input file accepted, in bytes.")
    max_width: int = _opt(8192, "Widest video or image accepted, in pixels.")
    max_height: int = _opt(8192, "Tallest video or image accepted, in pixels.")
    max_pixels: int = _opt(8192 * 4320, "Most pixels per frame accepted (width × height).")
    max_duration_s: float = _opt(3 * 3600.0, "Longest input accepted, in seconds.")
    max_streams: int = _opt(16, "Most streams a container may hold.")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if getattr(self, f.name) <= 0:
                raise OptionsError(f"limit {f.name} must be positive, got {getattr(self, f.name)}")


@dataclass(frozen=True)
class SyncOptions:
    """Everything that shapes one lip-sync run. Immutable; validated on creation."""

    engine: str = _opt(
        "auto",
        "Sync engine: auto (best installed), wav2lip, wav2lip_gan, or another registered engine.",
    )
    device: str = _opt(
        "auto", "Compute device: auto (CUDA when present, else CPU), cpu, cuda, cuda:N."
    )
    fps: float | None = _opt(
        None, "Output frame rate; default: the video's nominal rate (25 for a still image)."
    )
    face: str = _opt(
        "largest", "Which face to sync: largest, an index (0 = leftmost), or a point x,y on it."
    )
    box: tuple[int, int, int, int] | None = _opt(
        None, "Fixed face box x1,y1,x2,y2 in pixels of the (rotated) frame; skips detection."
    )
    pads: tuple[int, int, int, int] = _opt(
        (0, 10, 0, 0), "Extra pixels around the detected face: top bottom left right."
    )
    smooth: bool = _opt(
        True, "Smooth the face box over neighbouring frames (no lag, no double mouth)."
    )
    loop: LoopMode = _opt(
        "pingpong", "When the audio is longer than the video: pingpong (back and forth) or forward."
    )
    pad_audio: bool = _opt(
        False,
        "When the video is longer than the audio: keep the whole video and pad the speech with silence.",
    )
    blend: BlendMode = _opt(
        "feather",
        "How new pixels are pasted: feather (soft FaceMesh mask), box (the whole crop), or "
        "poisson (seamless cloning: no colour seam, slower).",
    )
    enhancer: str = _opt(
        "none",
        "Enhance the regenerated region: none, realesrgan (Real-ESRGAN x4plus), realesrgan_fast "
        "(realesr-animevideov3), gfpgan, codeformer (user-supplied weights).",
    )
    enhance_region: EnhanceRegion = _opt(
        "auto",
        "What the enhancer improves: auto (the region the engine regenerated), mouth, face or "
        "frame.",
    )
    enhance_mask: EnhanceMask = _opt(
        "auto",
        "Which pixels an enhanced face keeps: auto (face-parsing when installed, else FaceMesh), "
        "facemesh (lips and jaw) or parsing (skin, lips and mouth from BiSeNet).",
    )
    enhance_fidelity: float = _opt(
        0.7,
        "0 … 1: how close face restoration stays to the input (CodeFormer's w; GFPGAN's mix "
        "with the input). Lower is sharper but less like the person.",
    )
    temporal_smoothing: float = _opt(
        0.5,
        "0 … 1: how strongly enhanced pixels are averaged over time (aligned by landmarks) "
        "against flicker; 0 turns it off.",
    )
    batch_size: int = _opt(16, "Frames per generator batch (larger is faster, uses more memory).")
    lossless: bool = _opt(
        False, "Write RGB-exact video (libx264rgb in MP4/MOV/MKV, FFV1 in MKV) for inspection."
    )
    still_duration_s: float | None = _opt(
        None, "For a still image: output length in seconds (default: the speech's length)."
    )
    encoder_preset: str = _opt(
        "ultrafast",
        "x264 speed preset of the output, ultrafast … veryslow: slower presets write smaller "
        "files at the same quality.",
    )

    def __post_init__(self) -> None:
        if self.fps is not None and not (1.0 <= self.fps <= 120.0):
            raise OptionsError(f"fps must be between 1 and 120, got {self.fps}")
        if self.batch_size < 1 or self.batch_size > 1024:
            raise OptionsError(f"batch_size must be between 1 and 1024, got {self.batch_size}")
        if self.loop not in ("pingpong", "forward"):
            raise OptionsError(f"loop must be pingpong or forward, got {self.loop!r}")
        if self.encoder_preset not in X264_PRESETS:
            raise OptionsError(
                f"encoder_preset must be one of {', '.join(X264_PRESETS)}; got {self.encoder_preset!r}"
            )
        if self.blend not in ("feather", "box", "poisson"):
            raise OptionsError(f"blend must be feather, box or poisson, got {self.blend!r}")
        if self.enhance_region not in ("auto", "mouth", "face", "frame"):
            raise OptionsError(
                f"enhance_region must be auto, mouth, face or frame, got {self.enhance_region!r}"
            )
        if self.enhance_mask not in ("auto", "facemesh", "parsing"):
            raise OptionsError(
                f"enhance_mask must be auto, facemesh or parsing, got {self.enhance_mask!r}"
            )
        for name in ("enhance_fidelity", "temporal_smoothing"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise OptionsError(f"{name} must be between 0 and 1, got {value}")
        if len(self.pads) != 4 or any(p < -2048 or p > 2048 for p in self.pads):
            raise OptionsError(
                f"pads must be four integers (top bottom left right), got {self.pads}"
            )
        if self.box is not None:
            if len(self.box) != 4:
                raise OptionsError(f"box must be x1,y1,x2,y2, got {self.box}")
            x1, y1, x2, y2 = self.box
            if x2 <= x1 or y2 <= y1 or x1 < 0 or y1 < 0:
                raise OptionsError(
                    f"box must satisfy 0 <= x1 < x2 and 0 <= y1 < y2, got {self.box}"
                )
        parse_face_choice(self.face)

    def replace(self, **changes: Any) -> SyncOptions:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class FaceChoice:
    """Parsed ``--face``: exactly one of the three ways to choose."""

    kind: Literal["largest", "index", "point"]
    index: int = 0
    point: tuple[float, float] = (0.0, 0.0)


def parse_face_choice(text: str) -> FaceChoice:
    """Parse ``largest``, ``<index>`` or ``<x>,<y>``; raise OptionsError naming the bad value."""
    spec = text.strip().lower()
    if spec == "largest":
        return FaceChoice("largest")
    if spec.isdigit():
        return FaceChoice("index", index=int(spec))
    parts = spec.split(",")
    if len(parts) == 2:
        try:
            return FaceChoice("point", point=(float(parts[0]), float(parts[1])))
        except ValueError:
            pass
    raise OptionsError(
        f"face must be 'largest', an index like 0, or a point like 320,240; got {text!r}"
    )


def strip_optional(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` → (X, True); any other annotation → (it, False). Shared by the CLI's flags
    and the web form, which both read the options' fields."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False
