"""Carrying a sound track into an output as it is: its packets copied, never decoded.

Copying keeps the speech bit-exact (no second generation of AAC) and costs nothing to
encode. It is only done within a container family (``can_copy_audio``): MP4 and MOV keep
an encoder's priming and trimming in edit lists, Matroska in elements of its own, and a
packet moved across families decodes to other samples (AAC priming shows in Matroska, Opus
pre-skip doubles in MP4).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
from av.container import InputContainer, OutputContainer
from av.stream import Stream

from ..errors import NoAudioStreamError
from ..options import Limits
from .safety import codec_name, open_sniffed, translate_av_errors

MUXERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Codecs whose packets the MP4 and MOV muxers take as they come from another MP4/MOV file.
# (FFmpeg's MOV muxer refuses Opus and FLAC; MP4 takes both.)
_COPYABLE = {
    "mp4": frozenset({"aac", "mp3", "alac", "flac", "opus", "ac3", "eac3"}),
    "mov": frozenset(
        {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le"}
    ),
}
# What every player of MP4 and MOV plays (they also take Opus, FLAC or ALAC; some do not).
_WIDELY_PLAYABLE = frozenset({"aac", "mp3"})


def can_copy_audio(source_format: str, codec: str, output_suffix: str) -> bool:
    """Whether the packets of a ``codec`` stream demuxed by ``source_format`` (the sniffed
    FFmpeg demuxer: ``mov``, ``matroska``, …) can go into an ``output_suffix`` file as they are,
    decoding to the same samples (see the module docstring)."""
    muxer = MUXERS.get(output_suffix.lower())
    if muxer == "matroska":
        return source_format == "matroska"
    if muxer in _COPYABLE:
        return source_format == "mov" and codec in _COPYABLE[muxer]
    return False


def copyable(
    path: str | os.PathLike[str],
    output_suffix: str,
    limits: Limits | None = None,
    *,
    widely_playable: bool = False,
) -> bool:
    """Whether the first sound track of ``path`` can be carried into an ``output_suffix``
    file by ``CopiedAudio``. ``widely_playable``: into MP4 or MOV only AAC and MP3, which
    every player of those plays (the containers also take Opus, FLAC or ALAC, which some
    browsers and players do not). Raises the errors of opening ``path`` (``safety``)."""
    container, sniffed = open_sniffed(path, limits)
    with container:
        if not container.streams.audio:
            return False
        codec = codec_name(container.streams.audio[0])
    into_mp4_or_mov = MUXERS.get(output_suffix.lower()) in _COPYABLE
    if widely_playable and into_mp4_or_mov and codec not in _WIDELY_PLAYABLE:
        return False
    return can_copy_audio(sniffed.format, codec, output_suffix)


class CopiedAudio:
    """The first sound track of ``path``, to be copied into an output (``VideoWriter``).

    ``add_to`` adds a stream like it to the output; ``packets_until`` then gives the packets
    to mux, in order, for the sound up to a time, shifted so that the first sound plays at
    0 s, as decoding the track and writing its samples from 0 s would. Only where
    ``copyable`` holds for the output's suffix. Use as a context manager (the file stays
    open while packets are taken).
    """

    def __init__(self, path: str | os.PathLike[str], limits: Limits | None = None) -> None:
        self.path = Path(path)
        self._limits = limits or Limits()
        self._input: InputContainer | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._held: av.Packet | None = None  # taken from the demuxer, not yet given out
        self._output: Stream | None = None
        self._shift = 0

    def __enter__(self) -> CopiedAudio:
        self._input, _ = open_sniffed(self.path, self._limits)
        if not self._input.streams.audio:
            self._input.close()
            self._input = None
            raise NoAudioStreamError(f"{self.path.name} has no sound to copy")
        stream = self._input.streams.audio[0]
        # The first sound plays at the stream's start (an encoder's priming packets come
        # earlier, with negative times, and are cut by the edit list copied with them).
        self._shift = -(stream.start_time or 0)
        self._packets = self._input.demux(stream)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None

    def add_to(self, container: OutputContainer) -> None:
        """Add a stream for the copied packets to ``container`` (before anything is muxed)."""
        assert self._input is not None, "CopiedAudio is used outside its 'with' block"
        self._output = container.add_stream_from_template(self._input.streams.audio[0])

    def packets_until(self, seconds: Fraction | None) -> Iterator[av.Packet]:
        """The packets, ready to mux, that start before ``seconds`` of output time (all that
        are left with None)."""
        assert self._output is not None, "add_to comes first"
        while True:
            packet = self._held if self._held is not None else self._next()
            self._held = None
            if packet is None:
                return
            if seconds is not None and _starts_s(packet) >= seconds:
                self._held = packet  # for a later call
                return
            packet.stream = self._output
            yield packet

    def _next(self) -> av.Packet | None:
        """The next packet of the track, shifted; None at its end."""
        assert self._packets is not None, "CopiedAudio is used outside its 'with' block"
        with translate_av_errors(self.path.name):
            for packet in self._packets:
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                if packet.pts is not None:
                    packet.pts += self._shift
                if packet.dts is not None:
                    packet.dts += self._shift
                return packet
        return None


def _starts_s(packet: av.Packet) -> Fraction:
    """When a packet's sound starts, in seconds (0 when the demuxer gave no time)."""
    start = packet.dts if packet.dts is not None else packet.pts
    if start is None or packet.time_base is None:
        return Fraction(0)
    return start * packet.time_base
