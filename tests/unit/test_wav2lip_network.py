"""The Wav2Lip generator: released size and parameter names, tiny variant, forward pass."""

from __future__ import annotations

import pytest
import torch

from lipsync.engines.wav2lip.checkpoint import parameter_count
from lipsync.engines.wav2lip.network import RELEASED_WIDTH, Wav2Lip, infer_width
from lipsync.engines.wav2lip.testing import TINY_WIDTH, random_wav2lip
from lipsync.errors import CheckpointError


@pytest.fixture(scope="module")
def released_state() -> dict[str, torch.Tensor]:
    return Wav2Lip().state_dict()


def test_released_size_is_36_3_million_parameters() -> None:
    count = parameter_count(Wav2Lip())
    assert abs(count - 36.3e6) < 0.05e6


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("face_encoder_blocks.0.0.conv_block.0.weight", (16, 6, 7, 7)),
        ("face_encoder_blocks.6.1.conv_block.0.weight", (512, 512, 1, 1)),
        ("audio_encoder.0.conv_block.0.weight", (32, 1, 3, 3)),
        ("audio_encoder.0.conv_block.1.running_mean", (32,)),
        ("audio_encoder.12.conv_block.0.weight", (512, 512, 1, 1)),
        ("face_decoder_blocks.1.0.conv_block.0.weight", (1024, 512, 3, 3)),
        ("face_decoder_blocks.6.2.conv_block.1.num_batches_tracked", ()),
        ("output_block.0.conv_block.0.weight", (32, 80, 3, 3)),
        ("output_block.1.weight", (3, 32, 1, 1)),
    ],
)
def test_released_parameter_names(
    released_state: dict[str, torch.Tensor], name: str, shape: tuple[int, ...]
) -> None:
    assert tuple(released_state[name].shape) == shape


def test_released_block_layout(released_state: dict[str, torch.Tensor]) -> None:
    def blocks(prefix: str) -> set[str]:
        return {name.split(".")[1] for name in released_state if name.startswith(prefix)}

    assert blocks("face_encoder_blocks.") == {str(i) for i in range(7)}
    assert blocks("face_decoder_blocks.") == {str(i) for i in range(7)}
    assert blocks("audio_encoder.") == {str(i) for i in range(13)}
    assert len(released_state) == 352


def test_tiny_network_has_the_same_names(released_state: dict[str, torch.Tensor]) -> None:
    tiny = Wav2Lip(TINY_WIDTH)
    assert list(tiny.state_dict()) == list(released_state)
    assert parameter_count(tiny) < 1_000_000


def test_infer_width() -> None:
    assert infer_width(Wav2Lip(TINY_WIDTH).state_dict()) == TINY_WIDTH
    assert infer_width(Wav2Lip(RELEASED_WIDTH).state_dict()) == RELEASED_WIDTH
    with pytest.raises(CheckpointError, match="missing face_encoder_blocks"):
        infer_width({"other.weight": torch.zeros(3)})
    with pytest.raises(CheckpointError, match="expected"):
        infer_width({"face_encoder_blocks.0.0.conv_block.0.weight": torch.zeros(16, 3, 7, 7)})


def test_forward_shape_and_range() -> None:
    model = random_wav2lip(seed=1)
    with torch.inference_mode():
        out = model(torch.zeros(2, 1, 80, 16), torch.rand(2, 6, 96, 96))
    assert out.shape == (2, 3, 96, 96)
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_random_weights_are_seeded_and_not_degenerate() -> None:
    first, again, other = random_wav2lip(seed=3), random_wav2lip(seed=3), random_wav2lip(seed=4)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    name = "output_block.1.weight"
    assert not torch.equal(first.state_dict()[name], other.state_dict()[name])
    generator = torch.Generator().manual_seed(0)
    audio = torch.randn((4, 1, 80, 16), generator=generator).clamp(-4, 4)
    face = torch.rand((4, 6, 96, 96), generator=generator)
    with torch.inference_mode():
        out = first(audio, face)
        other_audio = first(audio.flip(0), face)
    # mid-tones with spread, not a saturated or constant image
    assert 0.2 < float(out.mean()) < 0.8
    assert float(out.std()) > 0.05
    # the speech input reaches the output
    assert float((out - other_audio).abs().mean()) > 0.01
