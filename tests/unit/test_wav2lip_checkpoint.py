"""Checkpoint loading: every accepted format, and a clear CheckpointError for every bad file."""

from __future__ import annotations

import builtins
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch

from lipsync.engines.wav2lip.checkpoint import load_wav2lip, read_state_dict
from lipsync.engines.wav2lip.testing import TINY_WIDTH, random_wav2lip, write_random_checkpoint
from lipsync.errors import CheckpointError, ModelError

CPU = torch.device("cpu")
SEED = 11


def sample_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(99)
    audio = (torch.randn((3, 1, 80, 16), generator=generator) * 2).clamp(-4, 4)
    return audio, torch.rand((3, 6, 96, 96), generator=generator)


def run(model: torch.nn.Module) -> torch.Tensor:
    with torch.inference_mode():
        return model(*sample_inputs())


@pytest.fixture(scope="module")
def expected_output() -> torch.Tensor:
    return run(random_wav2lip(SEED))


def write_bare(path: Path) -> Path:
    torch.save(random_wav2lip(SEED).state_dict(), path)
    return path


def write_legacy(path: Path) -> Path:
    # the pre-zip serialisation of torch < 1.6, which the released files likely use
    state = {"state_dict": random_wav2lip(SEED).state_dict(), "global_step": 3}
    torch.save(state, path, _use_new_zipfile_serialization=False)
    return path


WRITERS: dict[str, Any] = {
    "released": lambda path: write_random_checkpoint(path, seed=SEED),
    "module_prefix": lambda path: write_random_checkpoint(path, seed=SEED, module_prefix=True),
    "bare": write_bare,
    "legacy": write_legacy,
    "torchscript": lambda path: write_random_checkpoint(path, seed=SEED, torchscript=True),
}


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_formats_load_to_identical_networks(
    kind: str, tmp_path: Path, expected_output: torch.Tensor
) -> None:
    path = WRITERS[kind](tmp_path / f"{kind}.pth")
    model = load_wav2lip(path, CPU)
    assert not model.training
    assert model.width == TINY_WIDTH
    assert torch.equal(run(model), expected_output)


def test_released_format_keeps_only_weights(tmp_path: Path) -> None:
    path = write_random_checkpoint(tmp_path / "ck.pth", module_prefix=True)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"state_dict", "optimizer", "global_step", "global_epoch"}
    state = read_state_dict(path)
    assert all(not name.startswith("module.") for name in state)
    assert "face_encoder_blocks.0.0.conv_block.0.weight" in state


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_wav2lip(tmp_path / "absent.pth", CPU)


@pytest.mark.parametrize("kind", ["released", "legacy", "torchscript"])
def test_truncated_file(kind: str, tmp_path: Path) -> None:
    path = WRITERS[kind](tmp_path / "ck.pth")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"ck\.pth is truncated or corrupt \(.+\)"):
        load_wav2lip(path, CPU)


@pytest.mark.parametrize(
    "content", [b"<html>404 Not Found</html>", b"hello world", b"", b"PK\x03\x04junk"]
)
def test_garbage_bytes(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "ck.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"ck\.pth is truncated or corrupt \(.+\)$"):
        load_wav2lip(path, CPU)


class _CreatesMarker:
    """Unpickling this calls open(marker, 'w'), which would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (builtins.open, (str(self.marker), "w"))


@pytest.mark.parametrize("container", ["pickle", "torch_zip"])
def test_pickle_that_runs_code_is_refused(container: str, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    payload = {"state_dict": _CreatesMarker(marker)}
    if container == "pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    with pytest.raises(CheckpointError, match="contains code objects, refusing to load it") as info:
        load_wav2lip(path, CPU)
    assert "only plain weights are accepted" in str(info.value)
    assert "evil.pth" in str(info.value)
    assert not marker.exists()
    assert isinstance(info.value, ModelError)


def test_dict_without_weights(tmp_path: Path) -> None:
    path = tmp_path / "ck.pth"
    torch.save({"optimizer": {}, "global_step": 5}, path)
    with pytest.raises(CheckpointError, match=r"holds no state dict \(top-level keys: global_step"):
        load_wav2lip(path, CPU)


def test_not_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "ck.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="holds a Tensor"):
        load_wav2lip(path, CPU)


def test_syncnet_checkpoint_is_named_as_wrong(tmp_path: Path) -> None:
    # the expert discriminator's layout: face_encoder / audio_encoder, no decoder
    syncnet_like = {
        "face_encoder.0.conv_block.0.weight": torch.zeros(32, 15, 7, 7),
        "face_encoder.0.conv_block.0.bias": torch.zeros(32),
        "audio_encoder.0.conv_block.0.weight": torch.zeros(32, 1, 3, 3),
    }
    path = tmp_path / "lipsync_expert.pth"
    torch.save({"state_dict": syncnet_like, "global_step": 1}, path)
    with pytest.raises(
        CheckpointError,
        match=r"lipsync_expert\.pth is not a Wav2Lip generator checkpoint: "
        r"missing face_encoder_blocks\.0\.0\.conv_block\.0\.weight",
    ):
        load_wav2lip(path, CPU)


def test_wrong_shape_and_extra_keys(tmp_path: Path) -> None:
    state = random_wav2lip().state_dict()
    state["output_block.1.weight"] = torch.zeros(4, 2 * TINY_WIDTH, 1, 1)
    path = tmp_path / "shape.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match=r"shape of output_block\.1\.weight \(4, 4, 1, 1\)"):
        load_wav2lip(path, CPU)

    state = random_wav2lip().state_dict()
    state["extra_head.weight"] = torch.zeros(3)
    del state["output_block.1.bias"]
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError) as info:
        load_wav2lip(path, CPU)
    assert "missing output_block.1.bias" in str(info.value)
    assert "unexpected extra_head.weight" in str(info.value)


def test_non_finite_weights(tmp_path: Path) -> None:
    state = random_wav2lip().state_dict()
    state["output_block.1.bias"] = torch.tensor([0.0, float("nan"), 0.0])
    path = tmp_path / "nan.pth"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError, match=r"NaN or infinite weights in output_block\.1\.bias"):
        load_wav2lip(path, CPU)


def test_missing_batch_norm_counters_are_tolerated(
    tmp_path: Path, expected_output: torch.Tensor
) -> None:
    state = {
        name: tensor
        for name, tensor in random_wav2lip(SEED).state_dict().items()
        if not name.endswith("num_batches_tracked")
    }
    path = tmp_path / "old.pth"
    torch.save({"state_dict": state}, path)
    assert torch.equal(run(load_wav2lip(path, CPU)), expected_output)
