"""End-to-end speed and peak memory of the built-in engine on a 720p 30 fps talking clip.

    python benchmarks/bench_builtin.py [--seconds 20] [--json out.json]

The clip is the seated speaker from ../shared/media cropped and scaled to 1280×720 (or a
generated face when that folder is absent). Two runs, each in a fresh process so that peak
RSS is the run's own: re-synced to its own speech, and to a different voice (generated). The
real-time factor is wall time divided by the output's duration; below 0.5 means more than
twice as fast as real time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pipeline import prepare_720p_clip


def run_child(video: str, audio: str, out: str) -> dict[str, object]:
    from lipsync.options import SyncOptions
    from lipsync.pipeline import sync

    start = time.perf_counter()
    result = sync(video, audio, out, SyncOptions(engine="builtin"))
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "duration_s": result.duration_s,
        "frames": result.frames,
        "rtf": wall / result.duration_s,
        "fps": result.frames / wall,
        "timings": result.timings,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(video: Path, audio: Path, out: Path) -> dict[str, object]:
    command = [sys.executable, __file__, "--_child", str(video), str(audio), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        print(json.dumps(run_child(*args._child)))
        return

    from lipsync import samples

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clip, description = prepare_720p_clip(workdir, args.seconds)
        voice = samples.speech_wav(
            workdir / "voice.wav",
            text="This is a different voice reading a different text, to re-sync the clip. " * 3,
        )
        print(f"clip: {description}")
        figures = {
            "own speech": measure(clip, clip, workdir / "own.mp4"),
            "other speech": measure(clip, voice, workdir / "other.mp4"),
        }
    for name, fig in figures.items():
        timings = fig["timings"]
        assert isinstance(timings, dict)
        stages = ", ".join(
            f"{k} {v:.1f} s" for k, v in sorted(timings.items(), key=lambda kv: -kv[1])
        )
        print(
            f"{name:13s} {fig['frames']} frames, {fig['duration_s']:.1f} s of output in "
            f"{fig['wall_s']:.1f} s: {fig['fps']:.0f} frames/s, real-time factor {fig['rtf']:.2f} "
            f"({1 / float(fig['rtf']):.1f}× real time), peak RSS {fig['peak_rss_mb']:.0f} MB"
        )
        print(f"{'':13s} {stages}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
