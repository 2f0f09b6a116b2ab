"""The one-machine service: the app under waitress, a sweeper, and supervised worker processes.

Workers are separate processes running the same code as ``lipsync worker`` on other machines
(``python -m lipsync worker``), so one code path serves both deployments, and a worker
that crashes or is killed cannot take the web server with it: the supervisor starts a new
one, and the sweeper re-queues the job it was running.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..jobs.queue import JobQueue
from ..jobs.store import JobStore
from ..jobs.sweeper import Sweeper
from .app import create_app
from .settings import WebSettings

log = logging.getLogger("lipsync.web")

# Uploads larger than the app's own limit (by this margin) are refused by waitress from
# their Content-Length, before a byte of the body is read; smaller ones reach the app,
# which answers with its JSON error.
_WAITRESS_BODY_MARGIN = 1024 * 1024
_RESTART_BACKOFF_S = 2.0


class WorkerSupervisor:
    """Keeps ``count`` worker processes running until ``stop()``."""

    def __init__(self, count: int, env: Mapping[str, str], concurrency: int = 1) -> None:
        self.count = count
        self.env = dict(env)
        self.concurrency = concurrency
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "lipsync",
            "worker",
            "--concurrency",
            str(self.concurrency),
        ]

    def start(self) -> None:
        self.processes = [self._spawn() for _ in range(self.count)]
        self._thread.start()

    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def _spawn(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(self.command(), env=self.env)
        log.info("started worker process %d", process.pid)
        return process

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            for slot, process in enumerate(self.processes):
                code = process.poll()
                if code is None or self._stopping.is_set():
                    continue
                log.warning("worker process %d exited with %s; starting another", process.pid, code)
                time.sleep(_RESTART_BACKOFF_S)
                if not self._stopping.is_set():
                    self.processes[slot] = self._spawn()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Ask every worker to hand its jobs back (SIGTERM) and wait; kill stragglers."""
        self._stopping.set()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker process %d did not stop; killing it", process.pid)
                process.kill()
                process.wait()


class Server:
    """The HTTP server, the sweeper and ``worker_processes`` workers, for one machine."""

    def __init__(
        self,
        settings: WebSettings,
        *,
        worker_processes: int = 1,
        worker_concurrency: int = 1,
        threads: int = 16,
        env: Mapping[str, str] | None = None,
    ) -> None:
        import waitress

        self.settings = settings
        self.store = JobStore(settings.jobs.database_url)
        self.queue = JobQueue(settings.jobs)
        self.app = create_app(settings, store=self.store, queue=self.queue)
        self._server: Any = waitress.create_server(
            self.app,
            host=settings.host,
            port=settings.port,
            threads=threads,
            max_request_body_size=settings.max_upload_bytes + _WAITRESS_BODY_MARGIN,
            ident="lipsync",
        )
        worker_env = dict(os.environ if env is None else env)
        worker_env["LIPSYNC_DATA"] = str(settings.jobs.data_dir)
        self.workers = WorkerSupervisor(worker_processes, worker_env, worker_concurrency)
        self._stop_sweeper = threading.Event()

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        host = self.settings.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.port}/"

    def run(self) -> None:
        """Start the workers and sweeper, then serve until interrupted; always cleans up."""
        Sweeper(self.settings.jobs, self.store, self.queue).run_in_thread(self._stop_sweeper)
        self.workers.start()
        try:
            self._server.run()
        finally:
            self.close()

    def close(self) -> None:
        self._stop_sweeper.set()
        self._server.close()
        self.workers.stop()
        self.store.close()
