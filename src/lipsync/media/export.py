"""Small one-shot encoders: an RGB array to an image file, an AudioSource to an audio file.

For generated samples, posters and exported speech; video goes through ``VideoWriter``.
The format follows the file's suffix, and everything is encoded by PyAV (no subprocess).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
from av.audio.stream import AudioStream
from av.video.codeccontext import VideoCodecContext

from ..errors import OptionsError
from .audio import AudioSource

IMAGE_CODECS = {".png": ("png", "rgb24"), ".jpg": ("mjpeg", "yuvj420p")}
IMAGE_CODECS |= {".jpeg": IMAGE_CODECS[".jpg"], ".webp": ("libwebp", "yuv420p")}
# Suffix → (muxer, encoder).
AUDIO_TARGETS = {
    ".wav": ("wav", "pcm_s16le"),
    ".mp3": ("mp3", "libmp3lame"),
    ".m4a": ("ipod", "aac"),
    ".aac": ("adts", "aac"),
    ".ogg": ("ogg", "libopus"),
    ".opus": ("ogg", "libopus"),
    ".flac": ("flac", "flac"),
    ".webm": ("webm", "libopus"),
    ".mkv": ("matroska", "libopus"),
    ".mp4": ("mp4", "aac"),
    ".avi": ("avi", "pcm_s16le"),
}


def write_image(path: str | os.PathLike[str], image: np.ndarray) -> Path:
    """Encode a uint8 RGB (H, W, 3) array as .png, .jpg/.jpeg or .webp with PyAV."""
    path = Path(path)
    codec_name, pix_fmt = IMAGE_CODECS.get(path.suffix.lower(), (None, None))
    if codec_name is None or pix_fmt is None:
        raise OptionsError(f"no image format for suffix {path.suffix!r}; use .png, .jpg or .webp")
    codec = cast(VideoCodecContext, av.CodecContext.create(codec_name, "w"))
    codec.width, codec.height = image.shape[1], image.shape[0]
    codec.pix_fmt = pix_fmt
    codec.time_base = Fraction(1, 25)
    if codec_name == "mjpeg":
        codec.qmin, codec.qmax = 2, 3  # high quality; the default is visibly blocky
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
    # One thread: by default every conversion starts a pool of its own (see video._to_array).
    packets = codec.encode(frame.reformat(format=pix_fmt, threads=1)) + codec.encode(None)
    path.write_bytes(b"".join(bytes(packet) for packet in packets))
    return path


def write_audio(path: str | os.PathLike[str], audio: AudioSource) -> Path:
    """Encode an AudioSource into an audio-only file whose format follows the suffix."""
    path = Path(path)
    muxer, codec = AUDIO_TARGETS.get(path.suffix.lower(), (None, None))
    if muxer is None or codec is None:
        raise OptionsError(f"no audio format for suffix {path.suffix!r}")
    layout = "mono" if audio.channels == 1 else "stereo"
    with av.open(str(path.absolute()), mode="w", format=muxer) as container:
        stream = cast(AudioStream, container.add_stream(codec, rate=audio.sample_rate))
        stream.layout = layout
        container.start_encoding()  # so that even zero samples make a valid, empty file
        written = 0
        for chunk in audio:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk, dtype=np.float32), format="fltp", layout=layout
            )
            frame.sample_rate = audio.sample_rate
            frame.pts = written
            frame.time_base = Fraction(1, audio.sample_rate)
            written += chunk.shape[-1]
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
