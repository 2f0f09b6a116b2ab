"""``lipsync serve``: the web server, its sweeper and local workers, in one command."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from types import FrameType

import click

from .worker import configure_logging


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=1,
    show_default=True,
    help="Worker processes to start on this machine (0: only `lipsync worker` elsewhere).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Jobs each worker process runs at once.",
)
@click.option(
    "--threads",
    type=click.IntRange(2, 256),
    default=16,
    show_default=True,
    help="HTTP threads (each open progress stream holds one).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Jobs, uploads and results (default: $LIPSYNC_DATA, else the user data directory).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def serve_command(
    host: str,
    port: int,
    workers: int,
    concurrency: int,
    threads: int,
    data_dir: Path | None,
    verbose: bool,
) -> None:
    """Serve the web page and the API, and run lip-sync jobs on local workers.

    Binds 127.0.0.1 by default. To expose it, set LIPSYNC_API_TOKEN (clients then send
    `Authorization: Bearer <token>`) and LIPSYNC_TRUSTED_HOSTS (the names clients use).
    """
    from ..web.server import Server
    from ..web.settings import WebSettings

    configure_logging(verbose)
    settings = WebSettings.from_env(host=host, port=port, data_dir=data_dir)
    if host not in ("127.0.0.1", "localhost", "::1") and settings.api_token is None:
        click.echo(
            f"lipsync: warning: serving on {host} without LIPSYNC_API_TOKEN: anyone who can "
            "reach this address can submit and read jobs",
            err=True,
        )
    try:
        server = Server(
            settings, worker_processes=workers, worker_concurrency=concurrency, threads=threads
        )
    except OSError as error:  # the port is taken, or the address is not this machine's
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    click.echo(f"Lipsync is running at {server.url} (data in {settings.jobs.data_dir})")
    click.echo("Press Ctrl+C to stop.")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is the normal way to stop
        server.run()
    click.echo("Lipsync stopped.")
