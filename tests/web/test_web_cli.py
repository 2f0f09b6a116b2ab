"""`lipsync serve` and `lipsync worker` as commands: help, and one-line errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from lipsync.cli.serve import serve_command
from lipsync.cli.worker import worker_command


def run_module(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_texts() -> None:
    runner = CliRunner()
    serve_help = runner.invoke(serve_command, ["--help"]).output
    assert "--port" in serve_help and "LIPSYNC_API_TOKEN" in serve_help
    assert "127.0.0.1" in serve_help
    worker_help = runner.invoke(worker_command, ["--help"]).output
    assert "--concurrency" in worker_help


def test_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    result = run_module(
        "lipsync",
        "worker",
        env={"LIPSYNC_DATA": str(tmp_path), "LIPSYNC_MAX_ATTEMPTS": "often"},
    )
    assert result.returncode == 2
    assert result.stderr == "lipsync: error: LIPSYNC_MAX_ATTEMPTS must be a number, got 'often'\n"


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_module(
            "lipsync",
            "serve",
            "--port",
            str(port),
            "--workers",
            "0",
            env={"LIPSYNC_DATA": str(tmp_path)},
        )
    assert result.returncode == 1
    assert result.stderr.strip().endswith(
        f"cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "Traceback" not in result.stderr
