"""Source mouths for the built-in engine: small crops of a frame's lower face and their points."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...errors import InputError, OptionsError
from ...faces import mouth as facemesh
from ...faces.types import NUM_LANDMARKS
from .mouth_mesh import MouthMesh, mouth_mesh

_SAMPLE_MARGIN = 0.15  # around the mesh in a sample crop, inter-ocular units


@dataclass(frozen=True)
class MouthSample:
    """A source frame's lower face, cut out so that the engine can keep hundreds of them in memory.

    ``image``: uint8 RGB (h, w, 3), a crop around the lower face (mouth, chin, lower cheeks,
    with margin). ``landmarks``: float32 (468, 3) in the crop's pixels (all 468 points, even
    those outside the crop).
    """

    image: np.ndarray
    landmarks: np.ndarray

    def __post_init__(self) -> None:
        if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape[2] != 3:
            raise InputError(
                f"sample image must be uint8 (h, w, 3), got {self.image.dtype} {self.image.shape}"
            )
        if self.landmarks.shape != (NUM_LANDMARKS, 3):
            raise InputError(
                f"sample landmarks must be ({NUM_LANDMARKS}, 3), got {self.landmarks.shape}"
            )


def check_landmarks(landmarks: np.ndarray, mesh: MouthMesh) -> None:
    """Raise InputError unless ``landmarks`` is (468, 2+) with finite points where used."""
    if landmarks.ndim != 2 or landmarks.shape[0] != NUM_LANDMARKS or landmarks.shape[1] < 2:
        raise InputError(f"landmarks must be ({NUM_LANDMARKS}, 2+), got {landmarks.shape}")
    if not np.isfinite(landmarks[mesh.rendered_points, :2]).all():
        raise InputError("landmarks of the lower face are not finite (NaN or inf)")


def check_frame(frame: np.ndarray) -> None:
    """Raise InputError unless ``frame`` is uint8 RGB (H, W, 3)."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"frame must be uint8 RGB (H, W, 3), got {frame.dtype} {frame.shape}")


def sample_box(
    landmarks: np.ndarray, frame_size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The box of a (width, height) frame that ``cut_sample`` crops: the renderer's mesh with
    a margin, clipped to the frame; None when that leaves nothing."""
    points = landmarks[mouth_mesh().indices, :2]
    margin = _SAMPLE_MARGIN * float(facemesh.inter_ocular(landmarks))
    width, height = frame_size
    x1 = max(0, int(np.floor(points[:, 0].min() - margin)))
    y1 = max(0, int(np.floor(points[:, 1].min() - margin)))
    x2 = min(width, int(np.ceil(points[:, 0].max() + margin)))
    y2 = min(height, int(np.ceil(points[:, 1].max() + margin)))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def cut_sample(
    frame: np.ndarray, landmarks: np.ndarray, max_inter_ocular_px: float = 160.0
) -> MouthSample:
    """Crop the lower-face region of a frame (landmarks in frame pixels), downscaled so that the inter-ocular
    distance is at most ``max_inter_ocular_px`` (bounds memory on 4K input; never upscales).

    ``frame``: uint8 RGB (H, W, 3); ``landmarks``: float (468, 3) FaceMesh points in frame
    pixels. The crop covers the renderer's mesh with a margin, clipped to the frame.
    """
    mesh = mouth_mesh()
    check_frame(frame)
    check_landmarks(landmarks, mesh)
    if max_inter_ocular_px <= 0:
        raise OptionsError(f"max_inter_ocular_px must be positive, got {max_inter_ocular_px}")
    height, width = frame.shape[:2]
    box = sample_box(landmarks, (width, height))
    if box is None:
        raise InputError(f"the lower face lies outside the {width}x{height} frame")
    x1, y1, x2, y2 = box
    iod = float(facemesh.inter_ocular(landmarks))
    crop = frame[y1:y2, x1:x2]
    local = np.asarray(landmarks, np.float32).copy()
    local[:, 0] -= x1
    local[:, 1] -= y1
    # A copy, never a view (a crop as wide as the frame would be one): the frame may be
    # drawn on while the sample is in use.
    crop = crop.copy()
    scale = min(1.0, max_inter_ocular_px / max(iod, 1e-6))
    if scale < 1.0:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        sx, sy = size[0] / crop.shape[1], size[1] / crop.shape[0]
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        # Continuous pixel coordinates scale exactly with cv2.resize's sampling grid.
        local[:, 0] *= sx
        local[:, 1] *= sy
        local[:, 2] *= (sx + sy) / 2
    return MouthSample(crop, local)
