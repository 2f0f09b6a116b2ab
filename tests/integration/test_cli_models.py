"""``lipsync models …`` through click's runner, with a store in a temporary $LIPSYNC_HOME."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from lipsync.cli.models import models_group
from lipsync.errors import LipsyncError
from lipsync.models import registry
from lipsync.models.registry import ModelFile, ModelSpec

DATA = os.urandom(200_000)


class _ErrorsAsOneLine(click.Group):
    """Mimics the top-level CLI: a LipsyncError becomes one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LipsyncError as error:
            click.echo(f"lipsync: error: {error.message}", err=True)
            ctx.exit(error.exit_code)


@click.group(cls=_ErrorsAsOneLine)
def fake_cli() -> None:
    pass


fake_cli.add_command(models_group)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIPSYNC_HOME", str(tmp_path / "home"))
    for name, sha256, size in (
        ("tiny", hashlib.sha256(DATA).hexdigest(), len(DATA)),
        ("loose", None, None),
    ):
        spec = ModelSpec(
            name=name,
            task="lipsync",
            description="test model",
            license="test-only",
            obtain="the test suite",
            files=(ModelFile(f"{name}.pth", sha256, size),),
        )
        monkeypatch.setitem(registry.REGISTRY, name, spec)
    return tmp_path / "home"


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "downloaded.pth"
    path.write_bytes(DATA)
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(fake_cli, ["models", *args])


def test_list_json_reports_install_state(home: Path, weights: Path) -> None:
    before = {m["name"]: m for m in json.loads(run("list", "--json").stdout)}
    assert {"wav2lip", "wav2lip_gan", "wav2lip_unittest", "tiny"} <= set(before)
    assert before["wav2lip_gan"]["installed"] is False
    assert before["wav2lip_gan"]["files"][0]["sha256"].startswith("ca9ab7b7b812")
    assert "non-commercial" in before["wav2lip_gan"]["license"]

    assert run("install", "tiny", "--from", str(weights)).exit_code == 0
    after = {m["name"]: m for m in json.loads(run("list", "--json").stdout)}
    assert after["tiny"]["installed"] is True
    assert after["tiny"]["size"] == len(DATA)
    assert after["tiny"]["path"] == str(home / "models" / "tiny" / "tiny.pth")
    assert after["tiny"]["sha256"] == hashlib.sha256(DATA).hexdigest()


def test_list_table(home: Path) -> None:
    result = run("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TASK", "INSTALLED", "SIZE", "LICENCE"]
    gan = next(line for line in lines if line.startswith("wav2lip_gan "))
    assert " no " in gan and "435.8 MB" in gan and "non-commercial" in gan


def test_install_prints_path_and_hash(home: Path, weights: Path) -> None:
    result = run("install", "tiny", "--from", str(weights))
    assert result.exit_code == 0, result.output
    path, digest = result.stdout.splitlines()
    assert path == str(home / "models" / "tiny" / "tiny.pth")
    assert digest == f"sha256 {hashlib.sha256(DATA).hexdigest()}"


def test_unknown_hash_is_refused_without_trust(home: Path, weights: Path) -> None:
    refused = run("install", "loose", "--from", str(weights))
    assert refused.exit_code == 3
    assert refused.stderr.startswith("lipsync: error: loose.pth for loose: its SHA-256 (")
    assert "pass --trust" in refused.stderr
    assert run("path", "loose").exit_code == 3

    trusted = run("install", "loose", "--from", str(weights), "--trust")
    assert trusted.exit_code == 0
    assert "installed with --trust" in trusted.stderr
    assert run("path", "loose").stdout == str(home / "models" / "loose" / "loose.pth") + "\n"


def test_path_prints_only_the_path(home: Path, weights: Path) -> None:
    run("install", "tiny", "--from", str(weights))
    result = run("path", "tiny")
    assert result.exit_code == 0
    assert result.stdout == str(home / "models" / "tiny" / "tiny.pth") + "\n"


def test_path_of_missing_model_gives_the_install_command(home: Path) -> None:
    result = run("path", "wav2lip_gan")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert (
        "lipsync: error: wav2lip_gan is not installed: run "
        "`lipsync models install wav2lip_gan --from PATH_OR_URL` (get it from "
    ) in result.stderr


def test_unknown_model_name(home: Path) -> None:
    result = run("path", "nope")
    assert result.exit_code == 3
    assert "unknown model 'nope'; known models:" in result.stderr


def test_verify_passes_then_fails_after_tampering(home: Path, weights: Path) -> None:
    assert run("verify").stdout == "no models installed\n"
    run("install", "tiny", "--from", str(weights))
    ok = run("verify")
    assert ok.exit_code == 0
    assert ok.stdout.startswith("ok     tiny: ")

    installed = home / "models" / "tiny" / "tiny.pth"
    installed.write_bytes(DATA[::-1])
    failed = run("verify", "tiny")
    assert failed.exit_code == 3
    assert failed.stdout.startswith("FAILED tiny: tiny.pth changed since it was installed")
    assert "1 of 1 models failed verification: tiny" in failed.stderr


def test_verify_a_model_that_is_not_installed(home: Path) -> None:
    result = run("verify", "wav2lip")
    assert result.exit_code == 3
    assert "wav2lip is not installed" in result.stderr


def test_remove(home: Path, weights: Path) -> None:
    run("install", "tiny", "--from", str(weights))
    result = run("remove", "tiny")
    assert result.exit_code == 0
    assert result.stdout == "removed tiny\n"
    assert run("path", "tiny").exit_code == 3
    assert run("remove", "tiny").exit_code == 3


def test_wrong_file_is_refused(home: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(DATA[:-1] + b"\x00")
    result = run("install", "tiny", "--from", str(wrong))
    assert result.exit_code == 3
    assert "does not match: expected SHA-256" in result.stderr
    assert not (home / "models" / "tiny" / "tiny.pth").exists()


def test_install_generated_test_model(home: Path) -> None:
    pytest.importorskip("lipsync.engines.wav2lip.testing")
    result = run("install", "wav2lip_unittest")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == str(
        home / "models" / "wav2lip_unittest" / "wav2lip_unittest.pth"
    )
    assert run("verify", "wav2lip_unittest").exit_code == 0


def test_group_is_registered_in_the_main_cli() -> None:
    main = pytest.importorskip("lipsync.cli")
    assert main.cli.commands["models"] is models_group


def test_list_shows_the_face_enhancement_licences(home: Path) -> None:
    lines = run("list").stdout.splitlines()
    rows = {line.split()[0]: line for line in lines[1:]}
    assert "non-commercial" in rows["codeformer"] and "S-Lab" in rows["codeformer"]
    assert "Apache-2.0" in rows["gfpgan_v1.4"] and "Apache-2.0" in rows["gfpgan_v1.3"]
    assert "348.6 MB" in rows["gfpgan_v1.4"] and "376.6 MB" in rows["codeformer"]
    assert "face-parsing" in rows["face_parsing"]
    listed = {m["name"]: m for m in json.loads(run("list", "--json").stdout)}
    assert "non-commercial" in listed["codeformer"]["license"]
    assert listed["gfpgan_v1.4"]["task"] == "face-enhancement"
    assert listed["gfpgan_v1.4"]["files"][0]["sha256"].startswith("e2cd4703ab14")
    assert listed["gfpgan_unittest"]["generated"] is True


def test_install_generated_face_restorers(home: Path) -> None:
    for name in ("gfpgan_unittest", "codeformer_unittest"):
        result = run("install", name)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[0] == str(home / "models" / name / f"{name}.pth")
        assert run("verify", name).exit_code == 0
