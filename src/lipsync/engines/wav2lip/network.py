"""The Wav2Lip generator, laid out so the released checkpoints load with ``strict=True``.

Layer sizes, order and attribute names follow Rudrabha/Wav2Lip's ``models/wav2lip.py`` and
``models/conv.py`` (a U-Net: a face encoder over the masked + reference crops, an audio
encoder over a mel window, and a decoder that concatenates the skip connections). The
attribute names (``face_encoder_blocks``, ``conv_block``, ``output_block`` …) are part of
the checkpoint format, so they must not change.

Every channel count of the released network is a multiple of its first layer's 16
channels; ``width`` scales them all, so tests can build a tiny network with exactly the
same parameter names (and the same checkpoint format) in a fraction of the size.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ...errors import CheckpointError

RELEASED_WIDTH = 16
"""Channels of the first face-encoder layer in the released ``wav2lip(_gan).pth``."""

FACE_SIZE = 96
"""Side of the square face crop the generator works on, in pixels."""

FIRST_WEIGHT_KEY = "face_encoder_blocks.0.0.conv_block.0.weight"
"""The tensor whose shape reveals the width: (width, 6, 7, 7)."""


class ConvBlock(nn.Module):
    """Conv2d → BatchNorm2d (→ + input when residual) → ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int | tuple[int, int] = 1,
        padding: int = 0,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
            nn.BatchNorm2d(out_channels),
        )
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        if self.residual:
            out = out + x
        return self.act(out)


class TransposedConvBlock(nn.Module):
    """ConvTranspose2d → BatchNorm2d → ReLU: one upsampling step of the decoder."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        padding: int,
        output_padding: int = 0,
    ) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size, stride, padding, output_padding
            ),
            nn.BatchNorm2d(out_channels),
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _residuals(channels: int, count: int) -> list[nn.Module]:
    return [ConvBlock(channels, channels, 3, 1, 1, residual=True) for _ in range(count)]


def _down(in_channels: int, out_channels: int, residual_count: int) -> nn.Sequential:
    """Halve the resolution, then refine with residual blocks."""
    return nn.Sequential(
        ConvBlock(in_channels, out_channels, 3, 2, 1), *_residuals(out_channels, residual_count)
    )


def _up(in_channels: int, out_channels: int, residual_count: int) -> nn.Sequential:
    """Double the resolution, then refine with residual blocks."""
    return nn.Sequential(
        TransposedConvBlock(in_channels, out_channels, 3, 2, 1, output_padding=1),
        *_residuals(out_channels, residual_count),
    )


class Wav2Lip(nn.Module):
    """The Wav2Lip generator.

    ``width`` is the first layer's channel count (16 in the released weights: 36.3 M
    parameters); every other layer scales with it.
    """

    def __init__(self, width: int = RELEASED_WIDTH) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be at least 1, got {width}")
        self.width = width
        w = width
        # 96×96 → 48 → 24 → 12 → 6 → 3 → 1; each block's output is also a skip connection.
        self.face_encoder_blocks = nn.ModuleList(
            [
                nn.Sequential(ConvBlock(6, w, 7, 1, 3)),
                _down(w, 2 * w, 2),
                _down(2 * w, 4 * w, 3),
                _down(4 * w, 8 * w, 2),
                _down(8 * w, 16 * w, 2),
                _down(16 * w, 32 * w, 1),
                nn.Sequential(
                    ConvBlock(32 * w, 32 * w, 3, 1, 0), ConvBlock(32 * w, 32 * w, 1, 1, 0)
                ),
            ]
        )
        # mel window 80×16 → 27×16 → 9×6 → 3×3 → 1×1
        self.audio_encoder = nn.Sequential(
            ConvBlock(1, 2 * w, 3, 1, 1),
            *_residuals(2 * w, 2),
            ConvBlock(2 * w, 4 * w, 3, (3, 1), 1),
            *_residuals(4 * w, 2),
            ConvBlock(4 * w, 8 * w, 3, 3, 1),
            *_residuals(8 * w, 2),
            ConvBlock(8 * w, 16 * w, 3, (3, 2), 1),
            *_residuals(16 * w, 1),
            ConvBlock(16 * w, 32 * w, 3, 1, 0),
            ConvBlock(32 * w, 32 * w, 1, 1, 0),
        )
        # Each decoder block's input is the previous output concatenated with the matching
        # encoder output, hence the odd input widths (64w = 32w + 32w, 48w = 32w + 16w …).
        self.face_decoder_blocks = nn.ModuleList(
            [
                nn.Sequential(ConvBlock(32 * w, 32 * w, 1, 1, 0)),
                nn.Sequential(TransposedConvBlock(64 * w, 32 * w, 3, 1, 0), *_residuals(32 * w, 1)),
                _up(64 * w, 32 * w, 2),
                _up(48 * w, 24 * w, 2),
                _up(32 * w, 16 * w, 2),
                _up(20 * w, 8 * w, 2),
                _up(10 * w, 4 * w, 2),
            ]
        )
        self.output_block = nn.Sequential(
            ConvBlock(5 * w, 2 * w, 3, 1, 1),
            nn.Conv2d(2 * w, 3, kernel_size=1, stride=1, padding=0),
            nn.Sigmoid(),
        )

    def forward(self, audio: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        """Generate faces.

        ``audio``: float32 (B, 1, 80, 16) mel windows in [-4, 4]; ``face``: float32
        (B, 6, 96, 96) in [0, 1], channels = masked BGR crop then reference BGR crop.
        Returns float32 (B, 3, 96, 96) BGR in [0, 1].
        """
        skips = []
        x = face
        for block in self.face_encoder_blocks:
            x = block(x)
            skips.append(x)
        x = self.audio_encoder(audio)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), skips.pop()), dim=1)
        out: torch.Tensor = self.output_block(x)
        return out


def infer_width(state_dict: Mapping[str, torch.Tensor]) -> int:
    """The ``width`` of the network a Wav2Lip state dict (without ``module.``) was saved from.

    Raises CheckpointError when the first face-encoder weight is missing or misshapen.
    """
    first = state_dict.get(FIRST_WEIGHT_KEY)
    if first is None:
        raise CheckpointError(f"not a Wav2Lip generator state dict: missing {FIRST_WEIGHT_KEY}")
    shape = tuple(first.shape)
    if len(shape) != 4 or shape[1:] != (6, 7, 7) or shape[0] < 1:
        raise CheckpointError(
            f"not a Wav2Lip generator state dict: {FIRST_WEIGHT_KEY} has shape {shape}, "
            "expected (width, 6, 7, 7)"
        )
    return int(shape[0])
