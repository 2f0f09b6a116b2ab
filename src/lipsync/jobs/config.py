"""Settings shared by the web server, the workers and the sweeper, read from the environment.

Every process of one deployment must agree on these (same database, queue and media root), so
they come from environment variables that a service manager sets once for all of them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import OptionsError
from ..options import Limits

GIB = 1024**3


def default_data_dir() -> Path:
    """``$LIPSYNC_DATA`` if set, else the platform's user data directory for "lipsync"."""
    env = os.environ.get("LIPSYNC_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("lipsync"))


@dataclass(frozen=True)
class JobsConfig:
    """Where jobs live and how they are run. Durations in seconds, sizes in bytes.

    ``database_url``: SQLAlchemy URL of the job store (SQLite file under ``data_dir`` by
    default; Postgres for several machines). ``redis_url``: the queue's Redis (None: an SQLite
    queue file under ``data_dir``, for one machine). ``media_root``: uploads and results, one
    directory per job; a shared directory when workers run on other machines.
    """

    data_dir: Path
    database_url: str
    media_root: Path
    redis_url: str | None = None
    queue_name: str = "lipsync"
    max_attempts: int = 3
    heartbeat_s: float = 2.0
    stale_after_s: float = 30.0
    progress_interval_s: float = 0.25
    sweep_interval_s: float = 5.0
    result_ttl_s: float = 7 * 24 * 3600.0
    min_free_bytes: int = 1 * GIB
    max_queued: int = 100
    limits: Limits = field(default_factory=lambda: Limits(max_file_bytes=2 * GIB))
    check_models_on_submit: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise OptionsError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.stale_after_s <= 2 * self.heartbeat_s:
            raise OptionsError(
                f"stale_after_s ({self.stale_after_s}) must exceed twice heartbeat_s "
                f"({self.heartbeat_s}), or live workers would be taken for dead"
            )
        if self.max_queued < 1:
            raise OptionsError(f"max_queued must be at least 1, got {self.max_queued}")

    @property
    def queue_path(self) -> Path:
        """The SQLite file that holds the queue when no Redis is configured."""
        return self.data_dir / "queue.db"

    @property
    def queue_backend(self) -> str:
        return "redis" if self.redis_url else "sqlite"

    def replace(self, **changes: Any) -> JobsConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, data_dir: Path | None = None
    ) -> JobsConfig:
        """Build the configuration from ``LIPSYNC_*`` variables (see docs/jobs.md).

        Raises OptionsError naming a variable whose value is malformed.
        """
        env = os.environ if environ is None else environ
        if data_dir is None:
            data_dir = Path(env["LIPSYNC_DATA"]).expanduser() if env.get("LIPSYNC_DATA") else None
        data_dir = data_dir or default_data_dir()
        database_url = env.get("LIPSYNC_DATABASE_URL") or f"sqlite:///{data_dir / 'jobs.db'}"
        media_root = Path(env.get("LIPSYNC_MEDIA_ROOT") or data_dir / "media").expanduser()
        max_upload = _number(env, "LIPSYNC_MAX_UPLOAD_BYTES", 2 * GIB, int)
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            media_root=media_root,
            redis_url=env.get("LIPSYNC_REDIS_URL") or None,
            queue_name=env.get("LIPSYNC_QUEUE_NAME") or "lipsync",
            max_attempts=_number(env, "LIPSYNC_MAX_ATTEMPTS", 3, int),
            heartbeat_s=_number(env, "LIPSYNC_HEARTBEAT_S", 2.0, float),
            stale_after_s=_number(env, "LIPSYNC_STALE_AFTER_S", 30.0, float),
            sweep_interval_s=_number(env, "LIPSYNC_SWEEP_INTERVAL_S", 5.0, float),
            result_ttl_s=_number(env, "LIPSYNC_RESULT_TTL_S", 7 * 24 * 3600.0, float),
            min_free_bytes=_number(env, "LIPSYNC_MIN_FREE_BYTES", GIB, int),
            max_queued=_number(env, "LIPSYNC_MAX_QUEUED", 100, int),
            limits=Limits(max_file_bytes=max_upload),
            check_models_on_submit=env.get("LIPSYNC_CHECK_MODELS", "1") not in ("0", "false"),
        )


def _number(env: Mapping[str, str], name: str, default: Any, kind: type) -> Any:
    text = env.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise OptionsError(f"{name} must be a number, got {text!r}") from None
    if value < 0:
        raise OptionsError(f"{name} must not be negative, got {text!r}")
    return value
