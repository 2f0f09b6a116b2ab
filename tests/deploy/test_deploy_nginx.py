"""The shipped nginx configuration, run for real (Debian's nginx) in front of a real
``lipsync serve``: the page, the API, a job followed through Server-Sent Events, Range
requests for the result, the upload limit, and the JSON errors nginx answers itself.

The template is rendered exactly as the frontend image renders it at start (its .envsh, then
envsubst of the variables that are set); only the listen address, the upstream and the page's
directory differ from the image's values.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from deploytools import DOCKER, ENGINE, Nginx, free_port, require_tool
from webprocs import Client, Serve, base_env

from lipsync import samples

pytestmark = pytest.mark.slow

TOKEN = "deploy-test-token"
# Per file; nginx's limit for a whole request is 2 × this + 1 MiB, as the backend's.
UPLOAD_BYTES = 1_000_000
REQUEST_LIMIT = 2 * UPLOAD_BYTES + 1024 * 1024
PAGE_MARKER = "lipsync-deploy-test-page"


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for frontend/dist: index.html and one hashed asset."""
    dist = tmp_path_factory.mktemp("dist")
    (dist / "index.html").write_text(f"<!doctype html><title>{PAGE_MARKER}</title>")
    (dist / "assets").mkdir()
    (dist / "assets" / "app-3f2a1c.js").write_text("console.log('lipsync');\n")
    return dist


@pytest.fixture(scope="module")
def short_media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 4 s face clip and about 3 s of speech: a job of a few seconds, long enough that the
    stream shows it part-way through (the worker writes progress every 0.25 s and the stream
    polls every 0.5 s; a job of one second could go from 0 to done between two polls)."""
    folder = tmp_path_factory.mktemp("deploy-media")
    try:
        speech = samples.speech_wav(
            folder / "speech.wav", text="hello there, this job goes through the proxy"
        )
    except samples.ToolNotFoundError as error:
        pytest.skip(str(error))
    return samples.face_video(folder / "face.mp4", seconds=4.0), speech


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backend's LIPSYNC_DATA."""
    return tmp_path_factory.mktemp("deploy-backend") / "data"


@pytest.fixture(scope="module")
def backend(deploy_model_home: Path, data_dir: Path) -> Iterator[Serve]:
    require_tool("nginx", "Debian package nginx")
    env = base_env(
        deploy_model_home,
        data_dir,
        LIPSYNC_MAX_UPLOAD_BYTES=str(UPLOAD_BYTES),
        LIPSYNC_API_TOKEN=TOKEN,
    )
    server = Serve(env, data_dir.parent / "serve.log")
    server.client.headers["Authorization"] = f"Bearer {TOKEN}"
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(
    backend: Serve, page_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Nginx]:
    nginx = Nginx(
        tmp_path_factory.mktemp("nginx"),
        {
            "LIPSYNC_API_UPSTREAM": f"127.0.0.1:{backend.port}",
            "LIPSYNC_FRONTEND_ROOT": str(page_dir),
            "LIPSYNC_MAX_UPLOAD_BYTES": str(UPLOAD_BYTES),
        },
    )
    yield nginx
    nginx.stop()


@pytest.fixture(scope="module")
def client(proxy: Nginx) -> Client:
    """A client that talks to nginx, with the API token."""
    return Client(proxy.port, headers={"Authorization": f"Bearer {TOKEN}"})


def raw_get(port: int, path: str, headers: dict[str, str] | None = None) -> Any:
    """(status, header list with repeats, body) of a GET."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def header_values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name.lower()]


def post_body(port: int, body: bytes, content_type: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            "/api/jobs",
            body=body,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {TOKEN}"},
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def padded_form(total_bytes: int) -> tuple[bytes, str]:
    """A multipart form of exactly ``total_bytes`` bytes: one file part of padding."""
    boundary = "deploytestboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="v.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    padding = b"\0" * (total_bytes - len(head) - len(tail))
    return head + padding + tail, f"multipart/form-data; boundary={boundary}"


def test_the_page_is_served_with_its_caching_and_security_headers(proxy: Nginx) -> None:
    status, headers, body = raw_get(proxy.port, "/")
    assert status == 200 and PAGE_MARKER in body.decode()
    assert header_values(headers, "Cache-Control") == ["no-cache"]
    assert header_values(headers, "X-Frame-Options") == ["DENY"]
    # A client-side route gets the page too; a missing asset does not.
    status, _, body = raw_get(proxy.port, "/jobs/some-id")
    assert status == 200 and PAGE_MARKER in body.decode()
    status, headers, body = raw_get(proxy.port, "/assets/app-3f2a1c.js")
    assert status == 200 and b"lipsync" in body
    assert "max-age=315360000" in header_values(headers, "Cache-Control")[0]
    assert raw_get(proxy.port, "/assets/missing.js")[0] == 404


def test_the_api_answers_through_the_proxy_with_its_token(proxy: Nginx, client: Client) -> None:
    status, headers, body = raw_get(proxy.port, "/api/health")
    assert status == 200
    health = json.loads(body)
    assert health["status"] == "ok" and health["auth_required"] is True
    # One set of security headers: nginx's, with the backend's own hidden.
    assert header_values(headers, "X-Frame-Options") == ["DENY"]
    assert header_values(headers, "X-Content-Type-Options") == ["nosniff"]
    # The Authorization header reaches the backend; without it the backend refuses.
    assert raw_get(proxy.port, "/api/jobs")[0] == 401
    assert client.json("GET", "/api/jobs")[0] == 200


def test_a_job_runs_through_the_proxy_with_live_events_and_range_requests(
    proxy: Nginx,
    backend: Serve,
    client: Client,
    short_media: tuple[Path, Path],
) -> None:
    status, body = client.submit(*short_media, engine=ENGINE)
    assert status == 202, body
    job_id = body["id"]

    # Events must arrive while the job runs, not all at once when it ends (which is what a
    # buffering proxy does): count those that arrive while the backend still has it unfinished.
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=60)
    # As a browser asks: compressing the stream would hold events back until a block fills.
    connection.request(
        "GET",
        f"/api/jobs/{job_id}/events",
        headers={"Authorization": f"Bearer {TOKEN}", "Accept-Encoding": "gzip, deflate"},
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Encoding") is None
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    assert response.getheader("Cache-Control") == "no-cache"
    assert response.getheader("Content-Length") is None
    events: list[dict[str, Any]] = []
    live = 0
    data = ""
    for raw in response:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("data: "):
            data = line[len("data: ") :]
        elif not line and data:
            event = json.loads(data)
            data = ""
            events.append(event)
            if backend.client.job(job_id)["status"] in ("queued", "running"):
                live += 1
    connection.close()
    assert events[-1]["status"] == "succeeded", events[-1]
    assert live >= 2, f"only {live} of {len(events)} events arrived before the job finished"
    assert any(e["status"] == "running" and 0 < (e["progress"] or 0) < 1 for e in events)

    result_url = f"/api/jobs/{job_id}/result"
    status, headers, whole = client.request("GET", result_url)
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    assert headers.get("Accept-Ranges") == "bytes"
    assert int(headers["Content-Length"]) == len(whole) > 2000
    status, headers, part = client.request("GET", result_url, headers={"Range": "bytes=100-1099"})
    assert status == 206
    assert headers["Content-Range"] == f"bytes 100-1099/{len(whole)}"
    assert part == whole[100:1100]
    status, headers, tail = client.request("GET", result_url, headers={"Range": "bytes=-500"})
    assert status == 206 and tail == whole[-500:]
    # A <video> element sends no header: the token in the query string works through nginx.
    status, _, body_bytes = raw_get(proxy.port, f"{result_url}?access_token={TOKEN}")
    assert status == 200 and body_bytes == whole


def test_the_body_limit_is_the_backends_and_nginx_enforces_it(proxy: Nginx, backend: Serve) -> None:
    # At the limit nginx forwards the request (the backend judges it); one byte more and nginx
    # answers itself, with the API's JSON error, before the body reaches the backend.
    proxy.skip_log()
    body, content_type = padded_form(REQUEST_LIMIT)
    status, _ = post_body(proxy.port, body, content_type)
    forwarded = proxy.next_log_line()
    assert f"upstream=127.0.0.1:{backend.port}" in forwarded, forwarded
    assert status == 413  # the backend's own per-file limit

    body, content_type = padded_form(REQUEST_LIMIT + 1)
    status, answer = post_body(proxy.port, body, content_type)
    refused = proxy.next_log_line()
    assert status == 413
    assert "upstream=-" in refused, refused
    error = json.loads(answer)["error"]
    assert error["code"] == "too_large" and error["status"] == 413
    assert str(REQUEST_LIMIT) in error["message"]


def test_an_unreachable_api_gives_a_json_502(page_dir: Path, tmp_path: Path) -> None:
    nginx = Nginx(
        tmp_path / "nginx",
        {
            "LIPSYNC_API_UPSTREAM": f"127.0.0.1:{free_port()}",
            "LIPSYNC_FRONTEND_ROOT": str(page_dir),
            "LIPSYNC_MAX_UPLOAD_BYTES": str(UPLOAD_BYTES),
        },
    )
    try:
        status, headers, body = raw_get(nginx.port, "/api/health")
    finally:
        nginx.stop()
    assert status == 502
    assert header_values(headers, "Content-Type") == ["application/json"]
    assert json.loads(body)["error"]["code"] == "unavailable"


def test_the_container_health_checks(backend: Serve, data_dir: Path) -> None:
    script = str(DOCKER / "healthcheck.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPSYNC_")}

    def check(role: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, script, role],
            env={**env, "LIPSYNC_DATA": str(data_dir), **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert check("api", LIPSYNC_PORT=str(backend.port)).returncode == 0
    down = check("api", LIPSYNC_PORT=str(free_port()))
    assert down.returncode == 1 and "unreachable" in down.stderr
    # serve's own worker process beats from this host.
    deadline = time.monotonic() + 30
    while (worker := check("worker")).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert worker.returncode == 0, worker.stderr
    elsewhere = check("worker", LIPSYNC_DATA=str(data_dir.parent / "no-such-data"))
    assert elsewhere.returncode == 1 and "no worker" in elsewhere.stderr
