"""The whole pipeline on generated media with a tiny random-weight Wav2Lip."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from lipsync.errors import MediaError, NoFaceError, OptionsError
from lipsync.media.audio import load_speech
from lipsync.media.video import VideoSource, open_video
from lipsync.options import SyncOptions
from lipsync.pipeline import Pipeline
from lipsync.progress import CancelToken, ProgressEvent
from lipsync.schedule import source_index


def decode_rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def stream_facts(path: Path) -> dict[str, object]:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {
            "video_codec": video.codec_context.name,
            "audio_codec": audio.codec_context.name,
            "rate": video.average_rate,
            "frames": frames,
            "audio_s": float(audio.duration * audio.time_base) if audio.duration else None,
            "pix_fmt": video.codec_context.pix_fmt,
        }


def test_output_follows_the_speech(tiny_engine, face_video, speech_wav, tmp_path):
    events: list[ProgressEvent] = []
    out = tmp_path / "out.mp4"
    result = Pipeline(tiny_engine, SyncOptions()).run(
        face_video, speech_wav, out, progress=events.append
    )
    speech_s = len(load_speech(speech_wav)) / 16000
    fps = open_video(face_video).fps
    facts = stream_facts(out)
    assert facts["video_codec"] == "h264" and facts["audio_codec"] == "aac"
    assert facts["pix_fmt"] == "yuv420p"
    assert facts["rate"] == Fraction(fps).limit_denominator(1001)
    assert abs(facts["frames"] / fps - speech_s) <= 1 / fps
    assert facts["audio_s"] is not None and abs(facts["audio_s"] - facts["frames"] / fps) <= 1 / fps
    assert result.frames == facts["frames"] and result.frames_with_face == result.frames
    stages = {e.stage for e in events}
    assert {"faces", "sync"} <= stages
    last_sync = [e for e in events if e.stage == "sync"][-1]
    assert last_sync.done == last_sync.total == result.frames


def test_lossless_changes_only_the_face(tiny_engine, face_video, speech_wav, tmp_path):
    out = tmp_path / "out.mkv"
    box = (60, 50, 200, 220)
    options = SyncOptions(lossless=True, box=box, blend="box")
    result = Pipeline(tiny_engine, options).run(face_video, speech_wav, out)
    source = list(open_video(face_video).frames())
    produced = decode_rgb(out)
    assert len(produced) == result.frames
    x1, y1, x2, y2 = box
    for i, frame in enumerate(produced):
        original = source[source_index(i, len(source), "pingpong")]
        outside = np.ones(frame.shape[:2], bool)
        outside[y1:y2, x1:x2] = False
        assert np.array_equal(frame[outside], original[outside]), (
            f"frame {i} changed outside the box"
        )
        mouth = (slice(y1 + (y2 - y1) // 2, y2), slice(x1, x2))
        assert np.abs(frame[mouth].astype(int) - original[mouth]).mean() > 2, (
            f"frame {i} mouth unchanged"
        )


def test_feather_blend_leaves_the_upper_face(tiny_engine, face_video, speech_wav, tmp_path):
    out = tmp_path / "out.mkv"
    Pipeline(tiny_engine, SyncOptions(lossless=True)).run(face_video, speech_wav, out)
    source = list(open_video(face_video).frames())
    produced = decode_rgb(out)
    changed = [
        np.abs(p.astype(int) - source[i % len(source)]).max(axis=2) > 0
        for i, p in enumerate(produced[:5])
    ]
    for mask in changed:
        rows = np.nonzero(mask.any(axis=1))[0]
        assert rows.size > 0, "nothing was regenerated"
        height = mask.shape[0]
        assert rows.min() > height * 0.2, (
            "the upper face (eyes) must not change with --blend feather"
        )
        assert mask.mean() < 0.25, "only the lower face should change"


def test_frames_without_a_face_pass_through(tiny_engine, noface_gap_video, speech_wav, tmp_path):
    out = tmp_path / "out.mkv"
    result = Pipeline(tiny_engine, SyncOptions(lossless=True, pad_audio=True)).run(
        noface_gap_video, speech_wav, out
    )
    source = list(open_video(noface_gap_video).frames())
    produced = decode_rgb(out)
    assert len(produced) == len(source) == result.frames
    assert 0 < result.frames_with_face < result.frames
    unchanged = [np.array_equal(p, s) for p, s in zip(produced, source, strict=True)]
    n = len(source)
    assert all(unchanged[n // 3 + 2 : 2 * n // 3 - 2]), "face-less middle frames must be untouched"
    assert not any(unchanged[:3]), "frames with a face must be regenerated"


def test_still_image_becomes_a_video(tiny_engine, still_png, speech_wav, tmp_path):
    out = tmp_path / "still.mp4"
    result = Pipeline(tiny_engine, SyncOptions()).run(still_png, speech_wav, out)
    speech_s = len(load_speech(speech_wav)) / 16000
    assert result.fps == 25
    assert abs(result.frames / 25 - speech_s) <= 1 / 25
    facts = stream_facts(out)
    assert facts["frames"] == result.frames


def test_pingpong_and_forward_loops(tiny_engine, speech_wav, tmp_path):
    from lipsync import samples

    short = samples.face_video(tmp_path / "short.mp4", seconds=1.0, fps=10)
    for loop in ("pingpong", "forward"):
        out = tmp_path / f"{loop}.mkv"
        box = (40, 40, 120, 120)
        result = Pipeline(tiny_engine, SyncOptions(lossless=True, box=box, loop=loop)).run(
            short, speech_wav, out
        )
        source = list(open_video(short).frames())
        produced = decode_rgb(out)
        assert result.frames == len(produced) > 2 * len(source)
        for i, frame in enumerate(produced):
            expected = source[source_index(i, len(source), loop)]
            assert np.array_equal(frame[:40], expected[:40]), (
                f"{loop}: frame {i} shows the wrong source"
            )


def test_video_longer_than_audio_is_trimmed_or_padded(tiny_engine, face_video, tmp_path):
    from lipsync import samples

    short_speech = samples.speech_wav(tmp_path / "hi.wav", text="Hi.")
    speech_s = len(load_speech(short_speech)) / 16000
    n_video = open_video(face_video).frame_count
    fps = open_video(face_video).fps
    trimmed = Pipeline(tiny_engine, SyncOptions()).run(face_video, short_speech, tmp_path / "t.mp4")
    assert abs(trimmed.frames / fps - speech_s) <= 1 / fps < n_video / fps
    padded = Pipeline(tiny_engine, SyncOptions(pad_audio=True)).run(
        face_video, short_speech, tmp_path / "p.mp4"
    )
    assert padded.frames == n_video
    facts = stream_facts(tmp_path / "p.mp4")
    assert abs(facts["audio_s"] - n_video / fps) <= 1 / fps


def test_no_face_anywhere_is_a_clear_error(tiny_engine, speech_wav, tmp_path):
    from lipsync.media.writer import VideoWriter

    blank = tmp_path / "blank.mp4"
    with VideoWriter(blank, 25, 64, 64, audio=None) as writer:
        for _ in range(10):
            writer.write(np.full((64, 64, 3), 90, np.uint8))
    with pytest.raises(NoFaceError, match="no face"):
        Pipeline(tiny_engine, SyncOptions()).run(blank, speech_wav, tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()


def test_cancel_stops_and_leaves_no_file(tiny_engine, face_video, speech_wav, tmp_path):
    from lipsync.errors import Cancelled

    token = CancelToken()

    def cancel_in_sync(event: ProgressEvent) -> None:
        if event.stage == "sync" and event.done > 0:
            token.cancel()

    out = tmp_path / "o.mp4"
    with pytest.raises(Cancelled):
        Pipeline(tiny_engine, SyncOptions(batch_size=2)).run(
            face_video, speech_wav, out, progress=cancel_in_sync, cancel=token
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("lossless", [False, True])  # the encoder's child process, a thread
def test_a_failure_after_the_outputs_opened_leaves_nothing(
    tiny_engine, face_video, speech_wav, tmp_path, monkeypatch, lossless
):
    def failing(*args, **kwargs):
        raise OptionsError("the engine could not prepare")

    monkeypatch.setattr(tiny_engine, "prepare", failing)
    out = tmp_path / "o.mp4"
    with pytest.raises(OptionsError, match="could not prepare"):
        Pipeline(tiny_engine, SyncOptions(lossless=lossless)).run(face_video, speech_wav, out)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a hidden part of it


def test_the_encoder_started_ahead_writes_the_output_or_is_stopped(
    tiny_engine, face_video, speech_wav, tmp_path, monkeypatch
):
    import lipsync.pipeline as pipeline_module
    from lipsync.media.encoder_process import StartedEncoder

    started: list[StartedEncoder] = []

    def recording_started_encoder() -> StartedEncoder:
        """Test double around the real one: keeps each child the pipeline starts."""
        started.append(StartedEncoder())
        return started[-1]

    monkeypatch.setattr(pipeline_module, "StartedEncoder", recording_started_encoder)
    Pipeline(tiny_engine).run(face_video, speech_wav, tmp_path / "o.mp4")
    (child,) = started
    assert child.claimed and child.process.returncode == 0  # it wrote the output and ended
    assert stream_facts(tmp_path / "o.mp4")["frames"] > 0

    def failing(*args, **kwargs):
        raise MediaError("the speech could not be decoded")

    monkeypatch.setattr(pipeline_module, "load_speech", failing)  # in the first pass
    with pytest.raises(MediaError, match="could not be decoded"):
        Pipeline(tiny_engine).run(face_video, speech_wav, tmp_path / "p.mp4")
    unused = started[1]
    assert not unused.claimed and unused.process.poll() is not None and unused.memfd == -1
    assert not (tmp_path / "p.mp4").exists()


def test_bad_output_name_fails_before_work(tiny_engine, face_video, speech_wav, tmp_path):
    with pytest.raises(OptionsError, match="must end in"):
        Pipeline(tiny_engine).run(face_video, speech_wav, tmp_path / "out.gif")


def test_browser_webm_and_its_own_audio(tiny_engine, browser_webm, tmp_path):
    """Chrome's MediaRecorder output: no duration in the header, variable frame rate, Opus."""
    out = tmp_path / "out.mp4"
    result = Pipeline(tiny_engine, SyncOptions()).run(browser_webm, browser_webm, out)
    speech_s = len(load_speech(browser_webm)) / 16000
    assert abs(result.frames / result.fps - speech_s) <= 1 / result.fps
    facts = stream_facts(out)
    assert facts["frames"] == result.frames and facts["audio_codec"] == "aac"


def test_rotated_phone_clip_comes_out_upright(tiny_engine, rotated_clip, speech_wav, tmp_path):
    out = tmp_path / "out.mp4"
    source = open_video(rotated_clip)
    Pipeline(tiny_engine, SyncOptions()).run(rotated_clip, speech_wav, out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (
            source.width,
            source.height,
        )
    assert open_video(out).info.rotation == 0


def test_the_frame_cache_changes_nothing_in_the_output(
    tiny_engine, face_video, speech_wav, tmp_path, monkeypatch
):
    # For an engine that asks, the second pass reads the pictures the first pass kept
    # instead of decoding them again.
    monkeypatch.setattr(tiny_engine, "cache_frames", True, raising=False)
    kept: list[int] = []
    drop_cache = VideoSource.drop_cache

    def recording(source: VideoSource) -> None:
        kept.append(source.cached_frames)
        drop_cache(source)

    monkeypatch.setattr(VideoSource, "drop_cache", recording)
    outputs = []
    for cache_bytes in (0, 10**9):
        out = tmp_path / f"cache{cache_bytes}.mp4"
        Pipeline(tiny_engine, SyncOptions(), frame_cache_bytes=cache_bytes).run(
            face_video, speech_wav, out
        )
        outputs.append(decode_rgb(out))
    assert kept[0] == 0 and kept[1] == open_video(face_video).frame_count
    for a, b in zip(*outputs, strict=True):
        assert np.array_equal(a, b)


def test_an_engine_that_gains_nothing_from_batches_gets_single_frames(
    tiny_engine, face_video, speech_wav, tmp_path, monkeypatch
):
    sizes: list[int] = []
    generate = tiny_engine.generate

    def recording(batch):
        sizes.append(len(batch))
        return generate(batch)

    monkeypatch.setattr(tiny_engine, "generate", recording)
    monkeypatch.setattr(tiny_engine, "max_batch_size", 1, raising=False)
    result = Pipeline(tiny_engine, SyncOptions(batch_size=8)).run(
        face_video, speech_wav, tmp_path / "out.mp4"
    )
    assert set(sizes) == {1} and len(sizes) == result.frames


def test_speech_that_fails_to_decode_stops_the_first_pass_early(
    tiny_engine, face_video, speech_wav, tmp_path, monkeypatch
):
    # The speech decodes beside the first pass: its error must end the run without waiting
    # for the pass, and leave no output.
    from lipsync import pipeline as pipeline_module
    from lipsync.errors import CorruptMediaError

    def damaged_speech(path, limits=None, sample_rate=16000):  # test double
        raise CorruptMediaError(f"{Path(path).name} is damaged at 1.20 s")

    monkeypatch.setattr(pipeline_module, "load_speech", damaged_speech)
    pipeline = Pipeline(tiny_engine, SyncOptions())
    make_tracker, observed = pipeline.tracker_factory, []

    def counting_tracker(options):
        tracker = make_tracker(options)
        observe = tracker.observe
        tracker.observe = lambda frame: observed.append(1) or observe(frame)
        return tracker

    pipeline.tracker_factory = counting_tracker
    out = tmp_path / "out.mp4"
    with pytest.raises(CorruptMediaError, match=r"speech\.wav is damaged at 1\.20 s"):
        pipeline.run(face_video, speech_wav, out)
    assert len(observed) < 75 // 2  # of 3 s at 25 fps
    assert not out.exists()


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


@pytest.mark.parametrize("in_a_child", [True, False])
def test_speech_in_an_mp4_keeps_its_sound_bit_exact(
    tiny_engine, face_video, tmp_path, monkeypatch, in_a_child
):
    # AAC in MP4, as long as the output: its packets are copied, not encoded again, whether
    # the encoder runs in a child process or (where it cannot) in this one.
    from lipsync.media import encoder_process

    if not in_a_child:
        monkeypatch.setattr(encoder_process, "supported", lambda: False)
    out = tmp_path / "own.mp4"
    Pipeline(tiny_engine, SyncOptions()).run(face_video, face_video, out)
    assert _audio_packets(out) == _audio_packets(face_video)
    # Elsewhere it is encoded: into Matroska, where AAC's priming has no place ...
    mkv = tmp_path / "own.mkv"
    Pipeline(tiny_engine, SyncOptions()).run(face_video, face_video, mkv)
    assert stream_facts(mkv)["audio_codec"] == "aac" and _audio_packets(mkv) != _audio_packets(
        face_video
    )


def test_speech_shorter_than_a_padded_output_is_encoded_and_padded(
    tiny_engine, face_video, speech_wav, tmp_path
):
    # ... and where the output is longer than the speech, which is padded with silence.
    from lipsync import samples

    short = samples.face_video(tmp_path / "hi.mp4", seconds=1.0, size=(64, 64), audio=speech_wav)
    out = tmp_path / "padded.mp4"
    result = Pipeline(tiny_engine, SyncOptions(pad_audio=True)).run(face_video, short, out)
    facts = stream_facts(out)
    assert result.frames == open_video(face_video).frame_count
    assert abs(facts["audio_s"] - result.duration_s) <= 1 / 25
    assert _audio_packets(out) != _audio_packets(short)
