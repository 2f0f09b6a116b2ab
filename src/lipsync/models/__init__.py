"""Model weights: the registry (what exists, hashes, licences) and the store (the local cache)."""

from .registry import REGISTRY, ModelFile, ModelSpec, get_spec, model_names
from .store import InstalledModel, ModelStatus, ModelStore, VerifyResult

__all__ = [
    "REGISTRY",
    "InstalledModel",
    "ModelFile",
    "ModelSpec",
    "ModelStatus",
    "ModelStore",
    "VerifyResult",
    "get_spec",
    "model_names",
]
