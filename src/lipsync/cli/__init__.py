"""The ``lipsync`` command: a thin layer over the library.

Commands import heavy modules lazily so ``lipsync --help`` is instant. Every LipsyncError
becomes one line on stderr and its exit code; nothing prints a traceback unless ``--debug``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import __version__
from ..errors import LipsyncError


class LipsyncGroup(click.Group):
    """A click group that turns library errors into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LipsyncError as error:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"lipsync: error: {error.message}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("lipsync: interrupted", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:  # a bug: say so in one line, keep the traceback behind --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(
                f"lipsync: internal error: {type(error).__name__}: {error} "
                "(run `lipsync --debug …` for the traceback and please report it)",
                err=True,
            )
            ctx.exit(70)


@click.group(cls=LipsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lipsync")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Lip-sync a face video or photo to a speech track."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    from .demo import demo_command
    from .enhance import enhance_command
    from .eval import eval_command
    from .models import models_group
    from .probe import probe_command
    from .serve import serve_command
    from .sync import sync_command
    from .worker import worker_command

    cli.add_command(sync_command)
    cli.add_command(probe_command)
    cli.add_command(models_group)
    cli.add_command(demo_command)
    cli.add_command(eval_command)
    cli.add_command(serve_command)
    cli.add_command(worker_command)
    cli.add_command(enhance_command)


_register()


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="lipsync")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
