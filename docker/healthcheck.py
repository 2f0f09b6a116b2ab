"""Container health check for the backend image: ``healthcheck.py api`` or ``healthcheck.py worker``.

api: ``GET /api/health`` on this container's ``lipsync serve`` answers 200 (the job store and
the queue respond). worker: this container's ``lipsync worker`` has beaten recently, as the job
store records it (the worker writes its host name and a timestamp every heartbeat), so a worker
that is alive but wedged, or cut off from the database, turns unhealthy.
Exit status 0 when healthy, 1 otherwise, with one line saying why.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.error
import urllib.request


def check_api(port: int) -> str | None:
    """None when the API answers its health check, else why not."""
    url = f"http://127.0.0.1:{port}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as error:
        return f"{url} answered {error.code}"
    except OSError as error:
        return f"{url} unreachable: {error}"


def check_worker() -> str | None:
    """None when a worker on this host beat within the stale limit, else why not."""
    from lipsync.jobs.config import JobsConfig
    from lipsync.jobs.store import JobStore

    config = JobsConfig.from_env()
    store = JobStore(config.database_url)
    try:
        workers = store.live_workers(time.time() - config.stale_after_s)
    finally:
        store.close()
    host = socket.gethostname()
    if any(worker.host == host for worker in workers):
        return None
    return f"no worker on {host} beat in the last {config.stale_after_s:g} s"


def main(argv: list[str]) -> int:
    role = argv[1] if len(argv) > 1 else "api"
    if role == "api":
        problem = check_api(int(os.environ.get("LIPSYNC_PORT", "8000")))
    elif role == "worker":
        problem = check_worker()
    else:
        problem = f"unknown role {role!r}: expected api or worker"
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
