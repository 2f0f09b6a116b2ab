"""BiSeNet face parsing: the released layout, tiny random checkpoints, labels and masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lipsync.enhance.parsing import (
    CELEBAMASK_CLASSES,
    KEEP_CLASSES,
    FaceParser,
    keep_mask,
    random_bisenet,
    write_random_parsing_checkpoint,
)
from lipsync.enhance.parsing_network import BiSeNet, build_bisenet
from lipsync.errors import CheckpointError, InputError, ModelNotInstalledError, OptionsError

# Tensors of face-parsing.PyTorch's released 79999_iter.pth, by name and shape.
RELEASED_SHAPES = {
    "cp.resnet.conv1.weight": (64, 3, 7, 7),
    "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
    "cp.resnet.layer4.1.conv2.weight": (512, 512, 3, 3),
    "cp.arm16.conv.conv.weight": (128, 256, 3, 3),
    "cp.arm32.conv_atten.weight": (128, 128, 1, 1),
    "cp.conv_avg.conv.weight": (128, 512, 1, 1),
    "cp.conv_head16.bn.running_var": (128,),
    "ffm.convblk.conv.weight": (256, 256, 1, 1),
    "ffm.conv1.weight": (64, 256, 1, 1),
    "ffm.conv2.weight": (256, 64, 1, 1),
    "conv_out.conv.conv.weight": (256, 256, 3, 3),
    "conv_out.conv_out.weight": (19, 256, 1, 1),
    "conv_out16.conv_out.weight": (19, 64, 1, 1),
    "conv_out32.conv.bn.weight": (64,),
}
RELEASED_FILE_BYTES = 53_289_463


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_parsing_checkpoint(tmp_path_factory.mktemp("parsing") / "p.pth", seed=5)


def test_released_layout_has_the_released_names_and_shapes() -> None:
    with torch.device("meta"):
        state = BiSeNet().state_dict()
    for name, shape in RELEASED_SHAPES.items():
        assert tuple(state[name].shape) == shape, name
    assert not any(name.startswith(("sp.", "cp.resnet.fc")) for name in state)
    floats = sum(t.numel() * 4 for n, t in state.items() if not n.endswith("batches_tracked"))
    # the released file is those float32 tensors plus about 40 kB of pickle framing
    assert 0 < RELEASED_FILE_BYTES - floats < 100_000


def test_labels_follow_celebamask_hq_order() -> None:
    assert len(CELEBAMASK_CLASSES) == 19
    assert [CELEBAMASK_CLASSES[i] for i in KEEP_CLASSES["mouth"]] == [
        "mouth",
        "upper_lip",
        "lower_lip",
    ]
    assert CELEBAMASK_CLASSES[1] == "skin" and CELEBAMASK_CLASSES[10] == "nose"


def test_parser_labels_have_the_crop_sizes(tiny_weights: Path) -> None:
    parser = FaceParser(tiny_weights, device="cpu", batch_size=2)
    rng = np.random.default_rng(1)
    crops = [
        rng.integers(0, 256, size=shape, dtype=np.uint8)
        for shape in ((120, 100, 3), (64, 64, 3), (300, 257, 3))
    ]
    labels = parser.parse(crops)
    assert [label.shape for label in labels] == [(120, 100), (64, 64), (300, 257)]
    assert all(label.dtype == np.uint8 and label.max() < 19 for label in labels)
    assert len(np.unique(labels[2])) > 1  # the random network still tells pixels apart
    again = parser.parse(crops[:1])
    assert np.array_equal(again[0], labels[0])
    with pytest.raises(InputError):
        parser.parse([crops[0].astype(np.float32)])
    parser.close()


def test_checkpoint_variants_load(tmp_path: Path) -> None:
    state = random_bisenet(seed=2).state_dict()
    old_torch = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    parallel = {f"module.{key}": value for key, value in state.items()}
    for name, content in (("old.pth", old_torch), ("parallel.pth", parallel)):
        torch.save(content, tmp_path / name)
        FaceParser(tmp_path / name, device="cpu")


def test_other_networks_are_refused(tmp_path: Path) -> None:
    state = random_bisenet(seed=0).state_dict()
    with pytest.raises(CheckpointError, match=r"missing keys \(ffm\.conv1\.weight"):
        build_bisenet({k: v for k, v in state.items() if k != "ffm.conv1.weight"})
    with pytest.raises(CheckpointError, match=r"unexpected keys \(sp\.conv1"):
        build_bisenet(dict(state, **{"sp.conv1.conv.weight": torch.zeros(1)}))
    torch.save({"params_ema": {"position_emb": torch.zeros(4, 4)}}, tmp_path / "cf.pth")
    with pytest.raises(CheckpointError, match=r"cp\.resnet\.conv1\.weight"):
        FaceParser(tmp_path / "cf.pth", device="cpu")
    with pytest.raises(ModelNotInstalledError):
        FaceParser(tmp_path / "absent.pth", device="cpu")


def _synthetic_labels() -> np.ndarray:
    """A 200×200 label map: skin, two eyes, a nose, lips around an open mouth."""
    labels = np.zeros((200, 200), np.uint8)
    labels[30:190, 40:160] = 1
    labels[70:80, 60:80] = 4
    labels[70:80, 120:140] = 5
    labels[90:120, 92:108] = 10
    labels[135:142, 75:125] = 12
    labels[142:148, 80:120] = 11
    labels[148:156, 75:125] = 13
    return labels


def test_mouth_mask_covers_lips_and_fades_out() -> None:
    mask = keep_mask(_synthetic_labels(), "mouth")
    assert mask.dtype == np.float32 and mask.shape == (200, 200)
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert mask[145, 100] > 0.99 and mask[138, 80] > 0.9  # inner mouth, upper lip
    assert mask[75, 70] == 0.0 and mask[10, 10] == 0.0  # an eye, the background
    assert 0.0 < mask[160, 100] < mask[152, 100]  # the edge fades into the skin


def test_face_mask_keeps_skin_but_not_the_eyes() -> None:
    labels = _synthetic_labels()
    hard = keep_mask(labels, "face", feather=0.0)
    assert np.array_equal(hard, np.isin(labels, (1, 10, 11, 12, 13)).astype(np.float32))
    soft = FaceParser.keep_mask(labels, "face")
    assert soft[50, 100] > 0.99 and soft[100, 100] > 0.99  # skin, nose
    assert soft[75, 70] < 0.5 and soft[5, 5] == 0.0  # an eye, the background
    assert np.array_equal(keep_mask(np.zeros((8, 8), np.uint8), "face"), np.zeros((8, 8)))


def test_keep_mask_rejects_bad_arguments() -> None:
    with pytest.raises(OptionsError, match="teeth"):
        keep_mask(_synthetic_labels(), "teeth")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        keep_mask(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(OptionsError):
        keep_mask(_synthetic_labels(), feather=2.0)
