"""The declarative model registry: every model Lipsync knows, its files, hashes and licence.

Nothing here touches the disk or the network. The store (``store.py``) installs and verifies
files against these entries; the engines ask the store for paths by model name.

Hashes are full SHA-256 digests of the released files, taken from public sources that agree
with each other (see the comments on each entry and docs/models.md). A file whose hash is
unknown (``sha256=None``) is installable only with ``trust=True`` (``--trust``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import UnknownModelError

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelFile:
    """One file of a model.

    ``sha256``: the full lowercase hex digest of the released file, or None when no trustworthy
    hash is known. ``size``: its length in bytes (None when unknown). ``accepted_sha256``: other
    builds of the same weights that are equally acceptable (e.g. a re-export), whose sizes may
    differ from ``size``. ``urls``: where ``install`` may download it from when the user names
    no source; empty when the file must be fetched by hand.
    """

    filename: str
    sha256: str | None
    size: int | None
    urls: tuple[str, ...] = ()
    accepted_sha256: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if "/" in self.filename or "\\" in self.filename or self.filename.startswith("."):
            raise ValueError(f"model file name must be a plain file name, got {self.filename!r}")
        for digest in (self.sha256, *self.accepted_sha256):
            if digest is not None and not _SHA256_HEX.match(digest):
                raise ValueError(f"not a lowercase SHA-256 hex digest: {digest!r}")

    @property
    def known_sha256(self) -> tuple[str, ...]:
        """Every digest this file may have, the released one first."""
        primary = (self.sha256,) if self.sha256 is not None else ()
        return primary + self.accepted_sha256


@dataclass(frozen=True)
class ModelSpec:
    """A model: what it is for, where a user gets it, under which licence, and its files.

    ``task``: "lipsync", "face-detection", "face-enhancement", "face-parsing", "sync-expert", ….
    ``engine``: the sync engine that uses it, if any. ``generated``: the file is produced
    locally (random weights for tests) rather than obtained, so it has no fixed hash;
    ``generator`` then names the function that writes it, as "module:function" with the
    signature ``(path: Path, seed: int) -> Path``.
    """

    name: str
    task: str
    description: str
    license: str
    obtain: str
    files: tuple[ModelFile, ...]
    engine: str | None = None
    generated: bool = False
    generator: str | None = None

    def __post_init__(self) -> None:
        if not self.files:
            raise ValueError(f"model {self.name} lists no files")
        if self.generated and (self.generator is None or ":" not in self.generator):
            raise ValueError(f"generated model {self.name} needs a generator 'module:function'")

    @property
    def primary(self) -> ModelFile:
        """The file whose path ``ModelStore.path`` returns (the first one)."""
        return self.files[0]

    @property
    def downloadable(self) -> bool:
        """True when every file has a registry URL, so ``install`` needs no source."""
        return all(f.urls for f in self.files)


_WAV2LIP_LICENSE = "personal/research/non-commercial only (Wav2Lip README; trained on LRS2)"
_WAV2LIP_OBTAIN = "https://github.com/Rudrabha/Wav2Lip#getting-the-weights"

# The released checkpoints (torch.save of {"state_dict", "optimizer", "global_step",
# "global_epoch"}). Their official links are SharePoint/Google Drive pages, not direct files,
# so no URL is registered: the user downloads the file and installs it with --from.
#
# wav2lip_gan.pth, SHA-256 ca9ab7b7…, 435801865 bytes. The same digest and size appear in the
# Git LFS pointers of many independent Hugging Face mirrors (Nekochu/Wav2Lip commit fb925b0,
# steinhaug/cache-repository commit ba6c35b "Adding Wav2Lip models", numz/wav2lip_studio,
# Non-playing-Character/Wave2lip, AOLCDROM/WAV2LIP-HQ-Updated-MIRROR, spaces
# capstonedubtrack/Indiclanguagedubbing, …) and is hard-coded by several projects' download
# scripts that verify it.
#
# wav2lip.pth, SHA-256 b78b681b…, 435807851 bytes: the LFS pointers of Nekochu/Wav2Lip (same
# commit), steinhaug/cache-repository, Ftfyhh/wav2lip commit eb58fd0 (which cites the README's
# weights section), yuvraj108c/vsgan, ermu2001/ChatAnything (SadTalker's copy), spaces
# jerryyan21/wav2lip_demo_test; the SadTalker v0.0.2 GitHub release asset wav2lip.pth has the
# same Content-Length.
#
# Not accepted: camenduru/Wav2Lip's checkpoints/wav2lip.pth (b6c6630c…, 167 kB) is not a
# checkpoint. The README's newer Google Drive files Wav2Lip-SD-GAN.pt / Wav2Lip-SD-NOGAN.pt
# (TorchScript, ~139 MB) have no published hash that could be found; they install with --trust.
_WAV2LIP_GAN_SHA256 = "ca9ab7b7b812c0e80a6e70a5977c545a1e8a365a6c49d5e533023c034d7ac3d8"
_WAV2LIP_SHA256 = "b78b681b68ad9fe6c6fb1debc6ff43ad05834a8af8a62ffc4167b7b34ef63c37"

_GFPGAN_RELEASES = "https://github.com/TencentARC/GFPGAN/releases"
_GFPGAN_LICENSE = "Apache-2.0 (GFPGAN; trained on FFHQ)"

# GFPGANv1.3.pth and GFPGANv1.4.pth, release assets of TencentARC/GFPGAN (tag v1.3.0; v1.4 is
# also attached to v1.3.4). Both {"params_ema": state_dict} of GFPGANv1Clean, 348632874 bytes.
# v1.3 c953a88f…: the SHA-256 table of clibdev/GFPGAN-onnxruntime-demo's README, the
# sha256sums of an AUR PKGBUILD (python-gfpgan / gfpgan-model), the Gourieff/ReActor model
# list, the hash-prefixed name "GFPGANv1.3-c953a88f.pth" used by mirrors and several
# download scripts that verify the asset; cmdr2/stable-diffusion-ui checks the same size.
# v1.4 e2cd4703…: the same README table, ReActor's list, download manifests that record
# "size": 348632874 next to the digest, and provenance notes that re-hashed the release asset.
_GFPGAN_V13_SHA256 = "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70"
_GFPGAN_V14_SHA256 = "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad"
_GFPGAN_SIZE = 348_632_874

# codeformer.pth, release asset of sczhou/CodeFormer tag v0.1.0 ({"params_ema": …}):
# SHA-256 1009e537…, 376637898 bytes in ReActor's list (as codeformer-v0.1.0.pth), download
# scripts that pin both size and digest of the GitHub asset, and re-hashes of it.
_CODEFORMER_SHA256 = "1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7"
_CODEFORMER_SIZE = 376_637_898

# BiSeNet face parsing (19 CelebAMask-HQ classes). zllrunning/face-parsing.PyTorch's
# 79999_iter.pth (Google Drive; used by Wav2Lip-HQ and MuseTalk) and facexlib's
# parsing_bisenet.pth (GitHub release v0.2.0) are the same bytes: SHA-256 468e13ca…,
# 53289463 bytes in MuseTalk's Hugging Face mirror pins (ManyOtherFunctions/face-parse-bisent),
# model manifests that list parsing_bisenet.pth, and clibdev/face-parsing.PyTorch's table.
_FACE_PARSING_SHA256 = "468e13ca13a9b43cc0881a9f99083a430e9c0a38abd935431d1c28ee94b26567"
_FACE_PARSING_SIZE = 53_289_463

_ENHANCEMENT_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="gfpgan_v1.4",
        task="face-enhancement",
        description="GFPGAN v1.4 face restoration (512², StyleGAN2 prior): more natural "
        "detail than v1.3.",
        license=_GFPGAN_LICENSE,
        obtain=f"{_GFPGAN_RELEASES}/tag/v1.3.0 (asset GFPGANv1.4.pth)",
        files=(
            ModelFile(
                "GFPGANv1.4.pth",
                _GFPGAN_V14_SHA256,
                _GFPGAN_SIZE,
                urls=(f"{_GFPGAN_RELEASES}/download/v1.3.0/GFPGANv1.4.pth",),
            ),
        ),
    ),
    ModelSpec(
        name="gfpgan_v1.3",
        task="face-enhancement",
        description="GFPGAN v1.3 face restoration (512², StyleGAN2 prior): smoother, "
        "stronger restoration than v1.4.",
        license=_GFPGAN_LICENSE,
        obtain=f"{_GFPGAN_RELEASES}/tag/v1.3.0 (asset GFPGANv1.3.pth)",
        files=(
            ModelFile(
                "GFPGANv1.3.pth",
                _GFPGAN_V13_SHA256,
                _GFPGAN_SIZE,
                urls=(f"{_GFPGAN_RELEASES}/download/v1.3.0/GFPGANv1.3.pth",),
            ),
        ),
    ),
    ModelSpec(
        name="codeformer",
        task="face-enhancement",
        description="CodeFormer face restoration (512², codebook prior, adjustable fidelity).",
        license="S-Lab License 1.0: non-commercial use only (CodeFormer)",
        # Not downloaded automatically: the user fetches it, having read its licence.
        obtain="https://github.com/sczhou/CodeFormer/releases/tag/v0.1.0 (asset codeformer.pth)",
        files=(ModelFile("codeformer.pth", _CODEFORMER_SHA256, _CODEFORMER_SIZE),),
    ),
    ModelSpec(
        name="face_parsing",
        task="face-parsing",
        description="BiSeNet face parsing (19 CelebAMask-HQ classes): masks skin, lips and "
        "mouth for pasting enhanced faces (79999_iter.pth = facexlib parsing_bisenet.pth).",
        license="MIT (face-parsing.PyTorch / facexlib code; weights trained on CelebAMask-HQ, "
        "whose images are for non-commercial research)",
        obtain="https://github.com/xinntao/facexlib/releases/tag/v0.2.0 (asset "
        "parsing_bisenet.pth), or 79999_iter.pth from "
        "https://github.com/zllrunning/face-parsing.PyTorch#demo",
        files=(
            ModelFile(
                "79999_iter.pth",
                _FACE_PARSING_SHA256,
                _FACE_PARSING_SIZE,
                urls=(
                    "https://github.com/xinntao/facexlib/releases/download/v0.2.0/"
                    "parsing_bisenet.pth",
                ),
            ),
        ),
    ),
    ModelSpec(
        name="gfpgan_unittest",
        task="face-enhancement",
        description="A tiny random-weight GFPGAN in the released format, made locally; for "
        "tests and demos of the enhancement stage (the face is noise).",
        license="MIT (generated by Lipsync; no trained weights)",
        obtain="generated locally: `lipsync models install gfpgan_unittest`",
        files=(ModelFile("gfpgan_unittest.pth", None, None),),
        generated=True,
        generator="lipsync.enhance.testing:write_random_gfpgan",
    ),
    ModelSpec(
        name="codeformer_unittest",
        task="face-enhancement",
        description="A tiny random-weight CodeFormer in the released format, made locally; "
        "for tests and demos of the enhancement stage (the face is noise).",
        license="MIT (generated by Lipsync; no trained weights)",
        obtain="generated locally: `lipsync models install codeformer_unittest`",
        files=(ModelFile("codeformer_unittest.pth", None, None),),
        generated=True,
        generator="lipsync.enhance.testing:write_random_codeformer",
    ),
)

_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="wav2lip_gan",
        task="lipsync",
        description="Wav2Lip generator trained with a visual-quality GAN: sharper mouths, "
        "slightly weaker sync.",
        license=_WAV2LIP_LICENSE,
        obtain=_WAV2LIP_OBTAIN + ', row "Wav2Lip + GAN"',
        files=(ModelFile("wav2lip_gan.pth", _WAV2LIP_GAN_SHA256, 435_801_865),),
        engine="wav2lip_gan",
    ),
    ModelSpec(
        name="wav2lip",
        task="lipsync",
        description="Wav2Lip generator, the reference network: the most accurate sync, "
        "blurrier mouths.",
        license=_WAV2LIP_LICENSE,
        obtain=_WAV2LIP_OBTAIN + ', row "Wav2Lip"',
        files=(ModelFile("wav2lip.pth", _WAV2LIP_SHA256, 435_807_851),),
        engine="wav2lip",
    ),
    ModelSpec(
        name="wav2lip_unittest",
        task="lipsync",
        description="A tiny random-weight Wav2Lip in the released checkpoint format, made "
        "locally; for tests and demos of the pipeline (the mouth is noise).",
        license="MIT (generated by Lipsync; no trained weights)",
        obtain="generated locally: `lipsync models install wav2lip_unittest`",
        files=(ModelFile("wav2lip_unittest.pth", None, None),),
        engine="wav2lip_unittest",
        generated=True,
        generator="lipsync.engines.wav2lip.testing:write_random_checkpoint",
    ),
    *_ENHANCEMENT_SPECS,
    # Room for later entries, added together with the code that uses them (each with its full
    # SHA-256 and size from a source that can be cited): the expert lip-sync discriminator
    # (task "sync-expert", lipsync_expert.pth, same licence as Wav2Lip) and GPEN
    # (non-commercial).
)

REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in _SPECS}


def get_spec(name: str) -> ModelSpec:
    """Return the registry entry called ``name``; raise UnknownModelError listing known names."""
    spec = REGISTRY.get(name)
    if spec is None:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownModelError(f"unknown model {name!r}; known models: {known}")
    return spec


def model_names() -> list[str]:
    """Every registered model name, sorted."""
    return sorted(REGISTRY)
