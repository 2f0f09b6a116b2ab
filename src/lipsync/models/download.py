"""Moving model bytes: resumable HTTP(S) downloads (urllib only), hashed local copies, hashing.

The caller (the model store) verifies a finished ``.part`` and renames it; this module only
moves and hashes bytes. An interrupted or cancelled download leaves its ``.part`` so the next
call resumes it with a ``Range`` request.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO

from .. import __version__
from ..errors import DownloadError
from ..progress import CancelToken, ProgressCallback, ProgressEvent

ALLOWED_SCHEMES = ("http", "https")
CHUNK_BYTES = 1 << 20
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")
_UNSATISFIABLE_RANGE = re.compile(r"^bytes\s+\*/(\d+)$")


class _ConnectionLost(Exception):
    """The transfer stopped before the server's announced end; worth a resumed retry."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (mirrors redirect to CDNs) but never to a scheme other than http(s)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise DownloadError(f"refusing redirect from {req.full_url} to non-HTTP URL {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def check_url(url: str) -> str:
    """Return ``url`` if it is an http(s) URL with a host; raise DownloadError otherwise."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.netloc:
        raise DownloadError(f"only http:// and https:// URLs can be downloaded, got {url!r}")
    return url


def part_path(dest: Path) -> Path:
    """Where ``download`` writes ``dest`` while the transfer is incomplete."""
    return dest.with_suffix(dest.suffix + ".part")


def download(
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    timeout: float = 30.0,
    retries: int = 2,
) -> Path:
    """Download ``url`` into ``dest`` + ".part", resuming a ``.part`` left by an earlier try.

    Returns the ``.part`` path, complete; verifying and renaming it is the caller's job.
    ``expected_size`` (bytes), when known, rejects a server that offers a different length and
    lets an already complete ``.part`` count as done. Progress is reported as
    ``ProgressEvent("download", done, total, unit="bytes")``; ``cancel`` is checked between
    chunks and raises ``Cancelled`` with the ``.part`` kept. A dropped connection is resumed up
    to ``retries`` times. ``timeout`` is per socket operation, in seconds.
    Raises DownloadError for a refused URL, an HTTP error status, or a failed transfer.
    """
    check_url(url)
    part = part_path(dest)
    part.parent.mkdir(parents=True, exist_ok=True)
    opener = urllib.request.build_opener(_HttpOnlyRedirects())
    attempt = 0
    while True:
        try:
            _transfer(opener, url, part, expected_size, progress, cancel, timeout)
            return part
        except _ConnectionLost as lost:
            if attempt >= retries:
                raise DownloadError(
                    f"{lost}; run the same command again to resume from the partial file"
                ) from None
        attempt += 1
        # A short, growing pause: a dropped connection is often a momentary network hiccup.
        time.sleep(min(0.25 * 2**attempt, 4.0))


def _transfer(
    opener: urllib.request.OpenerDirector,
    url: str,
    part: Path,
    expected_size: int | None,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
    timeout: float,
) -> None:
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        part.unlink()
        have = 0
    if expected_size is not None and have == expected_size and have > 0:
        _emit(progress, have, expected_size)
        return

    request = urllib.request.Request(url, headers=_headers(have))
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have > 0:
            if _range_means_complete(error.headers.get("Content-Range"), have, expected_size):
                _emit(progress, have, have)
                return
            # The server's file is shorter than our partial one: the .part is stale.
            part.unlink()
            raise _ConnectionLost(f"partial file of {url} did not match the server's") from None
        if 300 <= error.code < 400:
            # urllib itself refuses redirects to file:, data: and other non-network schemes.
            raise DownloadError(
                f"refusing redirect from {url} to a non-HTTP URL ({error.reason})"
            ) from None
        raise DownloadError(f"HTTP {error.code} {error.reason} for {url}") from None
    except urllib.error.URLError as error:
        raise _ConnectionLost(f"cannot reach {url}: {error.reason}") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
        raise _ConnectionLost(f"connection to {url} failed: {error}") from None

    with response:
        start, total = _plan(response, have, url)
        if expected_size is not None and total is not None and total != expected_size:
            raise DownloadError(
                f"{url} offers {total} bytes but {expected_size} were expected; "
                "it is not the file the registry describes"
            )
        total = total if total is not None else expected_size
        mode = "ab" if start > 0 else "wb"
        with open(part, mode) as sink:
            _copy_body(response, sink, start, total, url, progress, cancel)
            sink.flush()
            os.fsync(sink.fileno())


def _headers(have: int) -> dict[str, str]:
    headers = {"User-Agent": f"lipsync/{__version__}", "Accept-Encoding": "identity"}
    if have > 0:
        headers["Range"] = f"bytes={have}-"
    return headers


def _range_means_complete(content_range: str | None, have: int, expected: int | None) -> bool:
    if expected is not None:
        return have == expected
    match = _UNSATISFIABLE_RANGE.match(content_range or "")
    return match is not None and int(match.group(1)) == have


def _plan(response: http.client.HTTPResponse, have: int, url: str) -> tuple[int, int | None]:
    """Return (byte offset the body starts at, total file length or None)."""
    length_header = response.headers.get("Content-Length")
    body_length = int(length_header) if length_header and length_header.isdigit() else None
    if response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match is None or int(match.group(1)) != have:
            raise DownloadError(f"{url} answered a range request with an unexpected range")
        total_text = match.group(3)
        return have, int(total_text) if total_text != "*" else None
    if response.status == 200:
        # The server ignored Range (or there was no partial file): start over from byte 0.
        return 0, body_length
    raise DownloadError(f"HTTP {response.status} {response.reason} for {url}")


def _copy_body(
    response: http.client.HTTPResponse,
    sink: IO[bytes],
    done: int,
    total: int | None,
    url: str,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> None:
    _emit(progress, done, total)
    while True:
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            chunk = response.read(CHUNK_BYTES)
        except (http.client.IncompleteRead, TimeoutError, ConnectionError) as error:
            sink.flush()
            raise _ConnectionLost(
                f"connection lost after {done} bytes of {url} ({error})"
            ) from None
        if not chunk:
            break
        sink.write(chunk)
        done += len(chunk)
        if total is not None and done > total:
            raise DownloadError(f"{url} sent more than the {total} bytes announced")
        _emit(progress, done, total)
    if total is not None and done < total:
        raise _ConnectionLost(f"connection lost after {done} of {total} bytes of {url}")


def _emit(progress: ProgressCallback | None, done: int, total: int | None) -> None:
    if progress is not None:
        progress(ProgressEvent("download", done, total, unit="bytes"))


def hash_file(
    path: Path,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> str:
    """SHA-256 of a file as lowercase hex, read in 1 MiB chunks ("verify" progress in bytes)."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            if cancel is not None:
                cancel.raise_if_cancelled()
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(ProgressEvent("verify", done, total, unit="bytes"))
    return digest.hexdigest()


def copy_hashing(
    origin: Path, part: Path, progress: ProgressCallback | None, cancel: CancelToken | None
) -> tuple[str, int]:
    """Copy ``origin`` to ``part`` and hash the bytes written; return (sha256 hex, size)."""
    digest = hashlib.sha256()
    total = origin.stat().st_size
    done = 0
    try:
        with open(origin, "rb") as reader, open(part, "wb") as writer:
            if progress is not None:
                progress(ProgressEvent("copy", 0, total, unit="bytes"))
            while chunk := reader.read(CHUNK_BYTES):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                writer.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(ProgressEvent("copy", done, total, unit="bytes"))
    except BaseException:
        # A half copy is worthless (unlike a half download): never leave it behind.
        part.unlink(missing_ok=True)
        raise
    return digest.hexdigest(), done


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's) data to disk; best effort where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
