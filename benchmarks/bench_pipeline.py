"""Per-stage throughput, end-to-end real-time factor and peak memory of the Wav2Lip pipeline.

    python benchmarks/bench_pipeline.py                  # 720p30, ≥ 20 s, batch sweep, end to end
    python benchmarks/bench_pipeline.py --memory         # + peak RSS for 1- and 5-minute 1080p inputs

The clip is a real talking-head video from ../shared/media when present (cropped and scaled to
1280×720), otherwise a generated one. The Wav2Lip generator has the released size (36.3 M
parameters) with random weights: its speed is that of the real network. Figures are printed
as a table and, with --json, written to a file.
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

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED_CLIP = REPO.parent / "shared" / "media" / "latentsync_demo3_video_youngman_seated_en.mp4"


def peak_rss_mb() -> float:
    """This process's peak resident set since it started, in MB.

    Not ``getrusage``'s ``ru_maxrss``: Linux carries that over from the parent through fork
    and exec, so a child run would report at least its parent's peak. ``VmHWM`` belongs to
    the address space, which exec replaces.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare_720p_clip(workdir: Path, seconds: float) -> tuple[Path, str]:
    """A 1280×720, ~30 fps talking clip with its own speech, at least ``seconds`` long."""
    from lipsync import samples
    from lipsync.media.audio import iter_audio
    from lipsync.media.video import open_video
    from lipsync.media.writer import VideoWriter

    out = workdir / "clip720p.mp4"
    if SHARED_CLIP.exists():
        source = open_video(SHARED_CLIP)
        top = int(source.height * 0.154)  # a 16:9 band around the seated speaker's head
        band = int(source.width * 9 / 16)
        with VideoWriter(
            out, source.fps, 1280, 720, audio=iter_audio(SHARED_CLIP), preset="veryfast"
        ) as writer:
            for frame in source.frames():
                writer.write(
                    cv2.resize(frame[top : top + band], (1280, 720), interpolation=cv2.INTER_AREA)
                )
        return out, f"{SHARED_CLIP.name}, cropped to 16:9 and scaled to 1280×720"
    speech = samples.speech_wav(
        workdir / "speech.wav", text=" ".join(["Lip sync benchmark speech."] * 8)
    )
    samples.face_video(out, seconds=seconds, fps=30, size=(1280, 720), audio=speech)
    return out, "generated astronaut face clip, 1280×720"


def bench_stages(clip: Path, checkpoint: Path, batch_sizes: list[int]) -> dict[str, object]:
    from lipsync.audio.mel import wav2lip_mel
    from lipsync.compose.blend import composite
    from lipsync.engines.base import EngineInput, Speech
    from lipsync.engines.wav2lip.engine import Wav2LipEngine
    from lipsync.faces.tracker import FaceTracker
    from lipsync.media.audio import load_speech
    from lipsync.media.video import open_video
    from lipsync.media.writer import VideoWriter

    results: dict[str, object] = {}
    source = open_video(clip)
    t = time.perf_counter()
    n = sum(1 for _ in source.frames())
    results["decode_fps"] = n / (time.perf_counter() - t)
    results["frames"] = n
    results["fps"] = source.fps

    tracker = FaceTracker("largest")
    spent = 0.0
    keep: list[np.ndarray] = []
    for i, frame in enumerate(source.frames()):
        t = time.perf_counter()
        tracker.observe(frame)
        spent += time.perf_counter() - t
        if i < 64:
            keep.append(frame)
    track = tracker.finish()
    results["detect_track_fps"] = n / spent
    results["frames_with_face"] = int(track.present.sum())

    speech = load_speech(clip)
    t = time.perf_counter()
    wav2lip_mel(speech)
    results["features_x_realtime"] = (len(speech) / 16000) / (time.perf_counter() - t)

    size = (source.width, source.height)
    items = [
        EngineInput(i, f, track.crop_box(i, (0, 10, 0, 0), size), track.landmarks_at(i))
        for i, f in enumerate(keep)
    ]
    sweep: dict[int, float] = {}
    for batch_size in batch_sizes:
        engine = Wav2LipEngine(checkpoint, device="cpu", batch_size=batch_size)
        engine.prepare(Speech(speech, 16000), source.fps, n)
        engine.generate(items[:batch_size])  # warm-up
        t = time.perf_counter()
        crops = engine.generate(items)
        sweep[batch_size] = len(items) / (time.perf_counter() - t)
        engine.close()
    results["model_fps_by_batch"] = sweep

    t = time.perf_counter()
    blended = [
        composite(it.frame, c, it.box, it.landmarks, "feather")
        for it, c in zip(items, crops, strict=True)
    ]
    results["blend_fps"] = len(items) / (time.perf_counter() - t)

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        with VideoWriter(Path(tmp) / "enc.mp4", source.fps, source.width, source.height) as writer:
            for _ in range(4):
                for frame in blended:
                    writer.write(frame)
        results["encode_fps"] = 4 * len(blended) / (time.perf_counter() - t)
    return results


def run_e2e(clip: Path, checkpoint: Path, batch_size: int, out: Path) -> dict[str, object]:
    """One full pipeline run in this process; prints JSON (used in a child process)."""
    from lipsync.engines.wav2lip.engine import Wav2LipEngine
    from lipsync.options import SyncOptions
    from lipsync.pipeline import Pipeline

    engine = Wav2LipEngine(checkpoint, device="cpu", batch_size=batch_size)
    t = time.perf_counter()
    result = Pipeline(engine, SyncOptions(batch_size=batch_size)).run(clip, clip, out)
    wall = time.perf_counter() - t
    return {
        "wall_s": wall,
        "duration_s": result.duration_s,
        "real_time_factor": wall / result.duration_s,
        "frames": result.frames,
        "timings": result.timings,
        "peak_rss_mb": peak_rss_mb(),
    }


def child(args: list[str]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"child run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def make_long_1080p(path: Path, minutes: float) -> Path:
    """A long 1080p face video (astronaut with head motion) plus its speech, encoded fast."""
    from lipsync import samples
    from lipsync.media.audio import ArrayAudio
    from lipsync.media.writer import VideoWriter

    fps = 30
    portrait = samples.portrait((480, 480))
    canvas = np.full((1080, 1920, 3), 60, np.uint8)
    n = int(minutes * 60 * fps)
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(int(minutes * 60 * 16000)) * 0.05).astype(np.float32)
    with VideoWriter(
        path, fps, 1920, 1080, audio=ArrayAudio(noise, 16000), preset="ultrafast"
    ) as writer:
        for i in range(n):
            dx = int(200 * np.sin(i / 90))
            frame = canvas.copy()
            frame[300:780, 720 + dx : 1200 + dx] = portrait
            writer.write(frame)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch-sizes", default="1,4,16,32,64")
    parser.add_argument("--e2e-batch", type=int, default=16)
    parser.add_argument(
        "--memory",
        action="store_true",
        help="also measure peak RSS on 1- and 5-minute 1080p inputs",
    )
    parser.add_argument("--memory-only", action="store_true", help="only the peak-RSS runs")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--_e2e", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._e2e:
        clip, checkpoint, batch, out = args._e2e
        print(json.dumps(run_e2e(Path(clip), Path(checkpoint), int(batch), Path(out))))
        return

    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="lipsync-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.memory_only:
            figures.update(speed_figures(tmp, args))
        if args.memory or args.memory_only:
            figures["peak_rss_mb"] = memory_figures(tmp)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def speed_figures(tmp: Path, args: argparse.Namespace) -> dict[str, object]:
    from lipsync.engines.wav2lip.network import RELEASED_WIDTH
    from lipsync.engines.wav2lip.testing import write_random_checkpoint

    figures: dict[str, object] = {}
    clip, what = prepare_720p_clip(tmp, args.seconds)
    full = write_random_checkpoint(tmp / "wav2lip_full.pth", seed=0, width=RELEASED_WIDTH)
    print(f"clip: {what}", flush=True)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    figures["stages"] = stages = bench_stages(clip, full, sizes)
    print(
        f"  frames {stages['frames']} at {stages['fps']:.2f} fps, face in {stages['frames_with_face']}"
    )
    print(f"  decode          {stages['decode_fps']:8.1f} frames/s")
    print(f"  detect + track  {stages['detect_track_fps']:8.1f} frames/s")
    print(f"  features (mel)  {stages['features_x_realtime']:8.0f} × real time")
    for b, fps in stages["model_fps_by_batch"].items():  # type: ignore[attr-defined]
        print(f"  model, batch {b:<3d} {fps:8.2f} frames/s")
    print(f"  blend (feather) {stages['blend_fps']:8.1f} frames/s")
    print(f"  encode (H.264)  {stages['encode_fps']:8.1f} frames/s", flush=True)

    e2e = child(["--_e2e", str(clip), str(full), str(args.e2e_batch), str(tmp / "out.mp4")])
    figures["end_to_end"] = e2e
    print(
        f"end to end (batch {args.e2e_batch}): {e2e['wall_s']:.1f} s for {e2e['duration_s']:.1f} s of video, "
        f"real-time factor {e2e['real_time_factor']:.2f}, peak RSS {e2e['peak_rss_mb']:.0f} MB"
    )
    timings = e2e["timings"]
    total = sum(timings.values())  # type: ignore[union-attr]
    for stage, seconds in sorted(timings.items(), key=lambda kv: -kv[1]):  # type: ignore[union-attr]
        print(f"    {stage:<13} {seconds:7.1f} s  ({100 * seconds / total:4.1f} %)")

    return figures


def memory_figures(tmp: Path) -> dict[str, float]:
    from lipsync.engines.wav2lip.testing import TINY_WIDTH, write_random_checkpoint

    tiny = write_random_checkpoint(tmp / "tiny.pth", seed=0, width=TINY_WIDTH)
    memory: dict[str, float] = {}
    for minutes in (1.0, 5.0):
        long_clip = make_long_1080p(tmp / f"long{minutes:g}.mp4", minutes)
        run = child(["--_e2e", str(long_clip), str(tiny), "16", str(tmp / "long_out.mp4")])
        memory[f"{minutes:g} min 1080p"] = run["peak_rss_mb"]  # type: ignore[assignment]
        print(
            f"peak RSS, {minutes:g}-minute 1080p input (tiny network): {run['peak_rss_mb']:.0f} MB "
            f"(wall {run['wall_s']:.0f} s)",
            flush=True,
        )
        long_clip.unlink()
    # The released-size network on 1080p: its activations and weights on top of the above.
    from lipsync.engines.wav2lip.network import RELEASED_WIDTH

    full = write_random_checkpoint(tmp / "full.pth", seed=0, width=RELEASED_WIDTH)
    clip = make_long_1080p(tmp / "short1080p.mp4", 1 / 3)
    run = child(["--_e2e", str(clip), str(full), "16", str(tmp / "long_out.mp4")])
    memory["20 s 1080p, released-size network"] = run["peak_rss_mb"]  # type: ignore[assignment]
    print(f"peak RSS, 20-second 1080p input (released-size network): {run['peak_rss_mb']:.0f} MB")
    return memory


if __name__ == "__main__":
    main()
