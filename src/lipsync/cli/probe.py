"""``lipsync probe FILE``: what Lipsync sees in a file (streams, fps, duration, rotation, faces)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..options import Limits
from .options import build_dataclass, dataclass_options


def _faces_summary(path: Path, limits: Limits, samples: int) -> dict[str, Any]:
    """Detect faces on a few evenly spaced frames (cheap: each read seeks)."""
    from ..faces.blazeface import BlazeFaceDetector
    from ..media.video import open_video

    source = open_video(path, limits=limits)
    detectors = [BlazeFaceDetector("short"), BlazeFaceDetector("full")]
    count = max(1, min(samples, source.frame_count))
    indices = sorted(
        {round(k * (source.frame_count - 1) / max(1, count - 1)) for k in range(count)}
    )
    frames: list[dict[str, Any]] = []
    for index in indices:
        frame = next(iter(source.frames(index, index + 1)), None)
        if frame is None:
            continue
        found = []
        for detector in detectors:
            found = detector.detect(frame)
            if found:
                break
        frames.append(
            {
                "frame": index,
                "time_s": round(index / source.fps, 3),
                "faces": [
                    {"box": [round(v) for v in d.box], "score": round(float(d.score), 3)}
                    for d in sorted(found, key=lambda d: d.box[0])
                ],
            }
        )
    with_faces = [f for f in frames if f["faces"]]
    return {
        "frames_checked": len(frames),
        "frames_with_faces": len(with_faces),
        "max_faces": max((len(f["faces"]) for f in frames), default=0),
        "samples": frames,
    }


@click.command("probe")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--faces/--no-faces", default=True, help="Look for faces on a few frames.")
@click.option("--face-samples", default=8, show_default=True, help="Frames to check for faces.")
@dataclass_options(Limits)
def probe_command(file: Path, as_json: bool, faces: bool, face_samples: int, **values: Any) -> None:
    """Show FILE's format, streams, frame rate, duration, rotation and faces."""
    from ..media.probe import probe

    limits = build_dataclass(Limits, values)
    info = probe(file, limits)
    report: dict[str, Any] = info.to_dict()
    if faces and info.video is not None:
        report["faces"] = _faces_summary(file, limits, face_samples)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
        return
    click.echo(_format_report(report))


def _format_report(report: dict[str, Any]) -> str:
    lines: list[str] = []

    def add(key: str, value: Any, indent: int = 0) -> None:
        if isinstance(value, dict):
            lines.append(" " * indent + f"{key}:")
            for k, v in value.items():
                if k != "samples":
                    add(k, v, indent + 2)
        elif value is not None:
            lines.append(" " * indent + f"{key}: {value}")

    for key, value in report.items():
        add(key, value)
    face_report = report.get("faces")
    if face_report:
        for sample in face_report["samples"]:
            boxes = (
                "; ".join(f"{face['box']} ({face['score']})" for face in sample["faces"]) or "none"
            )
            lines.append(f"    frame {sample['frame']} at {sample['time_s']} s: {boxes}")
    return "\n".join(lines)
