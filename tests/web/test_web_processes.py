"""Real server and worker processes: concurrency, SIGKILL, restart, cancel, uploads, Redis.

Each test starts ``python -m lipsync.cli.serve`` (waitress, a sweeper and supervised worker
processes) on a free loopback port, with the tiny test engine and quick heartbeats.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import psutil
import pytest
from webprocs import (
    Redis,
    Serve,
    base_env,
    pid_of,
    redis_server_path,
    start_worker,
    wait_until,
)
from webtools import ENGINE

from lipsync import samples

pytestmark = pytest.mark.slow

TEXTS = [
    "one",
    "two words",
    "three short words",
    "a few more words here",
    "the longest sentence of these five, spoken slowly",
]


@pytest.fixture(scope="module")
def speeches(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Five speeches of different lengths, so every job's output is distinct."""
    folder = tmp_path_factory.mktemp("speeches")
    try:
        return [samples.speech_wav(folder / f"s{i}.wav", text=t) for i, t in enumerate(TEXTS)]
    except samples.ToolNotFoundError as error:
        pytest.skip(str(error))


@pytest.fixture
def serve(model_home: Path, tmp_path: Path) -> Iterator[Serve]:
    env = base_env(model_home, tmp_path / "data", LIPSYNC_MAX_ATTEMPTS="3")
    server = Serve(env, tmp_path / "serve.log")
    yield server
    server.stop()


def speech_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


def check_result(server: Serve, job: dict[str, Any], tmp_path: Path, seconds: float) -> bytes:
    status, headers, data = server.client.request("GET", job["result"]["url"])
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    path = tmp_path / f"{job['id']}.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert len(container.streams.audio) == 1
        assert float(video.average_rate or 0) == pytest.approx(25.0)
        frames = sum(1 for _ in container.decode(video=0))
        duration = float(container.duration or 0) / av.time_base
    assert frames == job["result"]["frames"] == round(seconds * 25)
    assert duration == pytest.approx(seconds, abs=0.1)
    return data


def test_five_concurrent_jobs_events_and_a_restart(
    speeches: list[Path], face_video: Path, tmp_path: Path, model_home: Path
) -> None:
    serve = Serve(base_env(model_home, tmp_path / "data"), tmp_path / "serve.log", workers=2)
    try:
        run_five_jobs_then_restart(serve, speeches, face_video, tmp_path, model_home)
    finally:
        serve.stop()


def run_five_jobs_then_restart(
    serve: Serve, speeches: list[Path], face_video: Path, tmp_path: Path, model_home: Path
) -> None:
    serve.wait_for_workers(2)
    created: dict[int, Any] = {}

    def send(index: int) -> None:
        created[index] = serve.client.submit(face_video, speeches[index], engine=ENGINE)

    senders = [threading.Thread(target=send, args=(i,)) for i in range(5)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert all(status == 202 for status, _ in created.values()), created
    ids = [created[i][1]["id"] for i in range(5)]

    events = list(serve.client.events(ids[-1]))  # follows the last job to its end
    assert events[-1]["status"] == "succeeded" and len(events) >= 2

    outputs = set()
    for index, job_id in enumerate(ids):
        job = serve.client.wait_job(job_id, lambda j: j["status"] in ("succeeded", "failed"))
        assert job["status"] == "succeeded", job
        seconds = job["result"]["frames"] / 25
        assert seconds == pytest.approx(speech_seconds(speeches[index]), abs=0.05)
        outputs.add(hashlib.sha256(check_result(serve, job, tmp_path, seconds)).hexdigest())
    assert len(outputs) == 5
    assert len({serve.client.job(i)["worker_id"] for i in ids}) == 2  # both workers ran jobs

    assert serve.stop() == 0
    again = Serve(base_env(model_home, tmp_path / "data"), tmp_path / "serve2.log", workers=0)
    try:
        status, listed = again.client.json("GET", "/api/jobs")
        assert status == 200
        assert {job["id"] for job in listed["jobs"]} == set(ids)
        assert all(job["status"] == "succeeded" for job in listed["jobs"])
        job = again.client.job(ids[0])
        check_result(again, job, tmp_path, job["result"]["frames"] / 25)
    finally:
        again.stop()


def test_sigkill_mid_job_is_retried_and_cancel_stops_work(
    serve: Serve, still_png: Path, speeches: list[Path], tmp_path: Path
) -> None:
    serve.wait_for_workers(1)
    status, body = serve.client.submit(still_png, speeches[0], engine=ENGINE, still_duration_s="16")
    assert status == 202, body
    job_id = body["id"]
    running = serve.client.wait_job(
        job_id, lambda j: j["stage"] == "sync" and j["stage_progress"]["done"] > 0
    )
    victim = pid_of(running["worker_id"])
    os.kill(victim, signal.SIGKILL)

    job = serve.client.wait_job(job_id, lambda j: j["status"] in ("succeeded", "failed"), 120)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 2 and "stopped responding" in job["retry_reason"]
    assert pid_of(job["worker_id"]) != victim  # the supervisor started a new worker
    media = tmp_path / "data" / "media" / "jobs" / job_id
    assert sorted(p.name for p in media.iterdir()) == ["audio", "result.mp4", "video"]
    check_result(serve, job, tmp_path, 16.0)

    status, body = serve.client.submit(still_png, speeches[0], engine=ENGINE, still_duration_s="60")
    doomed = body["id"]
    serve.client.wait_job(doomed, lambda j: j["stage"] == "sync")
    asked = time.monotonic()
    status, _ = serve.client.json("DELETE", f"/api/jobs/{doomed}")
    assert status == 202
    cancelled = serve.client.wait_job(doomed, lambda j: j["status"] == "cancelled", 10)
    assert time.monotonic() - asked < 5 and cancelled["error"]["code"] == "cancelled"
    wait_until(lambda: not (tmp_path / "data" / "media" / "jobs" / doomed).exists(), 5, "files")


def test_oversize_uploads_get_413_without_memory_growth(model_home: Path, tmp_path: Path) -> None:
    limit = 8 * 1024 * 1024
    env = base_env(model_home, tmp_path / "data", LIPSYNC_MAX_UPLOAD_BYTES=str(limit))
    server = Serve(env, tmp_path / "serve.log", workers=0)
    try:
        process = psutil.Process(server.process.pid)
        before = process.memory_info().rss
        # Declared far beyond the limit: refused from the header, nothing of the body read.
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(
                b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                b"multipart/form-data; boundary=x\r\nContent-Length: 50000000000\r\n\r\n"
            )
            sock.sendall(b"\0" * 65536)
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 413")
        # Just over the app's limit (two files and the form): the body reaches the app
        # through a temporary file, and the app answers with its JSON error.
        body = b"\0" * (2 * limit + 1024 * 1024 + 4096)
        status, _, raw = server.client.request(
            "POST",
            "/api/jobs",
            body=body,
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        assert status == 413 and b"larger than this server's limit" in raw
        del body
        growth = process.memory_info().rss - before
        assert growth < 12 * 1024 * 1024, f"server memory grew by {growth} bytes"
    finally:
        server.stop()


@pytest.mark.skipif(redis_server_path() is None, reason="redis-server is not installed")
def test_two_workers_share_a_redis_queue_and_a_directory(
    model_home: Path, tmp_path: Path, face_video: Path, still_png: Path, speeches: list[Path]
) -> None:
    redis = Redis(tmp_path)
    env = base_env(model_home, tmp_path / "shared", LIPSYNC_REDIS_URL=redis.url)
    server = Serve(env, tmp_path / "serve.log", workers=0)
    workers = [start_worker(env, tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        listed = server.wait_for_workers(2)
        assert {w["id"].split(":")[1] for w in listed} == {str(w.pid) for w in workers}
        assert server.client.json("GET", "/api/health")[1]["queue"]["backend"] == "redis"

        status, long_job = server.client.submit(
            still_png, speeches[0], engine=ENGINE, still_duration_s="16"
        )
        assert status == 202, long_job
        ids = [long_job["id"]]
        for speech in speeches[:3]:
            status, body = server.client.submit(face_video, speech, engine=ENGINE)
            assert status == 202, body
            ids.append(body["id"])
        running = server.client.wait_job(
            ids[0], lambda j: j["stage"] == "sync" and j["stage_progress"]["done"] > 0
        )
        os.kill(pid_of(running["worker_id"]), signal.SIGKILL)  # the other worker takes over

        finished = [
            server.client.wait_job(i, lambda j: j["status"] in ("succeeded", "failed"), 120)
            for i in ids
        ]
        assert all(job["status"] == "succeeded" for job in finished), finished
        assert finished[0]["attempts"] == 2
        used = {job["worker_id"].split(":")[1] for job in finished}
        assert used <= {str(w.pid) for w in workers} and len(used) >= 1
        survivor = next(w for w in workers if w.poll() is None)
        assert pid_of(finished[0]["worker_id"]) == survivor.pid
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(60)
        server.stop()
        redis.stop()
