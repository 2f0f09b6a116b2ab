"""``lipsync eval VIDEO``: measure how well the mouth follows the speech (the sync meter)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..options import Limits
from .options import build_dataclass, dataclass_options
from .progress import ProgressBars

_path = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("eval")
@click.argument("video", type=_path)
@click.option(
    "--audio",
    type=_path,
    default=None,
    help="The speech to measure against (default: VIDEO's own sound track).",
)
@click.option(
    "--truth",
    type=_path,
    default=None,
    help="The original clip of this person saying this speech: adds lip-opening "
    "correlation and lip landmark distance (LMD).",
)
@click.option(
    "--face",
    default="largest",
    show_default=True,
    help="Which face to measure: largest, an index (0 = leftmost), or a point x,y on it.",
)
@click.option(
    "--max-lag",
    "max_lag_frames",
    type=int,
    default=None,
    help="Lags searched either side of zero, in frames (default: frames in 0.3 s).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@dataclass_options(Limits)
def eval_command(
    video: Path,
    audio: Path | None,
    truth: Path | None,
    face: str,
    max_lag_frames: int | None,
    as_json: bool,
    quiet: bool,
    **values: Any,
) -> None:
    """Measure the lip sync of VIDEO: audio-visual lag and correlation, whether the mouth
    rests in silence and, with --truth, how close the lips are to the original's.

    Positive lags mean the mouth moves after the sound. See docs/eval.md for the meaning
    and typical values of each figure.
    """
    from ..eval.meter import measure_sync

    limits = build_dataclass(Limits, values)
    with ProgressBars(quiet) as bars:
        report = measure_sync(
            video,
            audio,
            truth,
            face=face,
            max_lag_frames=max_lag_frames,
            limits=limits,
            progress=bars,
        )
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(format_report(report.to_dict()))


def _number(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_report(report: dict[str, Any]) -> str:
    """A short human-readable table of a ``SyncReport.to_dict()``."""
    sync, silence, truth = report["sync"], report["silence"], report["against_truth"]
    audio = "its own sound track" if report["audio_from_video"] else Path(report["audio"]).name
    lines = [
        f"video                {Path(report['video']).name}: {report['frames']} frames at "
        f"{report['fps']:g} fps, face in {report['frames_with_face']}",
        f"audio                {audio} ({report['audio_duration_s']:.2f} s)",
        "audio-visual sync",
    ]
    if sync["lag_frames"] is None:
        lines.append(f"  not measured       {sync['reason']}")
    else:
        lag = sync["lag_frames"]
        at_limit = (
            "; at the search limit, try a larger --max-lag"
            if abs(lag) == sync["max_lag_frames"]
            else ""
        )
        lines += [
            f"  best lag           {lag:+d} frames ({sync['lag_s']:+.3f} s; positive = mouth "
            f"after sound{at_limit})",
            f"  correlation        {_number(sync['correlation'])} at best lag, "
            f"{_number(sync['correlation_at_zero'])} at zero (higher is better)",
        ]
    lines.append("silence closure")
    if silence["ratio"] is None:
        lines.append(f"  not measured       {silence['reason']}")
    else:
        lines.append(
            f"  ratio              {silence['ratio']:.2f} (mean opening "
            f"{_number(silence['mean_opening_silent'], 3)} in {silence['silent_frames']} silent "
            f"frames / {_number(silence['mean_opening_speech'], 3)} in "
            f"{silence['speech_frames']} speech frames; lower is better, ~1 ignores the speech)"
        )
    if truth is not None:
        lines.append(
            f"against truth        {Path(report['truth']).name}: "
            f"{truth['frames_compared']} frames compared"
        )
        lines.append(
            f"  opening correlation {_number(truth['opening_correlation'])} (higher is better)"
        )
        lmd = truth["lmd_percent"]
        lines.append(
            "  LMD                "
            + ("n/a" if lmd is None else f"{lmd:.2f} % of inter-ocular distance")
            + " (lower is better)"
        )
        if truth["reason"]:
            lines.append(f"  note               {truth['reason']}")
    lines.append(f"took                 {report['seconds']:.1f} s")
    return "\n".join(lines)
