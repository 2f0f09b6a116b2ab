"""Display orientation: FFmpeg's display matrix as (clockwise rotation, mirror), and applying it.

Phones store frames as the sensor saw them and add a display matrix (MP4 track header) or
an EXIF orientation (JPEG); players turn the picture, PyAV does not. Convention here:
``rotation`` is the clockwise angle applied to a stored frame to show it, as in the
legacy ``rotate`` tag; ``mirrored`` is a left-right flip applied after it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from av.video.frame import VideoFrame


def read_orientation(frame: VideoFrame) -> tuple[int, bool]:
    """(clockwise rotation in degrees, mirrored) from a decoded frame's display matrix.

    Uses the full matrix when PyAV can read the frame's side data (it cannot for some
    types new in FFmpeg 8, such as a JPEG's EXIF block); otherwise the rotation alone.
    """
    try:
        side_data: Any = frame.side_data
        matrix: np.ndarray | None = np.frombuffer(bytes(side_data["DISPLAYMATRIX"]), np.int32)
    except (KeyError, ValueError):
        matrix = None
    if matrix is None or matrix.size != 9:
        counter_clockwise = round(frame.rotation / 90.0) * 90
        return (-counter_clockwise) % 360, False
    return orientation_from_matrix(matrix)


def orientation_from_matrix(matrix: np.ndarray) -> tuple[int, bool]:
    """Decompose FFmpeg's display matrix (9 int32, 16.16 fixed point) into the nearest
    (clockwise rotation, mirrored) such that display = mirror(rotate(stored)).

    The matrix maps a stored pixel (p, q) (column, row; rows grow downwards) to
    p' = a·p + c·q, q' = b·p + d·q with a, b, c, d = m[0], m[1], m[3], m[4].
    """
    a, b, c, d = (float(matrix[i]) for i in (0, 1, 3, 4))
    if abs(a) + abs(d) >= abs(b) + abs(c):
        linear = ((np.sign(a) or 1.0, 0.0), (0.0, np.sign(d) or 1.0))
    else:
        linear = ((0.0, np.sign(c) or 1.0), (np.sign(b) or 1.0, 0.0))
    m = np.array(linear)  # maps (p, q) column vectors
    mirrored = bool(np.linalg.det(m) < 0)
    if mirrored:
        m = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ m
    clockwise_quarter = {(1, 0): 0, (0, 1): 1, (-1, 0): 2, (0, -1): 3}
    # The first column is where (1, 0) goes: a clockwise quarter turn sends it to (0, 1).
    quarter = clockwise_quarter[(int(m[0, 0]), int(m[1, 0]))]
    return quarter * 90, mirrored


def orient(image: np.ndarray, rotation: int, mirrored: bool) -> np.ndarray:
    """Apply (clockwise rotation, mirror) to an (H, W, C) array; returns C-contiguous."""
    if rotation % 360:
        image = np.rot90(image, k=-(rotation // 90))
    if mirrored:
        image = image[:, ::-1]
    return np.ascontiguousarray(image)
