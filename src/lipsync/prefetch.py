"""Run an iterator in a background thread, a few items ahead of its consumer.

Decoding (FFmpeg) releases the GIL, so on two cores the next frames decode while the pipeline
tracks faces or renders mouths on the current ones. Errors from the producer are re-raised in
the consumer; when the consumer stops early (an error, a cancel), the producer stops too and
its iterator is closed in its own thread, so files are released.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar, cast

T = TypeVar("T")

_POLL_S = 0.1
_DONE = object()
_QUEUE_BYTES = 128 * 1024**2  # frames waiting, at most, in one queue between two stages


def queue_depth(batch_size: int, frame_bytes: int) -> int:
    """How many frames the decoder may run ahead of an engine, and the engine ahead of the
    encoder, when the engine takes and returns ``batch_size`` frames at a time.

    A whole batch plus some slack: with shorter queues the decoder and the encoder stand idle
    in turn while the engine works through a batch. Capped at ``_QUEUE_BYTES`` of frames of
    ``frame_bytes`` each, never below 4.
    """
    return max(4, min(batch_size + 8, _QUEUE_BYTES // max(frame_bytes, 1)))


def prefetch(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """Yield ``items`` in order, produced up to ``depth`` items ahead by a worker thread."""
    slots: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not offer((item, None)):
                    break
        except BaseException as exc:  # handed to the consumer
            offer((_DONE, exc))
            return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
        offer((_DONE, None))

    worker = threading.Thread(target=produce, name="lipsync-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield cast(T, item)
    finally:
        stop.set()
        worker.join()
