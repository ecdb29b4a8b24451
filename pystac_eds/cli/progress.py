"""The progress line of a long search on a terminal's stderr."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

Page = dict[str, Any]


def isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """``12,340 items, 124 pages, 850 items/s`` on a terminal's stderr, rewritten in place.

    Shown only for searches that last longer than ``delay`` seconds, never when stderr is
    not a terminal (pipes, notebooks, CI logs), nor when the items themselves are being
    printed on the same terminal.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        stdout_shown: bool = False,
        delay: float = 1.0,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.enabled = isatty(stream) and not stdout_shown
        self.delay, self.interval, self.clock = delay, interval, clock
        self.items = self.pages = 0
        self.started = clock()
        self._shown_at: float | None = None
        self._width = 0

    def track(self, pages: Iterable[Page]) -> Iterator[Page]:
        for page in pages:
            self.items += len(page.get("features", []))
            self.pages += 1
            self._maybe_show()
            yield page

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        return (
            f"{self.items:,} items, {self.pages:,} pages, "
            f"{self.items / elapsed:,.0f} items/s, {elapsed:.0f} s"
        )

    def _maybe_show(self) -> None:
        now = self.clock()
        if not self.enabled or now - self.started < self.delay:
            return
        if self._shown_at is not None and now - self._shown_at < self.interval:
            return
        # Marked shown before writing: a Ctrl-C landing just after the write must still
        # find the line open, so done() ends it before the error message.
        self._shown_at = now
        self._write(self.line(), end="")

    def _write(self, text: str, end: str) -> None:
        # Pad to the longest line so far: \r returns to the start but does not erase.
        self._width = max(self._width, len(text))
        self.stream.write("\r" + text.ljust(self._width) + end)
        self.stream.flush()

    def done(self) -> None:
        """Leave the final count on its own line, if a progress line was shown."""
        if self._shown_at is not None:
            self._write(self.line(), end="\n")
