"""Media input and output through PyAV: sniffing, safe opening, probing, decoding, encoding.

Every file is identified from its bytes and opened with its demuxer forced and its reach
confined to that file (see ``safety``); limits are checked from headers before decoding.
"""

from .audio import ArrayAudio, AudioSource, AudioStream, iter_audio, load_speech
from .export import write_audio, write_image
from .probe import AudioInfo, MediaInfo, VideoInfo, probe
from .safety import open_input
from .sniff import Sniffed, sniff
from .video import VideoSource, open_video
from .writer import VideoWriter

__all__ = [
    "ArrayAudio",
    "AudioInfo",
    "AudioSource",
    "AudioStream",
    "MediaInfo",
    "Sniffed",
    "VideoInfo",
    "VideoSource",
    "VideoWriter",
    "iter_audio",
    "load_speech",
    "open_input",
    "open_video",
    "probe",
    "sniff",
    "write_audio",
    "write_image",
]
