"""Device choice: auto, explicit devices, and errors that name the device."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from lipsync.errors import DeviceError
from lipsync.models import runtime
from lipsync.models.runtime import resolve_torch_device, usable_cpu_count

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def test_auto_picks_cuda_when_present_else_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_torch_device("auto").type == expected
    assert resolve_torch_device().type == expected


def test_cpu_spellings() -> None:
    assert resolve_torch_device("cpu") == torch.device("cpu")
    assert resolve_torch_device(" CPU ") == torch.device("cpu")


@no_cuda
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_cuda(spec: str) -> None:
    with pytest.raises(DeviceError, match=r"CUDA was requested .* but is not available"):
        resolve_torch_device(spec)


def test_cuda_index_beyond_the_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(DeviceError, match=r"^cuda:3 does not exist \(2 devices\)$"):
        resolve_torch_device("cuda:3")
    assert resolve_torch_device("cuda:1") == torch.device("cuda:1")
    assert resolve_torch_device("cuda") == torch.device("cuda:0")
    assert resolve_torch_device("auto") == torch.device("cuda:0")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_mps_unavailable() -> None:
    with pytest.raises(DeviceError, match="MPS"):
        resolve_torch_device("mps")


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "gpu", ""])
def test_unknown_device_is_named(spec: str) -> None:
    with pytest.raises(DeviceError, match=f"unknown device {spec!r}"):
        resolve_torch_device(spec)


def test_threads_follow_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_threads_configured", False)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        resolve_torch_device("cpu")
        assert torch.get_num_threads() == usable_cpu_count()
        # only once: a caller's later choice is kept
        torch.set_num_threads(1)
        resolve_torch_device("cpu")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)


def test_importing_lipsync_does_not_import_torch() -> None:
    code = (
        "import sys, lipsync, lipsync.models.runtime, lipsync.engines.wav2lip, "
        "lipsync.audio.mel; assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_child_processes_get_one_blas_thread_on_a_small_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lipsync import threads

    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    assert threads.child_environment()["OPENBLAS_NUM_THREADS"] == "1"
    monkeypatch.setattr(threads, "available_cores", lambda: 16)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert "OPENBLAS_NUM_THREADS" not in threads.child_environment()
