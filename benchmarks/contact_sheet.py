"""A contact sheet of the built-in engine's output: mouths in a row, target phones under them.

    python benchmarks/contact_sheet.py VIDEO SPEECH -o docs/images/contact_sheet.jpg \
        [--start SECONDS] [--frames 12] [--step 2]

Runs the built-in engine on VIDEO with SPEECH, then crops the lower face of every ``step``-th
output frame from ``start`` and lays them out in two rows: the input frame shown at that
moment (top) and our output (bottom), each captioned with the phone recognised under it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

TILE = 160  # pixels per tile side


def crop_lower_face(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    from lipsync.faces.mouth import CHIN, MOUTH_LEFT, MOUTH_RIGHT, NOSE_TIP, inter_ocular

    iod = float(inter_ocular(landmarks))
    cx = float((landmarks[MOUTH_LEFT, 0] + landmarks[MOUTH_RIGHT, 0]) / 2)
    cy = float((landmarks[NOSE_TIP, 1] + landmarks[CHIN, 1]) / 2)
    half = 0.75 * iod
    x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
    x2, y2 = int(min(frame.shape[1], cx + half)), int(min(frame.shape[0], cy + half))
    return cv2.resize(frame[y1:y2, x1:x2], (TILE, TILE), interpolation=cv2.INTER_AREA)


def caption(tile: np.ndarray, text: str) -> np.ndarray:
    band = np.full((26, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([tile, band])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("speech", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--start", type=float, default=1.0)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--step", type=int, default=2)
    args = parser.parse_args()

    from lipsync.engines.builtin.engine import BuiltinEngine
    from lipsync.engines.builtin.visemes import phone_at_frames
    from lipsync.faces.tracker import FaceTracker
    from lipsync.media.video import open_video
    from lipsync.options import SyncOptions, parse_face_choice
    from lipsync.pipeline import Pipeline

    engine = BuiltinEngine()
    with tempfile.TemporaryDirectory() as tmp:
        synced = Path(tmp) / "synced.mp4"
        result = Pipeline(engine, SyncOptions(engine="builtin")).run(
            args.video, args.speech, synced
        )
        assert engine.analysis is not None
        phones = phone_at_frames(engine.analysis.phones, result.fps, result.frames)
        first = int(args.start * result.fps)
        wanted = [first + k * args.step for k in range(args.frames)]
        wanted = [i for i in wanted if i < result.frames]
        outputs = [f for i, f in enumerate(open_video(synced).frames()) if i in set(wanted)]
        source = open_video(args.video)
        # The input frame shown at output frame i is source frame i while the source lasts.
        inputs = [f for i, f in enumerate(source.frames()) if i in set(wanted)]

    tracker = FaceTracker(parse_face_choice("largest"), smooth=False)
    top, bottom = [], []
    for k, index in enumerate(wanted):
        out = outputs[k]
        observation = tracker.observe(out)
        if observation is None:
            continue
        label = phones[index]
        bottom.append(caption(crop_lower_face(out, observation.landmarks), f"{index}: {label}"))
        if k < len(inputs):
            top.append(caption(crop_lower_face(inputs[k], observation.landmarks), f"{index} input"))
    rows = [np.hstack(top)] if len(top) == len(bottom) else []
    rows.append(np.hstack(bottom))
    sheet = np.vstack(rows)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.output), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.output} ({len(bottom)} frames from {args.video.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
