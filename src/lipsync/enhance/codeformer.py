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

from ..errors import InputError, OptionsError
from .align import AlignedFace, align_face, paste_aligned
from .base import Enhancer

if TYPE_CHECKING:
    from .codeformer_network import CodeFormer

# Faces restored per forward pass: a 512² face needs ~1 GB of activations at full width,
# so a few at a time keeps a GPU busy without running out of memory.
DEFAULT_BATCH = 4


def load_codeformer(weights: str | Path) -> CodeFormer:
    """The CodeFormer in ``weights`` (released ``codeformer.pth`` with ``params_ema``, or
    ``params``, or a bare state dict), sized from its tensors, on the CPU in eval mode.

    Raises ModelNotInstalledError for a missing file, CheckpointError (a ModelError) for a
    file that cannot be read or holds another architecture (naming missing/unexpected keys).
    """
    from .codeformer_network import build_codeformer, read_checkpoint

    return build_codeformer(read_checkpoint(weights, "CodeFormer"))


class CodeFormerEnhancer(Enhancer):
    """CodeFormer from a released checkpoint or a file in the same format.

    ``weights``: the checkpoint, already verified by the model store. ``device``: "auto",
    "cpu", "cuda[:N]" or "mps". ``fidelity`` 0 … 1 is CodeFormer's ``w``: 0 trusts the
    codebook (strongest restoration, least like the input), 1 keeps closest to the input.
    Raises ModelNotInstalledError, CheckpointError, OptionsError (fidelity or batch size out
    of range) or DeviceError.
    """

    name = "codeformer"
    needs_face = True

    def __init__(
        self,
        weights: Path,
        device: str = "auto",
        fidelity: float = 0.7,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        if not 0.0 <= fidelity <= 1.0:
            raise OptionsError(f"CodeFormer fidelity must be between 0 and 1, got {fidelity}")
        if batch_size < 1:
            raise OptionsError(f"batch size must be at least 1, got {batch_size}")
        import torch

        from ..models.runtime import resolve_torch_device

        self._torch = torch
        self.device = resolve_torch_device(device)
        self.fidelity = float(fidelity)
        self.batch_size = batch_size
        self._network = load_codeformer(weights).to(self.device)
        self.size = self._network.image_size

    def describe(self) -> str:
        return f"codeformer ({self.size}², fidelity {self.fidelity:g}, {self.device})"

    def enhance(
        self, crops: Sequence[np.ndarray], landmarks: Sequence[np.ndarray | None]
    ) -> list[np.ndarray]:
        """Restore the face in each crop (uint8 RGB (h, w, 3)); ``landmarks``: FaceMesh
        (468, 3) in crop pixels, or None to leave that crop as it is. Returns new uint8 RGB
        crops of the input sizes, in order."""
        if len(crops) != len(landmarks):
            raise InputError(f"got {len(crops)} crops but {len(landmarks)} landmark sets")
        results = [np.array(crop, dtype=np.uint8, copy=True) for crop in crops]
        jobs: list[tuple[int, AlignedFace]] = []
        for index, (crop, points) in enumerate(zip(results, landmarks, strict=True)):
            if points is None:
                continue
            try:
                jobs.append((index, align_face(crop, points, self.size)))
            except InputError:
                # degenerate landmarks (a collapsed mesh): keep the crop rather than fail
                # the whole video over one frame
                continue
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start : start + self.batch_size]
            restored = self.restore_aligned([aligned.image for _, aligned in chunk])
            for (index, aligned), face in zip(chunk, restored, strict=True):
                results[index] = paste_aligned(results[index], face, aligned.matrix)
        return results

    def restore_aligned(self, faces: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the network on FFHQ-aligned faces (uint8 RGB (S, S, 3), S = ``self.size``).
        Returns the restored faces, uint8 RGB (S, S, 3) each."""
        if not faces:
            return []
        for face in faces:
            if face.shape != (self.size, self.size, 3):
                raise InputError(
                    f"aligned faces must be {self.size}×{self.size} RGB, got {face.shape}"
                )
        torch = self._torch
        batch = np.stack(faces)
        with torch.inference_mode():
            tensor = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float()
            output = self._network(tensor / 127.5 - 1.0, fidelity=self.fidelity, adain=True)
            pixels = ((output.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
            result = pixels.permute(0, 2, 3, 1).cpu().numpy()
        return list(result)

    def close(self) -> None:
        self._network = self._network.to("cpu")
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()
