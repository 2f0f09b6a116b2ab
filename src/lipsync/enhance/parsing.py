"""Face parsing (BiSeNet, 19 CelebAMask-HQ classes) and the paste-back masks built from it.

Wav2Lip-HQ's recipe: after a face is enhanced, paste back only the pixels that belong to the
regenerated parts (skin, lips, mouth), so hair, eyes and background stay as they were. The
weights are user-supplied (face-parsing.PyTorch's ``79999_iter.pth``);
``write_random_parsing_checkpoint`` writes a narrow random network with the same keys for
tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch

from ..errors import InputError, OptionsError
from .checkpoint import read_checkpoint
from .parsing_network import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    INPUT_SIZE,
    NUM_CLASSES,
    BiSeNet,
    build_bisenet,
)

CELEBAMASK_CLASSES = (
    "background",
    "skin",
    "left_brow",
    "right_brow",
    "left_eye",
    "right_eye",
    "eye_glasses",
    "left_ear",
    "right_ear",
    "earring",
    "nose",
    "mouth",
    "upper_lip",
    "lower_lip",
    "neck",
    "necklace",
    "cloth",
    "hair",
    "hat",
)
"""Label ``i`` of the parser's output is ``CELEBAMASK_CLASSES[i]`` (face-parsing.PyTorch's
order; "mouth" is the inside of the mouth, between the lips)."""

MaskKind = Literal["mouth", "face"]

KEEP_CLASSES: dict[str, tuple[int, ...]] = {
    # the lips and the inside of the mouth: what a lip-sync engine regenerates
    "mouth": (11, 12, 13),
    # skin, nose, lips and mouth: Wav2Lip-HQ's set plus the nose, which a face restorer
    # changes along with the skin around it; eyes, brows, hair and ears stay original
    "face": (1, 10, 11, 12, 13),
}

# Labels are computed at most this many crops per forward pass (a 512² BiSeNet pass needs
# ~0.3 GB of activations at the released width).
DEFAULT_BATCH = 8
# The feather (Gaussian sigma) of keep_mask, as a fraction of the crop's shorter side.
DEFAULT_FEATHER = 0.02


class FaceParser:
    """BiSeNet face parsing from ``weights`` (a bare state dict as released, or one inside
    ``state_dict``/``params``), on ``device`` ("auto", "cpu", "cuda[:N]", "mps").

    Raises ModelNotInstalledError for a missing file, CheckpointError for a file that is
    not a BiSeNet face parser, DeviceError for an unavailable device.
    """

    def __init__(
        self, weights: Path, device: str = "auto", batch_size: int = DEFAULT_BATCH
    ) -> None:
        if batch_size < 1:
            raise OptionsError(f"batch size must be at least 1, got {batch_size}")
        from ..models.runtime import resolve_torch_device

        self.device = resolve_torch_device(device)
        self.batch_size = batch_size
        self._network = build_bisenet(read_checkpoint(weights, "BiSeNet face-parsing")).to(
            self.device
        )
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255.0

    def parse(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per crop (uint8 RGB (h, w, 3), a face filling most of it), the CelebAMask-HQ class
        of every pixel: uint8 (h, w) with values 0 … 18 (see ``CELEBAMASK_CLASSES``).

        Each crop is resized to 512² (the training size), labelled there and the labels
        resized back with nearest-neighbour sampling.
        """
        for crop in crops:
            if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
                raise InputError(
                    f"face crops must be uint8 RGB (h, w, 3), got {crop.dtype} {crop.shape}"
                )
        labels: list[np.ndarray] = []
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start : start + self.batch_size]
            square = np.stack(
                [
                    cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
                    for crop in chunk
                ]
            )
            with torch.inference_mode():
                pixels = torch.from_numpy(square).to(self.device).permute(0, 3, 1, 2).float()
                logits = self._network((pixels - self._mean) / self._std)
                classes = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
            for crop, label in zip(chunk, classes, strict=True):
                height, width = crop.shape[:2]
                labels.append(cv2.resize(label, (width, height), interpolation=cv2.INTER_NEAREST))
        return labels

    @staticmethod
    def keep_mask(
        labels: np.ndarray, kind: MaskKind = "mouth", feather: float = DEFAULT_FEATHER
    ) -> np.ndarray:
        """Same as the module's :func:`keep_mask`."""
        return keep_mask(labels, kind, feather)

    def close(self) -> None:
        self._network = self._network.to("cpu")
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def keep_mask(
    labels: np.ndarray, kind: MaskKind = "mouth", feather: float = DEFAULT_FEATHER
) -> np.ndarray:
    """The soft mask of the pixels to take from the enhanced face: float32 (h, w) in [0, 1].

    ``labels``: uint8 (h, w) from :meth:`FaceParser.parse`. ``kind``: "mouth" keeps the lips
    and the inside of the mouth, "face" keeps skin, nose, lips and mouth. ``feather``: the
    softness of the edge (Gaussian sigma as a fraction of the shorter side; 0 for a hard
    mask). The mouth mask is grown by the feather width first, so the lips themselves stay
    fully enhanced and the fade falls on the skin around them.
    """
    if kind not in KEEP_CLASSES:
        raise OptionsError(f"unknown parsing mask kind {kind!r}; use mouth or face")
    if labels.ndim != 2:
        raise InputError(f"labels must be a (h, w) array, got shape {labels.shape}")
    if not 0.0 <= feather <= 0.5:
        raise OptionsError(f"feather must be between 0 and 0.5, got {feather}")
    mask = np.isin(labels, KEEP_CLASSES[kind]).astype(np.float32)
    sigma = feather * min(labels.shape)
    if sigma < 0.5 or not mask.any():
        return mask
    if kind == "mouth":
        radius = max(1, round(sigma))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.dilate(mask, kernel).astype(np.float32)
    size = 2 * math.ceil(3 * sigma) + 1
    blurred = cv2.GaussianBlur(mask, (size, size), sigma, borderType=cv2.BORDER_REPLICATE)
    return np.clip(blurred, 0.0, 1.0).astype(np.float32)


TINY_PARSING_WIDTH = 8
"""Base width of test parsers: ~0.2 M parameters instead of the released 13 M (width 64)."""


def random_bisenet(seed: int = 0, base_width: int = TINY_PARSING_WIDTH) -> BiSeNet:
    """A BiSeNet with seeded random weights (eval mode, CPU); the global RNG is untouched.

    BatchNorm statistics are set to their identity values and the weights He-scaled, so the
    logits vary across the face and several classes appear in its labels.
    """
    generator = torch.Generator().manual_seed(seed)
    network = BiSeNet(NUM_CLASSES, base_width)
    with torch.no_grad():
        for name, tensor in network.state_dict(keep_vars=True).items():
            if name.endswith("running_var"):
                tensor.fill_(1.0)
            elif name.endswith(("running_mean", "num_batches_tracked")) or (
                name.endswith("bias") and tensor.ndim == 1
            ):
                tensor.zero_()
            elif tensor.ndim == 1:  # BatchNorm scale
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            else:
                fan_in = tensor[0].numel()
                noise = torch.randn(tensor.shape, generator=generator)
                tensor.copy_(noise * math.sqrt(2.0 / fan_in))
    return network.eval()


def write_random_parsing_checkpoint(
    path: str | Path, seed: int = 0, base_width: int = TINY_PARSING_WIDTH
) -> Path:
    """Write ``random_bisenet(seed, base_width)`` as a bare state dict, the format of the
    released ``79999_iter.pth`` (same key names; narrower tensors unless ``base_width`` is
    64). Returns ``path``."""
    path = Path(path)
    state = {
        key: value.detach().clone().contiguous()
        for key, value in random_bisenet(seed, base_width).state_dict().items()
    }
    torch.save(state, path)
    return path
