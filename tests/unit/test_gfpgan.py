"""GFPGAN: the released layout, tiny random checkpoints through the store, the enhancer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lipsync import samples
from lipsync.enhance.gfpgan import GfpganEnhancer
from lipsync.enhance.gfpgan_network import (
    GfpganConfig,
    GfpganNetwork,
    build_network,
    network_state,
)
from lipsync.enhance.testing import TINY_GFPGAN_CONFIG, random_gfpgan
from lipsync.errors import (
    CheckpointError,
    InputError,
    ModelError,
    ModelNotInstalledError,
    OptionsError,
)
from lipsync.faces.tracker import FaceTracker
from lipsync.models.registry import get_spec
from lipsync.models.store import ModelStore

# Per resolution 4 … 512, from GFPGANv1Clean(out_size=512, channel_multiplier=2, narrow=1):
# the U-Net runs at half the StyleGAN2 decoder's width.
RELEASED_UNET = (256, 256, 256, 256, 256, 128, 64, 32)
RELEASED_DECODER = (512, 512, 512, 512, 512, 256, 128, 64)


def _released_key_count() -> int:
    """The number of tensors in GFPGANv1.3.pth / v1.4.pth, counted from the architecture."""
    levels = 7  # 8 → 512
    res_block = 5  # conv1 (w, b), conv2 (w, b), skip (w)
    unet = 2 + levels * res_block + 2 + levels * res_block + levels * 2 + 2
    sft = 2 * levels * 4  # scale and shift heads: two convolutions with bias each
    style_conv = 5  # modulation (w, b), weight, noise strength, bias
    to_rgb = 4  # modulation (w, b), weight, bias
    decoder = 8 * 2 + 1 + style_conv + to_rgb + 2 * levels * style_conv + levels * to_rgb
    noises = 2 * levels + 1
    return unet + sft + decoder + noises


def _released_keys() -> dict[str, torch.Tensor]:
    """The full-size network's state dict on the meta device (shapes only, no memory)."""
    with torch.device("meta"):
        network = GfpganNetwork(GfpganConfig.from_widths())
    return network.state_dict()


@pytest.fixture(scope="module")
def released_state() -> dict[str, torch.Tensor]:
    return _released_keys()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("home"))
    store.install("gfpgan_unittest")
    return store


@pytest.fixture(scope="module")
def face() -> tuple[np.ndarray, np.ndarray]:
    """A 320×320 crop around the astronaut's face and its landmarks in crop pixels."""
    frame = samples.portrait((320, 320))
    observation = FaceTracker("largest", smooth=False).observe(frame)
    assert observation is not None
    return frame, observation.landmarks


def test_released_layout_has_the_released_keys_and_shapes(
    released_state: dict[str, torch.Tensor],
) -> None:
    assert len(released_state) == _released_key_count() == 285
    shapes = {key: tuple(value.shape) for key, value in released_state.items()}
    assert shapes["conv_body_first.weight"] == (32, 3, 1, 1)
    assert shapes["conv_body_down.6.conv2.weight"] == (256, 256, 3, 3)
    assert shapes["final_conv.weight"] == (256, 256, 3, 3)
    # 16 latents of 512 from the 4×4×256 bottleneck (different_w)
    assert shapes["final_linear.weight"] == (8192, 4096)
    assert shapes["conv_body_up.6.skip.weight"] == (32, 64, 1, 1)
    assert shapes["toRGB.6.weight"] == (3, 32, 1, 1)
    # sft_half: each condition covers half of the decoder's channels
    assert shapes["condition_scale.0.2.weight"] == (256, 256, 3, 3)
    assert shapes["condition_shift.6.2.weight"] == (32, 32, 3, 3)
    assert shapes["stylegan_decoder.style_mlp.15.weight"] == (512, 512)
    assert shapes["stylegan_decoder.constant_input.weight"] == (1, 512, 4, 4)
    assert shapes["stylegan_decoder.style_conv1.weight"] == (1,)
    assert shapes["stylegan_decoder.style_convs.13.modulated_conv.weight"] == (1, 64, 64, 3, 3)
    assert shapes["stylegan_decoder.style_convs.12.modulated_conv.modulation.weight"] == (
        128,
        512,
    )
    assert shapes["stylegan_decoder.to_rgbs.6.modulated_conv.weight"] == (1, 3, 64, 1, 1)
    assert shapes["stylegan_decoder.noises.noise14"] == (1, 1, 512, 512)
    # fp32 tensors fill the released file but for the archive's per-tensor overhead.
    released_bytes = get_spec("gfpgan_v1.4").primary.size
    assert released_bytes is not None
    tensor_bytes = sum(value.numel() * 4 for value in released_state.values())
    assert 0 < released_bytes - tensor_bytes < 300 * len(released_state)


def test_the_released_config_is_inferred_from_the_shapes(
    released_state: dict[str, torch.Tensor],
) -> None:
    config = GfpganConfig.from_state_dict(released_state)
    assert config == GfpganConfig.from_widths()
    assert config.unet_channels == RELEASED_UNET
    assert config.decoder_channels == RELEASED_DECODER
    assert (config.out_size, config.num_style_feat, config.num_mlp) == (512, 512, 8)
    assert config.different_w and config.sft_half


def test_the_tiny_checkpoint_has_the_released_key_names(
    released_state: dict[str, torch.Tensor], store: ModelStore
) -> None:
    checkpoint = torch.load(store.path("gfpgan_unittest"), weights_only=True)
    assert set(checkpoint) == {"params_ema"}
    tiny = checkpoint["params_ema"]
    # The released names, two resolution levels fewer (128² instead of 512²).
    assert set(tiny) <= set(released_state)
    with torch.device("meta"):
        layout = GfpganNetwork(GfpganConfig.from_widths(128)).state_dict()
    assert set(tiny) == set(layout)
    assert GfpganConfig.from_state_dict(tiny) == TINY_GFPGAN_CONFIG
    assert sum(v.numel() for v in tiny.values()) < 500_000


def test_a_tiny_network_at_the_released_size_restores_a_512_face(
    face: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    config = GfpganConfig.from_widths(512, num_style_feat=16, narrow=1 / 32)
    state = random_gfpgan(seed=2, config=config).state_dict()
    assert set(state) == set(_released_keys())  # exactly the released names
    path = tmp_path / "tiny512.pth"
    torch.save({"params_ema": state}, path)
    enhancer = GfpganEnhancer(path, device="cpu", fidelity=0.0)
    assert enhancer.size == 512
    frame, landmarks = face
    out = enhancer.enhance([frame], [landmarks])[0]
    assert np.abs(out.astype(np.int16) - frame).mean() > 5


def test_the_generated_model_is_reproducible(tmp_path: Path, store: ModelStore) -> None:
    again = ModelStore(tmp_path).install("gfpgan_unittest")
    assert again.generated
    assert again.sha256 == store.manifest("gfpgan_unittest").sha256  # type: ignore[union-attr]
    assert store.verify("gfpgan_unittest").ok


def test_the_enhancer_restores_inside_the_face_only(
    store: ModelStore, face: tuple[np.ndarray, np.ndarray]
) -> None:
    frame, landmarks = face
    wide = np.pad(frame, ((0, 0), (0, 200), (0, 0)), mode="edge")  # room far from the face
    small = frame[60:260, 60:260].copy()
    small_landmarks = landmarks - np.array([60, 60, 0], np.float32)
    enhancer = GfpganEnhancer(store.path("gfpgan_unittest"), device="cpu", fidelity=0.0)
    assert enhancer.needs_face and enhancer.size == 128
    before = wide.copy()
    out = enhancer.enhance([wide, small, frame], [landmarks, small_landmarks, None])
    assert [o.shape for o in out] == [wide.shape, small.shape, frame.shape]
    assert all(o.dtype == np.uint8 for o in out)
    assert np.array_equal(wide, before), "the input crop must not be modified"
    assert np.array_equal(out[2], frame), "a crop without a face comes back unchanged"
    collapsed = np.zeros_like(landmarks)
    assert np.array_equal(enhancer.enhance([frame], [collapsed])[0], frame)
    difference = np.abs(out[0].astype(np.int16) - wide).max(axis=2)
    nose = np.round(landmarks[1, :2]).astype(int)
    around_nose = difference[nose[1] - 20 : nose[1] + 20, nose[0] - 20 : nose[0] + 20]
    assert around_nose.mean() > 20, "the face must be replaced by the network's output"
    assert not difference[:, 420:].any(), "far from the face nothing changes"
    assert np.abs(out[1].astype(np.int16) - small).max(axis=2).mean() > 10
    again = enhancer.enhance([wide, small, frame], [landmarks, small_landmarks, None])
    assert np.array_equal(again[0], out[0]), "the stored noise makes restoration repeatable"
    enhancer.close()


def test_fidelity_mixes_the_input_back(
    store: ModelStore, face: tuple[np.ndarray, np.ndarray]
) -> None:
    frame, landmarks = face
    changes = []
    for fidelity in (0.0, 0.5, 1.0):
        enhancer = GfpganEnhancer(store.path("gfpgan_unittest"), "cpu", fidelity=fidelity)
        out = enhancer.enhance([frame], [landmarks])[0]
        changes.append(float(np.abs(out.astype(np.int16) - frame).mean()))
    assert changes[0] > changes[1] > changes[2] == 0.0, "fidelity 1 gives the input back"
    assert changes[1] == pytest.approx(changes[0] / 2, rel=0.1)


def test_released_format_variants_load(tmp_path: Path) -> None:
    state = random_gfpgan(seed=3).state_dict()
    for wrapped in ({"params_ema": state}, {"params": state}, state):
        path = tmp_path / "variant.pth"
        torch.save(wrapped, path)
        enhancer = GfpganEnhancer(path, device="cpu")
        assert enhancer.size == 128
    assert network_state({"params": state, "extra": 1}) is not state  # a plain copy
    half = {key: value.half() for key, value in state.items()}
    assert build_network(half).conv_body_first.weight.dtype == torch.float32


def test_a_wrong_architecture_is_refused(tmp_path: Path) -> None:
    # A Wav2Lip checkpoint: its own layout, then its bare state dict.
    other = {"state_dict": {"face_encoder_blocks.0.0.conv_block.0.weight": torch.zeros(2)}}
    wav2lip = tmp_path / "wav2lip.pth"
    torch.save({**other, "optimizer": {}, "global_step": 1, "global_epoch": 1}, wav2lip)
    with pytest.raises(CheckpointError, match=r"missing keys conv_body_first\.weight"):
        GfpganEnhancer(wav2lip, device="cpu")
    bare = tmp_path / "bare_wav2lip.pth"
    torch.save(other["state_dict"], bare)
    with pytest.raises(CheckpointError, match=r"missing keys conv_body_first\.weight"):
        GfpganEnhancer(bare, device="cpu")
    state = random_gfpgan(seed=1).state_dict()
    pruned = {k: v for k, v in state.items() if k != "condition_shift.3.0.bias"}
    with pytest.raises(ModelError, match=r"1 missing keys \(condition_shift\.3\.0\.bias\)"):
        build_network(pruned)
    extra = {**state, "stylegan_decoder.extra.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match="unexpected keys"):
        build_network(extra)
    resized = {**state, "toRGB.0.weight": torch.zeros(3, 7, 1, 1)}
    with pytest.raises(CheckpointError, match=r"wrong shape: toRGB\.0\.weight"):
        build_network(resized)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read GFPGAN weights"):
        GfpganEnhancer(garbage, device="cpu")
    with pytest.raises(CheckpointError, match="params_ema"):
        network_state([1, 2, 3])


def test_bad_arguments_are_refused(store: ModelStore, tmp_path: Path) -> None:
    with pytest.raises(OptionsError, match="fidelity"):
        GfpganEnhancer(store.path("gfpgan_unittest"), fidelity=1.5)
    with pytest.raises(ModelNotInstalledError, match="not found"):
        GfpganEnhancer(tmp_path / "missing.pth")
    enhancer = GfpganEnhancer(store.path("gfpgan_unittest"), device="cpu")
    with pytest.raises(InputError, match="uint8 RGB"):
        enhancer.enhance([np.zeros((8, 8), np.uint8)], [None])
    with pytest.raises(InputError, match="landmark sets"):
        enhancer.enhance([np.zeros((8, 8, 3), np.uint8)], [])


def test_the_codeformer_test_model_loads_as_a_codeformer(store: ModelStore) -> None:
    codeformer = pytest.importorskip("lipsync.enhance.codeformer")
    network_module = pytest.importorskip("lipsync.enhance.codeformer_network")
    store.install("codeformer_unittest")
    checkpoint = torch.load(store.path("codeformer_unittest"), weights_only=True)
    assert set(checkpoint) == {"params_ema"}
    network = codeformer.load_codeformer(store.path("codeformer_unittest"))
    assert network.config == network_module.TINY_CODEFORMER_CONFIG
    faces = torch.rand((1, 3, network.image_size, network.image_size)) * 2 - 1
    with torch.no_grad():
        restored = network(faces, fidelity=0.5)
    assert restored.shape == faces.shape
    assert 0.2 < float(restored.std()) < 1.0, "the output spreads over mid-tones"
