"""Formats are recognised from bytes, whatever the file is called; everything else is refused."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from lipsync import samples
from lipsync.errors import EmptyMediaError, LimitExceededError, MediaError, UnsupportedFormatError
from lipsync.media import sniff
from lipsync.options import Limits


def _renamed(source: Path, directory: Path, name: str) -> Path:
    target = directory / name
    shutil.copyfile(source, target)
    return target


@pytest.fixture(scope="module")
def audio_formats(sample_dir: Path, speech_wav: Path) -> dict[str, Path]:
    suffixes = ["m4a", "aac", "ogg", "flac", "webm", "mkv", "avi"]
    return {
        suffix: samples.transcode_audio(speech_wav, sample_dir / f"sniff_speech.{suffix}")
        for suffix in suffixes
    }


@pytest.mark.parametrize(
    ("fixture", "demuxer", "label", "kind"),
    [
        ("face_video", "mov", "MP4", "container"),
        ("browser_webm", "matroska", "WebM", "container"),
        ("speech_wav", "wav", "WAV", "audio"),
        ("speech_mp3", "mp3", "MP3", "audio"),
        ("still_png", "png_pipe", "PNG", "image"),
        ("still_jpg", "jpeg_pipe", "JPEG", "image"),
    ],
)
def test_fixtures_are_identified_even_under_a_misleading_name(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fixture: str,
    demuxer: str,
    label: str,
    kind: str,
) -> None:
    source: Path = request.getfixturevalue(fixture)
    found = sniff(source)
    assert (found.format, found.label, found.kind) == (demuxer, label, kind)
    disguised = _renamed(source, tmp_path, "disguised.txt")
    assert sniff(disguised) == found


def test_an_mp4_named_wav_and_a_wav_named_mp4(
    tmp_path: Path, face_video: Path, speech_wav: Path
) -> None:
    assert sniff(_renamed(face_video, tmp_path, "speech.wav")).format == "mov"
    assert sniff(_renamed(speech_wav, tmp_path, "video.mp4")).format == "wav"


@pytest.mark.parametrize(
    ("suffix", "demuxer", "label"),
    [
        ("m4a", "mov", "M4A"),
        ("aac", "aac", "AAC"),
        ("ogg", "ogg", "Ogg"),
        ("flac", "flac", "FLAC"),
        ("webm", "matroska", "WebM"),
        ("mkv", "matroska", "MKV"),
        ("avi", "avi", "AVI"),
    ],
)
def test_audio_containers(
    audio_formats: dict[str, Path], suffix: str, demuxer: str, label: str
) -> None:
    found = sniff(audio_formats[suffix])
    assert (found.format, found.label) == (demuxer, label)


def test_webp_and_image_dimensions_come_from_the_header(sample_dir: Path) -> None:
    webp = samples.still_image(sample_dir / "sniff_still.webp", size=(120, 90))
    png = samples.still_image(sample_dir / "sniff_still.png", size=(121, 91))
    jpg = samples.still_image(sample_dir / "sniff_still.jpg", size=(123, 93))
    assert (sniff(webp).format, sniff(webp).dimensions) == ("webp_pipe", (120, 90))
    assert sniff(png).dimensions == (121, 91)
    assert sniff(jpg).dimensions == (123, 93)


def test_mp3_behind_a_padded_id3_tag(tmp_path: Path) -> None:
    tag_body = b"\x00" * 300
    size = len(tag_body)
    synchsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    frame_header = b"\xff\xfb\x90\x64"  # MPEG-1 layer III, 128 kb/s, 44.1 kHz
    path = tmp_path / "tagged.bin"
    path.write_bytes(b"ID3\x04\x00\x00" + synchsafe + tag_body + b"\x00" * 50 + frame_header)
    assert sniff(path).format == "mp3"


def test_an_id3_tag_in_front_of_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tagged.mp3"
    path.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x04" + b"\x00" * 4 + b"#EXTM3U\nx\n")
    with pytest.raises(UnsupportedFormatError):
        sniff(path)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "speech.mp4",
            b"#EXTM3U\n#EXTINF:10,\n/etc/passwd\n",
            "speech.mp4 is a text file (an HLS playlist), not media",
        ),
        (
            "face.mkv",
            b"ffconcat version 1.0\nfile '/etc/passwd'\n",
            "face.mkv is a text file (an FFmpeg concat list)",
        ),
        ("list.mp4", b"file 'a.mp4'\nfile 'b.mp4'\n", "an FFmpeg concat list"),
        ("page.webm", b"<!DOCTYPE html><html><body>x</body></html>", "an HTML page"),
        (
            "notes.wav",
            "Just some notes — nothing more.\n".encode(),
            "notes.wav is a text file (plain text)",
        ),
        ("anim.mp4", b"GIF89a" + b"\x00" * 40, "anim.mp4 is a GIF image, which is not supported"),
        ("blob.mp4", bytes(range(256)) * 4, "blob.mp4 is not a recognised media format"),
    ],
)
def test_refusals_name_the_file_and_what_it_looks_like(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnsupportedFormatError) as caught:
        sniff(path)
    assert expected in str(caught.value)


def test_zero_bytes_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(EmptyMediaError, match=r"empty\.mp4 is empty \(0 bytes\)"):
        sniff(path)


def test_size_limit_is_checked_before_reading(tmp_path: Path, speech_wav: Path) -> None:
    size = speech_wav.stat().st_size
    with pytest.raises(LimitExceededError, match=str(size)):
        sniff(speech_wav, Limits(max_file_bytes=size - 1))
    assert sniff(speech_wav, Limits(max_file_bytes=size)).format == "wav"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"nothere\.mp4 does not exist"):
        sniff(tmp_path / "nothere.mp4")
    with pytest.raises(MediaError, match="not a regular file"):
        sniff(tmp_path)


def test_heif_is_named_and_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(struct.pack(">I", 24) + b"ftypheic" + b"\x00" * 12 + b"\x00" * 64)
    with pytest.raises(UnsupportedFormatError, match="HEIF/AVIF"):
        sniff(path)


def test_matroska_with_an_unknown_doctype_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.mkv"
    path.write_bytes(b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84abcd" + b"\x00" * 64)
    with pytest.raises(UnsupportedFormatError):
        sniff(path)
