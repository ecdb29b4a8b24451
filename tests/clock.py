"""A clock the test moves by hand, for everything that takes ``clock=``: expiry without
waiting."""

from __future__ import annotations

import time


class FakeClock:
    """Wall-clock seconds that change only when the test sets or advances ``now``."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now
