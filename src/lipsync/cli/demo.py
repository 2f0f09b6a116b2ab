"""``lipsync demo``: make a sample face video and speech, then lip-sync them.

Uses the best installed engine. On a fresh machine with no weights installed it runs the
random-weight test network (``wav2lip_unittest``) and says so plainly: that proves the whole
pipeline works, and the message tells how to install real weights.
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
    from ..engines.registry import choose_engine
    from ..errors import ModelNotInstalledError
    from ..models.store import ModelStore
    from ..options import SyncOptions
    from ..pipeline import sync

    store = ModelStore()
    if engine == "auto":
        try:
            engine = choose_engine("auto", store).name
        except ModelNotInstalledError:
            engine = "wav2lip_unittest"
            click.echo(
                "No lip-sync weights are installed, so the demo runs the random-weight test "
                "network (wav2lip_unittest): the pipeline is real, the mouth it paints is noise.\n"
                "For real lip-sync: lipsync models install wav2lip_gan --from PATH_OR_URL",
                err=True,
            )
            if not store.is_installed(engine):
                store.install(engine)
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
