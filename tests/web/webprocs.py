"""Real processes for the web tests: ``lipsync serve``, ``lipsync worker``, ``redis-server``,
and a small HTTP client on the standard library (multipart upload, JSON, SSE)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Quick heartbeats so that a killed worker is noticed within seconds.
FAST_ENV = {
    "LIPSYNC_HEARTBEAT_S": "0.3",
    "LIPSYNC_STALE_AFTER_S": "2.5",
    "LIPSYNC_SWEEP_INTERVAL_S": "0.5",
    "LIPSYNC_MIN_FREE_BYTES": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@dataclass
class Client:
    """HTTP to the server under test (loopback only)."""

    port: int
    headers: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] = {}
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers={**self.headers, **headers})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def json(self, method: str, path: str) -> tuple[int, Any]:
        status, _, body = self.request(method, path)
        return status, json.loads(body) if body else None

    def job(self, job_id: str) -> dict[str, Any]:
        status, body = self.json("GET", f"/api/jobs/{job_id}")
        assert status == 200, body
        return dict(body)

    def submit(self, video: Path, audio: Path | None = None, **fields: str) -> tuple[int, Any]:
        files = {"video": video} if audio is None else {"video": video, "audio": audio}
        body, content_type = multipart(fields, files)
        status, _, raw = self.request(
            "POST", "/api/jobs", body=body, headers={"Content-Type": content_type}
        )
        return status, json.loads(raw)

    def wait_job(
        self, job_id: str, check: Callable[[dict[str, Any]], bool], timeout_s: float = 90
    ) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def probe() -> bool:
            nonlocal last
            last = self.job(job_id)
            return check(last)

        try:
            wait_until(probe, timeout_s, f"job {job_id}")
        except AssertionError:
            raise AssertionError(f"job {job_id} stuck: {last}") from None
        return last

    def events(self, job_id: str) -> Iterator[dict[str, Any]]:
        """The job's SSE events (``event: job`` data), until the server ends the stream."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("GET", f"/api/jobs/{job_id}/events", headers=self.headers)
            response = connection.getresponse()
            assert response.status == 200
            event: dict[str, str] = {}
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if not line:
                    if event.get("event") == "job":
                        yield json.loads(event["data"])
                    event = {}
                elif ": " in line and not line.startswith(":"):
                    key, value = line.split(": ", 1)
                    event[key] = value
        finally:
            connection.close()


def multipart(fields: Mapping[str, str], files: Mapping[str, Path]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, path in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + path.read_bytes()
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def base_env(model_home: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
    env.update(FAST_ENV)
    env.update({"LIPSYNC_HOME": str(model_home), "LIPSYNC_DATA": str(data_dir)})
    env.update(extra)
    return env


class Serve:
    """``python -m lipsync.cli.serve`` on a free port; stop() sends SIGTERM and waits."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 1) -> None:
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lipsync", "serve", "--port", "0", "--workers", str(workers)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline().decode()
        if "running at http://127.0.0.1:" not in first:
            self.stop()
            raise AssertionError(f"serve did not start: {first!r}; see {log_path}")
        self.port = int(first.split("127.0.0.1:")[1].split("/")[0])
        self.client = Client(self.port)

    def wait_for_workers(self, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
        def ready() -> list[dict[str, Any]] | None:
            workers = self.client.json("GET", "/api/health")[1]["workers"]
            return workers if len(workers) >= count else None

        found: list[dict[str, Any]] = wait_until(ready, timeout_s, f"{count} worker(s)")
        return found

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(60)
        finally:
            self.log.close()
        return code


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "lipsync", "worker"], env=env, stdout=log, stderr=log
        )


def pid_of(worker_id: str) -> int:
    """The pid inside a worker id (``host:pid:random``)."""
    return int(worker_id.split(":")[1])


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


class Redis:
    """A throwaway ``redis-server`` on a free loopback port, without persistence."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        executable = redis_server_path()
        assert executable is not None
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def answers() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_until(answers, 10, "redis-server")
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
