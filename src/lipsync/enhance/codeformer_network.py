"""The CodeFormer network (Zhou et al., NeurIPS 2022), laid out so the released
``codeformer.pth`` (``params_ema``) loads key for key.

A VQGAN encoder turns a 512² face into a 16×16 grid of 256-d features; a transformer
predicts, for each grid cell, which of 1024 codebook entries (a learned prior of good faces)
belongs there; the VQGAN generator decodes the chosen entries back to 512². Controllable
feature transformation blocks (``fuse_convs_dict``) mix the encoder's features into the
generator at 32, 64, 128 and 256 pixels with weight ``fidelity``: 0 is the codebook's face
alone, 1 stays closest to the input.

Sizes are constructor parameters (released values by default) so tests can build tiny
networks; ``codeformer_config_from_state_dict`` reads them back from a checkpoint's shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from .checkpoint import load_checked

# GroupNorm with 32 groups everywhere: every channel count must be a multiple of 32.
_GROUPS = 32
# The transformer's head count leaves no trace in the weights' shapes; the released network
# uses 64-dimensional heads (512 / 8), and configurations read from checkpoints assume that.
HEAD_DIM = 64


@dataclass(frozen=True)
class CodeFormerConfig:
    """Sizes of a CodeFormer; the defaults are the released network's (94 M parameters).

    ``dim_embd``/``n_head``/``n_layers``: the transformer. ``codebook_size`` entries of
    ``emb_dim`` each. ``latent_size``: grid cells (a square, 16×16 = 256). ``nf`` and
    ``ch_mult``: VQGAN widths per resolution level, from the image size down. ``res_blocks``
    per level, self-attention at ``attn_resolutions`` (pixels). ``connect_list``: resolutions
    (pixels) where encoder features are fused into the generator.
    """

    dim_embd: int = 512
    n_head: int = 8
    n_layers: int = 9
    codebook_size: int = 1024
    latent_size: int = 256
    connect_list: tuple[int, ...] = (32, 64, 128, 256)
    nf: int = 64
    ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4, 8)
    res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    emb_dim: int = 256

    def __post_init__(self) -> None:
        side = round(self.latent_size**0.5)
        if side * side != self.latent_size:
            raise ValueError(f"latent_size must be a square number, got {self.latent_size}")
        if self.dim_embd % self.n_head:
            raise ValueError(f"dim_embd {self.dim_embd} is not divisible by n_head {self.n_head}")
        widths = [self.nf * mult for mult in self.ch_mult]
        if any(width % _GROUPS for width in widths):
            raise ValueError(f"VQGAN widths {widths} must be multiples of {_GROUPS}")
        unknown = sorted(set(self.connect_list) - set(self.level_sizes))
        if unknown:
            raise ValueError(f"connect_list {unknown} are not resolutions of this network")

    @property
    def latent_side(self) -> int:
        return round(self.latent_size**0.5)

    @property
    def image_size(self) -> int:
        """Side of the square input and output, in pixels (512 for the released network)."""
        return self.latent_side * 2 ** (len(self.ch_mult) - 1)

    @property
    def level_sizes(self) -> tuple[int, ...]:
        """Resolution of each VQGAN level in pixels, from the image size down."""
        return tuple(self.image_size >> level for level in range(len(self.ch_mult)))


TINY_CODEFORMER_CONFIG = CodeFormerConfig(
    dim_embd=64,
    n_head=1,
    n_layers=2,
    codebook_size=64,
    latent_size=256,
    connect_list=(32, 64),
    nf=32,
    ch_mult=(1, 1, 2),
    res_blocks=1,
    attn_resolutions=(16,),
    emb_dim=32,
)
"""A tiny CodeFormer for tests (~0.9 M parameters, 64×64 faces, a few tens of ms per face on
2 CPU cores): the released key names and block structure (a 16×16 code grid with attention,
fusion at 32 and 64 pixels) at the narrowest widths GroupNorm(32) allows. ``n_head`` is 1
because the checkpoint reader assumes 64-dimensional heads."""


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(_GROUPS, channels, eps=1e-6, affine=True)


class _ResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_out = (
            nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        shortcut = x if self.conv_out is None else self.conv_out(x)
        return shortcut + h


class _AttnBlock(nn.Module):
    """Single-head self-attention over all pixels of a feature map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        normed = self.norm(x)
        q, k, v = (conv(normed).flatten(2).transpose(1, 2) for conv in (self.q, self.k, self.v))
        attended = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(c), as trained
        return x + self.proj_out(attended.transpose(1, 2).reshape(b, c, h, w))


class _Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # asymmetric padding (right and bottom only), as the weights were trained with
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class _Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class _BlockStack(nn.Module):
    """A plain sequence of blocks (``blocks.N`` in the checkpoint) and, per resolution, the
    index of the block after which features are tapped (encoder) or fused (generator)."""

    def __init__(self, blocks: list[nn.Module], taps: dict[int, int]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.taps = taps


def _encoder(config: CodeFormerConfig) -> _BlockStack:
    nf, attn = config.nf, set(config.attn_resolutions)
    blocks: list[nn.Module] = [nn.Conv2d(3, nf, 3, padding=1)]
    taps: dict[int, int] = {}
    channels = nf
    for level, size in enumerate(config.level_sizes):
        for _ in range(config.res_blocks):
            blocks.append(_ResBlock(channels, nf * config.ch_mult[level]))
            channels = nf * config.ch_mult[level]
            taps[size] = len(blocks) - 1  # the level's last residual block
            if size in attn:
                blocks.append(_AttnBlock(channels))
        if level < len(config.ch_mult) - 1:
            blocks.append(_Downsample(channels))
    blocks += [_ResBlock(channels, channels), _AttnBlock(channels), _ResBlock(channels, channels)]
    # no activation between this norm and the last conv: the released weights expect none
    blocks += [_norm(channels), nn.Conv2d(channels, config.emb_dim, 3, padding=1)]
    return _BlockStack(blocks, taps)


def _generator(config: CodeFormerConfig) -> _BlockStack:
    nf, attn = config.nf, set(config.attn_resolutions)
    channels = nf * config.ch_mult[-1]
    blocks: list[nn.Module] = [nn.Conv2d(config.emb_dim, channels, 3, padding=1)]
    blocks += [_ResBlock(channels, channels), _AttnBlock(channels), _ResBlock(channels, channels)]
    taps: dict[int, int] = {}
    for level in reversed(range(len(config.ch_mult))):
        size = config.level_sizes[level]
        for index in range(config.res_blocks):
            blocks.append(_ResBlock(channels, nf * config.ch_mult[level]))
            channels = nf * config.ch_mult[level]
            # CodeFormer fuses after a level's first residual block, except at attention
            # levels, where it fuses before the last attention block.
            if index == 0 or size in attn:
                taps[size] = len(blocks) - 1
            if size in attn:
                blocks.append(_AttnBlock(channels))
        if level > 0:
            blocks.append(_Upsample(channels))
    blocks += [_norm(channels), nn.Conv2d(channels, 3, 3, padding=1)]
    return _BlockStack(blocks, taps)


class _FuseBlock(nn.Module):
    """Controllable feature transformation: an affine change of the generator's features
    predicted from the encoder's, applied with weight ``fidelity``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.encode_enc = _ResBlock(2 * channels, channels)
        self.scale = self._head(channels)
        self.shift = self._head(channels)

    @staticmethod
    def _head(channels: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(
        self, encoded: torch.Tensor, decoded: torch.Tensor, fidelity: float
    ) -> torch.Tensor:
        features = self.encode_enc(torch.cat([encoded, decoded], dim=1))
        return decoded + fidelity * (decoded * self.scale(features) + self.shift(features))


class _TransformerLayer(nn.Module):
    """Pre-norm self-attention layer; the position embedding is added to queries and keys."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, heads)
        self.linear1 = nn.Linear(dim, 2 * dim)
        self.linear2 = nn.Linear(2 * dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        normed = self.norm1(tokens)
        query = normed + position
        tokens = tokens + self.self_attn(query, query, normed, need_weights=False)[0]
        return tokens + self.linear2(F.gelu(self.linear1(self.norm2(tokens))))


class _Codebook(nn.Module):
    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(size, dim)


def _adaptive_instance_norm(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """``content`` with the per-channel mean and std of ``style`` (both (B, C, H, W))."""

    def stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flat = features.flatten(2)
        std = (flat.var(dim=2) + 1e-5).sqrt()  # unbiased variance, as in the reference
        return flat.mean(dim=2)[..., None, None], std[..., None, None]

    content_mean, content_std = stats(content)
    style_mean, style_std = stats(style)
    return (content - content_mean) / content_std * style_std + style_mean


class CodeFormer(nn.Module):
    """CodeFormer with the released parameter names. Sizes as in :class:`CodeFormerConfig`.

    ``forward(faces, fidelity, adain)``: float32 RGB (B, 3, S, S) in [-1, 1] with S =
    ``image_size`` (FFHQ-aligned faces) → restored faces, same shape, about [-1, 1].
    """

    def __init__(
        self,
        dim_embd: int = 512,
        n_head: int = 8,
        n_layers: int = 9,
        codebook_size: int = 1024,
        latent_size: int = 256,
        connect_list: tuple[int, ...] = (32, 64, 128, 256),
        nf: int = 64,
        ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4, 8),
        res_blocks: int = 2,
        attn_resolutions: tuple[int, ...] = (16,),
        emb_dim: int = 256,
    ) -> None:
        super().__init__()
        config = CodeFormerConfig(
            dim_embd,
            n_head,
            n_layers,
            codebook_size,
            latent_size,
            tuple(int(size) for size in connect_list),
            nf,
            tuple(ch_mult),
            res_blocks,
            tuple(attn_resolutions),
            emb_dim,
        )
        self.config = config
        self.encoder = _encoder(config)
        self.quantize = _Codebook(codebook_size, emb_dim)
        self.generator = _generator(config)
        self.position_emb = nn.Parameter(torch.zeros(latent_size, dim_embd))
        self.feat_emb = nn.Linear(emb_dim, dim_embd)
        self.ft_layers = nn.Sequential(
            *(_TransformerLayer(dim_embd, n_head) for _ in range(n_layers))
        )
        self.idx_pred_layer = nn.Sequential(
            nn.LayerNorm(dim_embd), nn.Linear(dim_embd, codebook_size, bias=False)
        )
        level_of = {size: level for level, size in enumerate(config.level_sizes)}
        self.fuse_convs_dict = nn.ModuleDict(
            {
                str(size): _FuseBlock(nf * config.ch_mult[level_of[size]])
                for size in config.connect_list
            }
        )

    @classmethod
    def from_config(cls, config: CodeFormerConfig) -> CodeFormer:
        return cls(**asdict(config))

    @property
    def image_size(self) -> int:
        return self.config.image_size

    def forward(
        self, faces: torch.Tensor, fidelity: float = 0.5, adain: bool = True
    ) -> torch.Tensor:
        fused = {size: self.encoder.taps[size] for size in self.config.connect_list}
        tapped_at = {index: size for size, index in fused.items()}
        encoded: dict[int, torch.Tensor] = {}
        x = faces
        for index, block in enumerate(self.encoder.blocks):
            x = block(x)
            if index in tapped_at:
                encoded[tapped_at[index]] = x
        low_quality = x  # (B, emb_dim, side, side)

        tokens = self.feat_emb(low_quality.flatten(2).permute(2, 0, 1))  # (cells, B, dim)
        position = self.position_emb.unsqueeze(1)
        for layer in self.ft_layers:
            tokens = layer(tokens, position)
        logits = self.idx_pred_layer(tokens)  # (cells, B, codebook_size)
        codes = logits.argmax(dim=2).transpose(0, 1)  # (B, cells)
        quantized = self.quantize.embedding(codes).transpose(1, 2).reshape(low_quality.shape)
        if adain:
            # carries the input's colour and lighting over to the codebook's features
            quantized = _adaptive_instance_norm(quantized, low_quality)

        fuse_at = {self.generator.taps[size]: size for size in self.config.connect_list}
        x = quantized
        for index, block in enumerate(self.generator.blocks):
            x = block(x)
            if fidelity > 0 and index in fuse_at:
                size = fuse_at[index]
                x = self.fuse_convs_dict[str(size)](encoded[size], x, fidelity)
        return x


# --- reading the configuration back from a checkpoint ---------------------------------------

_REQUIRED = (
    "position_emb",
    "feat_emb.weight",
    "quantize.embedding.weight",
    "encoder.blocks.0.weight",
    "idx_pred_layer.1.weight",
)
_BLOCK_INDEX = re.compile(r"encoder\.blocks\.(\d+)\.")
_LAYER_INDEX = re.compile(r"ft_layers\.(\d+)\.")
_FUSE_SIZE = re.compile(r"fuse_convs_dict\.(\d+)\.")


def codeformer_config_from_state_dict(state: Mapping[str, torch.Tensor]) -> CodeFormerConfig:
    """The :class:`CodeFormerConfig` whose network has ``state``'s tensor shapes.

    ``n_head`` is not recorded in the weights; it is taken as ``dim_embd // 64`` (8 for the
    released network). Raises CheckpointError when ``state`` is not a CodeFormer's.
    """
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise CheckpointError(f"not a CodeFormer checkpoint: missing {', '.join(missing)}")
    nf = int(state["encoder.blocks.0.weight"].shape[0])
    # Walk the encoder: levels are separated by downsampling blocks (a lone ``conv``).
    kinds: list[tuple[str, int]] = []
    count = 1 + max(int(m.group(1)) for key in state if (m := _BLOCK_INDEX.match(key)))
    for index in range(1, count):
        prefix = f"encoder.blocks.{index}."
        if prefix + "conv1.weight" in state:
            kinds.append(("res", int(state[prefix + "conv1.weight"].shape[0])))
        elif prefix + "q.weight" in state:
            kinds.append(("attn", 0))
        elif prefix + "conv.weight" in state:
            kinds.append(("down", 0))
    levels: list[list[tuple[str, int]]] = [[]]
    for kind in kinds:
        if kind[0] == "down":
            levels.append([])
        else:
            levels[-1].append(kind)
    # the last level also holds the middle blocks: residual, attention, residual
    if len(levels[-1]) < 3 or [k for k, _ in levels[-1][-3:]] != ["res", "attn", "res"]:
        raise CheckpointError("not a CodeFormer checkpoint: unexpected encoder layout")
    levels[-1] = levels[-1][:-3]
    res_blocks = sum(1 for kind, _ in levels[0] if kind == "res")
    ch_mult = []
    for level in levels:
        widths = [width for kind, width in level if kind == "res"]
        if len(widths) != res_blocks or not widths or widths[-1] % nf:
            raise CheckpointError("not a CodeFormer checkpoint: uneven encoder levels")
        ch_mult.append(widths[-1] // nf)
    latent_size, dim_embd = (int(n) for n in state["position_emb"].shape)
    side = round(latent_size**0.5)
    image_size = side * 2 ** (len(levels) - 1)
    attn = tuple(
        image_size >> index
        for index, level in enumerate(levels)
        if any(kind == "attn" for kind, _ in level)
    )
    codebook_size, emb_dim = (int(n) for n in state["quantize.embedding.weight"].shape)
    layers = {int(m.group(1)) for key in state if (m := _LAYER_INDEX.match(key))}
    fuse = sorted({int(m.group(1)) for key in state if (m := _FUSE_SIZE.match(key))})
    try:
        return CodeFormerConfig(
            dim_embd=dim_embd,
            n_head=max(1, dim_embd // HEAD_DIM),
            n_layers=len(layers),
            codebook_size=codebook_size,
            latent_size=latent_size,
            connect_list=tuple(fuse),
            nf=nf,
            ch_mult=tuple(ch_mult),
            res_blocks=res_blocks,
            attn_resolutions=attn,
            emb_dim=emb_dim,
        )
    except ValueError as error:
        raise CheckpointError(f"not a CodeFormer checkpoint: {error}") from None


def build_codeformer(state: Mapping[str, torch.Tensor]) -> CodeFormer:
    """A CodeFormer sized from ``state`` with its weights (CPU, float32, eval mode).

    Raises CheckpointError naming missing or unexpected keys, or tensors of the wrong shape.
    """
    config = codeformer_config_from_state_dict(state)
    with torch.device("meta"):
        network = CodeFormer.from_config(config)
    return load_checked(network, state, "CodeFormer")
