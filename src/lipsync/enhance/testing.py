"""Seeded random-weight face-restoration checkpoints in the released formats, for tests.

GFPGAN and CodeFormer weights are large (330–360 MB) and, for CodeFormer, licence-restricted,
so the tests and demos run tiny networks with the released key names and file layout
(``{"params_ema": state_dict}``) but small widths and random weights. The weights are scaled
so the output spreads over mid-tones: it visibly differs from the input face, and it still
depends on the input. The registry's ``gfpgan_unittest`` and ``codeformer_unittest`` models
are written by these functions (``lipsync models install gfpgan_unittest``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from .gfpgan_network import GfpganConfig, GfpganNetwork

if TYPE_CHECKING:
    from .codeformer_network import CodeFormer, CodeFormerConfig

TINY_GFPGAN_CONFIG = GfpganConfig.from_widths(
    128, num_style_feat=32, num_mlp=8, channel_multiplier=2, narrow=1 / 16
)
"""A 128×128 GFPGAN at 1/16 of the released width: 0.35 M values (weights and noise buffers)
instead of 87 M, a 1.4 MB file, some 40 ms per face on 2 CPU cores. Its key names are the
released ones; it has two fewer resolution levels (the size is read from the shapes), so
alignment and pasting run as for real weights, at a quarter of the scale."""

# Standard deviation of the random network's output in its [-1, 1] pixel range: mid-tones
# with visible structure, rarely clipped.
_OUTPUT_STD = 0.45


def random_gfpgan(seed: int = 0, config: GfpganConfig = TINY_GFPGAN_CONFIG) -> GfpganNetwork:
    """A GfpganNetwork with seeded random weights (eval mode, CPU)."""
    generator = torch.Generator().manual_seed(seed)
    network = GfpganNetwork(config)
    with torch.no_grad():
        for name, tensor in network.state_dict(keep_vars=True).items():
            tensor.copy_(_random_like(name, tensor, generator))
        _calibrate_output(network, generator)
    return network.eval()


def _random_like(name: str, tensor: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    shape = tensor.shape
    noise = torch.randn(shape, generator=generator)
    if name.startswith("stylegan_decoder.noises."):
        return noise
    if name.endswith("modulation.bias"):
        return torch.ones(shape) + 0.1 * noise  # styles scale the weights around 1
    if name.endswith(".bias") or (name.endswith(".weight") and tensor.ndim == 1):
        return 0.05 * noise  # biases and the noise strengths of the style convolutions
    if "modulated_conv.weight" in name:
        fan_in = shape[2] * shape[3] * shape[4]
        return noise / math.sqrt(fan_in)
    if name == "stylegan_decoder.constant_input.weight":
        return noise
    fan_in = int(torch.tensor(shape[1:]).prod().item()) if len(shape) > 1 else 1
    gain = 1.0 if name.startswith(("final_linear", "stylegan_decoder.style_mlp")) else 2.0
    return noise * math.sqrt(gain / fan_in)


def _calibrate_output(network: GfpganNetwork, generator: torch.Generator) -> None:
    """Scale the RGB heads so the output's spread is ``_OUTPUT_STD`` on face-like input."""
    size = network.config.out_size
    smooth = torch.rand((1, 3, 8, 8), generator=generator) * 2 - 1
    sample = nn.functional.interpolate(smooth, size=(size, size), mode="bilinear")
    output = network(sample)
    factor = _OUTPUT_STD / max(float(output.std()), 1e-6)
    decoder = network.stylegan_decoder
    for head in [decoder.to_rgb1, *decoder.to_rgbs]:
        # The image is the sum of every head's output, so scaling each head scales it.
        head.modulated_conv.weight.mul_(factor)
        head.bias.mul_(factor)


def write_random_gfpgan(path: str | Path, seed: int = 0) -> Path:
    """Write ``random_gfpgan(seed)`` as a released-format file (``{"params_ema": …}``)."""
    path = Path(path)
    state = {
        k: v.detach().clone().contiguous() for k, v in random_gfpgan(seed).state_dict().items()
    }
    torch.save({"params_ema": state}, path)
    return path


def random_codeformer(seed: int = 0, config: CodeFormerConfig | None = None) -> CodeFormer:
    """A CodeFormer with seeded random weights (eval mode, CPU); by default the tiny
    ``TINY_CODEFORMER_CONFIG`` of ``codeformer_network`` (64² faces, released key names)."""
    # Imported here so that generating a GFPGAN never depends on the CodeFormer module.
    from .codeformer_network import TINY_CODEFORMER_CONFIG, CodeFormer

    generator = torch.Generator().manual_seed(seed)
    network = CodeFormer.from_config(config or TINY_CODEFORMER_CONFIG)
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.GroupNorm | nn.LayerNorm):
                module.weight.copy_(
                    1.0 + 0.1 * torch.randn(module.weight.shape, generator=generator)
                )
                module.bias.copy_(0.05 * torch.randn(module.bias.shape, generator=generator))
            elif isinstance(module, nn.Embedding):
                # codebook entries: unit-scale vectors, as a trained VQ codebook roughly has
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator))
        norms = {
            id(p)
            for m in network.modules()
            if isinstance(m, nn.GroupNorm | nn.LayerNorm | nn.Embedding)
            for p in m.parameters()
        }
        for name, parameter in network.named_parameters():
            if id(parameter) in norms:
                continue
            noise = torch.randn(parameter.shape, generator=generator)
            if name == "position_emb":
                parameter.copy_(0.5 * noise)
            elif parameter.ndim == 1:
                parameter.copy_(0.05 * noise)
            else:
                parameter.copy_(noise / math.sqrt(parameter[0].numel()))
        _calibrate_codeformer(network, generator)
    return network.eval()


def _calibrate_codeformer(network: CodeFormer, generator: torch.Generator) -> None:
    """Scale the generator's last convolution so the output's spread is ``_OUTPUT_STD``."""
    size = network.image_size
    smooth = torch.rand((1, 3, 8, 8), generator=generator) * 2 - 1
    sample = nn.functional.interpolate(smooth, size=(size, size), mode="bilinear")
    output = network.eval()(sample, fidelity=0.5)
    factor = _OUTPUT_STD / max(float(output.std()), 1e-6)
    last = network.generator.blocks[-1]
    # The output is this convolution of a normalised map: scaling it scales the output.
    assert isinstance(last, nn.Conv2d) and last.bias is not None
    last.weight.mul_(factor)
    last.bias.mul_(factor)


def write_random_codeformer(path: str | Path, seed: int = 0) -> Path:
    """Write ``random_codeformer(seed)`` as a released-format file (``{"params_ema": …}``)."""
    path = Path(path)
    network = random_codeformer(seed)
    state = {k: v.detach().clone().contiguous() for k, v in network.state_dict().items()}
    torch.save({"params_ema": state}, path)
    return path
