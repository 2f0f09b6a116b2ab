"""``lipsync models``: list, install, verify, locate and remove model weights.

A thin layer over ``lipsync.models.store.ModelStore``. Errors are LipsyncErrors raised to the
top-level group, which prints them as one line with their exit code.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import ChecksumError
from ..models.store import ModelStatus, ModelStore
from ..progress import ProgressEvent


def _store(ctx: click.Context) -> ModelStore:
    # The top-level CLI (or a test) may hand in a store; otherwise $LIPSYNC_HOME decides.
    if isinstance(ctx.obj, dict) and isinstance(ctx.obj.get("model_store"), ModelStore):
        return ctx.obj["model_store"]
    return ModelStore()


def _human_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"  # pragma: no cover - the loop always returns


_STAGE_LABELS = {"copy": "copying", "download": "downloading", "verify": "verifying"}


class _ByteBars:
    """Turns byte-progress events into one tqdm bar per stage (copy, download, verify)."""

    def __init__(self) -> None:
        self._stage: str | None = None
        self._bar: Any = None

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        if event.stage != self._stage:
            self.close()
            self._stage = event.stage
            self._bar = tqdm(
                total=event.total,
                initial=event.done,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=_STAGE_LABELS.get(event.stage, event.stage),
                leave=False,
                disable=None,  # no bar when stderr is not a terminal
            )
            return
        if self._bar is not None:
            if event.total is not None and self._bar.total != event.total:
                self._bar.total = event.total
            self._bar.update(event.done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _status_json(status: ModelStatus) -> dict[str, Any]:
    spec = status.spec
    return {
        "name": spec.name,
        "task": spec.task,
        "description": spec.description,
        "license": spec.license,
        "obtain": spec.obtain,
        "engine": spec.engine,
        "generated": spec.generated,
        "installed": status.installed,
        "path": str(status.path) if status.path else None,
        "size": status.size,
        "sha256": status.sha256,
        "trusted": status.trusted,
        "files": [{"filename": f.filename, "sha256": f.sha256, "size": f.size} for f in spec.files],
    }


@click.group("models")
def models_group() -> None:
    """List, install, verify and locate model weights (kept in $LIPSYNC_HOME)."""


@models_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def list_command(ctx: click.Context, as_json: bool) -> None:
    """Show every known model: task, whether it is installed, size and licence."""
    statuses = _store(ctx).list()
    if as_json:
        click.echo(json.dumps([_status_json(s) for s in statuses], indent=2))
        return
    rows = [
        (
            s.spec.name,
            s.spec.task,
            ("yes (trusted)" if s.trusted else "yes") if s.installed else "no",
            _human_bytes(s.size if s.installed else s.spec.primary.size),
            s.spec.license,
        )
        for s in statuses
    ]
    header = ("NAME", "TASK", "INSTALLED", "SIZE", "LICENCE")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        click.echo("  ".join([*cells, row[-1]]))


@models_group.command("install")
@click.argument("name")
@click.option(
    "--from",
    "source",
    metavar="PATH_OR_URL",
    help="A downloaded weights file (or a folder holding it), or an http(s) URL to fetch.",
)
@click.option(
    "--trust",
    is_flag=True,
    help="Install even if the file's SHA-256 is not one the registry knows (it is recorded).",
)
@click.pass_context
def install_command(ctx: click.Context, name: str, source: str | None, trust: bool) -> None:
    """Install model NAME: copy or download it, verify its SHA-256, and keep it in the cache."""
    bars = _ByteBars()
    try:
        installed = _store(ctx).install(name, source, trust=trust, progress=bars)
    finally:
        bars.close()
    for item in installed.files:
        click.echo(str(item.path))
        click.echo(f"sha256 {item.sha256}")
    if installed.trusted:
        click.echo(
            f"note: {name} was installed with --trust; its hash is not one the registry "
            "knows, so only later changes to the file will be detected",
            err=True,
        )


@models_group.command("verify")
@click.argument("names", nargs=-1)
@click.pass_context
def verify_command(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Re-hash installed models (all of them when no NAME is given); fail if any changed."""
    store = _store(ctx)
    targets = list(names) or [s.spec.name for s in store.list() if store.manifest(s.spec.name)]
    if not targets:
        click.echo("no models installed")
        return
    failed = []
    for name in targets:
        result = store.verify(name)
        click.echo(f"{'ok' if result.ok else 'FAILED':<6} {name}: {result.message}")
        if not result.ok:
            failed.append(name)
    if failed:
        raise ChecksumError(
            f"{len(failed)} of {len(targets)} models failed verification: {', '.join(failed)} "
            "(reinstall them with `lipsync models install NAME --from PATH_OR_URL`)"
        )


@models_group.command("path")
@click.argument("name")
@click.pass_context
def path_command(ctx: click.Context, name: str) -> None:
    """Print the installed file's path (nothing else, for scripts)."""
    click.echo(str(_store(ctx).path(name)))


@models_group.command("remove")
@click.argument("name")
@click.pass_context
def remove_command(ctx: click.Context, name: str) -> None:
    """Delete an installed model from the cache."""
    _store(ctx).remove(name)
    click.echo(f"removed {name}")
