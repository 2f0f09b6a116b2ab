"""Job files under the media root: one directory per job, named by the job's random id.

Layout (the root may be a directory shared by every machine)::

    jobs/<id>/video        the uploaded picture (video or still), as received
    jobs/<id>/audio        the uploaded speech, when it came as its own file
    jobs/<id>/result.mp4   the finished video (written as .result-<claim>.mp4, then renamed)
    jobs/<id>/.*           temporaries (names starting with a dot), removed after a crash

Client-supplied file names never reach a path: inputs get fixed names, and the store keeps
paths relative to the root, so the root can be mounted elsewhere on another machine.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..errors import InputError
from .store import is_job_id

VIDEO_NAME = "video"
AUDIO_NAME = "audio"
RESULT_NAME = "result.mp4"


class MediaRoot:
    """The directory holding every job's files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.jobs_dir = self.root / "jobs"

    def ensure(self) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)

    def job_dir(self, job_id: str) -> Path:
        if not is_job_id(job_id):
            raise InputError(f"not a job id: {job_id!r}")
        return self.jobs_dir / job_id

    def create_job_dir(self, job_id: str) -> Path:
        """Create the job's private directory (owner-only permissions)."""
        path = self.job_dir(job_id)
        self.ensure()
        path.mkdir(mode=0o700)
        return path

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def resolve(self, relative: str) -> Path:
        """The absolute path of a stored relative path; refuses anything outside the root."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise InputError(f"stored path {relative!r} lies outside the media root")
        return path

    def temp_result(self, job_id: str, claim: str) -> Path:
        return self.job_dir(job_id) / f".result-{claim}.mp4"

    def remove_job(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def remove_temporaries(self, job_id: str) -> None:
        """Delete what an interrupted attempt left in the job's directory: every temporary
        there (partial uploads, results and the writer's own part files) starts with a dot."""
        directory = self.job_dir(job_id)
        for partial in directory.glob(".*"):
            if partial.is_file():
                partial.unlink(missing_ok=True)

    def job_dirs(self) -> list[str]:
        if not self.jobs_dir.is_dir():
            return []
        return [entry.name for entry in os.scandir(self.jobs_dir) if is_job_id(entry.name)]

    def remove_orphans(self, known_ids: set[str], older_than_s: float) -> int:
        """Delete job directories that no job row owns (an upload refused or cut off
        midway, a server stopped between writing files and the row), once they are
        ``older_than_s`` old. Returns how many were removed."""
        removed = 0
        cutoff = time.time() - older_than_s
        for job_id in self.job_dirs():
            if job_id in known_ids:
                continue
            path = self.jobs_dir / job_id
            try:
                if path.stat().st_mtime > cutoff:
                    continue
            except OSError:
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        return removed

    def free_bytes(self) -> int:
        """Free space on the media root's file system, in bytes."""
        self.ensure()
        return shutil.disk_usage(self.root).free
