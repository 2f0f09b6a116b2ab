"""Decoded pictures kept in the decoder's own 8-bit YUV 4:2:0, converted to RGB only where needed.

An engine that changes only the mouth has no use for the other 95 % of a frame in RGB: a
720p frame costs about 1 ms to convert to RGB and 0.6 ms back, twice a small region's cost,
and the round trip alters every pixel by a level or two. A ``Yuv420Picture`` hands out the
RGB of a box (``rgb``) and takes back changed pixels (``paste_rgb``), leaving the rest of
the picture exactly as decoded.

Limited range only ("studio swing": Y in 16..235, chroma in 16..240), with the BT.601 or
BT.709 matrix. Chroma is upsampled by repetition and downsampled by 2 × 2 averages, so a
region converted to RGB and back unchanged keeps its chroma (and its luma within a level).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from ..errors import InputError

Matrix = Literal["bt601", "bt709"]
Box = tuple[int, int, int, int]

_LUMA_WEIGHTS = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}  # (Kr, Kb)


def _to_ycbcr(matrix: Matrix) -> np.ndarray:
    """float32 (3, 4): [R, G, B, 1] in 0..255 → limited-range [Y, Cb, Cr]."""
    kr, kb = _LUMA_WEIGHTS[matrix]
    kg = 1.0 - kr - kb
    luma = np.array([kr, kg, kb])
    cb = (np.array([0.0, 0.0, 1.0]) - luma) / (2.0 * (1.0 - kb))
    cr = (np.array([1.0, 0.0, 0.0]) - luma) / (2.0 * (1.0 - kr))
    scale = np.array([219.0, 224.0, 224.0])[:, None] / 255.0
    linear = np.stack([luma, cb, cr]) * scale
    return np.hstack([linear, np.array([[16.0], [128.0], [128.0]])]).astype(np.float32)


def _to_rgb(matrix: Matrix) -> np.ndarray:
    """float32 (3, 4): limited-range [Y, Cb, Cr, 1] → [R, G, B] in 0..255."""
    forward = _to_ycbcr(matrix).astype(np.float64)
    inverse = np.linalg.inv(forward[:, :3])
    return np.hstack([inverse, -inverse @ forward[:, 3:]]).astype(np.float32)


_TO_YCBCR = {matrix: _to_ycbcr(matrix) for matrix in ("bt601", "bt709")}
_TO_RGB = {matrix: _to_rgb(matrix) for matrix in ("bt601", "bt709")}


def even_box(box: Box, width: int, height: int) -> Box:
    """``box`` widened to even edges (whole chroma samples), clipped to the picture."""
    x1, y1, x2, y2 = box
    return (
        max(0, x1 - x1 % 2),
        max(0, y1 - y1 % 2),
        min(width, x2 + x2 % 2),
        min(height, y2 + y2 % 2),
    )


@dataclass
class Yuv420Picture:
    """One 8-bit I420 picture: ``planes`` uint8 (H·3/2, W), the Y plane's rows followed by the
    U and V planes (H/2 × W/2 each), as FFmpeg's yuv420p and OpenCV's I420. H and W even."""

    planes: np.ndarray
    matrix: Matrix

    def __post_init__(self) -> None:
        rows, width = self.planes.shape if self.planes.ndim == 2 else (0, 0)
        if self.planes.dtype != np.uint8 or rows % 3 or width % 2 or not rows:
            raise InputError(
                f"I420 planes must be uint8 (H·3/2, W) with H and W even, got "
                f"{self.planes.dtype} {self.planes.shape}"
            )
        if self.matrix not in _TO_RGB:
            raise InputError(f"matrix must be bt601 or bt709, got {self.matrix!r}")
        if not self.planes.flags.c_contiguous:
            self.planes = np.ascontiguousarray(self.planes)

    def copy(self) -> Yuv420Picture:
        return Yuv420Picture(self.planes.copy(), self.matrix)

    @property
    def width(self) -> int:
        return int(self.planes.shape[1])

    @property
    def height(self) -> int:
        return int(self.planes.shape[0]) * 2 // 3

    def _views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        height, width = self.height, self.width
        flat = self.planes.reshape(-1)
        luma = height * width
        chroma = luma // 4
        u = flat[luma : luma + chroma].reshape(height // 2, width // 2)
        v = flat[luma + chroma :].reshape(height // 2, width // 2)
        return flat[:luma].reshape(height, width), u, v

    def rgb(self, box: Box, out: np.ndarray | None = None) -> np.ndarray:
        """uint8 RGB (y2 - y1, x2 - x1, 3) of ``box`` (even edges, see ``even_box``), written
        into ``out`` when given (an array of that shape, e.g. a view into a larger canvas)."""
        x1, y1, x2, y2 = self._check(box)
        if out is not None and (out.shape != (y2 - y1, x2 - x1, 3) or out.dtype != np.uint8):
            raise InputError(
                f"out must be uint8 ({y2 - y1}, {x2 - x1}, 3), got {out.dtype} {out.shape}"
            )
        luma, u, v = self._views()
        size = (x2 - x1, y2 - y1)
        half = (slice(y1 // 2, y2 // 2), slice(x1 // 2, x2 // 2))
        cb, cr = (
            cv2.resize(plane[half], size, interpolation=cv2.INTER_NEAREST) for plane in (u, v)
        )
        ycbcr = cv2.merge([luma[y1:y2, x1:x2], cb, cr])
        to_rgb = _TO_RGB[self.matrix]
        if out is not None and out.strides[1:] == (3, 1):  # rows of packed pixels, e.g. a view
            cv2.transform(ycbcr, to_rgb, dst=out)  # in place; rounds and saturates
            return out
        converted = np.asarray(cv2.transform(ycbcr, to_rgb))
        if out is None:
            return converted
        out[...] = converted
        return out

    def paste_rgb(self, box: Box, pixels: np.ndarray) -> None:
        """Replace ``box`` (even edges) with uint8 RGB ``pixels`` of its size, in place."""
        x1, y1, x2, y2 = self._check(box)
        if pixels.shape != (y2 - y1, x2 - x1, 3) or pixels.dtype != np.uint8:
            raise InputError(
                f"pixels must be uint8 ({y2 - y1}, {x2 - x1}, 3), got {pixels.dtype} {pixels.shape}"
            )
        luma, u, v = self._views()
        to_ycbcr = _TO_YCBCR[self.matrix]
        luma[y1:y2, x1:x2] = cv2.transform(pixels, to_ycbcr)[..., 0]  # rounds and saturates
        # The matrix is linear: the chroma of 2 × 2 averaged pixels is their averaged chroma.
        size = ((x2 - x1) // 2, (y2 - y1) // 2)
        averaged = cv2.transform(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), to_ycbcr)
        half = (slice(y1 // 2, y2 // 2), slice(x1 // 2, x2 // 2))
        u[half] = averaged[..., 1]
        v[half] = averaged[..., 2]

    def _check(self, box: Box) -> Box:
        x1, y1, x2, y2 = (int(value) for value in box)
        if not (0 <= x1 < x2 <= self.width and 0 <= y1 < y2 <= self.height):
            raise InputError(f"box {box} is not inside the {self.width}×{self.height} picture")
        if (x1 | y1 | x2 | y2) % 2:
            raise InputError(f"box {box} must have even edges (see even_box)")
        return x1, y1, x2, y2


def i420_from_rgb(frame: np.ndarray, matrix: Matrix) -> np.ndarray:
    """uint8 I420 planes (H·3/2, W) of a uint8 RGB (H, W, 3) frame with even H and W."""
    height, width = frame.shape[:2]
    picture = Yuv420Picture(np.empty((height * 3 // 2, width), np.uint8), matrix)
    picture.paste_rgb((0, 0, width, height), frame)
    return picture.planes
