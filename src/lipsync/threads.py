"""How many threads the libraries' own pools get (OpenCV, BLAS, LiteRT, x264).

The pipeline already runs its stages side by side: a decoding thread, the engine, and child
processes for encoding and for phone recognition. On a machine with few cores those fill it,
and a library's pool of its own only adds hand-offs and spinning. Measured on two cores, 20 s
of 720p through the built-in engine: OpenCV's pool cost about 1.3 s of system time spent
waking its workers, x264's frame threads added up to a fifth to its CPU per frame, and
NumPy's OpenBLAS split matrix products of a few hundred elements over two threads that then
spun waiting for more work: 4 % of the run's CPU (0.7 s), for products that took 0.1 %. On
such a machine every pool gets one thread; on a larger one the libraries choose.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

SMALL_MACHINE_CORES = 2


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def small_machine() -> bool:
    """True when the pipeline's own threads already fill the cores."""
    return available_cores() <= SMALL_MACHINE_CORES


def child_environment() -> dict[str, str]:
    """The environment for the pipeline's child processes (encoding, phone recognition): on a
    small machine their OpenBLAS gets one thread from the start, as ``library_threads`` gives
    this process, so that no idle worker of theirs spins beside the pipeline."""
    environment = dict(os.environ)
    if small_machine():
        environment["OPENBLAS_NUM_THREADS"] = "1"
    return environment


@contextlib.contextmanager
def library_threads() -> Iterator[None]:
    """For one run: OpenCV and BLAS on the calling thread only on a small machine; restored
    after.

    Both settings are process-wide, so a run that overlaps another in the same process may
    leave the other's choice in place; only speed depends on it.
    """
    import cv2
    from threadpoolctl import threadpool_limits

    if not small_machine():
        yield
        return
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        cv2.setNumThreads(before)
