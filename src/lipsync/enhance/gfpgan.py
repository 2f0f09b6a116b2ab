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

from ..errors import CheckpointError, InputError, ModelNotInstalledError, OptionsError
from .align import AlignedFace, align_face, paste_aligned
from .base import Enhancer

# Faces restored per forward pass. The network's memory grows with the batch (a 512² face
# needs ~0.6 GB of activations at full width); a few at a time keeps a GPU busy.
DEFAULT_BATCH = 4


class GfpganEnhancer(Enhancer):
    """GFPGAN from a released checkpoint (``GFPGANv1.3.pth`` / ``GFPGANv1.4.pth``) or a
    file in the same format.

    ``weights``: the checkpoint, already verified by the model store. ``device``: "auto",
    "cpu", "cuda[:N]" or "mps". ``fidelity`` 0 … 1: the share of the aligned input in the
    result (0: the network's face alone; 1: the input unchanged). Raises ModelNotInstalledError
    for a missing file, CheckpointError for a file that is not a GFPGAN, OptionsError for a
    fidelity out of range, DeviceError for an unavailable device.
    """

    name = "gfpgan"
    needs_face = True

    def __init__(
        self,
        weights: Path,
        device: str = "auto",
        fidelity: float = 0.7,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        if not 0.0 <= fidelity <= 1.0:
            raise OptionsError(f"GFPGAN fidelity must be between 0 and 1, got {fidelity}")
        if batch_size < 1:
            raise OptionsError(f"batch size must be at least 1, got {batch_size}")
        import torch

        from ..models.runtime import resolve_torch_device
        from .gfpgan_network import build_network, network_state

        self._torch = torch
        self.device = resolve_torch_device(device)
        self.fidelity = float(fidelity)
        self.batch_size = batch_size
        path = Path(weights)
        if not path.is_file():
            raise ModelNotInstalledError(f"GFPGAN weights not found: {path}")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # pickle, zip and torch errors all mean "not loadable"
            lines = str(error).strip().splitlines()
            reason = lines[0][:160] if lines else type(error).__name__
            raise CheckpointError(f"cannot read GFPGAN weights {path}: {reason}") from None
        self._network = build_network(network_state(checkpoint)).to(self.device)
        self.size = self._network.config.out_size

    def describe(self) -> str:
        return f"gfpgan ({self.size}², fidelity {self.fidelity:g}, {self.device})"

    def enhance(
        self, crops: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None]
    ) -> list[np.ndarray]:
        """Restore the face in each crop (uint8 RGB (h, w, 3)); ``landmarks``: FaceMesh
        (468, 3) in crop pixels, or None to leave that crop as it is (as are crops whose
        landmarks cannot be aligned). Returns new uint8 RGB crops of the input sizes, in
        order. Raises InputError for a crop that is not uint8 RGB."""
        if len(crops) != len(landmarks):
            raise InputError(f"got {len(crops)} crops but {len(landmarks)} landmark sets")
        for crop in crops:
            if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
                raise InputError(
                    f"crops must be uint8 RGB (h, w, 3), got {crop.dtype} {crop.shape}"
                )
        results = [crop.copy() for crop in crops]
        opacity = 1.0 - self.fidelity
        if opacity == 0.0:
            return results  # the input's share is everything: no need to run the network
        jobs: list[tuple[int, AlignedFace]] = []
        for index, (crop, points) in enumerate(zip(crops, landmarks, strict=True)):
            if points is None:
                continue
            try:
                jobs.append((index, align_face(crop, points, self.size)))
            except InputError:
                continue  # landmarks that cannot be aligned (collapsed): leave the crop
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start : start + self.batch_size]
            restored = self.restore_aligned([aligned.image for _, aligned in chunk])
            for (index, aligned), face in zip(chunk, restored, strict=True):
                results[index] = paste_aligned(
                    results[index], face, aligned.matrix, opacity=opacity
                )
        return results

    def restore_aligned(self, faces: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the network on aligned faces (uint8 RGB (S, S, 3), S = ``self.size``).
        Returns the restored faces, uint8 RGB (S, S, 3) each, not yet mixed with the input."""
        if not faces:
            return []
        torch = self._torch
        batch = np.stack(faces).astype(np.float32)
        with torch.inference_mode():
            tensor = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2)
            output = self._network(tensor / 127.5 - 1.0)
            # The network's range is about [-1, 1]; clamp like GFPGAN's own conversion.
            restored = (output.clamp(-1.0, 1.0) + 1.0) * 127.5
            pixels = restored.round().to(torch.uint8).permute(0, 2, 3, 1).cpu()
        return list(pixels.numpy())

    def close(self) -> None:
        self._network = self._network.to("cpu")
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()
