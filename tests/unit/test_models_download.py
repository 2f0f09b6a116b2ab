"""Downloads and URL installs against a local HTTP server (127.0.0.1 only, never the network)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lipsync.errors import Cancelled, ChecksumError, DownloadError
from lipsync.models import registry
from lipsync.models.download import download, part_path
from lipsync.models.registry import ModelFile, ModelSpec
from lipsync.models.store import ModelStore
from lipsync.progress import CancelToken, ProgressEvent

PAYLOAD = os.urandom(2_500_000)  # several 1 MiB chunks, so progress and cancel have steps


@dataclass
class FakeServer:
    """What the local server serves and how it misbehaves; it records every request."""

    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    no_range: set[str] = field(default_factory=set)
    cut_next: dict[str, int] = field(default_factory=dict)  # path -> bytes before dropping
    redirects: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


def _handler_for(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            range_header = self.headers.get("Range")
            state.requests.append((self.path, range_header))
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = state.files.get(self.path)
            if data is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            if range_header and self.path not in state.no_range:
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            cut = state.cut_next.pop(self.path, None)
            if cut is not None:
                # Announce the whole body, send part of it, and hang up.
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up early (cancel, size mismatch) is expected here


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer()
    httpd = _QuietServer(("127.0.0.1", 0), _handler_for(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --- download() ------------------------------------------------------------------------


def test_download_writes_part_and_reports_bytes(server: FakeServer, tmp_path: Path) -> None:
    server.files["/w.pth"] = PAYLOAD
    events: list[ProgressEvent] = []
    part = download(server.url("/w.pth"), tmp_path / "w.pth", progress=events.append)
    assert part == tmp_path / "w.pth.part"
    assert part.read_bytes() == PAYLOAD
    assert not (tmp_path / "w.pth").exists()  # renaming is the store's job
    assert {e.stage for e in events} == {"download"}
    assert {e.unit for e in events} == {"bytes"}
    assert events[-1].done == events[-1].total == len(PAYLOAD)
    assert [e.done for e in events] == sorted(e.done for e in events)


def test_dropped_connection_is_resumed_with_a_range_request(
    server: FakeServer, tmp_path: Path
) -> None:
    server.files["/w.pth"] = PAYLOAD
    server.cut_next["/w.pth"] = 300_000
    part = download(server.url("/w.pth"), tmp_path / "w.pth", expected_size=len(PAYLOAD))
    assert part.read_bytes() == PAYLOAD
    assert server.requests == [("/w.pth", None), ("/w.pth", "bytes=300000-")]


def test_interrupted_download_keeps_part_and_next_call_resumes(
    server: FakeServer, tmp_path: Path
) -> None:
    server.files["/w.pth"] = PAYLOAD
    server.cut_next["/w.pth"] = 123_456
    with pytest.raises(DownloadError, match="resume"):
        download(server.url("/w.pth"), tmp_path / "w.pth", retries=0)
    assert part_path(tmp_path / "w.pth").stat().st_size == 123_456

    part = download(server.url("/w.pth"), tmp_path / "w.pth", retries=0)
    assert part.read_bytes() == PAYLOAD
    assert server.requests[-1] == ("/w.pth", "bytes=123456-")


def test_server_without_range_support_restarts_from_zero(
    server: FakeServer, tmp_path: Path
) -> None:
    server.files["/w.pth"] = PAYLOAD
    server.no_range.add("/w.pth")
    part_path(tmp_path / "w.pth").write_bytes(b"stale bytes that must not survive")
    part = download(server.url("/w.pth"), tmp_path / "w.pth")
    assert part.read_bytes() == PAYLOAD
    assert server.requests == [("/w.pth", "bytes=33-")]


def test_416_with_a_complete_part_counts_as_done(server: FakeServer, tmp_path: Path) -> None:
    server.files["/w.pth"] = PAYLOAD
    part_path(tmp_path / "w.pth").write_bytes(PAYLOAD)
    part = download(server.url("/w.pth"), tmp_path / "w.pth")
    assert part.read_bytes() == PAYLOAD
    assert server.requests == [("/w.pth", f"bytes={len(PAYLOAD)}-")]


def test_complete_part_of_expected_size_needs_no_request(
    server: FakeServer, tmp_path: Path
) -> None:
    part_path(tmp_path / "w.pth").write_bytes(PAYLOAD)
    download(server.url("/w.pth"), tmp_path / "w.pth", expected_size=len(PAYLOAD))
    assert server.requests == []


def test_http_error_names_status_and_url(server: FakeServer, tmp_path: Path) -> None:
    url = server.url("/missing.pth")
    with pytest.raises(DownloadError, match=r"HTTP 404") as caught:
        download(url, tmp_path / "m.pth")
    assert url in str(caught.value)
    assert not part_path(tmp_path / "m.pth").exists()


def test_size_offered_by_server_must_match_expected(server: FakeServer, tmp_path: Path) -> None:
    server.files["/w.pth"] = PAYLOAD
    with pytest.raises(DownloadError, match=f"offers {len(PAYLOAD)} bytes but 10 were expected"):
        download(server.url("/w.pth"), tmp_path / "w.pth", expected_size=10)


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.org/w.pth", "data:,hello", "/local/path", "http://"],
)
def test_only_http_and_https_urls_are_fetched(url: str, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="only http:// and https://"):
        download(url, tmp_path / "w.pth")


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/w.pth"])
def test_redirect_to_another_scheme_is_refused(
    server: FakeServer, tmp_path: Path, target: str
) -> None:
    server.redirects["/r.pth"] = target
    with pytest.raises(DownloadError, match="non-HTTP"):
        download(server.url("/r.pth"), tmp_path / "r.pth")


def test_cancel_between_chunks_keeps_the_part(server: FakeServer, tmp_path: Path) -> None:
    server.files["/w.pth"] = PAYLOAD
    token = CancelToken()

    def cancel_after_first_chunk(event: ProgressEvent) -> None:
        if event.done > 0:
            token.cancel("stop")

    with pytest.raises(Cancelled):
        download(
            server.url("/w.pth"),
            tmp_path / "w.pth",
            progress=cancel_after_first_chunk,
            cancel=token,
        )
    kept = part_path(tmp_path / "w.pth").stat().st_size
    assert 0 < kept < len(PAYLOAD)


# --- ModelStore.install from a URL -------------------------------------------------------


def _register_tiny(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    spec = ModelSpec(
        name="tiny",
        task="lipsync",
        description="test model",
        license="test",
        obtain="the test",
        files=(ModelFile("tiny.pth", hashlib.sha256(data).hexdigest(), len(data)),),
    )
    monkeypatch.setitem(registry.REGISTRY, "tiny", spec)


def test_url_install_resumes_and_verifies(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_tiny(monkeypatch, PAYLOAD)
    server.files["/tiny.pth"] = PAYLOAD
    server.cut_next["/tiny.pth"] = 1_000_000
    store = ModelStore(tmp_path)
    stages: set[str] = set()
    installed = store.install(
        "tiny", server.url("/tiny.pth"), progress=lambda e: stages.add(e.stage)
    )
    assert installed.path.read_bytes() == PAYLOAD
    assert installed.files[0].source == server.url("/tiny.pth")
    assert not installed.trusted
    assert stages == {"download", "verify"}
    assert server.requests[-1] == ("/tiny.pth", "bytes=1000000-")
    assert sorted(p.name for p in installed.path.parent.iterdir()) == ["manifest.json", "tiny.pth"]


def test_url_install_with_wrong_bytes_installs_nothing(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_tiny(monkeypatch, PAYLOAD)
    server.files["/tiny.pth"] = bytes(len(PAYLOAD))  # right size, wrong content
    store = ModelStore(tmp_path)
    with pytest.raises(ChecksumError, match="does not match"):
        store.install("tiny", server.url("/tiny.pth"))
    assert not store.is_installed("tiny")
    assert [p.name for p in store.model_dir("tiny").iterdir()] == []


def test_url_install_keeps_previous_install_when_new_bytes_are_bad(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_tiny(monkeypatch, PAYLOAD)
    server.files["/good.pth"] = PAYLOAD
    server.files["/bad.pth"] = PAYLOAD[::-1]
    store = ModelStore(tmp_path)
    store.install("tiny", server.url("/good.pth"))
    with pytest.raises(ChecksumError):
        store.install("tiny", server.url("/bad.pth"))
    assert store.path("tiny").read_bytes() == PAYLOAD
    assert store.verify("tiny").ok


def test_partial_file_from_another_url_is_not_resumed(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_tiny(monkeypatch, PAYLOAD)
    server.files["/b.pth"] = PAYLOAD
    store = ModelStore(tmp_path)
    target = store.model_dir("tiny") / "tiny.pth"
    target.parent.mkdir(parents=True)
    part_path(target).write_bytes(PAYLOAD[:1000][::-1])
    target.with_name("tiny.pth.part.url").write_text(server.url("/a.pth"))
    installed = store.install("tiny", server.url("/b.pth"))
    assert installed.path.read_bytes() == PAYLOAD
    assert server.requests == [("/b.pth", None)]


def test_trusted_url_install_accepts_another_build(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register_tiny(monkeypatch, PAYLOAD)
    other = PAYLOAD[:4096]
    server.files["/other.pth"] = other
    store = ModelStore(tmp_path)
    with pytest.raises(DownloadError, match="offers 4096 bytes"):
        store.install("tiny", server.url("/other.pth"))
    installed = store.install("tiny", server.url("/other.pth"), trust=True)
    assert installed.trusted
    assert installed.path.read_bytes() == other
