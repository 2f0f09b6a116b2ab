"""Encoding in a child process: the same file as the writer in this process, frames copied at
once, nothing published after an abort or a failure, the child's errors raised as they are."""

from __future__ import annotations

import os
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from lipsync.errors import LipsyncError, MediaError, OptionsError
from lipsync.media import encoder_process, open_video
from lipsync.media.encoder_process import EncoderProcess, StartedEncoder

pytestmark = pytest.mark.skipif(
    not encoder_process.supported(), reason="needs memfd_create (Linux)"
)


def _gradient(height: int, width: int, shift: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(x * 4 + shift) % 256, (y * 4) % 256, (x + y + shift) % 256], -1).astype(
        np.uint8
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_frames_and_audio_arrive_as_written(tmp_path: Path, speech_wav: Path) -> None:
    path = tmp_path / "out.mp4"
    encoder = EncoderProcess(path, 25, 64, 48, audio=speech_wav, crf=0, preset="ultrafast", slots=2)
    buffer = np.empty((48, 64, 3), np.uint8)
    written = []
    for i in range(30):
        # One array reused for every frame: the encoder must have taken a copy.
        buffer[:] = _gradient(48, 64, shift=8 * i)
        written.append(buffer.copy())
        encoder.write(buffer)
    encoder.close()

    decoded = list(open_video(path).frames())
    assert len(decoded) == 30
    for got, want in zip(decoded, written, strict=True):
        assert np.abs(got.astype(int) - want).mean() < 3
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        assert audio.duration is not None and audio.time_base is not None
        assert abs(float(audio.duration * audio.time_base) - 30 / 25) < 0.05
    assert _leftovers(tmp_path) == []


def test_abort_publishes_nothing_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"the previous result")
    encoder = EncoderProcess(path, 25, 32, 32, preset="ultrafast")
    for i in range(5):
        encoder.write(_gradient(32, 32, i))
    encoder.abort()
    encoder.abort()  # a second abort is harmless
    assert path.read_bytes() == b"the previous result"
    assert _leftovers(tmp_path) == []


def test_the_childs_error_is_raised_with_its_own_class(tmp_path: Path) -> None:
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("not a sound file")
    encoder = EncoderProcess(tmp_path / "out.mp4", 25, 32, 32, audio=not_audio, slots=1)
    with pytest.raises(MediaError, match=r"notes\.wav"):
        for i in range(50):
            encoder.write(_gradient(32, 32, i))
        encoder.close()
    assert not (tmp_path / "out.mp4").exists()
    assert _leftovers(tmp_path) == []


def test_a_child_that_dies_is_an_error_not_a_hang(tmp_path: Path) -> None:
    encoder = EncoderProcess(tmp_path / "out.mp4", 25, 32, 32, slots=1)
    encoder.write(_gradient(32, 32, 0))
    process = encoder._child.process
    process.kill()
    process.wait()
    with pytest.raises(LipsyncError, match="encoder process failed"):
        for i in range(5):
            encoder.write(_gradient(32, 32, i))
        encoder.close()
    encoder.abort()
    # Killed, the child could not remove its hidden .part file (as a killed process cannot);
    # nothing is published.
    assert not (tmp_path / "out.mp4").exists()


def test_a_frame_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    encoder = EncoderProcess(tmp_path / "out.mp4", 25, 32, 32)
    try:
        with pytest.raises(ValueError, match="uint8"):
            encoder.write(np.zeros((32, 30, 3), np.uint8))
    finally:
        encoder.abort()
    assert not (tmp_path / "out.mp4").exists()
    assert os.listdir(tmp_path) == []


def test_planes_arrive_as_written(tmp_path: Path) -> None:
    path = tmp_path / "planes.mp4"
    encoder = EncoderProcess(
        path, 25, 64, 48, crf=0, preset="ultrafast", slots=2, planes=True, matrix="bt709"
    )
    written = []
    buffer = np.empty((72, 64), np.uint8)
    for i in range(12):
        buffer[:] = cv2.cvtColor(_gradient(48, 64, shift=8 * i), cv2.COLOR_RGB2YUV_I420)
        written.append(buffer.copy())
        encoder.write(buffer)
    encoder.close()
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.colorspace == 1  # BT.709
        decoded = [frame.to_ndarray() for frame in container.decode(video=0)]
    assert len(decoded) == 12
    assert all(np.array_equal(a, b) for a, b in zip(decoded, written, strict=True))
    assert _leftovers(tmp_path) == []


def test_planes_need_an_even_size_and_their_own_shape(tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match="even"):
        EncoderProcess(tmp_path / "odd.mp4", 25, 63, 48, planes=True)
    encoder = EncoderProcess(tmp_path / "out.mp4", 25, 64, 48, planes=True)
    try:
        with pytest.raises(ValueError, match="uint8"):
            encoder.write(np.zeros((48, 64, 3), np.uint8))
    finally:
        encoder.abort()
    assert os.listdir(tmp_path) == []


def test_pictures_made_in_taken_slots_are_encoded_as_they_are(tmp_path: Path) -> None:
    import queue
    import threading

    path = tmp_path / "slots.mp4"
    encoder = EncoderProcess(path, 25, 64, 48, crf=0, preset="ultrafast", slots=3, planes=True)
    written: list[np.ndarray] = []
    taken: queue.Queue[np.ndarray] = queue.Queue()

    def make() -> None:  # another thread takes slots and fills them, as the decoder does
        for i in range(20):
            slot = encoder.take_slot()
            slot[:] = cv2.cvtColor(_gradient(48, 64, shift=8 * i), cv2.COLOR_RGB2YUV_I420)
            written.append(slot.copy())
            taken.put(slot)

    maker = threading.Thread(target=make)
    maker.start()
    for _ in range(20):
        encoder.write(taken.get(timeout=30))  # the slot itself: nothing is copied
    maker.join()
    # An array of the parent's own is still copied into a slot of its own.
    own = cv2.cvtColor(_gradient(48, 64, shift=200), cv2.COLOR_RGB2YUV_I420)
    encoder.write(own)
    encoder.close()
    with av.open(str(path)) as container:
        decoded = [frame.to_ndarray() for frame in container.decode(video=0)]
    assert len(decoded) == 21
    assert all(np.array_equal(a, b) for a, b in zip(decoded, [*written, own], strict=True))
    assert _leftovers(tmp_path) == []


def test_an_abort_with_slots_still_taken_releases_them(tmp_path: Path) -> None:
    encoder = EncoderProcess(tmp_path / "out.mp4", 25, 32, 32, planes=True, slots=2)
    held = encoder.take_slot()
    held[:] = 16
    encoder.abort()  # the slot's memory stays valid for as long as it is held
    assert held.sum() == 16 * held.size
    assert not (tmp_path / "out.mp4").exists()


def test_the_sound_can_be_copied_instead_of_encoded(tmp_path: Path, face_video: Path) -> None:
    path = tmp_path / "copied.mp4"
    encoder = EncoderProcess(
        path, 25, 32, 32, audio=face_video, copy_audio=True, preset="ultrafast", slots=2
    )
    for i in range(75):
        encoder.write(_gradient(32, 32, i))
    encoder.close()

    def packets(file: Path) -> list[bytes]:
        with av.open(str(file)) as container:
            return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]

    assert packets(path) == packets(face_video)


def test_a_child_started_ahead_encodes_as_a_fresh_one(tmp_path: Path) -> None:
    started = StartedEncoder()
    encoder = EncoderProcess(
        tmp_path / "out.mp4", 25, 64, 48, crf=0, preset="ultrafast", planes=True, started=started
    )
    started.close()  # it belongs to the encoder now: closing it changes nothing
    assert started.process.poll() is None
    written = [
        cv2.cvtColor(_gradient(48, 64, shift=8 * i), cv2.COLOR_RGB2YUV_I420) for i in range(6)
    ]
    for planes in written:
        encoder.write(planes)
    encoder.close()
    with av.open(str(tmp_path / "out.mp4")) as container:
        decoded = [frame.to_ndarray() for frame in container.decode(video=0)]
    assert all(np.array_equal(a, b) for a, b in zip(decoded, written, strict=True))
    assert len(decoded) == 6
    assert started.process.returncode == 0


def test_a_child_started_ahead_and_never_used_is_stopped() -> None:
    with StartedEncoder() as started:
        process = started.process
        assert process.poll() is None
    assert process.poll() is not None
    assert started.memfd == -1


def test_a_child_started_ahead_serves_one_encoder_only(tmp_path: Path) -> None:
    started = StartedEncoder()
    first = EncoderProcess(tmp_path / "a.mp4", 25, 32, 32, started=started)
    try:
        with pytest.raises(LipsyncError, match="already belongs"):
            EncoderProcess(tmp_path / "b.mp4", 25, 32, 32, started=started)
    finally:
        first.abort()
    assert started.process.poll() is not None


def test_refused_settings_stop_a_child_started_ahead(tmp_path: Path) -> None:
    started = StartedEncoder()
    with pytest.raises(OptionsError, match="even"):
        EncoderProcess(tmp_path / "odd.mp4", 25, 63, 48, planes=True, started=started)
    assert started.process.poll() is not None
    assert started.memfd == -1
