"""ModelStore: verified installs from local files, trust, verify, path hints, remove, locking."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pytest

from lipsync.errors import (
    Cancelled,
    ChecksumError,
    DownloadError,
    InputError,
    ModelError,
    ModelNotInstalledError,
    UnknownModelError,
)
from lipsync.models import registry
from lipsync.models.registry import ModelFile, ModelSpec
from lipsync.models.store import ModelStore, default_home
from lipsync.progress import CancelToken, ProgressEvent

GOOD = os.urandom(3_000_000)


def _spec(name: str, sha256: str | None, size: int | None) -> ModelSpec:
    return ModelSpec(
        name=name,
        task="lipsync",
        description="a test model",
        license="test-only",
        obtain="the test suite",
        files=(ModelFile(f"{name}.pth", sha256, size),),
    )


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered model whose released file is GOOD."""
    monkeypatch.setitem(
        registry.REGISTRY, "tiny", _spec("tiny", hashlib.sha256(GOOD).hexdigest(), len(GOOD))
    )
    return "tiny"


@pytest.fixture
def unhashed(monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered model whose hash nobody knows."""
    monkeypatch.setitem(registry.REGISTRY, "unhashed", _spec("unhashed", None, None))
    return "unhashed"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_install_from_local_file(tmp_path: Path, tiny: str) -> None:
    source = _write(tmp_path / "download.pth", GOOD)
    store = ModelStore(tmp_path / "home")
    events: list[ProgressEvent] = []
    installed = store.install(tiny, source, progress=events.append)

    expected = tmp_path / "home" / "models" / "tiny" / "tiny.pth"
    assert installed.path == expected == store.path(tiny)
    assert expected.read_bytes() == GOOD
    assert installed.sha256 == hashlib.sha256(GOOD).hexdigest()
    assert not installed.trusted
    assert store.is_installed(tiny)
    assert store.verify(tiny).ok
    assert source.read_bytes() == GOOD  # copied, not moved
    copies = [e for e in events if e.stage == "copy"]
    assert copies[-1].done == copies[-1].total == len(GOOD)
    assert {e.unit for e in events} == {"bytes"}

    manifest = json.loads((expected.parent / "manifest.json").read_text())
    (entry,) = manifest["files"]
    assert entry["sha256"] == installed.sha256
    assert entry["size"] == len(GOOD)
    assert entry["source"] == str(source.resolve())
    assert entry["trusted"] is False
    assert manifest["installed_at"]
    assert sorted(p.name for p in expected.parent.iterdir()) == ["manifest.json", "tiny.pth"]


def test_install_from_a_folder_holding_the_file(tmp_path: Path, tiny: str) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    _write(folder / "tiny.pth", GOOD)
    assert ModelStore(tmp_path / "home").install(tiny, folder).path.read_bytes() == GOOD


def test_wrong_bytes_are_refused_and_previous_install_survives(tmp_path: Path, tiny: str) -> None:
    store = ModelStore(tmp_path / "home")
    store.install(tiny, _write(tmp_path / "good.pth", GOOD))
    bad = bytearray(GOOD)
    bad[1234] ^= 0xFF
    with pytest.raises(ChecksumError) as caught:
        store.install(tiny, _write(tmp_path / "bad.pth", bytes(bad)))
    message = str(caught.value)
    assert hashlib.sha256(GOOD).hexdigest()[:12] in message
    assert hashlib.sha256(bytes(bad)).hexdigest()[:12] in message
    assert store.path(tiny).read_bytes() == GOOD
    assert store.verify(tiny).ok
    assert not list(store.model_dir(tiny).glob("*.part"))


def test_wrong_size_is_refused_before_copying(tmp_path: Path, tiny: str) -> None:
    store = ModelStore(tmp_path / "home")
    events: list[ProgressEvent] = []
    with pytest.raises(ChecksumError, match=f"is 10 bytes, expected {len(GOOD)}"):
        store.install(tiny, _write(tmp_path / "short.pth", GOOD[:10]), progress=events.append)
    assert events == []
    assert not store.is_installed(tiny)
    assert list(store.model_dir(tiny).iterdir()) == []


def test_unknown_hash_needs_trust_and_is_then_recorded(tmp_path: Path, unhashed: str) -> None:
    store = ModelStore(tmp_path / "home")
    source = _write(tmp_path / "mine.pth", GOOD)
    digest = hashlib.sha256(GOOD).hexdigest()
    with pytest.raises(ChecksumError, match="pass --trust") as caught:
        store.install(unhashed, source)
    assert digest[:12] in str(caught.value)
    assert not store.is_installed(unhashed)

    installed = store.install(unhashed, source, trust=True)
    assert installed.trusted
    assert installed.sha256 == digest
    assert {s.spec.name: s.trusted for s in store.list()}[unhashed] is True
    entry = json.loads((installed.path.parent / "manifest.json").read_text())["files"][0]
    assert entry == {
        "filename": "unhashed.pth",
        "size": len(GOOD),
        "sha256": digest,
        "source": str(source.resolve()),
        "trusted": True,
    }
    assert store.verify(unhashed).ok

    # A later change of the same length is caught by the recorded hash.
    changed = bytearray(GOOD)
    changed[-1] ^= 0x01
    installed.path.write_bytes(bytes(changed))
    result = store.verify(unhashed)
    assert not result.ok
    assert "changed since it was installed" in result.message


def test_trust_also_admits_a_different_build_of_a_known_model(tmp_path: Path, tiny: str) -> None:
    other = os.urandom(1000)
    installed = ModelStore(tmp_path).install(tiny, _write(tmp_path / "x.pth", other), trust=True)
    assert installed.trusted
    assert installed.path.read_bytes() == other


def test_trust_is_not_recorded_when_the_hash_is_known(tmp_path: Path, tiny: str) -> None:
    installed = ModelStore(tmp_path).install(tiny, _write(tmp_path / "g.pth", GOOD), trust=True)
    assert not installed.trusted


def test_accepted_variant_hash_installs_untrusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variant = os.urandom(5000)
    spec = ModelSpec(
        name="multi",
        task="lipsync",
        description="d",
        license="l",
        obtain="o",
        files=(
            ModelFile(
                "multi.pth",
                hashlib.sha256(GOOD).hexdigest(),
                len(GOOD),
                accepted_sha256=(hashlib.sha256(variant).hexdigest(),),
            ),
        ),
    )
    monkeypatch.setitem(registry.REGISTRY, "multi", spec)
    installed = ModelStore(tmp_path).install("multi", _write(tmp_path / "v.pth", variant))
    assert not installed.trusted


def test_truncated_install_is_not_installed(tmp_path: Path, tiny: str) -> None:
    store = ModelStore(tmp_path)
    installed = store.install(tiny, _write(tmp_path / "g.pth", GOOD))
    installed.path.write_bytes(GOOD[:100])
    assert not store.is_installed(tiny)
    with pytest.raises(ModelNotInstalledError):
        store.path(tiny)
    result = store.verify(tiny)
    assert not result.ok
    assert f"100 bytes, {len(GOOD)} were installed" in result.message


def test_path_of_missing_model_gives_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalledError) as caught:
        ModelStore(tmp_path).path("wav2lip_gan")
    message = str(caught.value)
    assert message.startswith(
        "wav2lip_gan is not installed: run "
        "`lipsync models install wav2lip_gan --from PATH_OR_URL` (get it from "
    )
    assert "github.com/Rudrabha/Wav2Lip" in message
    assert caught.value.exit_code == 3


def test_generated_model_hint_needs_no_source(tmp_path: Path) -> None:
    with pytest.raises(ModelNotInstalledError, match=r"`lipsync models install wav2lip_unittest`$"):
        ModelStore(tmp_path).path("wav2lip_unittest")


def test_unknown_model_lists_known_names(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match=r"known models: .*wav2lip_gan"):
        ModelStore(tmp_path).install("nope", tmp_path)


def test_missing_source_file_is_an_input_error(tmp_path: Path, tiny: str) -> None:
    with pytest.raises(InputError, match="model file not found"):
        ModelStore(tmp_path).install(tiny, tmp_path / "absent.pth")


def test_no_source_for_a_model_without_urls_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot be downloaded automatically: get it from"):
        ModelStore(tmp_path).install("wav2lip_gan")


def test_remove(tmp_path: Path, tiny: str) -> None:
    store = ModelStore(tmp_path)
    store.install(tiny, _write(tmp_path / "g.pth", GOOD))
    store.remove(tiny)
    assert not store.is_installed(tiny)
    assert not store.model_dir(tiny).exists()
    with pytest.raises(ModelNotInstalledError):
        store.remove(tiny)


def test_list_reports_every_registered_model(tmp_path: Path, tiny: str) -> None:
    store = ModelStore(tmp_path)
    store.install(tiny, _write(tmp_path / "g.pth", GOOD))
    statuses = {s.spec.name: s for s in store.list()}
    assert set(statuses) == set(registry.REGISTRY)
    assert statuses[tiny].installed
    assert statuses[tiny].size == len(GOOD)
    assert statuses[tiny].path == store.path(tiny)
    assert not statuses["wav2lip_gan"].installed
    assert statuses["wav2lip_gan"].path is None


def test_home_comes_from_lipsync_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIPSYNC_HOME", str(tmp_path / "custom"))
    assert default_home() == tmp_path / "custom"
    assert ModelStore().models_dir == tmp_path / "custom" / "models"
    monkeypatch.delenv("LIPSYNC_HOME")
    assert default_home().name == "lipsync"


def test_cancelled_copy_leaves_nothing(tmp_path: Path, tiny: str) -> None:
    store = ModelStore(tmp_path)
    token = CancelToken()

    def cancel_midway(event: ProgressEvent) -> None:
        if event.done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        store.install(tiny, _write(tmp_path / "g.pth", GOOD), progress=cancel_midway, cancel=token)
    assert list(store.model_dir(tiny).iterdir()) == []


def test_an_install_waits_for_the_lock_held_by_another(tmp_path: Path, tiny: str) -> None:
    store = ModelStore(tmp_path)
    source = _write(tmp_path / "g.pth", GOOD)
    finished = threading.Event()

    def install() -> None:
        ModelStore(tmp_path).install(tiny, source)
        finished.set()

    with store._lock(tiny, None):
        worker = threading.Thread(target=install)
        worker.start()
        time.sleep(0.4)
        assert not finished.is_set()
        assert not store.is_installed(tiny)
    worker.join(timeout=30)
    assert finished.is_set()
    assert store.verify(tiny).ok


def test_concurrent_installs_do_not_corrupt_each_other(tmp_path: Path, tiny: str) -> None:
    good = _write(tmp_path / "g.pth", GOOD)
    bad = _write(tmp_path / "b.pth", bytes(reversed(GOOD)))
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def install(source: Path) -> None:
        start.wait()
        try:
            ModelStore(tmp_path / "home").install(tiny, source)
            outcomes.append("ok")
        except ChecksumError:
            outcomes.append("refused")

    workers = [threading.Thread(target=install, args=(s,)) for s in (good, bad, good, bad)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(outcomes) == ["ok", "ok", "refused", "refused"]
    store = ModelStore(tmp_path / "home")
    assert store.verify(tiny).ok
    assert store.path(tiny).read_bytes() == GOOD
    assert sorted(p.name for p in store.model_dir(tiny).iterdir()) == ["manifest.json", "tiny.pth"]


def test_generated_test_model_installs_and_verifies(tmp_path: Path) -> None:
    pytest.importorskip("lipsync.engines.wav2lip.testing")
    store = ModelStore(tmp_path)
    installed = store.install("wav2lip_unittest")
    assert installed.generated
    assert not installed.trusted
    assert installed.path == store.path("wav2lip_unittest")
    assert installed.sha256 == hashlib.sha256(installed.path.read_bytes()).hexdigest()
    result = store.verify("wav2lip_unittest")
    assert result.ok
    assert "generated" in result.message
    assert sorted(p.name for p in installed.path.parent.iterdir()) == [
        "manifest.json",
        "wav2lip_unittest.pth",
    ]


def test_a_file_name_with_a_colon_is_a_path_not_a_url(tmp_path: Path, tiny: str) -> None:
    source = _write(tmp_path / "take:2.pth", GOOD)
    assert ModelStore(tmp_path / "home").install(tiny, str(source)).path.read_bytes() == GOOD


@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:,abc", "ftp://host/tiny.pth"])
def test_non_http_sources_are_refused(tmp_path: Path, tiny: str, url: str) -> None:
    with pytest.raises(DownloadError, match="only http:// and https://"):
        ModelStore(tmp_path).install(tiny, url)
