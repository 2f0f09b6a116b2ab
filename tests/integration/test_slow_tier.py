"""The slow tier: real user-supplied weights and a CUDA device. Skips cleanly without them.

LIPSYNC_TEST_WEIGHTS=~/Downloads/wav2lip_gan.pth make test
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lipsync.engines.base import EngineInput, Speech

WEIGHTS = os.environ.get("LIPSYNC_TEST_WEIGHTS")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.weights
@pytest.mark.skipif(not WEIGHTS, reason="set LIPSYNC_TEST_WEIGHTS to a released Wav2Lip checkpoint")
def test_released_checkpoint_syncs_a_clip(face_video, speech_wav, tmp_path):
    import torch

    from lipsync.engines.wav2lip.checkpoint import load_wav2lip, parameter_count
    from lipsync.engines.wav2lip.engine import Wav2LipEngine
    from lipsync.options import SyncOptions
    from lipsync.pipeline import Pipeline

    checkpoint = Path(str(WEIGHTS)).expanduser()
    assert abs(parameter_count(load_wav2lip(checkpoint, torch.device("cpu"))) - 36.3e6) < 0.1e6
    engine = Wav2LipEngine(checkpoint, device="auto")
    result = Pipeline(engine, SyncOptions()).run(face_video, speech_wav, tmp_path / "out.mp4")
    assert result.frames_with_face == result.frames > 0


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(tiny_checkpoint):
    from lipsync.engines.wav2lip.engine import Wav2LipEngine

    frame = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    speech = Speech(np.random.default_rng(1).standard_normal(16000).astype(np.float32) * 0.1, 16000)
    outputs = []
    for device in ("cpu", "cuda"):
        engine = Wav2LipEngine(tiny_checkpoint, device=device)
        engine.prepare(speech, 25.0, 25)
        outputs.append(
            engine.generate([EngineInput(i, frame, (16, 16, 112, 112), None) for i in range(8)])
        )
        engine.close()
    for cpu, gpu in zip(*outputs, strict=True):
        assert np.abs(cpu.astype(int) - gpu.astype(int)).max() <= 2
