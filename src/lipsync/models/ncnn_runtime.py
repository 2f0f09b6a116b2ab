"""Device choice and network loading for the ncnn runtime, in one place.

ncnn runs on the CPU or, through Vulkan, on any GPU with a Vulkan driver (NVIDIA, AMD,
Intel, Apple through MoltenVK). Stages ask for an :class:`NcnnDevice` and a loaded net here
and never touch ncnn's options themselves. ``ncnn`` is imported inside the functions so
that ``import lipsync`` stays light and a missing runtime only matters when it is used.
"""

from __future__ import annotations

import ctypes
import re
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import DeviceError, ModelError, OptionsError
from .runtime import usable_cpu_count

NCNN_INSTALL_HINT = "pip install ncnn"

# Device options that ask for a GPU. ncnn reaches GPUs only through Vulkan, so a CUDA index
# is taken to mean the Vulkan device of the same index (the order usually agrees).
_GPU_SPEC = re.compile(r"(?:cuda|gpu|vulkan)(?::(\d+))?")
# The Vulkan loader's file name per platform. ncnn prints a line per failed dlopen to
# stderr when it probes for GPUs without one, so the loader is looked for first.
_VULKAN_LOADERS = {
    "linux": ("libvulkan.so.1", "libvulkan.so"),
    "darwin": ("libvulkan.1.dylib", "libMoltenVK.dylib"),
    "win32": ("vulkan-1.dll",),
}

_gpu_count_lock = threading.Lock()
_gpu_count: int | None = None
_nets_lock = threading.Lock()
_nets: dict[tuple[str, str, int | None, int], Any] = {}


@dataclass(frozen=True)
class NcnnDevice:
    """Where an ncnn net runs: ``gpu_index`` is a Vulkan device index, or None for the CPU.
    ``threads``: CPU threads for the layers that run on the CPU."""

    gpu_index: int | None
    threads: int

    @property
    def is_gpu(self) -> bool:
        return self.gpu_index is not None

    def describe(self) -> str:
        if self.gpu_index is None:
            return f"CPU, {self.threads} threads"
        return f"Vulkan GPU {self.gpu_index}"


def import_ncnn() -> ModuleType:
    """The ``ncnn`` module; raises ModelError with the install command when it is missing."""
    try:
        import ncnn
    except ImportError as error:
        raise ModelError(
            f"the ncnn runtime is not installed ({error}); {NCNN_INSTALL_HINT}"
        ) from None
    return ncnn


def _vulkan_loader_present() -> bool:
    names = _VULKAN_LOADERS.get(sys.platform, _VULKAN_LOADERS["linux"])
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def vulkan_gpu_count() -> int:
    """How many Vulkan GPUs ncnn can use; 0 without a Vulkan loader or without ncnn.

    Probed once per process: creating ncnn's GPU instance is slow and the answer does not
    change while the process runs.
    """
    global _gpu_count
    with _gpu_count_lock:
        if _gpu_count is None:
            count = 0
            if _vulkan_loader_present():
                try:
                    count = int(import_ncnn().get_gpu_count())
                except ModelError:
                    count = 0
            _gpu_count = count
        return _gpu_count


def resolve_ncnn_device(spec: str = "auto", threads: int | None = None) -> NcnnDevice:
    """Turn a device option into an :class:`NcnnDevice`, checking that it exists.

    ``auto``: Vulkan GPU 0 when one is present, else the CPU. ``cpu``: the CPU.
    ``cuda``, ``cuda:N``, ``gpu[:N]``, ``vulkan[:N]``: Vulkan GPU N (default 0); ``mps``:
    Vulkan GPU 0 (MoltenVK). ``threads``: CPU threads, default one per CPU this process may
    use; give fewer when other work shares the CPUs: ncnn's OpenMP threads wait for each
    other after every layer, so a descheduled thread stalls the whole net (measured on 2
    busy cores: x4plus 3–5 s with 1 thread, 15–60 s with 2). Raises DeviceError naming the
    device when it is unknown or not present, OptionsError for fewer than one thread.
    """
    if threads is None:
        threads = usable_cpu_count()
    elif threads < 1:
        raise OptionsError(f"ncnn threads must be at least 1, got {threads}")
    name = spec.strip().lower()
    if name == "cpu":
        return NcnnDevice(None, threads)
    if name == "auto":
        return NcnnDevice(0 if vulkan_gpu_count() > 0 else None, threads)
    match = _GPU_SPEC.fullmatch("gpu" if name == "mps" else name)
    if match is None:
        raise DeviceError(
            f"unknown device {spec!r}; use auto, cpu, cuda, cuda:N, gpu:N or vulkan:N"
        )
    index = int(match.group(1) or 0)
    count = vulkan_gpu_count()
    if count == 0:
        raise DeviceError(
            f"a GPU was requested ({spec!r}) but ncnn finds no Vulkan GPU; use --device cpu"
        )
    if index >= count:
        plural = "GPU" if count == 1 else "GPUs"
        raise DeviceError(f"Vulkan GPU {index} does not exist ({count} {plural})")
    return NcnnDevice(index, threads)


def load_ncnn_net(param: Path, weights: Path, device: NcnnDevice) -> Any:
    """Load an ncnn network (``.param`` text and ``.bin`` weights) for ``device``.

    Raises ModelError naming the file when a file is missing or ncnn cannot read it.
    """
    ncnn = import_ncnn()
    for path in (param, weights):
        if not path.is_file():
            raise ModelError(f"ncnn model file not found: {path}")
    net = ncnn.Net()
    net.opt.num_threads = device.threads
    net.opt.use_vulkan_compute = device.is_gpu
    if device.gpu_index is not None:
        net.set_vulkan_device(device.gpu_index)
    if net.load_param(str(param)) != 0:
        raise ModelError(f"ncnn cannot read the network description {param}")
    if net.load_model(str(weights)) != 0:
        raise ModelError(f"ncnn cannot read the weights {weights}")
    return net


def cached_ncnn_net(param: Path, weights: Path, device: NcnnDevice) -> Any:
    """Like :func:`load_ncnn_net`, but one net per files and device for the whole process.

    ncnn nets are safe to share: each inference makes its own extractor. Loading the
    Real-ESRGAN x4plus weights (33 MB) and packing them for the CPU costs far more than a
    small crop's inference, so enhancers created per job reuse the loaded net.
    """
    key = (str(param.resolve()), str(weights.resolve()), device.gpu_index, device.threads)
    with _nets_lock:
        net = _nets.get(key)
        if net is None:
            net = load_ncnn_net(param, weights, device)
            _nets[key] = net
        return net


def clear_ncnn_cache() -> None:
    """Forget every cached net (their memory is freed once no enhancer holds them)."""
    with _nets_lock:
        _nets.clear()
