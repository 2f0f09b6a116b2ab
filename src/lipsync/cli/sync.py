"""``lipsync sync VIDEO AUDIO -o OUT``: the library's ``sync`` with progress bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..options import Limits, SyncOptions
from .options import build_dataclass, dataclass_options
from .progress import ProgressBars

_path = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("sync")
@click.argument("video", type=_path)
@click.argument("audio", type=_path, required=False)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output video (.mp4, .mov or .mkv).",
)
@dataclass_options(SyncOptions)
@dataclass_options(Limits)
@click.option(
    "--keep-intermediates",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write each stage's product into this folder: the low-quality synced video, "
    "its frames and the enhanced frames (PNG), and the audio (WAV).",
)
@click.option(
    "--debug-mask",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a video of the output with the replaced pixels tinted.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def sync_command(
    video: Path,
    audio: Path | None,
    output: Path,
    keep_intermediates: Path | None,
    debug_mask: Path | None,
    quiet: bool,
    **values: Any,
) -> None:
    """Lip-sync VIDEO (a video or a still photo) to the speech in AUDIO.

    AUDIO may be any audio file or a video whose sound track is the speech; without it the
    video's own audio track is used.
    """
    from ..pipeline import SideOutputs, sync

    options = build_dataclass(SyncOptions, values)
    limits = build_dataclass(Limits, values)
    side = SideOutputs(keep_intermediates, debug_mask)
    with ProgressBars(quiet) as bars:
        result = sync(
            video,
            audio or video,
            output,
            options,
            progress=bars,
            limits=limits,
            side_outputs=side,
        )
    without_face = result.frames - result.frames_with_face
    chosen = " (chosen by auto)" if options.engine == "auto" else ""
    click.echo(
        f"wrote {result.output} ({result.frames} frames, {result.duration_s:.2f} s at "
        f"{result.fps:g} fps, engine {result.engine}{chosen}"
        + (f", enhancer {options.enhancer}" if options.enhancer != "none" else "")
        + (f", {without_face} frames without a face left unchanged" if without_face else "")
        + ")"
    )
