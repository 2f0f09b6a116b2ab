"""Wav2Lip: the network, safe checkpoint loading and the sync engine.

Names are imported on first use, so importing this package does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checkpoint import load_wav2lip, read_state_dict
    from .engine import Wav2LipEngine
    from .network import RELEASED_WIDTH, Wav2Lip, infer_width
    from .testing import TINY_WIDTH, random_wav2lip, write_random_checkpoint

_WHERE = {
    "load_wav2lip": ".checkpoint",
    "read_state_dict": ".checkpoint",
    "Wav2LipEngine": ".engine",
    "RELEASED_WIDTH": ".network",
    "Wav2Lip": ".network",
    "infer_width": ".network",
    "TINY_WIDTH": ".testing",
    "random_wav2lip": ".testing",
    "write_random_checkpoint": ".testing",
}

__all__ = [
    "RELEASED_WIDTH",
    "TINY_WIDTH",
    "Wav2Lip",
    "Wav2LipEngine",
    "infer_width",
    "load_wav2lip",
    "random_wav2lip",
    "read_state_dict",
    "write_random_checkpoint",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
