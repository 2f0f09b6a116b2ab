"""The model cache: install (copy or download, verify, rename), verify, locate and remove.

Layout under the store's home (``$LIPSYNC_HOME``, else the user cache directory)::

    models/<name>/<filename>        the verified file(s)
    models/<name>/manifest.json     what was installed: hashes, sizes, source, trust
    models/.locks/<name>.lock       held while one process installs or removes <name>

A file reaches its final name only through ``os.replace`` of a verified ``.part``, so readers
never see a half-written or unverified model, and a failed install leaves the previous one
intact. The manifest is removed before a replacement and written after it, so it never
describes bytes that are not there.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ChecksumError, InputError, ModelError, ModelNotInstalledError
from ..progress import CancelToken, ProgressCallback
from .download import copy_hashing, download, fsync_path, hash_file, part_path
from .registry import REGISTRY, ModelFile, ModelSpec, get_spec

MANIFEST = "manifest.json"
_LOCK_POLL_S = 0.1
_URL_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


@dataclass(frozen=True)
class InstalledFile:
    """One installed file: its path, length in bytes, SHA-256 (hex) and where it came from."""

    filename: str
    path: Path
    size: int
    sha256: str
    source: str
    trusted: bool


@dataclass(frozen=True)
class InstalledModel:
    """The result of an install. ``trusted``: some file's hash was accepted only by --trust."""

    name: str
    files: tuple[InstalledFile, ...]
    installed_at: str
    generated: bool

    @property
    def path(self) -> Path:
        return self.files[0].path

    @property
    def sha256(self) -> str:
        return self.files[0].sha256

    @property
    def trusted(self) -> bool:
        return any(f.trusted for f in self.files)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of re-hashing an installed model; ``message`` is one line for people."""

    name: str
    ok: bool
    message: str


@dataclass(frozen=True)
class ModelStatus:
    """A registry entry and its state in this store. ``size``: bytes on disk, when installed."""

    spec: ModelSpec
    installed: bool
    path: Path | None
    size: int | None
    sha256: str | None
    trusted: bool


def default_home() -> Path:
    """``$LIPSYNC_HOME`` if set, else the platform's user cache directory for "lipsync"."""
    env = os.environ.get("LIPSYNC_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("lipsync"))


class ModelStore:
    """Installed model files under ``home/models``. Safe for concurrent processes."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()
        self.models_dir = self.home / "models"

    # --- queries --------------------------------------------------------------------------

    def model_dir(self, name: str) -> Path:
        return self.models_dir / get_spec(name).name

    def manifest(self, name: str) -> InstalledModel | None:
        """The recorded install of ``name``, or None when there is none (or it is unreadable)."""
        path = self.model_dir(name) / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return _model_from_json(self.model_dir(name), data)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def is_installed(self, name: str) -> bool:
        """True when the manifest exists and every file is present with its recorded size.

        Cheap (no hashing); ``verify`` re-hashes.
        """
        record = self.manifest(name)
        if record is None:
            return False
        for item in record.files:
            try:
                if item.path.stat().st_size != item.size:
                    return False
            except OSError:
                return False
        return True

    def path(self, name: str) -> Path:
        """Path of the model's (first) file; raise ModelNotInstalledError saying how to install it."""
        spec = get_spec(name)
        if not self.is_installed(name):
            raise ModelNotInstalledError(install_hint(spec))
        return self.model_dir(name) / spec.primary.filename

    def list(self) -> builtins.list[ModelStatus]:
        """Every registered model, in registry order, with its install state."""
        statuses = []
        for spec in REGISTRY.values():
            record = self.manifest(spec.name) if self.is_installed(spec.name) else None
            statuses.append(
                ModelStatus(
                    spec=spec,
                    installed=record is not None,
                    path=record.path if record else None,
                    size=sum(f.size for f in record.files) if record else None,
                    sha256=record.sha256 if record else None,
                    trusted=record.trusted if record else False,
                )
            )
        return statuses

    def verify(
        self,
        name: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> VerifyResult:
        """Re-hash the installed files and compare them with the hashes recorded at install.

        Raises ModelNotInstalledError when nothing is recorded for ``name``.
        """
        spec = get_spec(name)
        record = self.manifest(name)
        if record is None:
            raise ModelNotInstalledError(install_hint(spec))
        for item in record.files:
            if not item.path.is_file():
                return VerifyResult(name, False, f"{item.filename} is missing ({item.path})")
            size = item.path.stat().st_size
            if size != item.size:
                return VerifyResult(
                    name, False, f"{item.filename} is {size} bytes, {item.size} were installed"
                )
            digest = hash_file(item.path, progress=progress, cancel=cancel)
            if digest != item.sha256:
                return VerifyResult(
                    name,
                    False,
                    f"{item.filename} changed since it was installed: SHA-256 {digest[:12]}…, "
                    f"installed {item.sha256[:12]}…",
                )
        note = " (installed with --trust)" if record.trusted else ""
        note = " (generated locally)" if record.generated else note
        return VerifyResult(name, True, f"{record.sha256[:12]}… matches{note}")

    # --- changes --------------------------------------------------------------------------

    def install(
        self,
        name: str,
        source: str | Path | None = None,
        *,
        trust: bool = False,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InstalledModel:
        """Install ``name`` from ``source``: a local file (or a folder holding the files), an
        http(s) URL, or None for the registry's own URLs (or, for a generated model, a fresh
        local generation).

        Each file is streamed to a ``.part`` while hashed, checked against the registry's size
        and SHA-256 and only then renamed into place. A file whose hash the registry does not
        know is refused unless ``trust`` is set; its hash is then recorded, and ``verify``
        checks later against it. Progress events are in bytes ("copy", "download", "verify").
        Raises ChecksumError, DownloadError, InputError (a missing source), Cancelled.
        """
        spec = get_spec(name)
        target_dir = self.model_dir(name)
        with self._lock(name, cancel):
            target_dir.mkdir(parents=True, exist_ok=True)
            if spec.generated and source is None:
                return self._commit(spec, target_dir, [self._generate(spec, target_dir)])
            staged: builtins.list[_Staged] = []
            try:
                for file in spec.files:
                    staged.append(
                        self._stage(spec, file, source, trust, target_dir, progress, cancel)
                    )
            except BaseException:
                # Verified siblings of a file that failed are not installed either.
                for item in staged:
                    item.part.unlink(missing_ok=True)
                raise
            return self._commit(spec, target_dir, staged)

    def remove(self, name: str) -> None:
        """Delete the model's files, manifest and any partial download."""
        spec = get_spec(name)
        target_dir = self.model_dir(name)
        with self._lock(name, None):
            if not target_dir.exists() or not any(target_dir.iterdir()):
                raise ModelNotInstalledError(f"{spec.name} is not installed; nothing to remove")
            shutil.rmtree(target_dir)

    # --- internals ------------------------------------------------------------------------

    def _stage(
        self,
        spec: ModelSpec,
        file: ModelFile,
        source: str | Path | None,
        trust: bool,
        target_dir: Path,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> _Staged:
        final = target_dir / file.filename
        origin = _resolve_source(spec, file, source)
        if isinstance(origin, Path):
            _check_size_early(spec, file, origin.stat().st_size, trust)
            part = part_path(final)
            digest, size = copy_hashing(origin, part, progress, cancel)
            source_text = str(origin)
        else:
            part = self._download(file, origin, final, trust, progress, cancel)
            size = part.stat().st_size
            digest = hash_file(part, progress=progress, cancel=cancel)
            source_text = origin
        try:
            trusted = _check_digest(spec, file, digest, size, trust)
        except ChecksumError:
            part.unlink(missing_ok=True)
            final.with_name(final.name + ".part.url").unlink(missing_ok=True)
            raise
        return _Staged(file.filename, part, final, size, digest, source_text, trusted)

    def _download(
        self,
        file: ModelFile,
        url: str,
        final: Path,
        trust: bool,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> Path:
        # A .part from another URL must not be resumed: its bytes belong to a different file.
        origin_note = final.with_name(final.name + ".part.url")
        part = part_path(final)
        if part.exists() and _read_text(origin_note) != url:
            part.unlink()
        origin_note.write_text(url, encoding="utf-8")
        # The registry's size lets a wrong file be refused before it is fetched, unless other
        # builds (of other sizes) are acceptable too.
        size_is_binding = file.sha256 is not None and not file.accepted_sha256 and not trust
        expected = file.size if size_is_binding else None
        return download(url, final, expected_size=expected, progress=progress, cancel=cancel)

    def _generate(self, spec: ModelSpec, target_dir: Path) -> _Staged:
        write = _generator(spec)
        file = spec.primary
        scratch = Path(tempfile.mkdtemp(prefix=".generate-", dir=target_dir))
        try:
            produced = scratch / file.filename
            write(produced, 0)
            part = part_path(target_dir / file.filename)
            os.replace(produced, part)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        digest = hash_file(part)
        return _Staged(
            file.filename,
            part,
            target_dir / file.filename,
            part.stat().st_size,
            digest,
            "generated (seed 0)",
            False,
        )

    def _commit(
        self, spec: ModelSpec, target_dir: Path, staged: builtins.list[_Staged]
    ) -> InstalledModel:
        manifest_path = target_dir / MANIFEST
        manifest_path.unlink(missing_ok=True)
        for item in staged:
            fsync_path(item.part)
            os.replace(item.part, item.final)
            item.final.with_name(item.final.name + ".part.url").unlink(missing_ok=True)
        record = InstalledModel(
            name=spec.name,
            files=tuple(
                InstalledFile(s.filename, s.final, s.size, s.sha256, s.source, s.trusted)
                for s in staged
            ),
            installed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            generated=spec.generated and all(s.source.startswith("generated") for s in staged),
        )
        _write_json_atomic(manifest_path, _model_to_json(record))
        fsync_path(target_dir)
        return record

    @contextlib.contextmanager
    def _lock(self, name: str, cancel: CancelToken | None) -> Iterator[None]:
        """Hold an exclusive per-model lock file; other processes (and threads) wait for it."""
        lock_dir = self.models_dir / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        with open(lock_dir / f"{name}.lock", "a+b") as handle:
            _acquire(handle, cancel)
            try:
                yield
            finally:
                _release(handle)


def _generator(spec: ModelSpec) -> Callable[[Path, int], object]:
    """The function named by ``spec.generator`` ("module:function"), imported now: writers
    pull in torch, which listing or verifying models must not need."""
    module_name, _, function_name = (spec.generator or "").partition(":")
    if not module_name or not function_name:
        raise ModelError(f"cannot generate {spec.name}: the registry names no generator")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ModelError(f"cannot generate {spec.name}: {error}") from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ModelError(f"cannot generate {spec.name}: {spec.generator} is not a function")
    return function


@dataclass(frozen=True)
class _Staged:
    filename: str
    part: Path
    final: Path
    size: int
    sha256: str
    source: str
    trusted: bool


def install_hint(spec: ModelSpec) -> str:
    """One line saying that ``spec`` is not installed and the exact command that installs it."""
    if spec.generated:
        return f"{spec.name} is not installed: run `lipsync models install {spec.name}`"
    if spec.downloadable:
        return (
            f"{spec.name} is not installed: run `lipsync models install {spec.name}` "
            f"(downloads it from {spec.primary.urls[0]})"
        )
    return (
        f"{spec.name} is not installed: run `lipsync models install {spec.name} "
        f"--from PATH_OR_URL` (get it from {spec.obtain})"
    )


def _resolve_source(spec: ModelSpec, file: ModelFile, source: str | Path | None) -> Path | str:
    """A local file Path, or a URL string, for one file of ``spec``."""
    if source is None:
        if not file.urls:
            raise ModelError(
                f"{spec.name} cannot be downloaded automatically: get it from {spec.obtain} "
                f"and run `lipsync models install {spec.name} --from PATH_OR_URL`"
            )
        return file.urls[0]
    text = str(source)
    if isinstance(source, str) and _looks_like_url(text):
        if len(spec.files) > 1:
            raise InputError(
                f"{spec.name} has {len(spec.files)} files; --from must be a folder holding them"
            )
        return text
    path = Path(text).expanduser()
    if path.is_dir():
        path = path / file.filename
    elif len(spec.files) > 1:
        raise InputError(
            f"{spec.name} has {len(spec.files)} files; --from must be a folder holding them"
        )
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    return path.resolve()


def _looks_like_url(text: str) -> bool:
    # "scheme://…" or "data:…"; a bare "x:" is a Windows drive or a file name with a colon.
    return _URL_PREFIX.match(text) is not None or text.lower().startswith("data:")


def _check_size_early(spec: ModelSpec, file: ModelFile, size: int, trust: bool) -> None:
    """Refuse a file of the wrong length before copying hundreds of megabytes."""
    if trust or file.sha256 is None or file.size is None or file.accepted_sha256:
        return
    if size != file.size:
        raise ChecksumError(
            f"{file.filename} for {spec.name} is {size} bytes, expected {file.size}: "
            "the file is truncated or a different build (pass --trust to install it anyway)"
        )


def _check_digest(spec: ModelSpec, file: ModelFile, digest: str, size: int, trust: bool) -> bool:
    """Return whether the file is accepted only by trust; raise ChecksumError if refused."""
    known = file.known_sha256
    if digest in known:
        if digest == file.sha256 and file.size is not None and size != file.size:
            raise ChecksumError(
                f"{file.filename} for {spec.name} is {size} bytes, expected {file.size}"
            )
        return False
    if trust:
        return True
    if known:
        raise ChecksumError(
            f"{file.filename} for {spec.name} does not match: expected SHA-256 {known[0][:12]}…, "
            f"got {digest[:12]}… ({size} bytes); it is corrupt or a different build "
            "(download it again, or pass --trust if you know where it came from)"
        )
    raise ChecksumError(
        f"{file.filename} for {spec.name}: its SHA-256 ({digest[:12]}…) is not one the registry "
        "knows; pass --trust to install it anyway"
    )


def _acquire(handle: Any, cancel: CancelToken | None) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows has no fcntl; installs there are unlocked
        return
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if cancel is not None:
                cancel.raise_if_cancelled()
            time.sleep(_LOCK_POLL_S)


def _release(handle: Any) -> None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    fsync_path(temporary)
    os.replace(temporary, path)


def _model_to_json(record: InstalledModel) -> dict[str, Any]:
    return {
        "name": record.name,
        "installed_at": record.installed_at,
        "generated": record.generated,
        "files": [
            {
                "filename": f.filename,
                "size": f.size,
                "sha256": f.sha256,
                "source": f.source,
                "trusted": f.trusted,
            }
            for f in record.files
        ],
    }


def _model_from_json(model_dir: Path, data: dict[str, Any]) -> InstalledModel:
    files = tuple(
        InstalledFile(
            filename=str(item["filename"]),
            path=model_dir / Path(str(item["filename"])).name,
            size=int(item["size"]),
            sha256=str(item["sha256"]),
            source=str(item["source"]),
            trusted=bool(item["trusted"]),
        )
        for item in data["files"]
    )
    if not files:
        raise ValueError("manifest lists no files")
    return InstalledModel(
        name=str(data["name"]),
        files=files,
        installed_at=str(data["installed_at"]),
        generated=bool(data.get("generated", False)),
    )
