"""Compute-device choice for PyTorch networks, in one place.

Stages ask for a ``torch.device`` here and never branch on the backend themselves. torch
is imported inside the functions so that ``import lipsync`` stays light.
"""

from __future__ import annotations

import os
import re
import threading
from typing import TYPE_CHECKING

from ..errors import DeviceError

if TYPE_CHECKING:
    import torch

_CUDA_SPEC = re.compile(r"cuda(?::(\d+))?")
_threads_lock = threading.Lock()
_threads_configured = False


def usable_cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, which containers narrow), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def configure_torch_threads() -> None:
    """Give torch's intra-op pool one thread per usable CPU, once per process.

    torch sizes its pool from the machine's CPU count, which in a container can exceed the
    CPUs it may use and then oversubscribes them. Later calls do nothing, so a caller that
    set its own count afterwards keeps it.
    """
    global _threads_configured
    with _threads_lock:
        if _threads_configured:
            return
        import torch

        torch.set_num_threads(usable_cpu_count())
        _threads_configured = True


def resolve_torch_device(spec: str = "auto") -> torch.device:
    """Turn a device option into a ``torch.device``, checking that it exists.

    ``auto``: the first CUDA device when CUDA is available, else the CPU. ``cpu``,
    ``cuda``, ``cuda:N`` and ``mps`` are taken literally. Raises DeviceError naming the
    device when it is unknown or not present on this machine.
    """
    import torch

    configure_torch_threads()
    name = spec.strip().lower()
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError("MPS (Apple GPU) was requested but is not available")
        return torch.device("mps")
    match = _CUDA_SPEC.fullmatch(name)
    if match is None:
        raise DeviceError(f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N or mps")
    if not torch.cuda.is_available():
        raise DeviceError(f"CUDA was requested ({spec!r}) but is not available")
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        plural = "device" if count == 1 else "devices"
        raise DeviceError(f"cuda:{index} does not exist ({count} {plural})")
    return torch.device(f"cuda:{index}")
