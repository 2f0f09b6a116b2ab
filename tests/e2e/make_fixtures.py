"""Media for the browser end-to-end tests (frontend/e2e), written into one directory.

Run by ``frontend/e2e/run.mjs`` with the project's virtualenv:
``.venv/bin/python tests/e2e/make_fixtures.py <dir>``. It prints one JSON object naming
the files, so the Node side never guesses paths:

- ``camera.y4m``: what Chromium's fake camera shows (``--use-file-for-fake-video-capture``):
  the sample astronaut swaying its head, as raw I420 frames in a YUV4MPEG2 container.
- ``microphone.wav``: what the fake microphone hears (``--use-file-for-fake-audio-capture``):
  espeak-ng speech, 48 kHz mono 16-bit, longer than any recording the tests make.
- ``face.mp4`` and ``speech.wav``: files for the upload path.
- ``notes.mp4``: a text file with a video's suffix, for the error path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import numpy as np

from lipsync import samples
from lipsync.media.audio import iter_audio
from lipsync.media.export import write_audio

CAMERA_SIZE = (320, 240)
CAMERA_FPS = 25
# Chromium loops the camera file; a few seconds of smooth sway is enough for a recording.
CAMERA_SECONDS = 4.0
# Chromium reads the microphone file at most once per capture (%noloop): long enough that a
# 3 s recording started a few seconds after the page opened the microphone still hears speech.
MICROPHONE_TEXT = (
    "Hello! This is a short test of lip sync. The camera and the microphone are fed from "
    "files, so the page records the same face and the same voice every time."
)
UPLOAD_TEXT = "Hello! This is a short test of lip sync."


def write_y4m(source: Path, target: Path) -> int:
    """Copy every frame of ``source`` into ``target`` as YUV4MPEG2 I420; returns the count.

    Chromium's reader is strict: the stream header must be short and every frame header
    exactly ``FRAME\\n`` with no parameters.
    """
    count = 0
    with av.open(str(source)) as container, target.open("wb") as out:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or CAMERA_FPS
        header = f"YUV4MPEG2 W{width} H{height} F{rate.numerator}:{rate.denominator} Ip A1:1 C420\n"
        out.write(header.encode("ascii"))
        for frame in container.decode(stream):
            # yuv420p as one (H * 3/2, W) array is exactly the planar I420 layout, Y then U then V.
            planes = frame.to_ndarray(format="yuv420p")
            out.write(b"FRAME\n")
            out.write(np.ascontiguousarray(planes, dtype=np.uint8).tobytes())
            count += 1
    return count


def make_fixtures(directory: Path) -> dict[str, str]:
    """Write every fixture into ``directory`` and return {role: absolute path}."""
    directory.mkdir(parents=True, exist_ok=True)
    camera_clip = samples.face_video(
        directory / "camera-source.mp4", seconds=CAMERA_SECONDS, fps=CAMERA_FPS, size=CAMERA_SIZE
    )
    camera = directory / "camera.y4m"
    write_y4m(camera_clip, camera)
    camera_clip.unlink()

    raw_speech = samples.speech_wav(directory / "microphone-22k.wav", text=MICROPHONE_TEXT)
    microphone = write_audio(
        directory / "microphone.wav", iter_audio(raw_speech, sample_rate=48000)
    )
    raw_speech.unlink()

    speech = samples.speech_wav(directory / "speech.wav", text=UPLOAD_TEXT)
    face = samples.face_video(directory / "face.mp4", seconds=3.0, size=(256, 256))
    # A job that still runs when a test cancels it, a few seconds after submitting: the short
    # pair above can finish first.
    long_speech = samples.speech_wav(directory / "long-speech.wav", text=MICROPHONE_TEXT)
    long_face = samples.face_video(directory / "long-face.mp4", seconds=20.0, size=(256, 256))
    notes = directory / "notes.mp4"
    notes.write_text("These are meeting notes, not a video.\n", encoding="utf-8")
    paths = {
        "camera": camera,
        "microphone": microphone,
        "face": face,
        "speech": speech,
        "long_face": long_face,
        "long_speech": long_speech,
    }
    return {role: str(path.absolute()) for role, path in {**paths, "bad": notes}.items()}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: make_fixtures.py <directory>", file=sys.stderr)
        return 2
    print(json.dumps(make_fixtures(Path(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
