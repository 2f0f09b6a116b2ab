"""``lipsync worker``: consume lip-sync jobs from the queue until stopped (SIGINT/SIGTERM).

Run one per machine (GPU node) next to a ``lipsync serve --workers 0``; they share the job
store (``LIPSYNC_DATABASE_URL``), the queue (``LIPSYNC_REDIS_URL``) and the media directory
(``LIPSYNC_MEDIA_ROOT``). ``lipsync serve`` starts its own local workers with this module.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

_data_dir = click.Path(file_okay=False, path_type=Path)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    # Huey logs every message at INFO; ours say what matters.
    logging.getLogger("huey").setLevel(logging.DEBUG if verbose else logging.WARNING)


@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Jobs run at once in this process (one per GPU or per few CPU cores).",
)
@click.option(
    "--data-dir",
    type=_data_dir,
    default=None,
    help="Data directory (default: $LIPSYNC_DATA, else the user data directory).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def worker_command(concurrency: int, data_dir: Path | None, verbose: bool) -> None:
    """Run lip-sync jobs from the queue until stopped (Ctrl+C or SIGTERM hands running jobs
    back to the queue)."""
    from ..jobs.config import JobsConfig
    from ..jobs.service import run_worker

    configure_logging(verbose)
    config = JobsConfig.from_env(data_dir=data_dir)
    run_worker(config, concurrency)
