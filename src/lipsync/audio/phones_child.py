"""Phone recognition in a child process, so that it runs beside the pipeline's first pass.

pocketsphinx holds the GIL for its whole decode (1.4 s for 20 s of speech on this project's
2-core reference machine), so in a thread it would stall every Python stage beside it. A
plain ``python -m lipsync.audio.phones_child`` process is used rather than multiprocessing:
spawning re-imports the caller's ``__main__``, which a library cannot assume is guarded.

Protocol: the parent writes the sample rate (4 bytes, little-endian) and float32 samples to
the child's stdin; the child writes the phones as JSON to stdout, or an error message to
stderr with exit status 3 for a ModelError.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading

import numpy as np

from ..errors import LipsyncError, ModelError
from ..progress import CancelToken
from ..threads import child_environment
from .phones import SAMPLE_RATE, Phone, recognise_phones

_MODEL_ERROR_STATUS = 3


class BackgroundPhones:
    """``recognise_phones(samples, sample_rate)``, started now in a child process and
    collected with ``result``. Where the child cannot be started or fails for a reason other
    than the model, the phones are recognised in this process instead."""

    def __init__(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
        self._samples = samples
        self._sample_rate = sample_rate
        self._output: bytes = b""
        self._errors: bytes = b""
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_environment(),
            )
        except OSError:
            self._process = None
            return
        # Feeding and reading in a thread: the pipe buffers are far smaller than the audio.
        payload = (
            int(sample_rate).to_bytes(4, "little")
            + np.ascontiguousarray(samples, dtype=np.float32).tobytes()
        )
        self._talker = threading.Thread(target=self._talk, args=(payload,), daemon=True)
        self._talker.start()

    def _talk(self, payload: bytes) -> None:
        assert self._process is not None
        with contextlib.suppress(OSError, ValueError):
            self._output, self._errors = self._process.communicate(payload)

    def result(self, cancel: CancelToken | None = None) -> list[Phone]:
        """The phones (see ``recognise_phones``); raises its ModelError, or Cancelled."""
        process = self._process
        if process is None:
            return recognise_phones(self._samples, self._sample_rate, cancel=cancel)
        try:
            while self._talker.is_alive():
                if cancel is not None:
                    cancel.raise_if_cancelled()
                self._talker.join(timeout=0.1)
        finally:
            self.close()
        if process.returncode == 0:
            try:
                return [
                    Phone(str(p[0]), float(p[1]), float(p[2])) for p in json.loads(self._output)
                ]
            except (ValueError, TypeError, IndexError):
                pass
        elif process.returncode == _MODEL_ERROR_STATUS:
            raise ModelError(self._errors.decode("utf-8", "replace").strip())
        return recognise_phones(self._samples, self._sample_rate, cancel=cancel)

    def close(self) -> None:
        """Stop the child process if it still runs."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def _main() -> int:
    data = sys.stdin.buffer.read()
    sample_rate = int.from_bytes(data[:4], "little")
    samples = np.frombuffer(data[4:], dtype=np.float32)
    try:
        phones = recognise_phones(samples, sample_rate)
    except ModelError as error:
        sys.stderr.write(str(error))
        return _MODEL_ERROR_STATUS
    except LipsyncError as error:
        sys.stderr.write(str(error))
        return 1
    json.dump([(p.label, p.start_s, p.end_s) for p in phones], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
