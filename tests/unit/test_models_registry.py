"""The registry: pinned hashes of the released Wav2Lip checkpoints and well-formed entries."""

from __future__ import annotations

import importlib
import re

import pytest

from lipsync.errors import ModelError, UnknownModelError
from lipsync.models.registry import REGISTRY, ModelFile, ModelSpec, get_spec, model_names
from lipsync.models.store import install_hint


def test_released_wav2lip_checkpoints_are_pinned() -> None:
    gan = get_spec("wav2lip_gan").primary
    assert gan.filename == "wav2lip_gan.pth"
    assert gan.sha256 == "ca9ab7b7b812c0e80a6e70a5977c545a1e8a365a6c49d5e533023c034d7ac3d8"
    assert gan.size == 435_801_865
    plain = get_spec("wav2lip").primary
    assert plain.filename == "wav2lip.pth"
    assert plain.sha256 == "b78b681b68ad9fe6c6fb1debc6ff43ad05834a8af8a62ffc4167b7b34ef63c37"
    assert plain.size == 435_807_851


def test_entries_are_well_formed() -> None:
    for name, spec in REGISTRY.items():
        assert spec.name == name
        assert re.fullmatch(r"[a-z0-9][a-z0-9_.]*", name)
        assert spec.task and spec.description and spec.license and spec.obtain
        for file in spec.files:
            if spec.generated:
                assert file.sha256 is None  # the store records the generated file's hash
            else:
                assert file.sha256 is not None, f"{name} has no hash"
                assert file.size is not None and file.size > 0


def test_licences_of_wav2lip_say_non_commercial() -> None:
    for name in ("wav2lip", "wav2lip_gan"):
        spec = get_spec(name)
        assert "non-commercial" in spec.license
        assert "LRS2" in spec.license
        assert spec.engine == name
        assert not spec.downloadable  # nothing is fetched without a source the user names


def test_test_model_is_generated() -> None:
    spec = get_spec("wav2lip_unittest")
    assert spec.generated
    assert spec.engine == "wav2lip_unittest"


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(UnknownModelError) as caught:
        get_spec("wav2lip_hd")
    message = str(caught.value)
    assert "'wav2lip_hd'" in message
    for name in model_names():
        assert name in message
    assert isinstance(caught.value, ModelError)


@pytest.mark.parametrize("bad", ["ABC", "0" * 63, "g" * 64, "C" * 64])
def test_model_file_rejects_malformed_hashes(bad: str) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        ModelFile("x.pth", bad, 1)


@pytest.mark.parametrize("bad", ["../x.pth", "dir/x.pth", ".hidden", "a\\b.pth"])
def test_model_file_names_stay_inside_the_model_folder(bad: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        ModelFile(bad, None, None)


def test_known_hashes_put_the_released_one_first() -> None:
    file = ModelFile("x.pth", "a" * 64, 1, accepted_sha256=("b" * 64,))
    assert file.known_sha256 == ("a" * 64, "b" * 64)
    assert ModelFile("y.pth", None, None).known_sha256 == ()


def test_install_hint_for_a_downloadable_model_names_the_url() -> None:
    spec = ModelSpec(
        name="fetchable",
        task="face-detection",
        description="d",
        license="Apache-2.0",
        obtain="o",
        files=(ModelFile("f.bin", "a" * 64, 1, urls=("https://example.org/f.bin",)),),
    )
    assert install_hint(spec) == (
        "fetchable is not installed: run `lipsync models install fetchable` "
        "(downloads it from https://example.org/f.bin)"
    )


def test_face_restorers_are_pinned() -> None:
    released = {
        "gfpgan_v1.4": (
            "GFPGANv1.4.pth",
            "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
            348_632_874,
        ),
        "gfpgan_v1.3": (
            "GFPGANv1.3.pth",
            "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70",
            348_632_874,
        ),
        "codeformer": (
            "codeformer.pth",
            "1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7",
            376_637_898,
        ),
        "face_parsing": (
            "79999_iter.pth",
            "468e13ca13a9b43cc0881a9f99083a430e9c0a38abd935431d1c28ee94b26567",
            53_289_463,
        ),
    }
    for name, (filename, sha256, size) in released.items():
        file = get_spec(name).primary
        assert (file.filename, file.sha256, file.size) == (filename, sha256, size)
    assert get_spec("gfpgan_v1.4").task == get_spec("codeformer").task == "face-enhancement"
    assert get_spec("face_parsing").task == "face-parsing"


def test_face_restorer_licences_and_sources() -> None:
    for name in ("gfpgan_v1.3", "gfpgan_v1.4"):
        spec = get_spec(name)
        assert spec.license.startswith("Apache-2.0")
        # GitHub release assets of TencentARC/GFPGAN, fetched only when the user installs
        assert spec.primary.urls[0].startswith(
            "https://github.com/TencentARC/GFPGAN/releases/download/"
        )
        assert spec.primary.urls[0].endswith("/" + spec.primary.filename)
    codeformer = get_spec("codeformer")
    assert "non-commercial" in codeformer.license and "S-Lab" in codeformer.license
    assert not codeformer.downloadable  # the user fetches it, having seen its licence
    assert "sczhou/CodeFormer/releases" in codeformer.obtain
    parsing = get_spec("face_parsing")
    assert parsing.primary.urls == (
        "https://github.com/xinntao/facexlib/releases/download/v0.2.0/parsing_bisenet.pth",
    )
    assert "79999_iter.pth" in parsing.obtain and "parsing_bisenet.pth" in parsing.obtain


def test_every_generated_model_names_a_writer_that_exists() -> None:
    generated = [spec for spec in REGISTRY.values() if spec.generated]
    assert {s.name for s in generated} >= {
        "wav2lip_unittest",
        "gfpgan_unittest",
        "codeformer_unittest",
    }
    for spec in generated:
        assert spec.generator is not None
        module_name, function_name = spec.generator.split(":")
        assert callable(getattr(importlib.import_module(module_name), function_name))


def test_a_generated_model_without_a_writer_is_refused() -> None:
    with pytest.raises(ValueError, match="generator"):
        ModelSpec(
            name="made",
            task="lipsync",
            description="d",
            license="MIT",
            obtain="o",
            files=(ModelFile("made.pth", None, None),),
            generated=True,
        )
