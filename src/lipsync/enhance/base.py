"""The enhancer interface: what every enhancer (Real-ESRGAN, GFPGAN, CodeFormer, …) provides.

An enhancer turns region crops of a synced frame into better-looking crops of the same size.
The enhancement stage (``stage.py``) owns cutting the region, masking, colour matching,
compositing and temporal smoothing, so an enhancer is only the network and its pre- and
post-processing. Super-resolution networks see the crop reduced by their scale factor and
return it at full size, so the crop's sharpness comes from the network, not the resampler;
face restorers align the face to their canonical crop with the landmarks and paste it back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class Enhancer(ABC):
    """An enhancer. Life cycle: create (loads the model), ``enhance`` per batch, ``close``."""

    name: str = "enhancer"
    # True: the enhancer needs the whole face in its crop (face restorers align on the eyes,
    # nose and mouth corners); the stage then cuts the face even for ``enhance_region=mouth``
    # and masks the result down to the mouth.
    needs_face: bool = False

    @abstractmethod
    def enhance(
        self, crops: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None]
    ) -> list[np.ndarray]:
        """Enhance each crop.

        ``crops``: uint8 RGB (h, w, 3) each, sizes may differ. ``landmarks``: per crop, the
        FaceMesh points (468, 3) float32 in the crop's pixels, or None (no face tracked).
        Returns uint8 RGB crops of exactly the input sizes, in order. An enhancer that needs
        a face returns a crop unchanged when its landmarks are None.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release models and device memory."""

    def describe(self) -> str:
        return self.name
