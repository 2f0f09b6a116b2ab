"""Untrusted files are opened confined to themselves, within limits, with typed errors only."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import av
import pytest

from lipsync import samples
from lipsync.errors import (
    CorruptMediaError,
    LimitExceededError,
    MediaError,
    UnsupportedFormatError,
)
from lipsync.media import open_input, open_video, probe
from lipsync.media import safety as safety_module
from lipsync.options import Limits


def _png_with_header_size(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
    return path


def test_open_input_forces_the_sniffed_demuxer(tmp_path: Path, face_video: Path) -> None:
    disguised = tmp_path / "speech.wav"
    shutil.copyfile(face_video, disguised)
    with open_input(disguised) as container:
        assert "mov" in container.format.name
        assert len(container.streams.video) == 1
        assert len(container.streams.audio) == 1


def test_a_name_that_looks_like_a_protocol_is_just_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, speech_wav: Path
) -> None:
    # FFmpeg would read "subfile:..." or "concat:..." as a protocol; we pass file: URLs.
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(speech_wav, tmp_path / "concat:speech.wav")
    with open_input("concat:speech.wav") as container:
        assert container.streams.audio[0].codec_context.sample_rate == 22050


def test_urls_are_not_files(tmp_path: Path) -> None:
    for url in ("subfile:,,start,0,end,100,,:/etc/passwd", "http://127.0.0.1/x.mp4"):
        with pytest.raises(MediaError, match="does not exist"):
            open_input(url)


@pytest.mark.parametrize(
    ("name", "content", "looks_like"),
    [
        (
            "speech.mp4",
            "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n",
            "HLS playlist",
        ),
        ("face.mkv", "ffconcat version 1.0\nfile '{target}'\n", "concat list"),
        ("notes.mov", "nothing to see here\n", "plain text"),
    ],
)
def test_playlists_and_lists_pointing_at_local_files_are_refused(
    tmp_path: Path, speech_wav: Path, name: str, content: str, looks_like: str
) -> None:
    target = tmp_path / "secret.wav"
    shutil.copyfile(speech_wav, target)
    path = tmp_path / name
    path.write_text(content.format(target=target))
    with pytest.raises(UnsupportedFormatError, match=looks_like):
        open_input(path)


def test_the_format_whitelist_blocks_any_other_demuxer(tmp_path: Path, speech_wav: Path) -> None:
    # The whitelist reaches FFmpeg itself: a demuxer other than the sniffed one is refused
    # even when asked for directly, which is what stops nested playlists (AVI GAB2 and such).
    url = "file:" + str(speech_wav)
    with pytest.raises(UnsupportedFormatError), safety_module.translate_av_errors("speech.wav"):
        av.open(url, format="wav", options={"format_whitelist": "mov"})


def test_truncated_mp4_without_its_index_fails_at_open(tmp_path: Path, sample_dir: Path) -> None:
    # The rotated clip is written without faststart, so its moov box is at the end.
    whole = samples.rotated_clip(sample_dir / "safety_moov_last.mp4", seconds=1.0).read_bytes()
    assert whole.index(b"mdat") < whole.index(b"moov")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CorruptMediaError, match=r"cut\.mp4"):
        open_input(cut)
    with pytest.raises(CorruptMediaError):
        probe(cut)


def test_truncated_faststart_mp4_fails_while_decoding(tmp_path: Path, face_video: Path) -> None:
    whole = face_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    source = open_video(cut)
    decoded = 0
    with pytest.raises(CorruptMediaError, match="frame") as caught:
        for _ in source.frames():
            decoded += 1
    assert 0 < decoded < 75
    assert "cut.mp4" in str(caught.value)


def test_garbage_after_valid_magic_gives_a_typed_error(tmp_path: Path) -> None:
    for name, head in [
        ("bad.mkv", b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm"),
        ("bad.mp4", struct.pack(">I", 24) + b"ftypisom" + b"\x00" * 12),
        ("bad.wav", b"RIFF\x24\x00\x00\x00WAVE"),
        ("bad.png", b"\x89PNG\r\n\x1a\n"),
    ]:
        path = tmp_path / name
        path.write_bytes(head + bytes(range(256)) * 8)
        with pytest.raises(MediaError):
            probe(path)


def test_huge_png_header_is_refused_before_ffmpeg_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _png_with_header_size(tmp_path / "huge.png", 20000, 20000)

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("av.open must not be reached")

    monkeypatch.setattr(safety_module.av, "open", no_open)
    with pytest.raises(LimitExceededError, match=r"huge\.png is 20000×20000"):
        open_input(path)


def test_pixel_count_limit(tmp_path: Path) -> None:
    path = _png_with_header_size(tmp_path / "wide.png", 8000, 8000)
    with pytest.raises(LimitExceededError, match="pixels per frame"):
        open_input(path)


def test_video_dimension_limit_from_the_stream_header(face_video: Path) -> None:
    with pytest.raises(LimitExceededError, match="256×256"):
        open_input(face_video, Limits(max_width=200))


def test_duration_limit(face_video: Path) -> None:
    with pytest.raises(LimitExceededError, match=r"lasts 3\.0 s"):
        open_input(face_video, Limits(max_duration_s=2.5))
    open_input(face_video, Limits(max_duration_s=3.5)).close()


def test_duration_limit_without_a_header_duration(browser_webm: Path) -> None:
    # The WebM header says nothing, so the open passes; probing counts the packets.
    open_input(browser_webm, Limits(max_duration_s=1.0)).close()
    with pytest.raises(LimitExceededError, match="lasts"):
        probe(browser_webm, Limits(max_duration_s=1.0))


def test_stream_count_limit(face_video: Path) -> None:
    with pytest.raises(LimitExceededError, match="2 streams"):
        open_input(face_video, Limits(max_streams=1))


def test_file_size_limit(face_video: Path) -> None:
    with pytest.raises(LimitExceededError, match="bytes"):
        open_input(face_video, Limits(max_file_bytes=1000))
