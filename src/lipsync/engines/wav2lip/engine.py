"""The Wav2Lip sync engine: mel windows + face crops in, regenerated face crops out.

Pre- and post-processing follow the reference's ``inference.py`` so the released weights
see what they were trained on: the crop is resized to 96×96 (OpenCV bilinear) in BGR
order, its lower half (rows 48–95) is zeroed for the first three input channels and the
unmasked crop of the same frame is the reference for the last three, values /255; the
output is ×255, truncated to uint8 (the reference's ``astype``), and resized back to the
box (bilinear).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from ...audio.mel import (
    SAMPLE_RATE,
    gather_mel_windows,
    mel_window_starts,
    pad_mel_for_windows,
    wav2lip_mel,
)
from ...errors import MediaError, OptionsError
from ...models.runtime import resolve_torch_device
from ..base import Engine, EngineInput, Speech
from .checkpoint import load_wav2lip, parameter_count
from .network import FACE_SIZE, Wav2Lip

_MASK_FROM_ROW = FACE_SIZE // 2


class Wav2LipEngine(Engine):
    """Wav2Lip as an :class:`~lipsync.engines.base.Engine`.

    The checkpoint is loaded once, here, so a bad file or device fails before any media
    work starts. ``device``: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    ``batch_size``: faces per forward pass (memory grows with it; results do not change).
    """

    def __init__(
        self,
        checkpoint: Path,
        device: str = "auto",
        batch_size: int = 16,
        name: str = "wav2lip",
    ) -> None:
        if batch_size < 1:
            raise OptionsError(f"batch_size must be at least 1, got {batch_size}")
        self.name = name
        self.batch_size = batch_size
        self.checkpoint = Path(checkpoint)
        self.device = resolve_torch_device(device)
        self._model: Wav2Lip | None = load_wav2lip(self.checkpoint, self.device)
        self._mel: np.ndarray | None = None
        self._window_starts: np.ndarray | None = None

    @property
    def model(self) -> Wav2Lip:
        """The loaded generator; raises RuntimeError after :meth:`close`."""
        if self._model is None:
            raise RuntimeError(f"engine {self.name!r} is closed")
        return self._model

    def describe(self) -> str:
        if self._model is None:
            return f"{self.name} (closed)"
        millions = parameter_count(self._model) / 1e6
        return f"{self.name} ({self.checkpoint.name}, {millions:.1f} M parameters, {self.device})"

    def prepare(self, speech: Speech, fps: float, n_frames: int) -> None:
        """Compute the mel spectrogram of the whole speech once, and each frame's window.

        ``speech``: float32 mono 16 kHz. Output frame i gets the 0.2 s of speech starting at
        ``i / fps`` seconds (clamped to the last 0.2 s, as in the reference).
        """
        if speech.sample_rate != SAMPLE_RATE:
            raise MediaError(
                f"Wav2Lip needs speech at {SAMPLE_RATE} Hz, got {speech.sample_rate} Hz"
            )
        if not fps > 0:
            raise OptionsError(f"fps must be positive, got {fps}")
        if n_frames < 0:
            raise OptionsError(f"n_frames must not be negative, got {n_frames}")
        mel = pad_mel_for_windows(wav2lip_mel(speech.samples))
        self._mel = mel
        self._window_starts = mel_window_starts(mel.shape[1], fps, n_frames)

    def generate(self, batch: Sequence[EngineInput]) -> list[np.ndarray | None]:
        """Regenerated faces: uint8 RGB (y2 - y1, x2 - x1, 3) per input with a box, else None."""
        if self._mel is None or self._window_starts is None:
            raise RuntimeError(f"engine {self.name!r}: call prepare() before generate()")
        model = self.model
        results: list[np.ndarray | None] = [None] * len(batch)
        with_face = [position for position, item in enumerate(batch) if item.box is not None]
        for chunk_start in range(0, len(with_face), self.batch_size):
            positions = with_face[chunk_start : chunk_start + self.batch_size]
            items = [batch[position] for position in positions]
            faces = _face_input([_crop_bgr(item) for item in items])
            windows = gather_mel_windows(
                self._mel, self._window_starts, np.array([item.index for item in items])
            )
            with torch.inference_mode():
                generated = model(
                    torch.from_numpy(windows).to(self.device),
                    torch.from_numpy(faces).to(self.device),
                )
                generated_bgr = (generated.permute(0, 2, 3, 1) * 255.0).cpu().numpy()
            for position, item, face in zip(positions, items, generated_bgr, strict=True):
                results[position] = _to_box(face, item)
        return results

    def close(self) -> None:
        """Drop the model (and its device memory); the engine cannot generate afterwards."""
        self._model = None
        self._mel = None
        self._window_starts = None
        if self.device.type == "cuda":
            # return the cached blocks so a following job (or engine) can use them
            torch.cuda.empty_cache()


def _crop_bgr(item: EngineInput) -> np.ndarray:
    """The face box of the frame, 96×96 uint8 BGR, resized as the reference does."""
    assert item.box is not None
    x1, y1, x2, y2 = item.box
    height, width = item.frame.shape[:2]
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ValueError(
            f"frame {item.index}: box {item.box} is empty or outside the {width}×{height} frame"
        )
    crop = np.ascontiguousarray(item.frame[y1:y2, x1:x2, ::-1])
    return cv2.resize(crop, (FACE_SIZE, FACE_SIZE))


def _face_input(crops: list[np.ndarray]) -> np.ndarray:
    """uint8 BGR crops (B, 96, 96, 3) → float32 (B, 6, 96, 96): masked, then reference."""
    reference = np.stack(crops)
    masked = reference.copy()
    masked[:, _MASK_FROM_ROW:] = 0
    both = np.concatenate((masked, reference), axis=3).astype(np.float32) / 255.0
    return np.ascontiguousarray(both.transpose(0, 3, 1, 2))


def _to_box(face_bgr: np.ndarray, item: EngineInput) -> np.ndarray:
    """float (96, 96, 3) BGR in [0, 255] → uint8 RGB of the item's box size."""
    assert item.box is not None
    x1, y1, x2, y2 = item.box
    face = np.ascontiguousarray(face_bgr.astype(np.uint8)[:, :, ::-1])
    return cv2.resize(face, (x2 - x1, y2 - y1))
