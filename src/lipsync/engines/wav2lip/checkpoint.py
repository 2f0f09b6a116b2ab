"""Loading Wav2Lip generator checkpoints safely, with errors that say what is wrong.

Accepted: the released format (a ``torch.save``d dict whose ``state_dict`` holds the
weights, beside ``optimizer``, ``global_step`` and ``global_epoch``), a bare state dict,
either with or without DataParallel's ``module.`` prefix, and TorchScript archives (some
re-hosted copies are ``.pt`` files made with ``torch.jit.save``).

Pickles are only ever read with ``weights_only=True``: a file that would run code when
unpickled is refused. TorchScript archives are read with ``torch.jit.load``, which runs
TorchScript (not Python) and only its state dict is kept.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from .network import FIRST_WEIGHT_KEY, Wav2Lip, infer_width

_MODULE_PREFIX = "module."
_BLOCKED_GLOBAL = re.compile(r"GLOBAL\s+([\w.]+)")
_WEIGHTS_ONLY_DETAIL = re.compile(r"WeightsUnpickler error:\s*(\S[^\n]*)")
_NAMES_SHOWN = 3


def load_wav2lip(path: str | Path, device: torch.device) -> Wav2Lip:
    """Load a Wav2Lip generator checkpoint onto ``device``, in eval mode.

    The network's width is read from the weights, so tiny test checkpoints load too.
    Raises CheckpointError (naming the file) when the file is missing, truncated or
    corrupt, would run code, holds no state dict, or holds another network's weights.
    """
    path = Path(path)
    state_dict = read_state_dict(path)
    model = _build_matching_network(state_dict, path)
    del state_dict
    return model.to(device).eval()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The generator's tensors from a checkpoint file, ``module.`` prefixes removed.

    Everything else in the file (optimizer state, step counters) is dropped before this
    returns. Raises CheckpointError as :func:`load_wav2lip` does.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is truncated or corrupt (the file is empty)")
    if _is_torchscript_archive(path):
        return _strip_module_prefix(_read_torchscript(path), path)
    loaded = _read_pickle(path)
    candidate = _find_state_dict(loaded, path)
    # The released files carry ~270 MB of Adam state: let it go before building the net.
    del loaded
    return _strip_module_prefix(candidate, path)


def _is_torchscript_archive(path: Path) -> bool:
    """True for a zip whose entries include TorchScript's ``code/`` or ``constants.pkl``.

    Plain ``torch.save`` files are zips too (``data.pkl``, ``data/``), but never hold code.
    """
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                _, _, inner = name.partition("/")
                if inner.startswith("code/") or inner == "constants.pkl":
                    return True
    except (zipfile.BadZipFile, OSError):
        return False
    return False


def _short(error: BaseException) -> str:
    """First line of an exception's text, trimmed, for a one-line message."""
    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    return first if len(first) <= 160 else first[:157] + "..."


def _read_pickle(path: Path) -> Any:
    # mmap keeps the optimizer's tensors on disk when the file is in the zip format (the
    # legacy format of the released files cannot be mapped and is read normally).
    mmap = zipfile.is_zipfile(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        text = str(error)
        if "Weights only load failed" not in text:
            raise CheckpointError(f"{path} is truncated or corrupt ({_short(error)})") from None
        blocked = _BLOCKED_GLOBAL.search(text)
        if blocked is not None:
            raise CheckpointError(
                f"{path} contains code objects, refusing to load it (only plain weights "
                f"are accepted; it references {blocked.group(1)})"
            ) from None
        # Anything else the restricted unpickler rejects is not a pickle torch wrote:
        # garbage (an HTML error page saved as .pth) or a damaged file.
        detail = _WEIGHTS_ONLY_DETAIL.search(text)
        reason = detail.group(1).strip() if detail else "not a PyTorch checkpoint"
        raise CheckpointError(f"{path} is truncated or corrupt ({reason})") from None
    except OSError as error:
        raise CheckpointError(f"{path} cannot be read ({_short(error)})") from None
    except (RuntimeError, EOFError, KeyError, ValueError, TypeError, IndexError) as error:
        # what torch raises for a cut-off zip ("failed finding central directory"), a
        # cut-off legacy file ("unexpected EOF") or bytes that are no pickle at all (a
        # KeyError naming the first byte)
        reason = "not a PyTorch checkpoint" if isinstance(error, KeyError) else _short(error)
        raise CheckpointError(f"{path} is truncated or corrupt ({reason})") from None


def _read_torchscript(path: Path) -> dict[str, torch.Tensor]:
    try:
        with warnings.catch_warnings():
            # torch.jit is deprecated in favour of torch.export; the files still exist
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
        state = {name: tensor.detach() for name, tensor in module.state_dict().items()}
    except OSError as error:
        raise CheckpointError(f"{path} cannot be read ({_short(error)})") from None
    except Exception as error:
        # torch.jit raises bare RuntimeErrors (and C++ errors) for every kind of damage
        raise CheckpointError(
            f"{path} is a TorchScript archive that is truncated or corrupt ({_short(error)})"
        ) from None
    del module
    return state


def _find_state_dict(loaded: Any, path: Path) -> Mapping[str, Any]:
    if not isinstance(loaded, Mapping):
        raise CheckpointError(
            f"{path} holds a {type(loaded).__name__}, not a state dict or a checkpoint dict"
        )
    if "state_dict" in loaded:
        candidate = loaded["state_dict"]
        if not isinstance(candidate, Mapping):
            raise CheckpointError(
                f"{path} has a 'state_dict' entry that is a {type(candidate).__name__}, not a dict"
            )
        return candidate
    if loaded and all(isinstance(value, torch.Tensor) for value in loaded.values()):
        return loaded
    keys = ", ".join(sorted(str(key) for key in loaded)[:8]) or "none"
    raise CheckpointError(f"{path} holds no state dict (top-level keys: {keys})")


def _strip_module_prefix(candidate: Mapping[str, Any], path: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for key, value in candidate.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(
                f"{path} has a state dict entry {key!r} that is a {type(value).__name__}, "
                "not a tensor"
            )
        name = str(key)
        state[name.removeprefix(_MODULE_PREFIX)] = value
    if not state:
        raise CheckpointError(f"{path} holds an empty state dict")
    return state


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    hidden = len(names) - _NAMES_SHOWN
    return f"{shown} (+{hidden} more)" if hidden > 0 else shown


def _build_matching_network(state: dict[str, torch.Tensor], path: Path) -> Wav2Lip:
    """A Wav2Lip of the checkpoint's width with its weights, or CheckpointError saying why not."""
    if FIRST_WEIGHT_KEY not in state:
        raise CheckpointError(
            f"{path} is not a Wav2Lip generator checkpoint: missing {FIRST_WEIGHT_KEY} "
            f"(it has {_listing(sorted(state))})"
        )
    try:
        width = infer_width(state)
    except CheckpointError as error:
        raise CheckpointError(f"{path} is not a Wav2Lip generator checkpoint: {error}") from None
    model = Wav2Lip(width)
    expected = model.state_dict()
    # Files saved by very old torch versions lack BatchNorm's step counter, which
    # inference never reads; the network's own zero is as good.
    optional = {name for name in expected if name.endswith("num_batches_tracked")}
    missing = [name for name in expected if name not in state and name not in optional]
    unexpected = [name for name in state if name not in expected]
    misshapen = [
        f"{name} {tuple(state[name].shape)} instead of {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state and state[name].shape != tensor.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected {_listing(unexpected)}")
    if misshapen:
        problems.append(f"shape of {_listing(misshapen)}")
    if problems:
        raise CheckpointError(
            f"{path} is not a Wav2Lip generator checkpoint: {'; '.join(problems)}"
        )
    for name in optional:
        state.setdefault(name, expected[name])
    broken = [
        name
        for name, tensor in state.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if broken:
        raise CheckpointError(f"{path} has NaN or infinite weights in {_listing(broken)}")
    model.load_state_dict(state, strict=True)
    return model


def parameter_count(model: torch.nn.Module) -> int:
    """Number of learnable parameters (36.3 M for the released generator)."""
    return sum(parameter.numel() for parameter in model.parameters())
