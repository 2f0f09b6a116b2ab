"""Constant-rate, upright RGB frames from any accepted video or still, in blocks or whole."""

from __future__ import annotations

import gc
import os
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from lipsync import samples
from lipsync.errors import NoVideoStreamError, OptionsError
from lipsync.media import open_video
from lipsync.media import video as video_module


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _write_vfr_ffv1(path: Path, times_ms: list[int]) -> Path:
    """A lossless MKV whose frame k is flat grey level 10·k, shown at ``times_ms[k]``."""
    with av.open(str(path), mode="w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=1000)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "bgr0"
        stream.codec_context.time_base = Fraction(1, 1000)
        for index, time_ms in enumerate(times_ms):
            pixels = np.full((16, 16, 3), 10 * index, np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="bgr0")
            frame.pts, frame.time_base = time_ms, Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    return jpeg[:2] + app1 + jpeg[2:]


def test_frames_are_rgb_uint8_contiguous(face_video: Path) -> None:
    source = open_video(face_video)
    assert (source.fps, source.frame_count, source.width, source.height) == (25.0, 75, 256, 256)
    frames = list(source.frames())
    assert len(frames) == 75
    for frame in frames[:3]:
        assert frame.dtype == np.uint8 and frame.shape == (256, 256, 3)
        assert frame.flags["C_CONTIGUOUS"]
    assert _mean_abs_diff(frames[0], frames[40]) > 1.0  # the head moves


def test_lower_rate_picks_the_frame_on_screen(face_video: Path) -> None:
    native = list(open_video(face_video).frames())
    slow = open_video(face_video, fps=10)
    assert slow.frame_count == 30
    frames = list(slow.frames())
    assert len(frames) == 30
    for index, frame in enumerate(frames):
        # Output time index/10 s shows source frame floor(index · 2.5).
        assert np.array_equal(frame, native[int(index * 2.5)])


def test_higher_rate_duplicates_frames(face_video: Path) -> None:
    native = list(open_video(face_video).frames())
    fast = list(open_video(face_video, fps=50).frames())
    assert len(fast) == 150
    assert np.array_equal(fast[2 * 37], native[37]) and np.array_equal(fast[2 * 37 + 1], native[37])


def test_drawing_on_a_frame_does_not_leak_into_its_repeat(face_video: Path) -> None:
    native = list(open_video(face_video).frames(0, 10))
    for index, frame in enumerate(open_video(face_video, fps=50).frames(0, 20)):
        assert np.array_equal(frame, native[index // 2])
        frame[:] = 0  # the caller pastes a mouth in place


def test_variable_rate_webm_becomes_constant(browser_webm: Path) -> None:
    source = open_video(browser_webm)
    duration = 3.0
    assert source.info.variable_frame_rate
    assert abs(source.frame_count - duration * source.fps) <= 1.5
    assert len(list(source.frames())) == source.frame_count
    at_25 = open_video(browser_webm, fps=25)
    assert abs(at_25.frame_count - 75) <= 1
    assert len(list(at_25.frames())) == at_25.frame_count


def test_vfr_selection_rule_is_exact(tmp_path: Path) -> None:
    times_ms = [0, 30, 70, 80, 150, 160, 200, 290, 300, 390]
    path = _write_vfr_ffv1(tmp_path / "vfr.mkv", times_ms)
    source = open_video(path, fps=20)  # one slot every 50 ms
    frames = list(source.frames())
    assert len(frames) == source.frame_count >= 8
    for index, frame in enumerate(frames):
        slot_ms = index * 50
        expected = max(k for k, t in enumerate(times_ms) if t <= slot_ms + 5)
        assert int(frame[0, 0, 0]) == 10 * expected, f"slot {index}"


@pytest.mark.parametrize("fixture", ["face_video", "browser_webm"])
def test_block_reads_equal_a_full_decode(request: pytest.FixtureRequest, fixture: str) -> None:
    source = open_video(request.getfixturevalue(fixture))
    full = list(source.frames())
    blocks = [(60, 75), (45, 60), (30, 45), (13, 31), (1, 2), (0, 5), (70, 200)]
    for start, stop in blocks:  # backwards first, as ping-pong playback reads them
        block = list(source.frames(start, stop))
        assert len(block) == min(stop, len(full)) - start
        for offset, frame in enumerate(block):
            assert np.array_equal(frame, full[start + offset]), (start, offset)
    assert list(source.frames(source.frame_count, source.frame_count + 5)) == []


@pytest.mark.parametrize("fixture", ["face_video", "browser_webm"])
def test_a_second_pass_from_the_cache_equals_decoding_again(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    path = request.getfixturevalue(fixture)
    decoded = list(open_video(path, fps=50).frames())  # 50 fps: repeated frames too
    cached = open_video(path, fps=50, cache_bytes=10**9)
    first = list(cached.frames())
    assert cached.cached_frames == len(first) == len(decoded)
    for start, stop in [(0, None), (60, 75), (13, 31), (0, 1)]:
        again = list(cached.frames(start, stop))
        assert len(again) == len(decoded[start:stop])
        for frame, expected in zip(again, decoded[start:stop], strict=True):
            assert np.array_equal(frame, expected)
    again[0][:] = 0  # each read is a new array: drawing on one leaves the cache alone
    assert np.array_equal(next(cached.frames(0, 1)), decoded[0])
    cached.drop_cache()
    assert cached.cached_frames == 0
    assert np.array_equal(next(cached.frames(0, 1)), decoded[0])


def test_the_cache_keeps_a_prefix_within_its_budget(face_video: Path) -> None:
    decoded = list(open_video(face_video).frames())
    with av.open(str(face_video)) as container:  # the decoder's own picture, as cached
        picture = next(container.decode(video=0))
        frame_bytes = sum(plane.buffer_size for plane in picture.planes)
    source = open_video(face_video, cache_bytes=10 * frame_bytes + frame_bytes // 2)
    list(source.frames(0, 40))
    assert source.cached_frames == 10
    # The rest is decoded again, from a seek, and the whole reads as before.
    for frame, expected in zip(source.frames(), decoded, strict=True):
        assert np.array_equal(frame, expected)
    # Only a first pass from the start fills the cache.
    later = open_video(face_video, cache_bytes=10**9)
    list(later.frames(5, 20))
    assert later.cached_frames == 0


def test_a_releasing_read_frees_the_pictures_it_reads(face_video: Path) -> None:
    decoded = list(open_video(face_video, fps=50).frames())  # 50 fps: repeated pictures too
    source = open_video(face_video, fps=50, cache_bytes=10**9)
    list(source.frames())
    kept = source._cache
    for frame, expected in zip(source.frames(0, 40, release=True), decoded[:40], strict=True):
        assert np.array_equal(frame, expected)
    assert all(picture is None for picture in kept[:40])
    assert all(picture is not None for picture in kept[40:])
    # What was released decodes again; what was not still comes from the cache.
    for frame, expected in zip(source.frames(30, 60), decoded[30:60], strict=True):
        assert np.array_equal(frame, expected)


def test_a_seek_that_overshoots_falls_back_to_decoding_from_the_start(
    face_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = open_video(face_video)
    full = list(source.frames())
    real_open = video_module.open_sniffed

    class OvershootingSeek:
        def __init__(self, container: Any) -> None:
            self._container = container

        def __getattr__(self, name: str) -> Any:
            return getattr(self._container, name)

        def __enter__(self) -> OvershootingSeek:
            return self

        def __exit__(self, *exc: object) -> None:
            self._container.close()

        def seek(self, offset: int, **kwargs: Any) -> None:
            stream = kwargs["stream"]
            self._container.seek(offset + int(2 / stream.time_base), **kwargs)

    def open_overshooting(*args: Any, **kwargs: Any) -> Any:
        container, sniffed = real_open(*args, **kwargs)
        return OvershootingSeek(container), sniffed

    monkeypatch.setattr(video_module, "open_sniffed", open_overshooting)
    block = list(source.frames(10, 20))
    assert all(np.array_equal(a, b) for a, b in zip(block, full[10:20], strict=True))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_applied_in_the_right_direction(
    tmp_path: Path, rotated_clip: Path, rotation: int
) -> None:
    path = (
        rotated_clip if rotation == 90 else samples.rotated_clip(tmp_path / "r.mp4", rotation, 0.4)
    )
    source = open_video(path)
    assert (source.width, source.height) == (192, 256)
    frame = next(iter(source.frames(0, 1)))
    upright = samples.portrait((192, 256))
    assert frame.shape == upright.shape
    assert _mean_abs_diff(frame, upright) < 5.0
    assert _mean_abs_diff(frame, upright[::-1, ::-1]) > 20.0  # the opposite turn


def test_png_still_is_one_exact_frame(still_png: Path) -> None:
    source = open_video(still_png)
    assert source.is_still and source.frame_count == 1 and source.fps == 25.0
    frames = list(source.frames(0, 10))
    assert len(frames) == 1
    assert np.array_equal(frames[0], samples.portrait((256, 256)))
    assert list(source.frames(1, 10)) == []
    assert open_video(still_png, fps=12).fps == 12.0


def test_jpeg_still(still_jpg: Path) -> None:
    frame = next(iter(open_video(still_jpg).frames()))
    assert _mean_abs_diff(frame, samples.portrait((256, 256))) < 4.0


@pytest.mark.parametrize(("orientation", "turns"), [(6, -1), (3, 2), (8, 1)])
def test_jpeg_exif_orientation_is_honoured(tmp_path: Path, orientation: int, turns: int) -> None:
    plain = samples.still_image(tmp_path / "plain.jpg", size=(160, 96))
    stored = next(iter(open_video(plain).frames()))
    tagged = tmp_path / "tagged.jpg"
    tagged.write_bytes(_with_exif_orientation(plain.read_bytes(), orientation))
    frame = next(iter(open_video(tagged).frames()))
    assert np.array_equal(frame, np.rot90(stored, turns))


def test_audio_only_file_has_no_video(speech_wav: Path) -> None:
    with pytest.raises(NoVideoStreamError, match=r"speech\.wav has no video stream"):
        open_video(speech_wav)


def test_closing_a_generator_early_releases_the_file(face_video: Path) -> None:
    source = open_video(face_video)
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    frames = source.frames(5, 60)
    next(frames)
    assert len(os.listdir("/proc/self/fd")) > before
    frames.close()
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


def _write_yuv420(path: Path, count: int, colorspace: int | None, pix_fmt: str = "yuv420p") -> Path:
    """A short H.264 clip of moving gradients, tagged with ``colorspace`` (AVColorSpace)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        if colorspace is not None:
            stream.codec_context.colorspace = colorspace
        y, x = np.mgrid[0:48, 0:64]
        for index in range(count):
            pixels = np.stack([(x * 4 + 9 * index) % 256, y * 5, (x + y) * 2], -1).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format=pix_fmt)
            if colorspace is not None:
                frame.colorspace = colorspace
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(("colorspace", "matrix"), [(None, "bt601"), (1, "bt709"), (6, "bt601")])
def test_pictures_are_the_decoders_own_yuv(
    tmp_path: Path, colorspace: int | None, matrix: str
) -> None:
    path = _write_yuv420(tmp_path / "clip.mp4", 12, colorspace)
    source = open_video(path, cache_bytes=10**8)
    assert source.picture_matrix() is None  # known once the first pass has kept a picture
    rgb = list(source.frames())
    assert source.picture_matrix() == matrix
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray() for frame in container.decode(video=0)]
    for start, stop in [(0, None), (4, 9)]:
        pictures = list(source.pictures(start, stop))
        assert len(pictures) == len(decoded[start:stop])
        for picture, planes, frame in zip(
            pictures, decoded[start:stop], rgb[start:stop], strict=True
        ):
            assert picture.matrix == matrix
            assert np.array_equal(picture.planes, planes)
            # Its RGB is the frames' RGB (FFmpeg's, interpolating chroma) within a level.
            assert _mean_abs_diff(picture.rgb((0, 0, 64, 48)), frame) < 1.5
    pictures[0].planes[:] = 0  # each read is a new picture: editing one leaves the cache alone
    assert np.array_equal(next(source.pictures(4, 5)).planes, decoded[4])
    # Or made in arrays the caller gives (an encoder's slots), one per picture.
    given: list[np.ndarray] = []

    def into() -> np.ndarray:
        given.append(np.full((72, 64), 7, np.uint8))
        return given[-1]

    made = list(source.pictures(2, 8, into=into))
    assert [picture.planes is array for picture, array in zip(made, given, strict=True)]
    assert all(np.array_equal(p.planes, d) for p, d in zip(made, decoded[2:8], strict=True))


def test_only_plain_limited_range_420_sources_give_pictures(
    tmp_path: Path, rotated_clip: Path, still_png: Path
) -> None:
    def matrix_of(path: Path) -> str | None:
        source = open_video(path, cache_bytes=10**8)
        list(source.frames(0, 2))
        return source.picture_matrix()

    assert matrix_of(_write_yuv420(tmp_path / "bt2020.mp4", 3, 9)) is None  # another matrix
    assert matrix_of(_write_yuv420(tmp_path / "full.mp4", 3, None, "yuvj420p")) is None
    assert matrix_of(_write_yuv420(tmp_path / "444.mp4", 3, None, "yuv444p")) is None
    assert matrix_of(rotated_clip) is None  # its frames are turned upright in RGB
    assert matrix_of(still_png) is None
    uncached = open_video(_write_yuv420(tmp_path / "plain.mp4", 3, None))
    list(uncached.frames())
    assert uncached.picture_matrix() is None
    with pytest.raises(OptionsError, match="4:2:0 pictures"):
        next(uncached.pictures())


def test_pictures_beyond_the_cache_are_decoded_again(tmp_path: Path) -> None:
    path = _write_yuv420(tmp_path / "clip.mp4", 12, 1)
    with av.open(str(path)) as container:
        first = next(container.decode(video=0))
        decoded = [first.to_ndarray()] + [f.to_ndarray() for f in container.decode(video=0)]
        frame_bytes = sum(plane.buffer_size for plane in first.planes)
    source = open_video(path, cache_bytes=3 * frame_bytes + frame_bytes // 2)
    list(source.frames())
    assert source.cached_frames == 3 and source.picture_matrix() == "bt709"
    pictures = list(source.pictures(release=True))
    assert all(np.array_equal(p.planes, d) for p, d in zip(pictures, decoded, strict=True))
