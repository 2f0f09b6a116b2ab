"""What the face restorers (GFPGAN, CodeFormer) share: validation, the device, and the loop
that aligns each tracked face to the network's canonical crop, restores the faces in
batches and pastes them back."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError, OptionsError
from .align import AlignedFace, align_face, paste_aligned
from .base import Enhancer

# Faces restored per forward pass: a 512² face needs ~1 GB of activations at full width,
# so a few at a time keeps a GPU busy without running out of memory.
DEFAULT_BATCH = 4


class FaceRestorer(Enhancer):
    """A torch face-restoration network behind the Enhancer interface.

    Subclasses load their network in ``__init__`` (after calling this one), set ``size``
    (the side of the aligned face) and implement ``restore_aligned``. ``paste_opacity``:
    how much of the restored face replaces the input (1 unless the restorer mixes the input
    back in itself).
    """

    needs_face = True
    size: int
    _network: Any

    def __init__(self, device: str, fidelity: float, batch_size: int) -> None:
        if not 0.0 <= fidelity <= 1.0:
            raise OptionsError(f"{self.name} fidelity must be between 0 and 1, got {fidelity}")
        if batch_size < 1:
            raise OptionsError(f"batch size must be at least 1, got {batch_size}")
        import torch

        from ..models.runtime import resolve_torch_device

        self._torch = torch
        self.device = resolve_torch_device(device)
        self.fidelity = float(fidelity)
        self.batch_size = batch_size

    @property
    def paste_opacity(self) -> float:
        return 1.0

    def describe(self) -> str:
        return f"{self.name} ({self.size}², fidelity {self.fidelity:g}, {self.device})"

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
        opacity = self.paste_opacity
        if opacity == 0.0:
            return results  # the input's share is everything: no need to run the network
        jobs: list[tuple[int, AlignedFace]] = []
        for index, (crop, points) in enumerate(zip(crops, landmarks, strict=True)):
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
                results[index] = paste_aligned(
                    results[index], face, aligned.matrix, opacity=opacity
                )
        return results

    @abstractmethod
    def restore_aligned(self, faces: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the network on aligned faces (uint8 RGB (S, S, 3), S = ``self.size``);
        returns the restored faces, uint8 RGB (S, S, 3) each."""

    def _run(self, faces: Sequence[np.ndarray], **network_options: Any) -> list[np.ndarray]:
        """The network on a batch of aligned faces, in [-1, 1] and back to uint8 (both
        networks are trained on that range; the output is clamped like their own code)."""
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
            output = self._network(tensor / 127.5 - 1.0, **network_options)
            pixels = ((output.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
            result = pixels.permute(0, 2, 3, 1).cpu().numpy()
        return list(result)

    def close(self) -> None:
        self._network = self._network.to("cpu")
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()
