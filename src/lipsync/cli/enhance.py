"""``lipsync enhance VIDEO -o OUT``: the enhancement half on its own, with progress bars."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..options import Limits, SyncOptions
from .options import _click_option, build_dataclass, dataclass_options
from .progress import ProgressBars

F = Callable[..., Any]
_path = click.Path(exists=True, dir_okay=False, path_type=Path)

# The SyncOptions fields that shape enhancement; the rest only matter when syncing.
ENHANCE_FIELDS = (
    "enhance_region",
    "enhance_mask",
    "enhance_fidelity",
    "temporal_smoothing",
    "blend",
    "face",
    "device",
    "batch_size",
    "encoder_preset",
    "lossless",
)
# ``lipsync enhance`` exists to enhance, so its enhancer is not "none" by default.
DEFAULT_ENHANCER = "realesrgan"

_AUDIO_NOTES = {
    "copied": "audio copied bit-exact",
    "lossless": "audio stored losslessly (decoded samples unchanged)",
    "none": "no audio",
}


def _sync_option_subset(names: tuple[str, ...]) -> Callable[[F], F]:
    """Click options for the SyncOptions fields ``names``, spelled and explained as
    everywhere else (see ``cli.options``)."""
    hints = typing.get_type_hints(SyncOptions)
    by_name = {f.name: f for f in dataclasses.fields(SyncOptions)}

    def decorate(func: F) -> F:
        for name in reversed(names):
            func = _click_option(by_name[name], hints)(func)
        return func

    return decorate


def _field_help(name: str) -> str:
    return next(
        str(f.metadata.get("help", "")) for f in dataclasses.fields(SyncOptions) if f.name == name
    )


@click.command("enhance")
@click.argument("video", type=_path)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output video (.mp4, .mov or .mkv).",
)
@click.option(
    "--enhancer", default=DEFAULT_ENHANCER, show_default=True, help=_field_help("enhancer")
)
@_sync_option_subset(ENHANCE_FIELDS)
@click.option(
    "--keep-intermediates",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write the input's frames, the enhanced frames, a copy of the video and its "
    "audio into this folder.",
)
@click.option(
    "--debug-mask",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a video with the replaced pixels tinted (.mp4, .mov or .mkv).",
)
@dataclass_options(Limits)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def enhance_command(
    video: Path,
    output: Path,
    keep_intermediates: Path | None,
    debug_mask: Path | None,
    quiet: bool,
    **values: Any,
) -> None:
    """Enhance the face in an existing VIDEO (Real-ESRGAN, GFPGAN or CodeFormer).

    Only the picture is re-encoded: the sound is copied bit-exact, and the frame rate and
    frame count stay those of VIDEO.
    """
    from ..enhance.video import enhance_video

    options = build_dataclass(SyncOptions, values)
    limits = build_dataclass(Limits, values)
    with ProgressBars(quiet) as bars:
        result = enhance_video(
            video,
            output,
            options,
            progress=bars,
            limits=limits,
            intermediates=keep_intermediates,
            debug_mask=debug_mask,
        )
    rate_note = ", made constant-rate" if result.variable_frame_rate else ""
    click.echo(
        f"wrote {result.output} ({result.frames} frames at {result.fps:g} fps{rate_note}, "
        f"enhancer {result.enhancer}, {result.frames_enhanced} frames enhanced, "
        f"{_AUDIO_NOTES[result.audio]})"
    )
