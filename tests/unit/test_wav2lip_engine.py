"""The Wav2Lip engine on a tiny random-weight checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lipsync.engines.base import Engine, EngineInput, Speech
from lipsync.engines.wav2lip import Wav2LipEngine
from lipsync.engines.wav2lip.testing import write_random_checkpoint
from lipsync.errors import CheckpointError, DeviceError, MediaError, OptionsError

FPS = 25.0
N_FRAMES = 50
BOX = (30, 20, 130, 140)  # x1, y1, x2, y2: a 100 × 120 face


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.pth", seed=5)


def make_speech() -> Speech:
    """One second of silence, then one second of a vowel-like buzz: two different mels."""
    t = np.arange(16000) / 16000
    buzz = 0.4 * np.sign(np.sin(2 * np.pi * 140 * t)) * np.sin(2 * np.pi * 3 * t) ** 2
    samples = np.concatenate([np.zeros(16000), buzz]).astype(np.float32)
    return Speech(samples, 16000)


def make_frame(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:180, 0:160]
    frame = np.stack([x * 1.5, y * 1.2, (x + y) * 0.7], axis=-1)
    frame += rng.normal(0, 12, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def make_batch(indices: list[int], box_every: int = 3) -> list[EngineInput]:
    return [
        EngineInput(
            index=index,
            frame=make_frame(index),
            box=None if position % box_every == box_every - 1 else BOX,
            landmarks=None,
        )
        for position, index in enumerate(indices)
    ]


def prepared(checkpoint: Path, batch_size: int = 16) -> Wav2LipEngine:
    engine = Wav2LipEngine(checkpoint, device="cpu", batch_size=batch_size)
    engine.prepare(make_speech(), FPS, N_FRAMES)
    return engine


def test_is_an_engine(checkpoint: Path) -> None:
    engine = Wav2LipEngine(checkpoint, device="cpu")
    assert isinstance(engine, Engine)
    assert engine.name == "wav2lip"
    assert "tiny.pth" in engine.describe() and "cpu" in engine.describe()


def test_crops_have_box_size_and_none_without_box(checkpoint: Path) -> None:
    engine = prepared(checkpoint)
    batch = make_batch([0, 1, 2, 3, 4, 5])
    out = engine.generate(batch)
    assert len(out) == len(batch)
    for item, crop in zip(batch, out, strict=True):
        if item.box is None:
            assert crop is None
            continue
        assert crop is not None
        assert crop.shape == (120, 100, 3) and crop.dtype == np.uint8
        original = item.frame[20:140, 30:130].astype(np.int16)
        # the regenerated region differs from what was there
        assert np.abs(crop.astype(np.int16) - original).mean() > 10


def test_deterministic_for_a_checkpoint(checkpoint: Path) -> None:
    batch = make_batch(list(range(8)))
    first = prepared(checkpoint).generate(batch)
    second = prepared(checkpoint).generate(batch)
    for a, b in zip(first, second, strict=True):
        assert (a is None and b is None) or np.array_equal(a, b)  # type: ignore[arg-type]


def test_batch_size_does_not_change_results(checkpoint: Path) -> None:
    batch = make_batch([0, 7, 13, 20, 26, 31, 38, 44, 49], box_every=4)
    one = prepared(checkpoint, batch_size=1).generate(batch)
    seven = prepared(checkpoint, batch_size=7).generate(batch)
    for a, b in zip(one, seven, strict=True):
        if a is None or b is None:
            assert a is None and b is None
            continue
        assert np.abs(a.astype(np.int16) - b.astype(np.int16)).max() <= 1


def test_speech_changes_the_mouth(checkpoint: Path) -> None:
    engine = prepared(checkpoint)
    frame = make_frame(0)
    silent, speaking = engine.generate(
        [EngineInput(5, frame, BOX, None), EngineInput(35, frame, BOX, None)]
    )
    assert silent is not None and speaking is not None
    assert np.abs(silent.astype(np.int16) - speaking.astype(np.int16)).mean() > 1


class _Recorder(nn.Module):
    """Stands in for the network: records its inputs, answers pure blue in BGR."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        self.calls.append((audio.clone(), face.clone()))
        out = torch.zeros(face.shape[0], 3, 96, 96)
        out[:, 0] = 1.0  # channel 0 is blue in BGR
        return out


def test_reference_pre_and_post_processing(checkpoint: Path) -> None:
    engine = prepared(checkpoint, batch_size=2)
    recorder = _Recorder()
    engine._model = recorder  # type: ignore[assignment]
    frame = np.zeros((100, 100, 3), dtype=np.uint8)
    frame[..., 0] = 200  # red in RGB
    out = engine.generate(
        [
            EngineInput(0, frame, (10, 10, 58, 58), None),
            EngineInput(1, frame, None, None),
            EngineInput(40, frame, (0, 0, 100, 100), None),
        ]
    )
    audio, face = recorder.calls[0]
    assert audio.shape == (2, 1, 80, 16) and face.shape == (2, 6, 96, 96)
    red = 200 / 255
    # reference half: the crop in BGR order, so red lands in channel 2
    assert torch.allclose(face[:, 5], torch.full((2, 96, 96), red))
    assert float(face[:, 3].abs().max()) == 0.0
    # masked half: upper rows kept, rows 48..95 zeroed
    assert torch.allclose(face[:, 2, :48], torch.full((2, 48, 96), red))
    assert float(face[:, :3, 48:].abs().max()) == 0.0
    # frame 0 is silent speech (the floor); frame 40 is inside the buzz
    assert float(audio[0].max()) == -4.0 and float(audio[1].max()) > -4.0
    # BGR blue out → RGB blue, at each box's size
    assert out[1] is None
    assert out[0] is not None and out[0].shape == (48, 48, 3)
    assert out[2] is not None and out[2].shape == (100, 100, 3)
    assert np.all(out[0][..., 2] == 255) and np.all(out[0][..., :2] == 0)


def test_misuse_is_reported(checkpoint: Path, tmp_path: Path) -> None:
    engine = Wav2LipEngine(checkpoint, device="cpu")
    with pytest.raises(RuntimeError, match="prepare"):
        engine.generate(make_batch([0]))
    with pytest.raises(MediaError, match="44100 Hz"):
        engine.prepare(Speech(np.zeros(44100, dtype=np.float32), 44100), FPS, 10)
    with pytest.raises(OptionsError):
        Wav2LipEngine(checkpoint, device="cpu", batch_size=0)
    with pytest.raises(DeviceError):
        Wav2LipEngine(checkpoint, device="tpu")
    with pytest.raises(CheckpointError):
        Wav2LipEngine(tmp_path / "missing.pth", device="cpu")
    engine.prepare(make_speech(), FPS, N_FRAMES)
    engine.close()
    assert "closed" in engine.describe()
    with pytest.raises(RuntimeError):
        engine.generate(make_batch([0]))


def test_short_speech_still_generates(checkpoint: Path) -> None:
    engine = Wav2LipEngine(checkpoint, device="cpu")
    engine.prepare(Speech(np.zeros(1600, dtype=np.float32), 16000), FPS, 3)
    out = engine.generate([EngineInput(2, make_frame(), BOX, None)])
    assert out[0] is not None and out[0].shape == (120, 100, 3)
