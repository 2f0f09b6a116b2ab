"""Progress bars for the CLI: one tqdm bar per stage, driven by ProgressEvents."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

from ..progress import ProgressEvent

STAGE_LABELS = {
    "faces": "faces   ",
    "sync": "lip-sync",
    "download": "download",
    "copy": "copy    ",
    "enhance": "enhance ",
}


class ProgressBars:
    """A ProgressCallback that draws one bar per stage on stderr (silent when ``quiet``)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        if event.stage != self._stage:
            self.close()
            self._stage = event.stage
            bytes_unit = event.unit == "bytes"
            self._bar = tqdm(
                total=event.total,
                desc=STAGE_LABELS.get(event.stage, event.stage),
                unit="B" if bytes_unit else " " + event.unit.rstrip("s"),
                unit_scale=bytes_unit,
                file=sys.stderr,
                dynamic_ncols=True,
                leave=True,
            )
        bar = self._bar
        if event.total is not None and bar.total != event.total:
            bar.total = event.total
        bar.update(event.done - bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._stage = None

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
