"""``lipsync demo``: make a sample face video and speech, then lip-sync them.

Uses the best installed engine: Wav2Lip when its weights are installed, otherwise the
built-in engine, which needs no downloads. The sample face is a still portrait whose mouth is
closed, so the built-in engine opens it by warping.
"""

from __future__ import annotations

from pathlib import Path

import click

from .progress import ProgressBars

DEMO_TEXT = "Hello! This is Lipsync. The mouth in this video follows the words you are hearing now."


@click.command("demo")
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("lipsync-demo"),
    show_default=True,
    help="Where the sample inputs and the result are written.",
)
@click.option("--engine", default="auto", show_default=True, help="Engine to use.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def demo_command(output_dir: Path, engine: str, quiet: bool) -> None:
    """Generate a sample input and lip-sync it with the best engine available."""
    from .. import samples
    from ..options import SyncOptions
    from ..pipeline import sync

    output_dir.mkdir(parents=True, exist_ok=True)
    speech = samples.speech_wav(output_dir / "speech.wav", text=DEMO_TEXT)
    face = samples.face_video(output_dir / "face.mp4", seconds=3.0)
    result_path = output_dir / "synced.mp4"
    with ProgressBars(quiet) as bars:
        result = sync(face, speech, result_path, SyncOptions(engine=engine), progress=bars)
    click.echo(f"inputs: {face} and {speech}")
    click.echo(
        f"result: {result.output.resolve()} ({result.duration_s:.2f} s, engine {result.engine})"
    )
