"""CodeFormer: the released layout, tiny random checkpoints, and the enhancer around them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lipsync.enhance import align
from lipsync.enhance.codeformer import CodeFormerEnhancer, load_codeformer
from lipsync.enhance.codeformer_network import (
    TINY_CODEFORMER_CONFIG,
    CodeFormer,
    CodeFormerConfig,
    build_codeformer,
    codeformer_config_from_state_dict,
)
from lipsync.enhance.testing import random_codeformer, write_random_codeformer
from lipsync.errors import (
    CheckpointError,
    InputError,
    ModelError,
    ModelNotInstalledError,
    OptionsError,
)

# Tensors of the released codeformer.pth (params_ema), by name and shape.
RELEASED_SHAPES = {
    "position_emb": (256, 512),
    "feat_emb.weight": (512, 256),
    "quantize.embedding.weight": (1024, 256),
    "encoder.blocks.0.weight": (64, 3, 3, 3),
    "encoder.blocks.24.weight": (256, 512, 3, 3),
    "encoder.blocks.17.q.weight": (512, 512, 1, 1),
    "generator.blocks.0.weight": (512, 256, 3, 3),
    "generator.blocks.24.weight": (3, 64, 3, 3),
    "ft_layers.8.self_attn.in_proj_weight": (1536, 512),
    "ft_layers.8.self_attn.out_proj.weight": (512, 512),
    "ft_layers.0.linear1.weight": (1024, 512),
    "idx_pred_layer.0.weight": (512,),
    "idx_pred_layer.1.weight": (1024, 512),
    "fuse_convs_dict.32.encode_enc.conv_out.weight": (256, 512, 1, 1),
    "fuse_convs_dict.256.scale.2.weight": (128, 128, 3, 3),
    "fuse_convs_dict.256.shift.0.bias": (128,),
}


@pytest.fixture(scope="module")
def released_layout() -> CodeFormer:
    with torch.device("meta"):  # the layout only: no memory, no initialisation time
        return CodeFormer()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_codeformer(tmp_path_factory.mktemp("codeformer") / "tiny.pth", seed=3)


def test_released_layout_has_the_released_names_and_shapes(released_layout: CodeFormer) -> None:
    state = released_layout.state_dict()
    for name, shape in RELEASED_SHAPES.items():
        assert tuple(state[name].shape) == shape, name
    assert len(state) == 515
    assert 94.0e6 < sum(tensor.numel() for tensor in state.values()) < 94.2e6
    assert not any(name.startswith("fuse_convs_dict.16.") for name in state)
    assert released_layout.image_size == 512


def test_fusion_points_match_the_reference_tables(released_layout: CodeFormer) -> None:
    # CodeFormer's fuse_encoder_block and fuse_generator_block
    assert released_layout.encoder.taps == {512: 2, 256: 5, 128: 8, 64: 11, 32: 14, 16: 18}
    assert released_layout.generator.taps == {16: 6, 32: 9, 64: 12, 128: 15, 256: 18, 512: 21}


def test_config_is_read_back_from_shapes(released_layout: CodeFormer) -> None:
    assert codeformer_config_from_state_dict(released_layout.state_dict()) == CodeFormerConfig()
    tiny = CodeFormer.from_config(TINY_CODEFORMER_CONFIG)
    assert codeformer_config_from_state_dict(tiny.state_dict()) == TINY_CODEFORMER_CONFIG


def test_tiny_checkpoint_loads_in_every_accepted_layout(tmp_path: Path) -> None:
    state = random_codeformer(seed=1).state_dict()
    layouts = {
        "ema.pth": {"params_ema": state},
        "params.pth": {"params": state},
        "bare.pth": state,
        "parallel.pth": {f"module.{key}": value for key, value in state.items()},
    }
    for name, content in layouts.items():
        torch.save(content, tmp_path / name)
        network = load_codeformer(tmp_path / name)
        assert network.config == TINY_CODEFORMER_CONFIG
        loaded = network.state_dict()
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[key], state[key]) for key in state)


def test_network_output_shape_and_fidelity_effect() -> None:
    network = random_codeformer(seed=2)
    faces = torch.rand((1, 3, 64, 64), generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        codebook_only = network(faces, fidelity=0.0)
        faithful = network(faces, fidelity=1.0)
        without_adain = network(faces, fidelity=1.0, adain=False)
    assert faithful.shape == (1, 3, 64, 64)
    assert torch.isfinite(faithful).all()
    assert (faithful - codebook_only).abs().mean() > 1e-3
    assert (faithful - without_adain).abs().mean() > 1e-3


def test_other_architectures_are_refused_with_key_names(tmp_path: Path) -> None:
    state = random_codeformer(seed=0).state_dict()
    extra = dict(state, **{"stylegan_decoder.constant_input.weight": torch.zeros(4)})
    with pytest.raises(CheckpointError, match=r"unexpected keys \(stylegan_decoder"):
        build_codeformer(extra)
    lacking = {k: v for k, v in state.items() if not k.startswith("fuse_convs_dict.32.scale")}
    with pytest.raises(CheckpointError, match=r"missing keys \(fuse_convs_dict\.32\.scale"):
        build_codeformer(lacking)
    misshapen = dict(state, **{"feat_emb.bias": torch.zeros(3)})
    with pytest.raises(CheckpointError, match=r"feat_emb\.bias"):
        build_codeformer(misshapen)
    gfpgan_like = {"params_ema": {"conv_body_first.weight": torch.zeros(8, 3, 1, 1)}}
    torch.save(gfpgan_like, tmp_path / "gfpgan.pth")
    with pytest.raises(ModelError, match="missing position_emb"):
        load_codeformer(tmp_path / "gfpgan.pth")


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalledError):
        load_codeformer(tmp_path / "absent.pth")
    (tmp_path / "page.pth").write_text("<html>not found</html>")
    with pytest.raises(CheckpointError, match=r"page\.pth"):
        load_codeformer(tmp_path / "page.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_codeformer(tmp_path / "empty.pth")


def _face_and_landmarks(size: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """A smooth face-sized picture and FaceMesh points placing an upright face in it."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(40, 220, size=(6, 6, 3)).astype(np.uint8)
    import cv2

    image = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    points = align.template(int(size * 0.8)) + size * 0.1
    landmarks = np.zeros((468, 3), np.float32)
    landmarks[list(align.SUBJECT_RIGHT_EYE), :2] = points[0]
    landmarks[list(align.SUBJECT_LEFT_EYE), :2] = points[1]
    landmarks[align.NOSE_TIP, :2] = points[2]
    landmarks[align.MOUTH_CORNER_SUBJECT_RIGHT, :2] = points[3]
    landmarks[align.MOUTH_CORNER_SUBJECT_LEFT, :2] = points[4]
    return image, landmarks


def test_enhancer_restores_faces_and_leaves_the_rest(tiny_checkpoint: Path) -> None:
    enhancer = CodeFormerEnhancer(tiny_checkpoint, device="cpu", fidelity=0.7, batch_size=2)
    assert enhancer.needs_face and enhancer.size == 64
    face, landmarks = _face_and_landmarks(160)
    small, small_landmarks = _face_and_landmarks(96)
    untracked = np.full((50, 70, 3), 90, np.uint8)
    crops = [face, untracked, small, face]
    out = enhancer.enhance(crops, [landmarks, None, small_landmarks, landmarks])
    assert [crop.shape for crop in out] == [crop.shape for crop in crops]
    assert all(crop.dtype == np.uint8 for crop in out)
    assert np.array_equal(out[1], untracked)
    for before, after in ((face, out[0]), (small, out[2])):
        changed = np.abs(after.astype(int) - before.astype(int)).max(axis=2) > 2
        assert changed.mean() > 0.2  # the face area was replaced
    assert np.array_equal(out[0], out[3])  # batches do not leak into each other
    assert crops[0] is face and np.array_equal(crops[0], _face_and_landmarks(160)[0])


def test_fidelity_changes_the_restored_face(tiny_checkpoint: Path) -> None:
    face, landmarks = _face_and_landmarks(128)
    low = CodeFormerEnhancer(tiny_checkpoint, device="cpu", fidelity=0.0)
    high = CodeFormerEnhancer(tiny_checkpoint, device="cpu", fidelity=1.0)
    difference = low.enhance([face], [landmarks])[0].astype(int) - high.enhance(
        [face], [landmarks]
    )[0].astype(int)
    assert np.abs(difference).mean() > 1.0


def test_enhancer_validates_its_arguments(tiny_checkpoint: Path) -> None:
    with pytest.raises(OptionsError, match=r"1\.5"):
        CodeFormerEnhancer(tiny_checkpoint, device="cpu", fidelity=1.5)
    with pytest.raises(OptionsError):
        CodeFormerEnhancer(tiny_checkpoint, device="cpu", batch_size=0)
    enhancer = CodeFormerEnhancer(tiny_checkpoint, device="cpu")
    face, landmarks = _face_and_landmarks()
    with pytest.raises(InputError):
        enhancer.enhance([face, face], [landmarks])
    with pytest.raises(InputError):
        enhancer.restore_aligned([np.zeros((32, 32, 3), np.uint8)])
    collapsed = np.zeros((468, 3), np.float32)  # degenerate: left as it is, no error
    assert np.array_equal(enhancer.enhance([face], [collapsed])[0], face)
    assert "codeformer" in enhancer.describe()
    enhancer.close()
