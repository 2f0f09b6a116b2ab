"""End-to-end speed and peak memory of the built-in engine on a 720p 30 fps talking clip.

    python benchmarks/bench_builtin.py [--seconds 20] [--repeat 5] [--json out.json]

The clip is the seated speaker from ../shared/media cropped and scaled to 1280×720 (or a
generated face when that folder is absent). Two cases, each run ``--repeat`` times in a
fresh process so that peak RSS is the run's own: re-synced to its own speech, and to a
different voice (generated). The real-time factor is wall time divided by the output's
duration; below 0.5 means more than twice as fast as real time. Shared virtual machines vary
by a fifth from run to run, so the median run is reported, with the fastest and slowest.
The run's CPU time (this process and its children: the encoder and the phone recogniser) is
reported too: it moves far less than the wall time when the host is busy, so it shows
whether a change did less work.
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

from bench_pipeline import peak_rss_mb, prepare_720p_clip


def run_child(video: str, audio: str, out: str) -> dict[str, object]:
    from lipsync.options import SyncOptions
    from lipsync.pipeline import sync

    start, cpu_start = time.perf_counter(), _cpu_s()
    result = sync(video, audio, out, SyncOptions(engine="builtin"))
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "cpu_s": _cpu_s() - cpu_start,
        "duration_s": result.duration_s,
        "frames": result.frames,
        "rtf": wall / result.duration_s,
        "fps": result.frames / wall,
        "timings": result.timings,
        "peak_rss_mb": peak_rss_mb(),
    }


def _cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def compile_package() -> None:
    """Byte-compile lipsync, as pip does when it installs it: where PYTHONDONTWRITEBYTECODE is
    set, a working tree's modules would otherwise be compiled anew in every run, and in each
    of its child processes (about 0.2 s of CPU), which no installed copy does."""
    import compileall

    import lipsync

    compileall.compile_dir(Path(lipsync.__file__).parent, quiet=1)


def measure(video: Path, audio: Path, out: Path, repeat: int) -> dict[str, object]:
    """The median run (by wall time) of ``repeat``, with ``wall_range_s`` (fastest, slowest)
    and ``median_cpu_s``, the median of the runs' CPU times."""
    command = [sys.executable, __file__, "--_child", str(video), str(audio), str(out)]
    runs = []
    for _ in range(repeat):
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda run: float(run["wall_s"]))
    median = runs[len(runs) // 2]
    median["wall_range_s"] = [runs[0]["wall_s"], runs[-1]["wall_s"]]
    median["median_cpu_s"] = sorted(float(run["cpu_s"]) for run in runs)[len(runs) // 2]
    return median


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (median reported)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--_child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        print(json.dumps(run_child(*args._child)))
        return

    from lipsync import samples

    compile_package()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clip, description = prepare_720p_clip(workdir, args.seconds)
        voice = samples.speech_wav(
            workdir / "voice.wav",
            text="This is a different voice reading a different text, to re-sync the clip. " * 3,
        )
        print(f"clip: {description}")
        figures = {
            "own speech": measure(clip, clip, workdir / "own.mp4", args.repeat),
            "other speech": measure(clip, voice, workdir / "other.mp4", args.repeat),
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
        fastest, slowest = fig["wall_range_s"]  # type: ignore[misc]
        print(
            f"{'':13s} median of {args.repeat} runs; fastest {fastest:.1f} s, slowest {slowest:.1f} s; "
            f"CPU {fig['median_cpu_s']:.1f} s (median)"
        )
        print(f"{'':13s} {stages}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
