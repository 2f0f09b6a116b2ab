"""Generated sample media for tests and ``lipsync demo``: deterministic, offline, small.

Faces come from scikit-image's public-domain NASA astronaut portrait; speech from the
``espeak-ng`` synthesiser. Sizes are (width, height) in pixels. Every function writes one
file and returns its path; the same arguments give the same pictures and timings.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer

from .errors import LipsyncError, OptionsError
from .media.audio import ArrayAudio, iter_audio
from .media.export import AUDIO_TARGETS, IMAGE_CODECS, write_audio, write_image
from .media.writer import VideoWriter

# About 2.8 s with espeak-ng's default English voice: shorter than the 3 s sample videos.
DEFAULT_TEXT = "Hello! This is a short test of lip sync."
# Where the astronaut's face sits in the 512×512 portrait, and how tall a crop frames it.
_FACE_CENTRE = (225.0, 120.0)
_CROP_HEIGHT = 240.0
Size = tuple[int, int]


class ToolNotFoundError(LipsyncError):
    """An external program that a sample generator needs is not installed."""

    exit_code = 2


def portrait(size: Size = (256, 256)) -> np.ndarray:
    """The astronaut's head and shoulders as uint8 RGB (height, width, 3), face centred."""
    return _face_frame(size, 0.0, moving=False)


def speech_wav(path: str | os.PathLike[str], text: str = DEFAULT_TEXT, voice: str = "en") -> Path:
    """Synthesise ``text`` with espeak-ng into a WAV (16-bit mono, 22.05 kHz) at ``path``."""
    executable = shutil.which("espeak-ng")
    if executable is None:
        raise ToolNotFoundError("espeak-ng is not installed (apt-get install espeak-ng)")
    if voice.split("+")[0] not in _espeak_voices(executable):
        # espeak-ng would silently fall back to its default voice.
        raise OptionsError(f"espeak-ng has no voice {voice!r} (see: espeak-ng --voices)")
    path = Path(path)
    # Text goes through stdin, so nothing in it can be read as a command-line option.
    result = subprocess.run(
        [executable, "-v", voice, "-w", str(path), "--stdin"],
        input=text.encode("utf-8"),
        capture_output=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0 or not path.is_file() or path.stat().st_size <= 44:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise LipsyncError(f"espeak-ng failed for voice {voice!r}: {' '.join(message[:2])}")
    return path


@functools.lru_cache(maxsize=2)
def _espeak_voices(executable: str) -> frozenset[str]:
    """Every name a voice can be given by: language code, voice name, or voice file."""
    listing = subprocess.run(
        [executable, "--voices"], capture_output=True, timeout=60, check=False
    ).stdout.decode("utf-8", "replace")
    names: set[str] = set()
    for line in listing.splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 5:
            names.update({columns[1], columns[3], columns[4], columns[4].split("/")[-1]})
    return frozenset(names)


def tone_wav(
    path: str | os.PathLike[str],
    seconds: float = 2.0,
    frequency: float = 220.0,
    amplitude: float = 0.2,
    sample_rate: int = 16000,
) -> Path:
    """A sine tone as a 16-bit mono WAV; ``amplitude=0`` gives silence."""
    return write_audio(
        path, ArrayAudio(_tone(seconds, frequency, amplitude, sample_rate), sample_rate)
    )


def transcode_audio(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Re-encode the first audio track of ``source`` into the format named by ``target``'s
    suffix: .wav .mp3 .m4a .aac .ogg/.opus (Opus) .flac .webm .mkv .mp4 .avi."""
    stream = iter_audio(source)
    codec = AUDIO_TARGETS.get(Path(target).suffix.lower(), ("", ""))[1]
    rates = av.Codec(codec, "w").audio_rates if codec else None
    if rates and stream.sample_rate not in rates:
        stream = iter_audio(source, sample_rate=48000)
    return write_audio(target, stream)


def face_video(
    path: str | os.PathLike[str],
    seconds: float = 3.0,
    fps: float = 25,
    size: Size = (256, 256),
    motion: bool = True,
    audio: str | os.PathLike[str] | None = None,
) -> Path:
    """An H.264 MP4 of the astronaut with smooth small head motion, optionally with
    ``audio`` (any accepted file) as its sound, cut or padded to the video's length."""
    frames = (_face_frame(size, i / fps, motion) for i in range(_count(seconds, fps)))
    return _write_video(path, frames, fps, size, audio)


def noface_gap_video(
    path: str | os.PathLike[str], seconds: float = 3.0, fps: float = 25, size: Size = (256, 256)
) -> Path:
    """Like ``face_video``, but the middle third of the frames show a blank studio wall."""
    total = _count(seconds, fps)
    gap = range(total // 3, 2 * total // 3)
    wall = _blank_wall(size)
    frames = (wall.copy() if i in gap else _face_frame(size, i / fps, True) for i in range(total))
    return _write_video(path, frames, fps, size, None)


def two_faces(
    path: str | os.PathLike[str], size: Size = (512, 256), seconds: float = 2.0, fps: float = 25
) -> Path:
    """Two astronauts side by side, the left one larger (a still for an image suffix)."""
    width, height = size
    left = portrait((width // 2, height))
    small_height = height * 2 // 3
    right = _blank_wall((width - width // 2, height))
    top = (height - small_height) // 2
    right[top : top + small_height, :] = portrait((width - width // 2, small_height))
    image = np.concatenate([left, right], axis=1)
    if Path(path).suffix.lower() in IMAGE_CODECS:
        return write_image(path, image)
    return _write_video(path, (image for _ in range(_count(seconds, fps))), fps, size, None)


def still_image(path: str | os.PathLike[str], size: Size = (256, 256)) -> Path:
    """The astronaut portrait as a PNG, JPEG or WebP image (format from the suffix)."""
    return write_image(path, portrait(size))


def rotated_clip(
    path: str | os.PathLike[str],
    rotation: int = 90,
    seconds: float = 2.0,
    fps: float = 25,
    size: Size = (192, 256),
) -> Path:
    """A phone-style MP4: stored frames are turned, and the stream's display matrix says
    to rotate them ``rotation`` degrees clockwise, which shows the ``size`` portrait upright.

    The display matrix is written with PyAV's ``VideoStream.set_display_rotation`` (it is
    coded side data of the stream; FFmpeg's MOV muxer stores it in the track header).
    """
    if rotation not in (0, 90, 180, 270):
        raise OptionsError(f"rotation must be 0, 90, 180 or 270, got {rotation}")
    upright = portrait(size)
    stored = np.ascontiguousarray(np.rot90(upright, k=rotation // 90))
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(Path(path).absolute()), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": "16"})
        stream.width, stream.height = stored.shape[1], stored.shape[0]
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(-rotation)  # PyAV counts counter-clockwise
        for index in range(_count(seconds, fps)):
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Path(path)


def browser_webm(
    path: str | os.PathLike[str],
    seconds: float = 3.0,
    mean_fps: float = 30.0,
    size: Size = (256, 256),
    audio: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> Path:
    """A WebM like Chrome's MediaRecorder makes: VP8 at a jittery variable frame rate
    (millisecond timestamps, intervals 0.6–1.4× the mean), Opus sound (``audio`` or a
    quiet tone), and no duration or cues in the header (the Matroska muxer's ``live``
    mode, which writes the file as a stream that is never finalised)."""
    rng = np.random.default_rng(seed)
    width, height = size
    total_ms = int(seconds * 1000)
    sound = iter_audio(audio, sample_rate=48000, layout="mono") if audio else None
    chunks: Iterator[np.ndarray] = (
        iter(sound) if sound else iter(ArrayAudio(_tone(seconds, 220.0, 0.1, 48000), 48000))
    )
    with av.open(
        str(Path(path).absolute()), mode="w", format="webm", container_options={"live": "1"}
    ) as container:
        video = container.add_stream("libvpx", options={"deadline": "realtime", "cpu-used": "8"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = 1_000_000
        video.codec_context.time_base = Fraction(1, 1000)
        video.time_base = Fraction(1, 1000)
        voice = container.add_stream("libopus", rate=48000)
        voice.layout = "mono"
        audio_written = 0
        time_ms = 0
        while time_ms < total_ms:
            frame = av.VideoFrame.from_ndarray(_face_frame(size, time_ms / 1000, True), "rgb24")
            frame.pts, frame.time_base = time_ms, Fraction(1, 1000)
            container.mux(video.encode(frame))
            time_ms += round(rng.uniform(0.6, 1.4) * 1000 / mean_fps)
            limit = min(time_ms, total_ms) * 48
            audio_written = _mux_audio_until(container, voice, chunks, audio_written, limit)
        container.mux(video.encode(None))
        container.mux(voice.encode(None))
    return Path(path)


def _mux_audio_until(
    container: OutputContainer,
    stream: AudioStream,
    chunks: Iterator[np.ndarray],
    written: int,
    limit: int,
) -> int:
    while written < limit:
        chunk = next(chunks, None)
        if chunk is None:
            chunk = np.zeros((1, min(960, limit - written)), np.float32)
        chunk = np.ascontiguousarray(chunk[:, : limit - written], dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, written, Fraction(1, 48000)
        container.mux(stream.encode(frame))
        written += chunk.shape[1]
    return written


def _write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    fps: float,
    size: Size,
    audio: str | os.PathLike[str] | None,
) -> Path:
    sound = iter_audio(audio) if audio is not None else None
    with VideoWriter(path, fps, size[0], size[1], audio=sound, preset="veryfast") as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)


def _count(seconds: float, fps: float) -> int:
    if seconds <= 0 or fps <= 0:
        raise OptionsError(f"seconds and fps must be positive, got {seconds} and {fps}")
    return max(1, round(seconds * fps))


def _tone(seconds: float, frequency: float, amplitude: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate), dtype=np.float64) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _astronaut() -> np.ndarray:
    from skimage import data  # a dev dependency: imported only when samples are made

    image = np.asarray(data.astronaut(), dtype=np.uint8)
    image.flags.writeable = False
    return image


def _face_frame(size: Size, time_s: float, moving: bool) -> np.ndarray:
    """The portrait cropped around the face for ``size``, swaying gently at ``time_s``."""
    width, height = size
    scale = height / _CROP_HEIGHT
    crop = np.array(
        [
            [scale, 0, width / 2 - scale * _FACE_CENTRE[0]],
            [0, scale, height / 2 - scale * _FACE_CENTRE[1]],
            [0, 0, 1],
        ]
    )
    angle, zoom, dx, dy = 0.0, 1.0, 0.0, 0.0
    if moving:
        # Incommensurate periods, so the motion never visibly loops in a short clip.
        angle = 3.0 * np.sin(2 * np.pi * time_s / 2.5)
        zoom = 1.0 + 0.03 * np.sin(2 * np.pi * time_s / 3.1)
        dx = 0.03 * width * np.sin(2 * np.pi * time_s / 1.7)
        dy = 0.02 * height * np.sin(2 * np.pi * time_s / 2.3)
    sway = np.vstack([cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom), [0, 0, 1]])
    sway[:2, 2] += (dx, dy)
    # One warp from the 512×512 original: no double resampling, real pixels at the edges.
    return cv2.warpAffine(
        _astronaut(), (sway @ crop)[:2], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def _blank_wall(size: Size) -> np.ndarray:
    """A soft grey gradient like the portrait's backdrop, with no face in it."""
    width, height = size
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top, bottom = np.array([214, 210, 205], np.float32), np.array([176, 170, 164], np.float32)
    wall = top + (bottom - top) * ramp
    return np.broadcast_to(wall, (height, width, 3)).astype(np.uint8)
