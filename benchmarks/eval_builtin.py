"""Sync figures of the built-in engine on the real talking clips in ../shared/media.

    python benchmarks/eval_builtin.py [--json out.json] [--keep DIR]

Two experiments per talking clip, each measured with the sync meter (``lipsync eval``):

- **cross**: clip A's video re-synced to clip B's speech. Rows: A's video as it is against B's
  speech (mismatched), our output, and B's genuine footage with its own speech.
- **self** (self-reenactment): A's video played backwards (its sound reversed too, so the
  speaker model still learns from consistent pairs) re-synced to A's own forward speech; the
  truth is A itself. Rows: the reversed input, our output, and A (genuine).

Prints a Markdown table (for the README) and the averages the acceptance asks about.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MEDIA = REPO.parent / "shared" / "media"
TALKING = (
    "sadtalker_WDA_KatieHill_000.mp4",
    "retalking_face1_man_interview_en.mp4",
    "retalking_face4_woman_ecb_en.mp4",
    "liveportrait_d20_youngman_zh.mp4",
    "latentsync_demo3_video_youngman_seated_en.mp4",
)


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def reversed_clip(source: Path, workdir: Path) -> Path:
    """``source`` played backwards, picture and sound, at its constant frame rate."""
    from lipsync.media.audio import ArrayAudio, load_speech
    from lipsync.media.video import open_video
    from lipsync.media.writer import VideoWriter

    video = open_video(source)
    frames = list(video.frames())
    speech = load_speech(source)[::-1].copy()
    out = workdir / f"reversed_{source.stem}.mp4"
    with VideoWriter(
        out, video.fps, video.width, video.height, audio=ArrayAudio(speech, 16000)
    ) as writer:
        for frame in reversed(frames):
            writer.write(frame)
    return out


def speech_of(source: Path, workdir: Path) -> Path:
    from lipsync.media.audio import load_speech

    return write_wav(workdir / f"speech_{source.stem}.wav", load_speech(source))


def figures(video: Path, audio: Path | None = None, truth: Path | None = None) -> dict[str, Any]:
    from lipsync.eval.meter import measure_sync

    report = measure_sync(video, audio=audio, truth=truth).to_dict()
    truth_part = report.get("against_truth") or {}
    return {
        "correlation": report["sync"]["correlation"],
        "correlation_at_zero": report["sync"]["correlation_at_zero"],
        "lag_frames": report["sync"]["lag_frames"],
        "silence_ratio": report["silence"]["ratio"],
        "truth_correlation": truth_part.get("opening_correlation"),
        "lmd_percent": truth_part.get("lmd_percent"),
    }


def run_sync(video: Path, speech: Path, output: Path) -> tuple[Path, float]:
    from lipsync.options import SyncOptions
    from lipsync.pipeline import sync

    start = time.perf_counter()
    sync(video, speech, output, SyncOptions(engine="builtin"))
    return output, time.perf_counter() - start


def row(case: str, kind: str, report: dict[str, Any]) -> dict[str, Any]:
    return {"case": case, "row": kind, **report}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write every report here")
    parser.add_argument("--keep", type=Path, help="keep inputs and outputs in this folder")
    parser.add_argument("--clips", nargs="*", default=list(TALKING))
    args = parser.parse_args()
    clips = [MEDIA / name for name in args.clips if (MEDIA / name).exists()]
    if len(clips) < 2:
        print(f"needs at least two talking clips in {MEDIA}", file=sys.stderr)
        return 1

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="lipsync-eval-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for i, clip in enumerate(clips):
        other = clips[(i + 1) % len(clips)]
        speech = speech_of(other, workdir)
        case = f"cross: {clip.stem[:22]} ← speech of {other.stem[:22]}"
        output, seconds = run_sync(clip, speech, workdir / f"cross_{clip.stem}.mp4")
        rows.append(row(case, "input (mismatched)", figures(clip, audio=speech)))
        rows.append(row(case, "ours", figures(output)) | {"seconds": seconds})
        rows.append(row(case, "genuine", figures(other)))
        print(f"{case}: done in {seconds:.1f} s", file=sys.stderr)

        backwards = reversed_clip(clip, workdir)
        own = speech_of(clip, workdir)
        case = f"self: {clip.stem[:22]}"
        output, seconds = run_sync(backwards, own, workdir / f"self_{clip.stem}.mp4")
        rows.append(row(case, "input (mismatched)", figures(backwards, audio=own, truth=clip)))
        rows.append(row(case, "ours", figures(output, truth=clip)) | {"seconds": seconds})
        rows.append(row(case, "genuine", figures(clip, truth=clip)))
        print(f"{case}: done in {seconds:.1f} s", file=sys.stderr)

    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=float))
    return 0


def fmt(value: Any, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        "| case | video | corr. | lag (frames) | silence/speech opening | corr. with truth | LMD (% IOD) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['row']} | {fmt(r.get('correlation'))} | {fmt(r.get('lag_frames'), 'd')} "
            f"| {fmt(r.get('silence_ratio'))} | {fmt(r.get('truth_correlation'))} | {fmt(r.get('lmd_percent'), '.1f')} |"
        )
    for kind in ("input (mismatched)", "ours", "genuine"):
        for prefix in ("cross", "self"):
            picked = [r for r in rows if r["row"] == kind and r["case"].startswith(prefix)]
            corr = [r["correlation"] for r in picked if r.get("correlation") is not None]
            lmd = [r["lmd_percent"] for r in picked if r.get("lmd_percent") is not None]
            print(
                f"{prefix:5s} {kind:20s} mean corr {fmt(float(np.mean(corr)) if corr else None)}"
                f"  mean LMD {fmt(float(np.mean(lmd)) if lmd else None, '.1f')}"
            )


if __name__ == "__main__":
    sys.exit(main())
