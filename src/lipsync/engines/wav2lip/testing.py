"""Seeded random-weight Wav2Lip checkpoints, so the whole pipeline is testable without the
real (licence-restricted, 416 MB) weights.

The files use the released checkpoint format exactly (a dict with ``state_dict``,
``optimizer``, ``global_step``, ``global_epoch``), or TorchScript, at a tiny width with the
released parameter names. The weights are random but not degenerate: BatchNorm statistics
are calibrated on random inputs so activations stay in range through all the layers, and
the output (a sigmoid) spreads over mid-tones instead of saturating, so it visibly differs
from the input face and still depends on both the face and the speech.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import torch
from torch import nn

from .network import FACE_SIZE, Wav2Lip

TINY_WIDTH = 2
"""Width of test networks: ~0.57 M parameters (the released width 16 has 36.3 M)."""

_CALIBRATION_BATCH = 8


def _randomise(model: Wav2Lip, generator: torch.Generator) -> None:
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            # He initialisation keeps the variance through the ReLUs
            fan_in = module.weight[0].numel()
            if isinstance(module, nn.ConvTranspose2d):
                fan_in = module.weight.shape[0] * module.weight[0, 0].numel()
            std = math.sqrt(2.0 / fan_in)
            module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
            if module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
        elif isinstance(module, nn.BatchNorm2d):
            module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
            module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.2)


def _calibrate_batch_norm(model: Wav2Lip, generator: torch.Generator) -> None:
    """Set every BatchNorm's running statistics to those of one pass over random inputs."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: one pass gives exactly its stats
    audio = (torch.randn((_CALIBRATION_BATCH, 1, 80, 16), generator=generator) * 2.0).clamp(-4, 4)
    face = torch.rand((_CALIBRATION_BATCH, 6, FACE_SIZE, FACE_SIZE), generator=generator)
    model.train()
    model(audio, face)
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1


def random_wav2lip(seed: int = 0, width: int = TINY_WIDTH) -> Wav2Lip:
    """A Wav2Lip with seeded random (calibrated, non-degenerate) weights, in eval mode, on CPU.

    The same seed and width always give the same weights; the global RNG is untouched.
    """
    generator = torch.Generator().manual_seed(seed)
    model = Wav2Lip(width)
    with torch.no_grad():
        _randomise(model, generator)
        _calibrate_batch_norm(model, generator)
    return model.eval()


def write_random_checkpoint(
    path: str | Path,
    seed: int = 0,
    width: int = TINY_WIDTH,
    torchscript: bool = False,
    module_prefix: bool = False,
) -> Path:
    """Write :func:`random_wav2lip`'s weights as a checkpoint file and return its path.

    Default: the released format, a dict with ``state_dict``, ``optimizer`` (empty),
    ``global_step`` and ``global_epoch``; ``module_prefix`` names the tensors
    ``module.…`` as DataParallel training saves them. ``torchscript``: a traced
    TorchScript archive instead (``torch.jit.save``).
    """
    path = Path(path)
    model = random_wav2lip(seed, width)
    if torchscript:
        example = (
            torch.zeros((1, 1, 80, 16)),
            torch.zeros((1, 6, FACE_SIZE, FACE_SIZE)),
        )
        with warnings.catch_warnings():
            # torch.jit is deprecated; re-hosted checkpoints in its format still circulate
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, example)
            torch.jit.save(traced, str(path))
        return path
    prefix = "module." if module_prefix else ""
    state_dict = {prefix + name: tensor for name, tensor in model.state_dict().items()}
    torch.save(
        {"state_dict": state_dict, "optimizer": {}, "global_step": 1000, "global_epoch": 7},
        path,
    )
    return path
