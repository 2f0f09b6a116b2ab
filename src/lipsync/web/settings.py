"""The web server's settings: the jobs configuration plus what only the HTTP side needs."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..jobs.config import JobsConfig

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class WebSettings:
    """``api_token``: when set, every /api request except /api/health must carry it as
    ``Authorization: Bearer <token>``. ``trusted_hosts``: Host header values accepted (DNS
    rebinding defence); empty accepts any. ``allowed_origins``: other origins (e.g. a dev
    server's ``http://localhost:5173``) whose pages may POST and DELETE; the server's own
    origin always may. ``frontend_dir``: the built page (index.html and assets), served at /
    when it exists. ``max_event_streams``: open event streams at once (each holds an HTTP
    thread; beyond it clients get 503 and poll instead). ``max_upload_bytes`` caps one POST's
    body."""

    jobs: JobsConfig
    host: str = "127.0.0.1"
    port: int = 8000
    api_token: str | None = None
    trusted_hosts: tuple[str, ...] = LOCAL_HOSTS
    frontend_dir: Path = Path("frontend/dist")
    allowed_origins: tuple[str, ...] = ()
    max_event_streams: int = 8
    sse_poll_s: float = 0.5
    sse_keepalive_s: float = 15.0
    sse_max_s: float = 300.0
    # Werkzeug applies this to its read buffer too (64 KiB chunks): keep it well above that.
    max_form_field_bytes: int = 500_000
    max_form_parts: int = 32

    @property
    def max_upload_bytes(self) -> int:
        # Two files of the per-file limit plus room for the form's other fields.
        return 2 * self.jobs.limits.max_file_bytes + 1024 * 1024

    def replace(self, **changes: Any) -> WebSettings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        data_dir: Path | None = None,
    ) -> WebSettings:
        """Settings from ``LIPSYNC_*`` variables: ``LIPSYNC_API_TOKEN``,
        ``LIPSYNC_TRUSTED_HOSTS`` (comma-separated, added to the local names and the bound
        host), ``LIPSYNC_ALLOWED_ORIGINS`` (comma-separated), ``LIPSYNC_FRONTEND_DIR``, and the
        jobs variables (JobsConfig.from_env)."""
        env = os.environ if environ is None else environ
        extra = tuple(h.strip() for h in env.get("LIPSYNC_TRUSTED_HOSTS", "").split(",") if h)
        bound = () if host in ("0.0.0.0", "::", "") else (host,)
        trusted: tuple[str, ...] = tuple(dict.fromkeys((*LOCAL_HOSTS, *bound, *extra)))
        if "*" in extra:
            trusted = ()
        return cls(
            jobs=JobsConfig.from_env(env, data_dir=data_dir),
            host=host,
            port=port,
            api_token=env.get("LIPSYNC_API_TOKEN") or None,
            trusted_hosts=trusted,
            frontend_dir=Path(env.get("LIPSYNC_FRONTEND_DIR") or "frontend/dist"),
            allowed_origins=tuple(
                o.strip().rstrip("/")
                for o in env.get("LIPSYNC_ALLOWED_ORIGINS", "").split(",")
                if o
            ),
        )
