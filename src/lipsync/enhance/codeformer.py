"""CodeFormer face restoration as an Enhancer.

Each face crop is aligned to the FFHQ layout at the network's size (512 for the released
weights) from its FaceMesh landmarks, restored with CodeFormer's fidelity weight ``w`` and
adaptive instance normalisation (as the reference inference runs it), and pasted back into
the crop with a soft mask. Crops whose face was not tracked, or whose landmarks cannot be
aligned, come back unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .restorer import DEFAULT_BATCH, FaceRestorer

if TYPE_CHECKING:
    from .codeformer_network import CodeFormer


def load_codeformer(weights: str | Path) -> CodeFormer:
    """The CodeFormer in ``weights`` (released ``codeformer.pth`` with ``params_ema``, or
    ``params``, or a bare state dict), sized from its tensors, on the CPU in eval mode.

    Raises ModelNotInstalledError for a missing file, CheckpointError (a ModelError) for a
    file that cannot be read or holds another architecture (naming missing/unexpected keys).
    """
    from .checkpoint import read_checkpoint
    from .codeformer_network import build_codeformer

    return build_codeformer(read_checkpoint(weights, "CodeFormer"))


class CodeFormerEnhancer(FaceRestorer):
    """CodeFormer from a released checkpoint or a file in the same format.

    ``weights``: the checkpoint, already verified by the model store. ``device``: "auto",
    "cpu", "cuda[:N]" or "mps". ``fidelity`` 0 … 1 is CodeFormer's ``w``: 0 trusts the
    codebook (strongest restoration, least like the input), 1 keeps closest to the input.
    Raises ModelNotInstalledError, CheckpointError, OptionsError (fidelity or batch size out
    of range) or DeviceError.
    """

    name = "codeformer"

    def __init__(
        self,
        weights: Path,
        device: str = "auto",
        fidelity: float = 0.7,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        super().__init__(device, fidelity, batch_size)
        network = load_codeformer(weights)
        self._network = network.to(self.device)
        self.size = network.image_size

    def restore_aligned(self, faces: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the network on FFHQ-aligned faces (uint8 RGB (S, S, 3), S = ``self.size``)
        with CodeFormer's ``w`` = fidelity and AdaIN, as its reference inference does.
        Returns the restored faces, uint8 RGB (S, S, 3) each."""
        return self._run(faces, fidelity=self.fidelity, adain=True)
