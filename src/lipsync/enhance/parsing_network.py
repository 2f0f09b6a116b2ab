"""BiSeNet face parsing (a ResNet-18 context path, attention refinement and feature fusion,
19 CelebAMask-HQ classes), laid out so face-parsing.PyTorch's released ``79999_iter.pth``
(a bare state dict) loads key for key; facexlib's ``parsing_bisenet.pth`` uses the same names.

All widths are multiples of one base width (64 in the released network: ResNet stages 64,
128, 256, 512; 128-channel context heads; a 256-channel fusion), so tests can build a narrow
network with the same keys; ``base_width_from_state_dict`` reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from .checkpoint import load_checked

RELEASED_BASE_WIDTH = 64
NUM_CLASSES = 19
INPUT_SIZE = 512
"""The parser's input side in pixels (the released weights were trained on 512² faces)."""

# ImageNet statistics, which the released weights were trained with (RGB order, [0, 1] input)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _ConvBnRelu(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class _BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Sequential | None = None
        if in_channels != out_channels or stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + residual)


def _stage(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        _BasicBlock(in_channels, out_channels, stride), _BasicBlock(out_channels, out_channels, 1)
    )


class _ResNet18(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = _stage(width, width, 1)
        self.layer2 = _stage(width, 2 * width, 2)
        self.layer3 = _stage(2 * width, 4 * width, 2)
        self.layer4 = _stage(4 * width, 8 * width, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        eighth = self.layer2(self.layer1(x))
        sixteenth = self.layer3(eighth)
        return eighth, sixteenth, self.layer4(sixteenth)


class _AttentionRefinement(nn.Module):
    """Re-weights channels by a gate computed from their global average."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = _ConvBnRelu(in_channels, out_channels)
        self.conv_atten = nn.Conv2d(out_channels, out_channels, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.conv(x)
        gate = torch.sigmoid(self.bn_atten(self.conv_atten(features.mean((2, 3), keepdim=True))))
        return features * gate


class _ContextPath(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        head = 2 * width
        self.resnet = _ResNet18(width)
        self.arm16 = _AttentionRefinement(4 * width, head)
        self.arm32 = _AttentionRefinement(8 * width, head)
        self.conv_head32 = _ConvBnRelu(head, head)
        self.conv_head16 = _ConvBnRelu(head, head)
        self.conv_avg = _ConvBnRelu(8 * width, head, kernel=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the ResNet's 1/8 features and the context features at 1/8."""
        eighth, sixteenth, thirty_second = self.resnet(x)
        context = self.conv_avg(thirty_second.mean((2, 3), keepdim=True))
        merged = self.arm32(thirty_second) + context  # broadcast = nearest upsampling of 1×1
        up = F.interpolate(merged, size=sixteenth.shape[2:], mode="nearest")
        merged = self.arm16(sixteenth) + self.conv_head32(up)
        up = F.interpolate(merged, size=eighth.shape[2:], mode="nearest")
        return eighth, self.conv_head16(up)


class _FeatureFusion(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convblk = _ConvBnRelu(in_channels, out_channels, kernel=1)
        self.conv1 = nn.Conv2d(out_channels, out_channels // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(out_channels // 4, out_channels, 1, bias=False)

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        features = self.convblk(torch.cat([spatial, context], dim=1))
        pooled = features.mean((2, 3), keepdim=True)
        gate = torch.sigmoid(self.conv2(F.relu(self.conv1(pooled))))
        return features + features * gate


class _Output(nn.Module):
    def __init__(self, in_channels: int, mid_channels: int, classes: int) -> None:
        super().__init__()
        self.conv = _ConvBnRelu(in_channels, mid_channels)
        self.conv_out = nn.Conv2d(mid_channels, classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """BiSeNet with face-parsing.PyTorch's parameter names.

    ``forward``: float32 RGB (B, 3, H, W), ImageNet-normalised (H, W multiples of 32) →
    class logits (B, classes, H, W). The two auxiliary heads (``conv_out16``,
    ``conv_out32``) exist so the released weights load; inference does not run them.
    """

    def __init__(self, classes: int = NUM_CLASSES, base_width: int = RELEASED_BASE_WIDTH) -> None:
        super().__init__()
        if base_width < 4 or base_width % 4:
            raise ValueError(f"base_width must be a positive multiple of 4, got {base_width}")
        self.base_width = base_width
        self.classes = classes
        self.cp = _ContextPath(base_width)
        self.ffm = _FeatureFusion(4 * base_width, 4 * base_width)
        self.conv_out = _Output(4 * base_width, 4 * base_width, classes)
        self.conv_out16 = _Output(2 * base_width, base_width, classes)
        self.conv_out32 = _Output(2 * base_width, base_width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial, context = self.cp(x)
        logits = self.conv_out(self.ffm(spatial, context))
        return F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=True)


def base_width_from_state_dict(state: Mapping[str, torch.Tensor]) -> tuple[int, int]:
    """(base width, classes) of the BiSeNet whose weights are ``state``.

    Raises CheckpointError when the two tensors that size the network are missing.
    """
    needed = ("cp.resnet.conv1.weight", "conv_out.conv_out.weight")
    missing = [key for key in needed if key not in state]
    if missing:
        raise CheckpointError(
            f"not a BiSeNet face-parsing checkpoint: missing {', '.join(missing)}"
        )
    return int(state[needed[0]].shape[0]), int(state[needed[1]].shape[0])


def build_bisenet(state: Mapping[str, torch.Tensor]) -> BiSeNet:
    """A BiSeNet sized from ``state`` with its weights (CPU, float32, eval mode).

    BatchNorm step counters may be absent (old files). Raises CheckpointError naming missing
    or unexpected keys, or tensors of the wrong shape.
    """
    base_width, classes = base_width_from_state_dict(state)
    try:
        with torch.device("meta"):
            network = BiSeNet(classes, base_width)
    except ValueError as error:
        raise CheckpointError(f"not a BiSeNet face-parsing checkpoint: {error}") from None
    optional = {key for key in network.state_dict() if key.endswith("num_batches_tracked")}
    return load_checked(network, state, "BiSeNet face-parsing", optional)
