"""FFHQ five-point face alignment from FaceMesh landmarks, and pasting a restored face back.

Face restorers (GFPGAN, CodeFormer) were trained on FFHQ-aligned crops: the eyes, the nose
tip and the mouth corners sit at fixed places of a 512×512 square. ``align_face`` maps a
face there with a similarity transform (rotation, uniform scale, shift) fitted to five points
taken from FaceMesh, and ``paste_aligned`` maps the restored square back with a soft mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import InputError

# The five-point template of facexlib's FaceRestoreHelper (used by GFPGAN and CodeFormer) for a
# 512×512 crop, in image order: the eye on the image's left (the subject's right) first, then
# the other eye, the nose tip, the mouth corner on the image's left, the other mouth corner.
FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.1936],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float64,
)

# FaceMesh contours of the two eyes (upper and lower lid). Their mean is the eye's centre,
# closer to the pupil that face detectors' eye landmarks mark than any single mesh point.
SUBJECT_RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
SUBJECT_LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
NOSE_TIP = 1
MOUTH_CORNER_SUBJECT_RIGHT = 61
MOUTH_CORNER_SUBJECT_LEFT = 291

# The mask's soft edge: erode and blur by this fraction of the pasted square's side, so the
# restored face fades out over a band that scales with the face, not a fixed pixel count.
DEFAULT_FEATHER = 0.04


@dataclass(frozen=True)
class AlignedFace:
    """A face warped to the FFHQ layout.

    ``image``: uint8 RGB (size, size, 3). ``matrix``: float64 (2, 3), maps image pixel
    coordinates to aligned pixel coordinates (``cv2.warpAffine`` convention).
    """

    image: np.ndarray
    matrix: np.ndarray

    @property
    def size(self) -> int:
        return int(self.image.shape[0])


def face_points(landmarks: np.ndarray) -> np.ndarray:
    """The five alignment points from FaceMesh landmarks, in the template's order.

    ``landmarks``: (468, 2 or 3) in image pixels. Returns float64 (5, 2): eye on the image's
    left, the other eye, nose tip, mouth corner on the image's left, the other mouth corner.
    The subject's right eye is on the image's left for a face seen from the front; for a
    mirrored mesh the pairs are swapped so the template's order (by image side) holds.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < 468 or points.shape[1] < 2:
        raise InputError(f"face landmarks must be (468, 2 or 3), got shape {points.shape}")
    xy = points[:, :2]
    right_eye = xy[list(SUBJECT_RIGHT_EYE)].mean(axis=0)
    left_eye = xy[list(SUBJECT_LEFT_EYE)].mean(axis=0)
    right_mouth = xy[MOUTH_CORNER_SUBJECT_RIGHT]
    left_mouth = xy[MOUTH_CORNER_SUBJECT_LEFT]
    # Which eye is on the image's left is decided in the face's own frame (along the eye line
    # relative to the mouth), so a strongly rolled head keeps the right pairing.
    if _is_mirrored(right_eye, left_eye, xy[NOSE_TIP], (right_mouth + left_mouth) / 2):
        right_eye, left_eye = left_eye, right_eye
        right_mouth, left_mouth = left_mouth, right_mouth
    return np.stack([right_eye, left_eye, xy[NOSE_TIP], right_mouth, left_mouth])


def _is_mirrored(
    right_eye: np.ndarray, left_eye: np.ndarray, nose: np.ndarray, mouth: np.ndarray
) -> bool:
    # For an upright, unmirrored face the vector right eye → left eye points along +x and the
    # eyes → mouth vector along +y: their cross product is positive. A mirror flips its sign.
    across = left_eye - right_eye
    down = mouth - (right_eye + left_eye) / 2
    return float(across[0] * down[1] - across[1] * down[0]) < 0


def template(size: int) -> np.ndarray:
    """The FFHQ five-point template scaled to a ``size``×``size`` crop, float64 (5, 2)."""
    return FFHQ_TEMPLATE_512 * (size / 512.0)


def alignment_matrix(points: np.ndarray, size: int = 512) -> np.ndarray:
    """Similarity transform (2, 3) float64 mapping ``points`` (5, 2) onto the template.

    Fitted with least median of squares, as facexlib does, so one badly placed point (a
    mouth corner in a wide-open mouth) does not drag the others. Raises InputError when the
    points are degenerate (all in one place).
    """
    source = np.asarray(points, dtype=np.float64).reshape(5, 2)
    matrix, _ = cv2.estimateAffinePartial2D(source, template(size), method=cv2.LMEDS)
    if (
        matrix is None
        or not np.all(np.isfinite(matrix))
        or abs(np.linalg.det(matrix[:, :2])) < 1e-9
    ):
        raise InputError("cannot align the face: its five landmarks are degenerate")
    return matrix.astype(np.float64)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 512) -> AlignedFace:
    """Warp the face in ``image`` (uint8 RGB (H, W, 3)) to the FFHQ layout at ``size``².

    ``landmarks``: FaceMesh (468, 2 or 3) in ``image`` pixels. Parts of the square outside
    the image are filled by reflecting the image, which the restorers handle better than a
    flat colour.
    """
    _check_image(image)
    if size < 8:
        raise InputError(f"aligned face size must be at least 8 pixels, got {size}")
    matrix = alignment_matrix(face_points(landmarks), size)
    aligned = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    return AlignedFace(image=aligned, matrix=matrix)


def paste_mask(
    matrix: np.ndarray,
    image_size: tuple[int, int],
    aligned_size: int,
    mask_scale: float = 1.0,
    feather: float = DEFAULT_FEATHER,
) -> np.ndarray:
    """The soft paste-back mask in image pixels: float32 (H, W) in [0, 1].

    ``image_size``: (width, height). ``mask_scale`` (0 … 1]: side of the centred square of
    the aligned crop that is pasted, relative to the whole crop. ``feather``: width of the
    fade, as a fraction of that square's side; the fade ends at the square's edge.
    """
    if not 0.0 < mask_scale <= 1.0:
        raise InputError(f"mask_scale must be in (0, 1], got {mask_scale}")
    if not 0.0 <= feather <= 0.5:
        raise InputError(f"feather must be in [0, 0.5], got {feather}")
    width, height = image_size
    square = np.zeros((aligned_size, aligned_size), np.float32)
    margin = round(aligned_size * (1.0 - mask_scale) / 2)
    square[margin : aligned_size - margin, margin : aligned_size - margin] = 1.0
    inverse = cv2.invertAffineTransform(matrix)
    mask = cv2.warpAffine(square, inverse, (width, height), flags=cv2.INTER_LINEAR, borderValue=0.0)
    # The side of the pasted square in image pixels sets the fade's width.
    scale = float(np.sqrt(abs(np.linalg.det(inverse[:, :2]))))
    edge = round(feather * (aligned_size - 2 * margin) * scale)
    # Bilinear resampling leaves a one-pixel partial edge; erode it away first.
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    if edge >= 1:
        mask = cv2.erode(mask, np.ones((edge + 1, edge + 1), np.uint8))
        mask = cv2.GaussianBlur(mask, (2 * edge + 1, 2 * edge + 1), 0)
    return np.clip(mask, 0.0, 1.0)


def paste_aligned(
    image: np.ndarray,
    restored: np.ndarray,
    matrix: np.ndarray,
    mask_scale: float = 1.0,
    feather: float = DEFAULT_FEATHER,
    opacity: float = 1.0,
) -> np.ndarray:
    """``image`` (uint8 RGB (H, W, 3)) with the aligned ``restored`` face (uint8 RGB
    (S, S, 3)) warped back by the inverse of ``matrix`` and blended in with a soft mask
    (see ``paste_mask``) times ``opacity`` (0 … 1). Mixing here rather than in the aligned
    square keeps the input's own pixels unresampled. Returns a new uint8 RGB (H, W, 3);
    ``image`` is not modified."""
    _check_image(image)
    _check_image(restored)
    if not 0.0 <= opacity <= 1.0:
        raise InputError(f"opacity must be in [0, 1], got {opacity}")
    size = restored.shape[0]
    if restored.shape[1] != size:
        raise InputError(f"the restored face must be square, got {restored.shape[:2]}")
    height, width = image.shape[:2]
    inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    warped = cv2.warpAffine(
        restored, inverse, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    mask = paste_mask(matrix, (width, height), size, mask_scale, feather)[..., None] * opacity
    blended = warped.astype(np.float32) * mask + image.astype(np.float32) * (1.0 - mask)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def _check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise InputError(
            f"expected a uint8 RGB image (H, W, 3), got {image.dtype} {tuple(image.shape)}"
        )
