"""Picture-quality figures of the enhancement stage: sharpness, flicker, and "unchanged outside".

- **Sharpness** of the mouth: the variance of the Laplacian of its grey levels (higher is
  sharper; only comparable between pictures of the same content and size).
- **Flicker**: the mean absolute frame-to-frame change of the mouth region, with each frame
  first aligned onto the first by the similarity fitted on landmarks that speech does not
  move, so head motion is not counted. Reported as a ratio to the input video's flicker:
  1 means the enhancer adds none.
- **Outside the mask**: PSNR and SSIM between the output and the input over the pixels the
  stage must not touch; they should show only the video codec's loss.

No no-reference score (BRISQUE, NIQE) is computed here. The one maintained package that
ships a trained BRISQUE model, ``brisque`` 0.2.0, needs ``libsvm-official`` (built from
source), scikit-image and requests at run time and unpickles its normaliser; the others
download weights (pyiqa, piq) or need model files no wheel carries (OpenCV's quality
module). benchmarks/quality_enhance.py reports BRISQUE when that package is installed.
SSIM is written here (Gaussian window, σ = 1.5, as Wang et al. 2004) because scikit-image is
only a development dependency.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError
from ..faces.mouth import STABLE, similarity_transform

# A mask weight at or below this counts as "outside": the stage leaves such pixels alone
# (a weight of 1/1000 moves a pixel by a quarter of a grey level at most).
OUTSIDE_LEVEL = 1e-3
SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # the 11 × 11 window of the SSIM paper
_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FlickerComparison:
    """Flicker of an output and of its input (mean absolute change per frame, 8-bit grey
    levels); ``ratio`` = output / reference (1.0 when both are 0, inf when only the input
    is still)."""

    output: float
    reference: float
    ratio: float


@dataclass(frozen=True)
class EnhanceQuality:
    """Figures of one output video against its input, from :class:`EnhanceQualityMeter`.

    ``sharpness`` / ``reference_sharpness``: mean variance of the Laplacian of the aligned
    mouth region in the output / the input. ``psnr_outside_db``: PSNR (dB) of the pooled
    squared error outside the mask, inf when identical. ``ssim_outside``: mean SSIM there.
    ``frames``: frames measured (with a face).
    """

    frames: int
    sharpness: float
    reference_sharpness: float
    flicker: FlickerComparison
    psnr_outside_db: float
    ssim_outside: float


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    if image.ndim == 2:
        return image.astype(np.float64)
    raise InputError(f"expected an RGB (h, w, 3) or grey (h, w) image, got {image.shape}")


def _check_mask(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    if mask.shape != image.shape[:2]:
        raise InputError(f"mask shape {mask.shape} does not match the image's {image.shape[:2]}")
    return mask.astype(np.float64)


def laplacian_sharpness(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian (3 × 3 aperture) of the grey levels, in squared levels.

    ``image``: uint8 RGB (h, w, 3) or grey (h, w). ``mask``: optional float (h, w) weights in
    [0, 1] (or bool); the variance is then weighted by it. Raises InputError when the mask
    selects no pixel.
    """
    laplacian = cv2.Laplacian(_grey(image), cv2.CV_64F, ksize=1)
    if mask is None:
        return float(laplacian.var())
    weights = _check_mask(mask, image)
    total = weights.sum()
    if total <= 0:
        raise InputError("the mask selects no pixel to measure sharpness on")
    mean = (laplacian * weights).sum() / total
    return float((((laplacian - mean) ** 2) * weights).sum() / total)


def _outside(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    if a.shape != b.shape:
        raise InputError(f"images differ in shape: {a.shape} and {b.shape}")
    outside = _check_mask(mask, a) <= OUTSIDE_LEVEL
    if not outside.any():
        raise InputError("the mask covers the whole image; nothing lies outside it")
    return outside


def psnr_outside(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB between uint8 images ``a`` and ``b`` (h, w[, 3]) over the pixels where the
    float (h, w) ``mask`` is 0 (≤ ``OUTSIDE_LEVEL``); inf when they are identical there."""
    return _psnr_from_mse(squared_error_outside(a, b, mask)[0])


def squared_error_outside(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(mean squared error, values counted) over the pixels outside ``mask``, for pooling
    PSNR over many frames."""
    outside = _outside(a, b, mask)
    diff = a.astype(np.float64)[outside] - b.astype(np.float64)[outside]
    return float((diff**2).mean()), int(diff.size)


def _psnr_from_mse(mse: float) -> float:
    return math.inf if mse <= 0 else 10.0 * math.log10(255.0**2 / mse)


def _ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    size = (2 * SSIM_RADIUS + 1, 2 * SSIM_RADIUS + 1)

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, size, SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    numerator = (2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)
    return numerator / ((mu_a**2 + mu_b**2 + _SSIM_C1) * (var_a + var_b + _SSIM_C2))


def ssim_outside(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean SSIM (over channels) between uint8 images ``a`` and ``b`` (h, w[, 3]) where the
    float (h, w) ``mask`` is 0 and no pixel within the SSIM window is inside it, so a changed
    region does not leak into the figure through its windows. 1.0 means identical."""
    outside = _outside(a, b, mask)
    kernel = np.ones((2 * SSIM_RADIUS + 1, 2 * SSIM_RADIUS + 1), np.uint8)
    clear = cv2.erode(outside.astype(np.uint8), kernel, borderType=cv2.BORDER_REPLICATE) > 0
    if not clear.any():
        raise InputError("no pixel lies a full SSIM window away from the mask")
    a3 = a.reshape(*a.shape[:2], -1).astype(np.float64)
    b3 = b.reshape(*b.shape[:2], -1).astype(np.float64)
    maps = [_ssim_map(a3[..., c], b3[..., c])[clear] for c in range(a3.shape[2])]
    return float(np.mean(maps))


def flicker(regions: Sequence[np.ndarray]) -> float:
    """Mean absolute frame-to-frame change, in 8-bit levels, of an aligned region sequence.

    ``regions``: uint8 (h, w[, 3]) crops of the same region, all the same shape, already
    aligned (see :func:`aligned_region`). A still sequence gives 0. Raises InputError for
    fewer than two regions or mismatched shapes.
    """
    if len(regions) < 2:
        raise InputError(f"flicker needs at least two frames, got {len(regions)}")
    changes = []
    for previous, current in itertools.pairwise(regions):
        if previous.shape != current.shape:
            raise InputError(f"regions differ in shape: {previous.shape} and {current.shape}")
        changes.append(np.abs(current.astype(np.int16) - previous.astype(np.int16)).mean())
    return float(np.mean(changes))


def compare_flicker(output: float, reference: float) -> FlickerComparison:
    """Flicker of an output against its input's (both from :func:`flicker`)."""
    if reference > 0:
        return FlickerComparison(output, reference, output / reference)
    return FlickerComparison(output, reference, 1.0 if output == 0 else math.inf)


def aligned_region(
    frame: np.ndarray, landmarks: np.ndarray, reference_landmarks: np.ndarray, box: Box
) -> np.ndarray:
    """``box`` of the reference face's pose, cut from ``frame`` after aligning its face.

    ``frame``: uint8 (H, W[, 3]). ``landmarks``: the frame's FaceMesh (468, 2+) frame
    pixels; ``reference_landmarks``: those of the frame whose pose defines ``box`` (x1, y1,
    x2, y2). The similarity fitted on the points speech does not move carries the frame onto
    the reference pose, so the crop shows the same part of the face in every frame.
    """
    x1, y1, x2, y2 = box
    matrix = similarity_transform(
        landmarks[list(STABLE), :2], reference_landmarks[list(STABLE), :2]
    )
    matrix[:, 2] -= (x1, y1)  # into the box's own pixels
    return cv2.warpAffine(
        frame, matrix, (x2 - x1, y2 - y1), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


class EnhanceQualityMeter:
    """Accumulates :class:`EnhanceQuality` over a video, one frame pair at a time.

    ``add`` per frame: the input frame, the output frame (uint8 RGB (H, W, 3) each), the
    input's FaceMesh landmarks (468, 3) frame pixels or None, the region box to measure
    (frame pixels) and ``changed``: float32 (H, W), nonzero wherever the output may differ
    from the input (the engine's and the enhancer's regions). The first frame with a face
    fixes the pose and the box that later frames are aligned to.
    """

    def __init__(self) -> None:
        self._reference_landmarks: np.ndarray | None = None
        self._box: Box | None = None
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._changes: list[tuple[float, float]] = []
        self._sharpness: list[tuple[float, float]] = []
        self._squared_error = 0.0
        self._values = 0
        self._ssim: list[float] = []

    def add(
        self,
        reference: np.ndarray,
        output: np.ndarray,
        landmarks: np.ndarray | None,
        box: Box,
        changed: np.ndarray,
    ) -> None:
        mse, values = squared_error_outside(output, reference, changed)
        self._squared_error += mse * values
        self._values += values
        self._ssim.append(ssim_outside(output, reference, changed))
        if landmarks is None:
            self._previous = None  # the aligned chain breaks where the face is lost
            return
        if self._reference_landmarks is None:
            self._reference_landmarks, self._box = landmarks, box
        assert self._box is not None
        crops = (
            aligned_region(output, landmarks, self._reference_landmarks, self._box),
            aligned_region(reference, landmarks, self._reference_landmarks, self._box),
        )
        self._sharpness.append((laplacian_sharpness(crops[0]), laplacian_sharpness(crops[1])))
        if self._previous is not None:
            self._changes.append(
                (flicker([self._previous[0], crops[0]]), flicker([self._previous[1], crops[1]]))
            )
        self._previous = crops

    def result(self) -> EnhanceQuality:
        """The figures so far; raises InputError before two frames with a face were added."""
        if not self._changes:
            raise InputError("quality needs at least two consecutive frames with a face")
        changes = np.array(self._changes)
        sharpness = np.array(self._sharpness)
        return EnhanceQuality(
            frames=len(self._sharpness),
            sharpness=float(sharpness[:, 0].mean()),
            reference_sharpness=float(sharpness[:, 1].mean()),
            flicker=compare_flicker(float(changes[:, 0].mean()), float(changes[:, 1].mean())),
            psnr_outside_db=_psnr_from_mse(self._squared_error / max(self._values, 1)),
            ssim_outside=float(np.mean(self._ssim)),
        )
