"""Reading the enhancement networks' checkpoints (GFPGAN, CodeFormer, BiSeNet) safely.

All three are released as PyTorch pickles holding ``params_ema`` / ``params`` or a bare state
dict. Files are unpickled only with ``weights_only=True`` (a file that would run code is
refused), and a network is sized from the tensors, built on the meta device and checked key
by key before any weight is copied, so a wrong file gets a message naming what is wrong
rather than a traceback from ``load_state_dict``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from ..errors import CheckpointError, ModelNotInstalledError

NetworkT = TypeVar("NetworkT", bound=nn.Module)


def read_state_dict(checkpoint: object, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint: ``params_ema`` (as GFPGAN and CodeFormer are
    released), ``params``, ``state_dict``, or a bare state dict; DataParallel's ``module.``
    prefixes removed. ``what`` names the network in the CheckpointError raised otherwise."""
    if isinstance(checkpoint, Mapping):
        content: Mapping[object, object] = checkpoint
        for key in ("params_ema", "params", "state_dict"):
            nested = content.get(key)
            if isinstance(nested, Mapping):
                content = nested
                break
        state = {
            str(key).removeprefix("module."): value
            for key, value in content.items()
            if isinstance(value, torch.Tensor)
        }
        if state:
            return state
        found = ", ".join(str(k) for k in list(content)[:5]) or "nothing"
        raise CheckpointError(
            f"not a {what} checkpoint: no params_ema, params or tensors at its top level "
            f"(found {found})"
        )
    raise CheckpointError(
        f"not a {what} checkpoint: expected a state dict, or a dict with params_ema or params, "
        f"got {type(checkpoint).__name__}"
    )


def read_checkpoint(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    """Load a weights file and return its state dict as :func:`read_state_dict` finds it.

    Raises ModelNotInstalledError for a missing file and CheckpointError for one that is
    empty, truncated, not a PyTorch checkpoint or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotInstalledError(f"{what} weights not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{what} weights {path} are empty")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip and torch errors all mean "cannot be used"
        lines = str(error).strip().splitlines()
        reason = lines[0][:160] if lines else type(error).__name__
        raise CheckpointError(f"cannot read {what} weights {path}: {reason}") from None
    return read_state_dict(checkpoint, what)


def load_checked(
    network: NetworkT,
    state: Mapping[str, torch.Tensor],
    what: str,
    optional: Collection[str] = (),
) -> NetworkT:
    """Fill ``network`` (built on the meta device) with ``state`` as float32, in eval mode.

    Raises CheckpointError naming missing or unexpected keys, or tensors of the wrong shape.
    ``optional``: keys the file may lack (BatchNorm's ``num_batches_tracked``), set to zero.
    """
    expected = network.state_dict()
    missing = sorted(set(expected) - set(state) - set(optional))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = [_listing("missing", missing), _listing("unexpected", unexpected)]
        raise CheckpointError(f"not a {what} checkpoint: " + "; ".join(p for p in parts if p))
    wrong = [
        f"{key} {tuple(state[key].shape)} (expected {tuple(tensor.shape)})"
        for key, tensor in expected.items()
        if key in state and tuple(state[key].shape) != tuple(tensor.shape)
    ]
    if wrong:
        raise CheckpointError(
            f"{what} checkpoint has tensors of the wrong shape: " + ", ".join(wrong[:3])
        )
    weights = {key: value if key in optional else value.float() for key, value in state.items()}
    for key in optional:
        weights.setdefault(key, torch.zeros((), dtype=torch.long))
    network.load_state_dict(weights, assign=True)
    return network.eval()


def _listing(kind: str, keys: list[str]) -> str:
    if not keys:
        return ""
    shown = ", ".join(keys[:4])
    more = f" and {len(keys) - 4} more" if len(keys) > 4 else ""
    return f"{len(keys)} {kind} keys ({shown}{more})"
