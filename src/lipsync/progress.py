"""One progress protocol for every consumer: CLI bars, the job store, the web page.

Stages report ``ProgressEvent(stage, done, total)``; a callback receives them. Work that can
take long checks a ``CancelToken`` between batches, so cancelling stops within one batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from .errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of ``total`` units of ``stage`` are finished; ``total`` is None when unknown."""

    stage: str
    done: int
    total: int | None
    unit: str = "frames"


ProgressCallback = Callable[[ProgressEvent], None]


class CancelToken:
    """Thread-safe cancellation flag, checked by the pipeline between batches."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = "cancelled"

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)


class Reporter:
    """Sends progress events for one stage to an optional callback, and checks cancellation.

    ``step(n)`` advances the stage; ``track(iterable)`` advances once per item.
    """

    def __init__(
        self,
        stage: str,
        total: int | None,
        callback: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        unit: str = "frames",
    ) -> None:
        self.stage = stage
        self.total = total
        self.done = 0
        self.unit = unit
        self._callback = callback
        self._cancel = cancel
        self._emit()

    def _emit(self) -> None:
        if self._callback is not None:
            self._callback(ProgressEvent(self.stage, self.done, self.total, self.unit))

    def check(self) -> None:
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()

    def step(self, n: int = 1) -> None:
        self.check()
        self.done += n
        self._emit()

    def finish(self) -> None:
        if self.total is None or self.done != self.total:
            self.total = self.done
            self._emit()

    def track(self, items: Iterable[T]) -> Iterator[T]:
        for item in items:
            self.check()
            yield item
            self.step()
