"""Sharpness, flicker and "unchanged outside the mask", with and without enhancement, for one clip.

    python benchmarks/quality_enhance.py                 # none, realesrgan_fast (± smoothing), realesrgan
    python benchmarks/quality_enhance.py --no-x4plus     # skip the slow x4plus run
    python benchmarks/quality_enhance.py --seconds 4 --json out/quality_enhance.json

The video is a real talking-head clip from ../shared/media cropped and scaled to 1280×720 (as
in bench_pipeline.py); the speech is another speaker's 8-second address from the same folder
(--seconds shortens it). Each run is ``lipsync.sync`` with the built-in engine, written
lossless (libx264rgb) so that "unchanged" can be measured exactly, and compared with the
input video frame by frame:

- mouth sharpness: variance of the Laplacian of the aligned mouth region (input, output);
- flicker ratio: mean frame-to-frame change of the aligned mouth region, output / input;
- PSNR and SSIM outside the face (the box the engine and the enhancer may touch, grown by a
  fifth): inf and 1.0 when the pipeline leaves everything else bit-exact;
- BRISQUE of the mouth region (lower is better) when the ``brisque`` package is installed.

A before/after picture (the mouth region of one frame: input, no enhancer, each enhancer)
is written to docs/images/enhance_before_after.jpg.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import wave
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import REPO, prepare_720p_clip

SPEECH = REPO.parent / "shared" / "media" / "sadtalker_RD_Radio31_000.wav"
PICTURE = REPO / "docs" / "images" / "enhance_before_after.jpg"
# The region outside which nothing may change: the face box grown by this share.
FACE_GROWTH = 0.2


@dataclass(frozen=True)
class Run:
    label: str
    enhancer: str
    temporal_smoothing: float = 0.5


RUNS = (
    Run("none", "none"),
    Run("realesrgan_fast", "realesrgan_fast"),
    Run("realesrgan_fast, no smoothing", "realesrgan_fast", 0.0),
    Run("realesrgan", "realesrgan"),
)


def track_input(clip: Path, frames: int) -> list[np.ndarray | None]:
    """FaceMesh landmarks (468, 3) frame pixels of the first ``frames`` input frames."""
    from lipsync.faces.tracker import FaceTracker
    from lipsync.media.video import open_video

    tracker = FaceTracker("largest")
    for i, frame in enumerate(open_video(clip).frames()):
        if i >= frames:
            break
        tracker.observe(frame)
    track = tracker.finish()
    return [track.landmarks_at(i) if track.present[i] else None for i in range(len(track.present))]


def changed_mask(landmarks: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
    """float32 (H, W): 1 over the grown face box (what may change), 0 elsewhere."""
    from lipsync.compose.regions import region_box

    width, height = size
    mask = np.zeros((height, width), np.float32)
    if landmarks is None:
        mask[:] = 1.0  # without a face nothing is known; such frames only count as changed
        return mask
    x1, y1, x2, y2 = region_box(landmarks, "face", size)
    gx, gy = FACE_GROWTH * (x2 - x1) / 2, FACE_GROWTH * (y2 - y1) / 2
    mask[
        max(0, int(y1 - gy)) : min(height, int(y2 + gy)),
        max(0, int(x1 - gx)) : min(width, int(x2 + gx)),
    ] = 1.0
    return mask


def write_wav(path: Path, speech: np.ndarray) -> Path:
    """float32 mono 16 kHz (S,) → a 16-bit PCM WAV at ``path``."""
    pcm = (np.clip(speech, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm.tobytes())
    return path


def brisque_scorer() -> Any | None:
    try:
        from brisque import BRISQUE
    except ImportError:
        return None
    return BRISQUE(url=False)


def measure(
    clip: Path,
    output: Path,
    landmarks: list[np.ndarray | None],
    mouth_box: tuple[int, int, int, int],
    picture_frame: int,
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Figures of ``output`` against ``clip``; also the aligned mouth crops (input, output)
    of ``picture_frame``."""
    from lipsync.eval.quality import EnhanceQualityMeter, aligned_region
    from lipsync.media.video import open_video

    meter = EnhanceQualityMeter()
    scorer = brisque_scorer()
    brisque: list[float] = []
    reference_points = next(p for p in landmarks if p is not None)
    crops: tuple[np.ndarray, np.ndarray] | None = None
    pairs = zip(open_video(clip).frames(), open_video(output).frames(), strict=False)
    for i, (source, result) in enumerate(pairs):
        if i >= len(landmarks):
            break
        points = landmarks[i]
        size = (source.shape[1], source.shape[0])
        meter.add(source, result, points, mouth_box, changed_mask(points, size))
        if points is None:
            continue
        if i == picture_frame or (crops is None and i > picture_frame):
            crops = (
                aligned_region(source, points, reference_points, mouth_box),
                aligned_region(result, points, reference_points, mouth_box),
            )
        if scorer is not None and i % 10 == 0:
            brisque.append(
                float(scorer.score(aligned_region(result, points, reference_points, mouth_box)))
            )
    quality = meter.result()
    figures = {
        "frames": quality.frames,
        "mouth_sharpness": quality.sharpness,
        "input_mouth_sharpness": quality.reference_sharpness,
        "flicker": quality.flicker.output,
        "input_flicker": quality.flicker.reference,
        "flicker_ratio": quality.flicker.ratio,
        "psnr_outside_db": quality.psnr_outside_db,
        "ssim_outside": quality.ssim_outside,
    }
    if brisque:
        figures["mouth_brisque"] = float(np.mean(brisque))
    assert crops is not None
    return figures, crops[0], crops[1]


def labelled(image: np.ndarray, label: str, zoom: int) -> np.ndarray:
    """``image`` enlarged ``zoom`` times (nearest, so pixels stay visible) under a caption."""
    big = cv2.resize(
        image, (image.shape[1] * zoom, image.shape[0] * zoom), interpolation=cv2.INTER_NEAREST
    )
    caption = np.full((28, big.shape[1], 3), 255, np.uint8)
    cv2.putText(caption, label, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([caption, big])


def save_picture(panels: list[tuple[str, np.ndarray]], path: Path) -> None:
    zoom = max(1, 320 // max(p.shape[0] for _, p in panels))
    tiles = [labelled(p, label, zoom) for label, p in panels]
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    row = tiles[0]
    for tile in tiles[1:]:
        row = np.hstack([row, gap, tile])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(row, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="speech length to sync")
    parser.add_argument("--no-x4plus", action="store_true", help="skip the slow x4plus run")
    parser.add_argument("--picture", type=Path, default=PICTURE)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()

    from lipsync import SyncOptions, sync
    from lipsync.compose.regions import region_box
    from lipsync.media.audio import load_speech

    runs = [r for r in RUNS if not (args.no_x4plus and r.enhancer == "realesrgan")]
    figures: dict[str, dict[str, float]] = {}
    panels: list[tuple[str, np.ndarray]] = []
    with tempfile.TemporaryDirectory(prefix="lipsync-quality-") as tmp_name:
        tmp = Path(tmp_name)
        clip, what = prepare_720p_clip(tmp, 20.0)
        speech = load_speech(SPEECH)[: int(args.seconds * 16000)]
        audio = write_wav(tmp / "speech.wav", speech)
        print(f"video: {what}; speech: {SPEECH.name}, {len(speech) / 16000:.1f} s", flush=True)

        frames = int(np.ceil(len(speech) / 16000 * 30)) + 2
        landmarks = track_input(clip, frames)
        first = next(p for p in landmarks if p is not None)
        mouth_box = region_box(first, "mouth", (1280, 720))
        picture_frame = len(landmarks) // 2
        print(f"mouth box {mouth_box}, picture from frame {picture_frame}", flush=True)

        for run in runs:
            options = SyncOptions(
                engine="builtin",
                enhancer=run.enhancer,
                temporal_smoothing=run.temporal_smoothing,
                device="cpu",
                lossless=True,
            )
            output = tmp / f"{run.label.replace(' ', '_').replace(',', '')}.mp4"
            start = time.perf_counter()
            result = sync(clip, audio, output, options)
            wall = time.perf_counter() - start
            found, before, after = measure(clip, output, landmarks, mouth_box, picture_frame)
            found["wall_s"] = wall
            found["enhance_s"] = result.timings.get("enhance", 0.0)
            figures[run.label] = found
            if not panels:
                panels.append(("input", before))
            if run.temporal_smoothing or run.enhancer == "none":
                panels.append((run.label, after))
            print(
                f"  {run.label}: {wall:.0f} s ({found['enhance_s']:.0f} s enhancing) "
                f"for {result.duration_s:.1f} s of video",
                flush=True,
            )

    save_picture(panels, args.picture)
    reference = next(iter(figures.values()))
    print()
    print("Built-in engine, 1280×720, lossless output, compared with the input video")
    print(
        f"{'enhancer':<30} {'mouth sharpness':>15} {'flicker ratio':>13} "
        f"{'PSNR out (dB)':>13} {'SSIM out':>9} {'BRISQUE':>8} {'wall s':>7}"
    )
    print(f"{'(input video)':<30} {reference['input_mouth_sharpness']:15.1f} {1.0:13.2f}")
    for label, f in figures.items():
        brisque = f"{f['mouth_brisque']:8.1f}" if "mouth_brisque" in f else f"{'n/a':>8}"
        print(
            f"{label:<30} {f['mouth_sharpness']:15.1f} {f['flicker_ratio']:13.2f} "
            f"{f['psnr_outside_db']:13.2f} {f['ssim_outside']:9.4f} {brisque} {f['wall_s']:7.0f}"
        )
    if brisque_scorer() is None:
        print("BRISQUE: n/a (pip install 'brisque[opencv-python-headless]' to add it)")
    print(f"picture: {args.picture}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"runs": figures, "runs_spec": [asdict(r) for r in runs]}))


if __name__ == "__main__":
    main()
