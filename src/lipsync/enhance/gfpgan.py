"""GFPGAN v1.3 / v1.4 face restoration as an Enhancer.

Each face crop is aligned to the FFHQ layout at the network's size (512 for the released
weights) from its FaceMesh landmarks, restored, and pasted back into the crop with a soft
mask whose opacity is ``1 - fidelity``: the result mixes the input with the restored face
(like GFPGAN's "weight"), with the input's share taken from the crop itself rather than
from its resampled, aligned copy. Crops whose face was not tracked come back unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .restorer import DEFAULT_BATCH, FaceRestorer


class GfpganEnhancer(FaceRestorer):
    """GFPGAN from a released checkpoint (``GFPGANv1.3.pth`` / ``GFPGANv1.4.pth``) or a
    file in the same format.

    ``weights``: the checkpoint, already verified by the model store. ``device``: "auto",
    "cpu", "cuda[:N]" or "mps". ``fidelity`` 0 … 1: the share of the aligned input in the
    result (0: the network's face alone; 1: the input unchanged). Raises ModelNotInstalledError
    for a missing file, CheckpointError for a file that is not a GFPGAN, OptionsError for a
    fidelity out of range, DeviceError for an unavailable device.
    """

    name = "gfpgan"

    def __init__(
        self,
        weights: Path,
        device: str = "auto",
        fidelity: float = 0.7,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        super().__init__(device, fidelity, batch_size)
        from .checkpoint import read_checkpoint
        from .gfpgan_network import build_network

        network = build_network(read_checkpoint(weights, "GFPGAN"))
        self._network = network.to(self.device)
        self.size = network.config.out_size

    @property
    def paste_opacity(self) -> float:
        # GFPGAN's "weight": the input's share is mixed back in at paste time.
        return 1.0 - self.fidelity

    def restore_aligned(self, faces: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the network on aligned faces (uint8 RGB (S, S, 3), S = ``self.size``).
        Returns the restored faces, uint8 RGB (S, S, 3) each, not yet mixed with the input."""
        return self._run(faces)
