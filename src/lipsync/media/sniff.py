"""Identify a media file from its first bytes, never from its name.

The demuxer FFmpeg would pick by probing is exactly what an attacker controls, so the
format is decided here from magic bytes and then forced when the file is opened. Anything
not on the short list below is refused with a message that says what the file looks like.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from ..errors import EmptyMediaError, LimitExceededError, MediaError, UnsupportedFormatError
from ..options import Limits

MediaKind = Literal["video", "audio", "image", "container"]

# Large enough to walk past a JPEG's EXIF block to its frame header in almost every file.
HEAD_BYTES = 64 * 1024

ACCEPTED_LABELS = "MP4, MOV, M4A, 3GP, MKV, WebM, AVI, WAV, MP3, AAC, Ogg, FLAC, PNG, JPEG, WebP"

_ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif"}
_AVIF_BRANDS = {b"avif", b"avis"}

# MPEG-1 layer III bitrates (kb/s) by index; 0 ("free") and 15 (invalid) are refused.
_MP3_VALID_BITRATE_INDEX = range(1, 15)


@dataclass(frozen=True)
class Sniffed:
    """What the bytes say a file is.

    ``format``: the FFmpeg demuxer to force (``av.open(format=...)``).
    ``kind``: a coarse hint; ``container`` may hold video, audio or both.
    ``label``: a human name such as "MP4" or "WebM".
    ``dimensions``: (width, height) in pixels read from a still image's header, else None.
    """

    format: str
    kind: MediaKind
    label: str
    dimensions: tuple[int, int] | None = None


def sniff(path: str | os.PathLike[str], limits: Limits | None = None) -> Sniffed:
    """Identify ``path`` from its leading bytes.

    Raises MediaError (missing or not a regular file), LimitExceededError (larger than
    ``limits.max_file_bytes``), EmptyMediaError (zero bytes) or UnsupportedFormatError.
    """
    limits = limits or Limits()
    path = Path(path)
    name = path.name
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise MediaError(f"{name} does not exist") from None
    except OSError as exc:
        raise MediaError(f"{name} cannot be read: {exc.strerror}") from None
    if not os.path.isfile(path):
        raise MediaError(f"{name} is not a regular file")
    if info.st_size > limits.max_file_bytes:
        raise LimitExceededError(
            f"{name} is {info.st_size} bytes, more than the limit of {limits.max_file_bytes}"
        )
    if info.st_size == 0:
        raise EmptyMediaError(f"{name} is empty (0 bytes)")
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
            found = identify(head)
            if found is None and head.startswith(b"ID3"):
                found = _after_id3(handle, head)
    except OSError as exc:
        raise MediaError(f"{name} cannot be read: {exc.strerror}") from None
    if found is None:
        raise UnsupportedFormatError(_describe_refusal(name, head))
    return found


def identify(head: bytes) -> Sniffed | None:
    """Match the leading bytes of a file against the accepted formats; None if none fits."""
    if len(head) >= 12 and head[4:8] in _ISO_FIRST_BOXES:
        return _identify_iso_bmff(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _identify_ebml(head)
    if head.startswith(b"RIFF") and len(head) >= 12:
        riff_type = head[8:12]
        if riff_type == b"AVI ":
            return Sniffed("avi", "container", "AVI")
        if riff_type == b"WAVE":
            return Sniffed("wav", "audio", "WAV")
        if riff_type == b"WEBP":
            return Sniffed("webp_pipe", "image", "WebP", _webp_dimensions(head))
        return None
    if head.startswith(b"OggS"):
        return Sniffed("ogg", "container", "Ogg")
    if head.startswith(b"fLaC"):
        return Sniffed("flac", "audio", "FLAC")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("png_pipe", "image", "PNG", _png_dimensions(head))
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("jpeg_pipe", "image", "JPEG", _jpeg_dimensions(head))
    if _is_adts_header(head):
        return Sniffed("aac", "audio", "AAC")
    if _is_mp3_frame_header(head):
        return Sniffed("mp3", "audio", "MP3")
    return None


def _identify_iso_bmff(head: bytes) -> Sniffed | None:
    size = struct.unpack(">I", head[:4])[0]
    # 0 means "to end of file", 1 means a 64-bit size follows; anything else below 8 is bogus.
    if size not in (0, 1) and size < 8:
        return None
    if head[4:8] != b"ftyp":
        return Sniffed("mov", "container", "MP4")
    brand = head[8:12]
    if brand in _AVIF_BRANDS:
        return None
    if brand in _HEIF_BRANDS:
        return None
    if brand == b"qt  ":
        return Sniffed("mov", "container", "MOV")
    if brand in (b"M4A ", b"M4B "):
        return Sniffed("mov", "audio", "M4A")
    if brand.startswith(b"3g"):
        return Sniffed("mov", "container", "3GP")
    return Sniffed("mov", "container", "MP4")


def _identify_ebml(head: bytes) -> Sniffed | None:
    # DocType (element id 0x4282) is a short string inside the EBML header.
    at = head.find(b"\x42\x82", 4, 64)
    if at < 0:
        return None
    doc_type = head[at + 3 : at + 3 + 8]
    if doc_type.startswith(b"webm"):
        return Sniffed("matroska", "container", "WebM")
    if doc_type.startswith(b"matroska"):
        return Sniffed("matroska", "container", "MKV")
    return None


def _after_id3(handle: BinaryIO, head: bytes) -> Sniffed | None:
    """Skip an ID3v2 tag (which may hold cover art) and identify the audio after it."""
    if len(head) < 10 or head[3] not in (2, 3, 4) or any(b & 0x80 for b in head[6:10]):
        return None
    tag_size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    footer = 10 if head[5] & 0x10 else 0
    handle.seek(10 + tag_size + footer)
    # Some encoders pad the tag with zeros beyond its declared size.
    after = handle.read(HEAD_BYTES).lstrip(b"\x00")[:16]
    if _is_mp3_frame_header(after):
        return Sniffed("mp3", "audio", "MP3")
    if _is_adts_header(after):
        return Sniffed("aac", "audio", "AAC")
    if after.startswith(b"fLaC"):
        return Sniffed("flac", "audio", "FLAC")
    return None


def _is_mp3_frame_header(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return False
    version_bits = (head[1] >> 3) & 0x3
    layer_bits = (head[1] >> 1) & 0x3
    bitrate_index = head[2] >> 4
    rate_index = (head[2] >> 2) & 0x3
    # version 01 is reserved; layer 00 is reserved; we take layers II and III (MP2/MP3).
    return (
        version_bits != 1
        and layer_bits in (1, 2)
        and bitrate_index in _MP3_VALID_BITRATE_INDEX
        and rate_index != 3
    )


def _is_adts_header(head: bytes) -> bool:
    if len(head) < 7 or head[0] != 0xFF or (head[1] & 0xF6) != 0xF0:
        return False
    sampling_index = (head[2] >> 2) & 0xF
    frame_length = ((head[3] & 0x3) << 11) | (head[4] << 3) | (head[5] >> 5)
    return sampling_index <= 12 and frame_length >= 7


def _png_dimensions(head: bytes) -> tuple[int, int] | None:
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def _jpeg_dimensions(head: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        length = struct.unpack(">H", head[at + 2 : at + 4])[0]
        # SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[at + 5 : at + 9])
            return int(width), int(height)
        if marker == 0xDA:  # start of scan without a frame header: malformed
            return None
        at += 2 + length
    return None


def _webp_dimensions(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    body = head[20:]
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(body) >= 10:
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return width, height
    return None


def _describe_refusal(name: str, head: bytes) -> str:
    text_kind = _text_kind(head)
    if text_kind is not None:
        return f"{name} is a text file ({text_kind}), not media"
    binary_kind = _binary_kind(head)
    if binary_kind is not None:
        return f"{name} is {binary_kind}, which is not supported (accepted: {ACCEPTED_LABELS})"
    return f"{name} is not a recognised media format (accepted: {ACCEPTED_LABELS})"


def _text_kind(head: bytes) -> str | None:
    sample = head[:4096]
    if b"\x00" in sample:
        return None
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(sample) - 4:
            return None
        text = sample[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if not text or printable < 0.95 * len(text):
        return None
    lowered = text.lstrip("\ufeff \t\r\n").lower()
    if lowered.startswith("#extm3u"):
        return "an HLS playlist"
    if lowered.startswith("ffconcat") or lowered.startswith("file "):
        return "an FFmpeg concat list"
    if lowered.startswith(("<!doctype html", "<html")):
        return "an HTML page"
    if lowered.startswith("<?xml") or lowered.startswith("<svg"):
        return "an XML document"
    if lowered.startswith(("{", "[")):
        return "JSON or similar data"
    if lowered.startswith("[playlist]"):
        return "a PLS playlist"
    return "plain text"


def _binary_kind(head: bytes) -> str | None:
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if head.startswith(b"\x7fELF"):
        return "an executable"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS | _AVIF_BRANDS:
        return "a HEIF/AVIF image"
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "an MPEG transport stream"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "an MPEG program stream"
    if head.startswith(b"FLV"):
        return "an FLV file"
    if head.startswith(b"BM"):
        return "a BMP image"
    return None
