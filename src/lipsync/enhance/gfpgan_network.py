"""The GFPGAN v1.3 / v1.4 network ("clean" GFPGANv1: a U-Net whose features condition a
StyleGAN2 decoder through spatial feature transforms), written so that the released
``GFPGANv1.3.pth`` / ``GFPGANv1.4.pth`` state dicts load with their own key names.

The released files were trained with out_size 512, 512-wide style codes, an 8-layer style
MLP, channel multiplier 2 and narrow 1, one latent per decoder layer (``different_w``), the
latent given directly (the style MLP is stored but unused) and SFT on half the decoder
channels (``sft_half``). ``GfpganConfig.from_state_dict`` reads every size from the tensor
shapes, so a tiny random checkpoint with the same key names loads the same way.

The decoder's per-layer noise is the stored buffer rather than fresh random noise, so a
frame restores the same way each time: fresh noise would add flicker on video.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import CheckpointError
from .checkpoint import load_checked, read_state_dict

_LEAK = 0.2


@dataclass(frozen=True)
class GfpganConfig:
    """Sizes of a GFPGANv1Clean. ``unet_channels`` / ``decoder_channels``: channels at each
    resolution 4, 8, …, out_size (index k ↔ resolution 2**(k+2))."""

    out_size: int
    num_style_feat: int
    num_mlp: int
    unet_channels: tuple[int, ...]
    decoder_channels: tuple[int, ...]
    different_w: bool = True
    sft_half: bool = True

    def __post_init__(self) -> None:
        levels = self.log_size - 1
        if self.out_size != 2**self.log_size or self.out_size < 8:
            raise ValueError(f"out_size must be a power of two ≥ 8, got {self.out_size}")
        if len(self.unet_channels) != levels or len(self.decoder_channels) != levels:
            raise ValueError(f"need {levels} channel counts (4 … {self.out_size})")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.out_size))

    @property
    def num_latent(self) -> int:
        return self.log_size * 2 - 2

    @property
    def num_noises(self) -> int:
        return (self.log_size - 2) * 2 + 1

    @classmethod
    def from_widths(
        cls,
        out_size: int = 512,
        *,
        num_style_feat: int = 512,
        num_mlp: int = 8,
        channel_multiplier: int = 2,
        narrow: float = 1.0,
    ) -> GfpganConfig:
        """The configuration GFPGAN's own constructor derives from these arguments; the
        defaults are those of the released v1.3 / v1.4 files."""
        base = {4: 512, 8: 512, 16: 512, 32: 512}
        wide = {64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
        resolutions = [2**k for k in range(2, int(math.log2(out_size)) + 1)]

        def width(resolution: int, factor: float) -> int:
            if resolution in base:
                return int(base[resolution] * factor)
            return int(wide[resolution] * channel_multiplier * factor)

        return cls(
            out_size=out_size,
            num_style_feat=num_style_feat,
            num_mlp=num_mlp,
            unet_channels=tuple(width(r, narrow * 0.5) for r in resolutions),
            decoder_channels=tuple(width(r, narrow) for r in resolutions),
        )

    @classmethod
    def from_state_dict(cls, state: Mapping[str, torch.Tensor]) -> GfpganConfig:
        """Infer the sizes from a state dict's shapes. Raises CheckpointError when a key the
        inference needs is absent (the file is not a GFPGANv1Clean)."""
        needed = (
            "conv_body_first.weight",
            "final_conv.weight",
            "final_linear.weight",
            "stylegan_decoder.constant_input.weight",
            "stylegan_decoder.style_mlp.1.weight",
            "condition_scale.0.2.weight",
        )
        missing = [key for key in needed if key not in state]
        if missing:
            raise CheckpointError(
                "not a GFPGAN v1.3/v1.4 (clean) checkpoint: missing keys " + ", ".join(missing)
            )
        try:
            return cls._infer(state)
        except (ValueError, IndexError) as error:  # shapes that no GFPGAN has
            raise CheckpointError(f"not a GFPGAN v1.3/v1.4 (clean) checkpoint: {error}") from None

    @classmethod
    def _infer(cls, state: Mapping[str, torch.Tensor]) -> GfpganConfig:
        downs = _count(state, r"conv_body_down\.(\d+)\.conv1\.weight")
        log_size = downs + 2
        out_size = 2**log_size
        unet = [int(state["final_conv.weight"].shape[0])]
        decoder = [int(state["stylegan_decoder.constant_input.weight"].shape[1])]
        for level in range(log_size - 2):
            up_key = f"conv_body_up.{level}.conv2.weight"
            conv_key = f"stylegan_decoder.style_convs.{2 * level}.modulated_conv.weight"
            if up_key not in state or conv_key not in state:
                raise CheckpointError(
                    f"not a GFPGAN v1.3/v1.4 (clean) checkpoint: missing {up_key} or {conv_key}"
                )
            unet.append(int(state[up_key].shape[0]))
            decoder.append(int(state[conv_key].shape[1]))
        num_style_feat = int(state["stylegan_decoder.style_mlp.1.weight"].shape[0])
        num_mlp = _count(state, r"stylegan_decoder\.style_mlp\.(\d+)\.weight")
        linear_out = int(state["final_linear.weight"].shape[0])
        sft_out = int(state["condition_scale.0.2.weight"].shape[0])
        return cls(
            out_size=out_size,
            num_style_feat=num_style_feat,
            num_mlp=num_mlp,
            unet_channels=tuple(unet),
            decoder_channels=tuple(decoder),
            different_w=linear_out != num_style_feat,
            sft_half=sft_out != 2 * unet[1],
        )


def _count(state: Mapping[str, torch.Tensor], pattern: str) -> int:
    compiled = re.compile(pattern)
    return len({m.group(1) for key in state if (m := compiled.fullmatch(key))})


class _ResBlock(nn.Module):
    """Residual block that halves (``scale`` 0.5) or doubles (2) the resolution bilinearly."""

    def __init__(self, in_channels: int, out_channels: int, scale: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.conv1(x), _LEAK)
        out = F.interpolate(out, scale_factor=self.scale, mode="bilinear", align_corners=False)
        out = F.leaky_relu(self.conv2(out), _LEAK)
        x = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out + self.skip(x)


class _ModulatedConv(nn.Module):
    """StyleGAN2's modulated convolution (no bias), optionally upsampling its input first."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        num_style_feat: int,
        demodulate: bool,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        self.modulation = nn.Linear(num_style_feat, in_channels)
        self.weight = nn.Parameter(
            torch.zeros(1, out_channels, in_channels, kernel_size, kernel_size)
        )
        self.demodulate = demodulate
        self.upsample = upsample

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        batch, in_channels = x.shape[:2]
        out_channels, kernel = self.weight.shape[1], self.weight.shape[-1]
        weight = self.weight * self.modulation(style).view(batch, 1, in_channels, 1, 1)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum((2, 3, 4), keepdim=True) + 1e-8)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        height, width = x.shape[-2:]
        # One grouped convolution runs every sample with its own modulated weights.
        out = F.conv2d(
            x.reshape(1, batch * in_channels, height, width),
            weight.reshape(batch * out_channels, in_channels, kernel, kernel),
            padding=kernel // 2,
            groups=batch,
        )
        return out.view(batch, out_channels, height, width)


class _StyleConv(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, num_style_feat: int, upsample: bool
    ) -> None:
        super().__init__()
        self.modulated_conv = _ModulatedConv(
            in_channels, out_channels, 3, num_style_feat, demodulate=True, upsample=upsample
        )
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        # √2 keeps the activations' scale through the leaky ReLU, as in the trained network.
        out = self.modulated_conv(x, style) * math.sqrt(2.0)
        out = out + self.weight * noise + self.bias
        return F.leaky_relu(out, _LEAK)


class _ToRgb(nn.Module):
    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool) -> None:
        super().__init__()
        self.modulated_conv = _ModulatedConv(in_channels, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.upsample = upsample

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None
    ) -> torch.Tensor:
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            if self.upsample:
                skip = F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
            out = out + skip
        return out


class _ConstantInput(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 4, 4))


class _Decoder(nn.Module):
    """StyleGAN2 generator whose features are modulated by the U-Net's SFT conditions."""

    def __init__(self, config: GfpganConfig) -> None:
        super().__init__()
        feat = config.num_style_feat
        # Stored but unused: GFPGAN gives the decoder its latents directly. Index 0 was the
        # parameter-free style-code normalisation.
        mlp: list[nn.Module] = [nn.Identity()]
        for _ in range(config.num_mlp):
            mlp.extend([nn.Linear(feat, feat), nn.LeakyReLU(_LEAK)])
        self.style_mlp = nn.Sequential(*mlp)
        channels = config.decoder_channels
        self.constant_input = _ConstantInput(channels[0])
        self.style_conv1 = _StyleConv(channels[0], channels[0], feat, upsample=False)
        self.to_rgb1 = _ToRgb(channels[0], feat, upsample=False)
        self.style_convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for index in range(config.num_noises):
            resolution = 2 ** ((index + 5) // 2)
            self.noises.register_buffer(f"noise{index}", torch.zeros(1, 1, resolution, resolution))
        for level in range(1, len(channels)):
            self.style_convs.append(_StyleConv(channels[level - 1], channels[level], feat, True))
            self.style_convs.append(_StyleConv(channels[level], channels[level], feat, False))
            self.to_rgbs.append(_ToRgb(channels[level], feat, upsample=True))
        self.sft_half = config.sft_half

    def forward(self, latent: torch.Tensor, conditions: list[torch.Tensor]) -> torch.Tensor:
        """``latent``: (B, num_latent, num_style_feat). Returns RGB (B, 3, S, S) in ~[-1, 1]."""
        noises = [getattr(self.noises, f"noise{i}") for i in range(len(self.style_convs) + 1)]
        out = self.constant_input.weight.expand(latent.shape[0], -1, -1, -1)
        out = self.style_conv1(out, latent[:, 0], noises[0])
        skip = self.to_rgb1(out, latent[:, 1], None)
        index = 1
        for level, to_rgb in enumerate(self.to_rgbs):
            up, same = self.style_convs[2 * level], self.style_convs[2 * level + 1]
            out = up(out, latent[:, index], noises[index])
            scale, shift = conditions[2 * level], conditions[2 * level + 1]
            if self.sft_half:
                kept, modulated = torch.split(out, out.shape[1] // 2, dim=1)
                out = torch.cat([kept, modulated * scale + shift], dim=1)
            else:
                out = out * scale + shift
            out = same(out, latent[:, index + 1], noises[index + 1])
            skip = to_rgb(out, latent[:, index + 2], skip)
            index += 2
        return skip


class GfpganNetwork(nn.Module):
    """GFPGANv1Clean. Input: float32 RGB (B, 3, S, S) in [-1, 1], S = ``config.out_size``;
    output: the restored face, same shape, in about [-1, 1]."""

    def __init__(self, config: GfpganConfig) -> None:
        super().__init__()
        self.config = config
        unet = config.unet_channels
        levels = len(unet) - 1  # resolution changes between 4 and out_size
        self.conv_body_first = nn.Conv2d(3, unet[-1], 1)
        self.conv_body_down = nn.ModuleList(
            _ResBlock(unet[k], unet[k - 1], 0.5) for k in range(levels, 0, -1)
        )
        self.final_conv = nn.Conv2d(unet[0], unet[0], 3, 1, 1)
        self.conv_body_up = nn.ModuleList(
            _ResBlock(unet[k - 1], unet[k], 2.0) for k in range(1, levels + 1)
        )
        # Intermediate RGB heads used only as a training loss; kept so the keys load.
        self.toRGB = nn.ModuleList(nn.Conv2d(unet[k], 3, 1) for k in range(1, levels + 1))
        latent_width = config.num_style_feat * (config.num_latent if config.different_w else 1)
        self.final_linear = nn.Linear(unet[0] * 16, latent_width)
        self.stylegan_decoder = _Decoder(config)
        self.condition_scale = nn.ModuleList()
        self.condition_shift = nn.ModuleList()
        for k in range(1, levels + 1):
            sft_channels = unet[k] if config.sft_half else unet[k] * 2
            for heads in (self.condition_scale, self.condition_shift):
                heads.append(
                    nn.Sequential(
                        nn.Conv2d(unet[k], unet[k], 3, 1, 1),
                        nn.LeakyReLU(_LEAK),
                        nn.Conv2d(unet[k], sft_channels, 3, 1, 1),
                    )
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.leaky_relu(self.conv_body_first(x), _LEAK)
        skips = []
        for block in self.conv_body_down:
            feat = block(feat)
            skips.append(feat)
        feat = F.leaky_relu(self.final_conv(feat), _LEAK)
        style = self.final_linear(feat.flatten(1))
        config = self.config
        if config.different_w:
            latent = style.view(style.shape[0], config.num_latent, config.num_style_feat)
        else:
            # GFPGAN feeds the code to the decoder as a latent (the style MLP is bypassed).
            latent = style.unsqueeze(1).expand(-1, config.num_latent, -1)
        conditions = []
        for level, block in enumerate(self.conv_body_up):
            feat = block(feat + skips[-1 - level])
            conditions.append(self.condition_scale[level](feat))
            conditions.append(self.condition_shift[level](feat))
        return self.stylegan_decoder(latent, conditions)


def network_state(checkpoint: object) -> dict[str, torch.Tensor]:
    """The network's state dict from a loaded checkpoint (see ``checkpoint.read_state_dict``)."""
    return read_state_dict(checkpoint, "GFPGAN")


def build_network(state: Mapping[str, torch.Tensor]) -> GfpganNetwork:
    """A GfpganNetwork sized from ``state`` with its weights loaded (on the CPU, eval mode).

    Raises CheckpointError naming missing or unexpected keys, or mismatched shapes.
    """
    config = GfpganConfig.from_state_dict(state)
    with torch.device("meta"):
        network = GfpganNetwork(config)
    return load_checked(network, state, "GFPGAN v1.3/v1.4 (clean)")
