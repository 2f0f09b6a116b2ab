"""The writer: exact rates and durations, padded odd sizes, faststart, lossless, atomic output."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from lipsync.errors import EmptyMediaError, OptionsError
from lipsync.media import ArrayAudio, VideoWriter, iter_audio, open_video


def _frames(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(count)]


def _smooth_frames(count: int, height: int, width: int) -> list[np.ndarray]:
    y, x = np.mgrid[0:height, 0:width]
    return [
        np.stack([(x * 3 + i) % 256, (y * 2) % 256, (x + y) % 256], axis=-1).astype(np.uint8)
        for i in range(count)
    ]


def _top_level_boxes(path: Path) -> list[bytes]:
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        boxes.append(kind)
        if size == 0:
            break
        offset += size
    return boxes


def _stream_seconds(stream: av.stream.Stream) -> float:
    assert stream.duration is not None and stream.time_base is not None
    return float(stream.duration * stream.time_base)


def _write(path: Path, frames: list[np.ndarray], fps: float, **kwargs: object) -> VideoWriter:
    height, width = frames[0].shape[:2]
    with VideoWriter(path, fps, width, height, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)
    return writer


@pytest.mark.parametrize(
    ("fps", "rate"), [(25, Fraction(25)), (30000 / 1001, Fraction(30000, 1001))]
)
def test_h264_aac_with_exact_rate_and_durations(
    tmp_path: Path, speech_wav: Path, fps: float, rate: Fraction
) -> None:
    path = tmp_path / "out.mp4"
    writer = _write(
        path, _smooth_frames(50, 64, 96), fps, audio=iter_audio(speech_wav), preset="ultrafast"
    )
    assert writer.frames_written == 50
    expected_s = float(50 / rate)
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert video.average_rate == rate
        assert video.frames == 50
        assert audio.codec_context.name == "aac"
        assert audio.codec_context.sample_rate == 22050
        frame_s = float(1 / rate)
        assert abs(_stream_seconds(video) - expected_s) < frame_s
        # The speech (2.8 s) is longer than the video: it must be cut to it.
        assert abs(_stream_seconds(audio) - expected_s) < frame_s
        first_audio = next(container.decode(audio=0))
        assert first_audio.pts == 0


def test_audio_written_in_steps_is_the_audio_written_per_frame(
    tmp_path: Path, speech_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lipsync.media import writer as writer_module

    def audio_packets(path: Path) -> list[tuple[int | None, bytes]]:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]

    frames = _smooth_frames(70, 32, 32)
    stepped = tmp_path / "stepped.mp4"  # the default: audio encoded each second of video
    _write(stepped, frames, 25, audio=iter_audio(speech_wav), preset="ultrafast")
    monkeypatch.setattr(writer_module, "_AUDIO_STEP_S", 1 / 25)
    per_frame = tmp_path / "per_frame.mp4"
    _write(per_frame, frames, 25, audio=iter_audio(speech_wav), preset="ultrafast")
    packets = audio_packets(stepped)
    assert len(packets) > 50 and packets == audio_packets(per_frame)


def test_short_audio_is_padded_with_silence(tmp_path: Path) -> None:
    tone = ArrayAudio(np.full(8000, 0.5, np.float32), 16000)  # 0.5 s
    path = tmp_path / "padded.mp4"
    _write(path, _smooth_frames(50, 32, 32), 25, audio=tone, preset="ultrafast")
    with av.open(str(path)) as container:
        assert abs(_stream_seconds(container.streams.audio[0]) - 2.0) < 0.04
        samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    assert np.abs(samples[16000:30000]).max() < 0.01  # silence after the tone


def test_audio_at_a_rate_aac_lacks_is_resampled(tmp_path: Path) -> None:
    odd_rate = ArrayAudio(np.zeros((2, 22000 * 2), np.float32), 22000)
    path = tmp_path / "odd.mkv"
    _write(path, _smooth_frames(25, 32, 32), 25, audio=odd_rate, preset="ultrafast")
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        assert (audio.codec_context.sample_rate, audio.codec_context.channels) == (48000, 2)


def test_odd_sizes_are_padded_by_repeating_the_edge(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    frames = _smooth_frames(5, 49, 65)
    _write(path, frames, 25, crf=0, preset="ultrafast")
    decoded = list(open_video(path).frames())
    assert decoded[0].shape == (50, 66, 3)
    assert np.abs(decoded[0][:49, :65].astype(int) - frames[0]).mean() < 3
    assert np.abs(decoded[0][49, :65].astype(int) - frames[0][48]).mean() < 3
    assert np.abs(decoded[0][:49, 65].astype(int) - frames[0][:, 64]).mean() < 3


@pytest.mark.parametrize(("height", "width"), [(40, 96), (48, 100), (50, 64), (50, 98)])
def test_frames_of_any_even_size_keep_their_pixels(tmp_path: Path, height: int, width: int) -> None:
    # The writer wraps the converted planes without copying them when the chroma planes have
    # an even number of rows (height 40, 48) and copies them otherwise (50: 25 chroma rows).
    path = tmp_path / f"{width}x{height}.mp4"
    frames = _smooth_frames(3, height, width)
    _write(path, frames, 25, crf=0, preset="ultrafast")
    decoded = list(open_video(path).frames())
    assert len(decoded) == 3
    for got, want in zip(decoded, frames, strict=True):
        assert np.abs(got.astype(int) - want).mean() < 3


def test_mp4_and_mov_put_the_index_first(tmp_path: Path) -> None:
    for name in ("fast.mp4", "fast.mov"):
        path = tmp_path / name
        _write(path, _smooth_frames(10, 32, 32), 25, preset="ultrafast")
        boxes = _top_level_boxes(path)
        assert boxes.index(b"moov") < boxes.index(b"mdat"), boxes


def test_colour_tags_are_declared(tmp_path: Path) -> None:
    path = tmp_path / "tags.mp4"
    _write(path, _smooth_frames(3, 32, 32), 25, preset="ultrafast")
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    # BT.601 matrix (what the writer converts with), limited range
    assert (frame.colorspace, frame.color_range) == (6, 1)


def test_saturated_colours_survive_a_round_trip(tmp_path: Path) -> None:
    colours = np.array(
        [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [40, 90, 200], [230, 180, 150]],
        np.uint8,
    )
    frame = np.repeat(np.repeat(colours[None], 32, axis=0), 32, axis=1)  # (32, 192, 3) stripes
    path = tmp_path / "colours.mp4"
    _write(path, [frame] * 3, 25, crf=0, preset="ultrafast")
    decoded = next(iter(open_video(path).frames()))
    for i, colour in enumerate(colours):
        patch = decoded[8:24, i * 32 + 8 : i * 32 + 24].reshape(-1, 3).mean(axis=0)
        assert np.abs(patch - colour).max() < 4, (colour, patch)


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("exact.mp4", "libx264rgb"),
        ("exact.mov", "libx264rgb"),
        ("exact.mkv", "libx264rgb"),
        ("exact.mkv", "ffv1"),
    ],
)
def test_lossless_round_trip_is_pixel_exact(tmp_path: Path, name: str, codec: str) -> None:
    frames = _frames(6, 37, 53)  # odd sizes are kept as they are in lossless mode
    path = tmp_path / name
    _write(path, frames, 25, lossless=True, lossless_codec=codec, preset="ultrafast")
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == len(frames)
    for written, read in zip(frames, decoded, strict=True):
        assert np.array_equal(written, read)


def test_an_exception_leaves_no_trace_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "result.mp4"
    path.write_bytes(b"previous result")
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(path, 25, 32, 32) as writer:
        for index, frame in enumerate(_smooth_frames(20, 32, 32)):
            writer.write(frame)
            if index == 10:
                raise RuntimeError("boom")
    assert path.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.mp4"]


def test_success_replaces_the_old_file_atomically(tmp_path: Path) -> None:
    path = tmp_path / "result.mp4"
    path.write_bytes(b"previous result")
    with VideoWriter(path, 25, 32, 32, preset="ultrafast") as writer:
        for frame in _smooth_frames(60, 32, 32):
            writer.write(frame)
        # The encoder has produced packets by now, so the hidden part file exists.
        temp_files = [p.name for p in tmp_path.iterdir() if p.name != "result.mp4"]
        assert len(temp_files) == 1 and temp_files[0].startswith(".result.")
        assert temp_files[0].endswith(".part.mp4")
        assert path.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.mp4"]
    assert open_video(path).frame_count == 60


def test_zero_frames_is_an_error_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(EmptyMediaError), VideoWriter(tmp_path / "none.mp4", 25, 32, 32):
        pass
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match=r"'\.avi'"):
        VideoWriter(tmp_path / "out.avi", 25, 32, 32)
    with pytest.raises(OptionsError, match="fps"):
        VideoWriter(tmp_path / "out.mp4", 0, 32, 32)
    with pytest.raises(OptionsError, match="preset"):
        VideoWriter(tmp_path / "out.mp4", 25, 32, 32, preset="warp")
    with pytest.raises(OptionsError, match="FFV1"):
        VideoWriter(tmp_path / "out.mp4", 25, 32, 32, lossless=True, lossless_codec="ffv1")
    with VideoWriter(tmp_path / "out.mp4", 25, 32, 32, preset="ultrafast") as writer:
        with pytest.raises(ValueError, match=r"\(32, 32, 3\)"):
            writer.write(np.zeros((32, 30, 3), np.uint8))
        writer.write(np.zeros((32, 32, 3), np.uint8))


def _i420(frame: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420))


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize(
    ("matrix", "tag", "height"), [("bt601", 6, 48), ("bt709", 1, 48), ("bt709", 1, 46)]
)
def test_planes_are_encoded_as_given_and_tagged_with_their_matrix(
    tmp_path: Path, matrix: str, tag: int, height: int, copy: bool
) -> None:
    path = tmp_path / "planes.mp4"
    pictures = [_i420(frame) for frame in _smooth_frames(5, height, 64)]
    buffer = np.empty_like(pictures[0])
    with VideoWriter(path, 25, 64, height, crf=0, preset="ultrafast", matrix=matrix) as writer:  # type: ignore[arg-type]
        for planes in pictures:
            buffer[:] = planes
            writer.write_planes(buffer, copy=copy)
            # One array reused, and spoilt as soon as the call returns: the encoder must be
            # done with it (copy=False) or have taken a copy.
            buffer[:] = 255 - buffer
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.colorspace == tag
        decoded = [frame.to_ndarray() for frame in container.decode(video=0)]
    assert len(decoded) == 5
    assert all(np.array_equal(a, b) for a, b in zip(decoded, pictures, strict=True))  # crf 0


def test_rgb_frames_are_converted_with_the_writers_matrix(tmp_path: Path) -> None:
    path = tmp_path / "bt709.mp4"
    frames = _smooth_frames(3, 48, 64)
    _write(path, frames, 25, crf=0, preset="ultrafast", matrix="bt709")
    # A reader that honours the tag gets the colours back.
    decoded = list(open_video(path).frames())
    assert all(np.abs(a.astype(int) - b).mean() < 2 for a, b in zip(decoded, frames, strict=True))


def test_planes_are_refused_when_they_cannot_be_encoded_as_they_are(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "a.mp4", 25, 64, 48) as writer:
        with pytest.raises(ValueError, match="planes must be uint8"):
            writer.write_planes(np.zeros((48, 64), np.uint8))
        writer.write_planes(np.zeros((72, 64), np.uint8))
    with VideoWriter(tmp_path / "b.mkv", 25, 64, 48, lossless=True) as writer:
        with pytest.raises(ValueError, match="normal mode"):
            writer.write_planes(np.zeros((72, 64), np.uint8))
        writer.write(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(OptionsError, match="matrix"):
        VideoWriter(tmp_path / "c.mp4", 25, 64, 48, matrix="bt2020")  # type: ignore[arg-type]


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def _decoded_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray() for frame in container.decode(audio=0)]
    return np.concatenate(frames, axis=1)


def test_copied_audio_is_the_speech_bit_exact_and_interleaved(
    tmp_path: Path, face_video: Path
) -> None:
    # face_video's sound is AAC in MP4: its packets go into the output as they are.
    from lipsync.media.carry import CopiedAudio, copyable

    assert copyable(face_video, ".mp4") and copyable(face_video, ".mov")
    out = tmp_path / "copied.mp4"
    _write(out, _smooth_frames(75, 32, 32), 25, audio=CopiedAudio(face_video), preset="ultrafast")
    assert _audio_packets(out) == _audio_packets(face_video)
    assert np.array_equal(_decoded_audio(out), _decoded_audio(face_video))
    with av.open(str(out)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac" and audio.start_time == 0
        # Muxed as the video went, not all at the end: sound and picture interleave.
        kinds = [p.stream.type for p in container.demux() if p.size]
    first_video = kinds.index("video")
    assert "audio" in kinds[first_video : first_video + 60]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_only_a_track_of_the_same_container_family_is_copied(
    tmp_path: Path, face_video: Path, speech_wav: Path
) -> None:
    from lipsync.errors import NoAudioStreamError
    from lipsync.media.carry import CopiedAudio, copyable

    assert not copyable(speech_wav, ".mp4")  # PCM in WAV: encoded to AAC
    assert not copyable(face_video, ".mkv")  # AAC priming has no place in Matroska
    silent = tmp_path / "silent.mp4"
    _write(silent, _smooth_frames(5, 32, 32), 25, preset="ultrafast")
    assert not copyable(silent, ".mp4")  # no sound at all
    with pytest.raises(NoAudioStreamError, match="no sound to copy"):
        _write(tmp_path / "out.mp4", _smooth_frames(5, 32, 32), 25, audio=CopiedAudio(silent))
    assert not (tmp_path / "out.mp4").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # ALAC in MP4 goes into an MP4 as it is, except where it must play everywhere (sync).
    alac = tmp_path / "alac.mp4"
    with av.open(str(alac), "w") as container:
        stream = container.add_stream("alac", rate=16000)
        stream.layout = "mono"
        samples = (np.sin(np.arange(16000) / 5.0) * 8000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="s16p", layout="mono")
        frame.sample_rate = 16000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert copyable(alac, ".mp4") and not copyable(alac, ".mp4", widely_playable=True)
    assert copyable(face_video, ".mp4", widely_playable=True)  # AAC plays everywhere


def _mp4_with_late_sound(path: Path, delay_s: float) -> Path:
    """A 1 s MP4 whose AAC tone starts ``delay_s`` after its picture."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for i, frame in enumerate(_smooth_frames(25, 48, 64)):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = i
            container.mux(video.encode(picture))
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
        for start in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(
                tone[None, start : start + 1024], format="fltp", layout="mono"
            )
            chunk.sample_rate = 16000
            chunk.pts, chunk.time_base = round(delay_s * 16000) + start, Fraction(1, 16000)
            container.mux(audio.encode(chunk))
        container.mux(audio.encode(None))
        container.mux(video.encode(None))
    return path


def test_copied_sound_that_starts_late_starts_with_the_video(tmp_path: Path) -> None:
    # The encoded sound starts at 0 s whatever the speech file's own start: so does the copy.
    from lipsync.media.audio import load_speech
    from lipsync.media.carry import CopiedAudio

    late = _mp4_with_late_sound(tmp_path / "late.mp4", delay_s=0.4)
    with av.open(str(late)) as container:
        assert container.streams.audio[0].start_time > 0
    out = tmp_path / "copied.mp4"
    _write(out, _smooth_frames(25, 48, 64), 25, audio=CopiedAudio(late), preset="ultrafast")
    with av.open(str(out)) as container:
        assert container.streams.audio[0].start_time == 0
    assert _audio_packets(out) == _audio_packets(late)
    assert np.array_equal(load_speech(out), load_speech(late))
