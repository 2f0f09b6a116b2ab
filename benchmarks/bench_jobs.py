"""Load benchmark of the job system: 50 short jobs through a real `lipsync serve`.

Starts the server (waitress, sweeper, N worker processes) on a free loopback port with a
temporary data directory and the tiny ``wav2lip_unittest`` engine, submits the jobs from
several client threads at once, waits for all of them, and prints throughput, the queue wait
(submission to first start) at p50/p95, and how many jobs were lost (never finished).

    python benchmarks/bench_jobs.py [--jobs 50] [--workers 1] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from lipsync import samples
from lipsync.models.store import ModelStore

ENGINE = "wav2lip_unittest"


def request(port: int, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def multipart(fields: dict[str, str], files: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    chunks = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    for name, data in files.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{name}"\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--clients", type=int, default=8, help="submitting threads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lipsync-bench-jobs-") as tmp:
        root = Path(tmp)
        ModelStore(root / "home").install(ENGINE)
        speech = samples.speech_wav(root / "speech.wav", text="a short line")
        video = samples.face_video(root / "face.mp4", seconds=1.0, size=(160, 160))
        files = {"video": video.read_bytes(), "audio": speech.read_bytes()}
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}
        env.update(
            LIPSYNC_HOME=str(root / "home"),
            LIPSYNC_DATA=str(root / "data"),
            LIPSYNC_MIN_FREE_BYTES="0",
            LIPSYNC_MAX_QUEUED=str(max(100, args.jobs)),
        )
        command = [sys.executable, "-m", "lipsync.cli.serve", "--port", "0"]
        command += ["--workers", str(args.workers)]
        log = open(root / "serve.log", "wb")  # noqa: SIM115 - closed at the end
        server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log)
        try:
            assert server.stdout is not None
            first = server.stdout.readline().decode()
            port = int(first.split("127.0.0.1:")[1].split("/")[0])
            deadline = time.monotonic() + 120
            while len(request(port, "GET", "/api/health")[1]["workers"]) < args.workers:
                if time.monotonic() > deadline:
                    raise SystemExit("workers did not start")
                time.sleep(0.2)
            run(port, files, args.jobs, args.clients, args.workers)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)
            log.close()


def run(port: int, files: dict[str, bytes], jobs: int, clients: int, workers: int) -> None:
    ids: list[str] = []
    refused: list[Any] = []
    lock = threading.Lock()
    counter = iter(range(jobs))

    def submit() -> None:
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            body, content_type = multipart({"engine": ENGINE}, files)
            status, reply = request(
                port, "POST", "/api/jobs", body, **{"Content-Type": content_type}
            )
            with lock:
                (ids.append(reply["id"]) if status == 202 else refused.append(reply))

    start = time.monotonic()
    threads = [threading.Thread(target=submit) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    submitted_s = time.monotonic() - start

    finished: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 60 + 30 * jobs
    wanted = set(ids)
    while len(finished) < len(ids) and time.monotonic() < deadline:
        # One list request per poll: polling each job would load the 2-core machine itself.
        listed = request(port, "GET", f"/api/jobs?limit={min(200, max(1, jobs))}")[1]["jobs"]
        for job in listed:
            if job["id"] in wanted and job["status"] in ("succeeded", "failed", "cancelled"):
                finished[job["id"]] = job
        time.sleep(0.5)
    elapsed = time.monotonic() - start

    succeeded = [j for j in finished.values() if j["status"] == "succeeded"]
    waits = [j["queue_wait_s"] for j in finished.values() if j["queue_wait_s"] is not None]
    run_s = [
        j["result"]["duration_s"] for j in succeeded if j["result"] and j["result"]["duration_s"]
    ]
    lost = len(ids) - len(finished)
    print(f"jobs: {jobs} submitted by {clients} clients in {submitted_s:.1f} s; {workers} workers")
    print(f"  accepted {len(ids)}, refused {len(refused)}")
    print(f"  succeeded {len(succeeded)}, failed {len(finished) - len(succeeded)}, lost {lost}")
    print(f"  wall {elapsed:.1f} s, throughput {len(succeeded) / elapsed * 60:.1f} jobs/min")
    if waits:
        print(
            f"  queue wait p50 {statistics.median(waits):.2f} s, "
            f"p95 {percentile(waits, 0.95):.2f} s, max {max(waits):.2f} s"
        )
    if run_s:
        print(f"  each job: {statistics.mean(run_s):.2f} s of output video")
    if lost or refused or len(succeeded) != jobs:
        raise SystemExit("some jobs were refused, failed or lost")


if __name__ == "__main__":
    main()
