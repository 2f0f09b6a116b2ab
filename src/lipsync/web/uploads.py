"""Turning a multipart submission into a job's checked input files and options.

Werkzeug's form parser streams each file part straight into the job's own directory (our
``UploadRequest`` gives it the file to write to), so an upload of any size costs no memory.
The names the client gives files are ignored: inputs are stored as ``video`` and ``audio``.
Each file is then identified from its bytes and probed under the server's limits; any
problem raises a LipsyncError whose message and HTTP status go back to the client.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flask import Request
from werkzeug.datastructures import FileStorage

from ..errors import InputError, NoAudioStreamError, NoVideoStreamError
from ..jobs.fields import options_from_form
from ..jobs.files import AUDIO_NAME, VIDEO_NAME
from ..media.probe import MediaInfo, probe
from ..options import Limits, SyncOptions

FILE_FIELDS = ("video", "audio")


class UploadRequest(Request):
    """A request whose uploaded files are written to ``upload_dir`` (set by the view before
    the form is read) instead of the system's temporary directory."""

    upload_dir: Path | None = None

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if self.upload_dir is None:
            raise InputError("this endpoint takes no file uploads")
        return tempfile.NamedTemporaryFile(  # werkzeug writes and closes it
            "wb+", dir=self.upload_dir, prefix=".upload-", delete=False
        )


@dataclass(frozen=True)
class CheckedUpload:
    """A submission that passed every check: the stored files and what they hold."""

    options: SyncOptions
    video_path: Path
    audio_path: Path
    video_info: MediaInfo
    audio_info: MediaInfo
    audio_source: str  # "upload" or "video" (the video's own sound track)

    def input_meta(self) -> dict[str, Any]:
        """JSON-ready description of the inputs (no server paths)."""
        return {
            "video": _public_info(self.video_info),
            "audio": _public_info(self.audio_info),
            "audio_source": self.audio_source,
        }


def read_submission(request: UploadRequest, job_dir: Path, limits: Limits) -> CheckedUpload:
    """Parse the form into ``job_dir``, then check options and files (in that order, so a
    bad option is reported without probing anything). Raises LipsyncError subclasses."""
    request.upload_dir = job_dir
    files = request.files  # reads the body: files land in job_dir
    form = request.form
    try:
        stored = _store_files(files, job_dir)
    finally:
        _discard_leftovers(files, job_dir)
    text_fields = {name: form[name] for name in form}
    for name in text_fields:
        if len(form.getlist(name)) > 1:
            raise InputError(f"the field {name!r} was sent more than once")
    for name in FILE_FIELDS:
        if name in text_fields:
            raise InputError(f"{name!r} must be a file upload, not a text field")
    options: SyncOptions = options_from_form(SyncOptions, text_fields)

    video_path = stored["video"]
    video_info = probe(video_path, limits)
    if video_info.video is None:
        raise NoVideoStreamError("the video upload has no video stream or image")
    if "audio" in stored:
        audio_path, audio_source = stored["audio"], "upload"
        audio_info = probe(audio_path, limits)
        if audio_info.audio is None:
            raise NoAudioStreamError("the audio upload has no audio stream")
    else:
        audio_path, audio_source, audio_info = video_path, "video", video_info
        if audio_info.audio is None:
            raise NoAudioStreamError(
                "no audio was uploaded and the video has no sound track to use instead"
            )
    return CheckedUpload(options, video_path, audio_path, video_info, audio_info, audio_source)


def _store_files(files: Any, job_dir: Path) -> dict[str, Path]:
    unknown = sorted(set(files) - set(FILE_FIELDS))
    if unknown:
        raise InputError(f"unexpected file field {unknown[0]!r}; send 'video' and 'audio'")
    stored: dict[str, Path] = {}
    for name, target_name in (("video", VIDEO_NAME), ("audio", AUDIO_NAME)):
        parts: list[FileStorage] = files.getlist(name)
        if len(parts) > 1:
            raise InputError(f"send one {name!r} file, not {len(parts)}")
        if not parts:
            continue
        part = parts[0]
        stream_name = getattr(part.stream, "name", None)
        part.stream.close()
        if not isinstance(stream_name, str):
            raise InputError(f"the {name!r} upload could not be stored")
        target = job_dir / target_name
        os.replace(stream_name, target)
        stored[name] = target
    if "video" not in stored:
        raise InputError("the form has no 'video' file (a video or a still image)")
    return stored


def _discard_leftovers(files: Any, job_dir: Path) -> None:
    for part in files.values():
        part.stream.close()
    for leftover in job_dir.glob(".upload-*"):
        leftover.unlink(missing_ok=True)


def _public_info(info: MediaInfo) -> dict[str, Any]:
    data = info.to_dict()
    data.pop("path", None)
    return data
