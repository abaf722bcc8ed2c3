"""The batch's progress line and final summary (stderr while running, summary on stdout)."""

from __future__ import annotations

from ..pricing import format_usd

import sys
import time
from collections import deque


def _duration(s: float) -> str:
    s = max(0, int(round(s)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class ProgressBar:
    """``[######----] 412/1000 · 3 failed · 64 running · $12.36 · ~2m10s left (~$17.64 more)``"""

    def __init__(self, total: int, stream=None, width: int = 24, interval: float | None = None,
                 clock=time.monotonic):
        self.total = total
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.width = width
        self.interval = interval if interval is not None else (0.25 if self.tty else 5.0)
        self.clock = clock
        self.started = clock()
        self._last = -1e9
        self._ends: deque[float] = deque(maxlen=64)   # when recent jobs ended: the rate of the recent past
        self.done = self.failed = self.skipped = self.running = 0
        self.cost = 0.0
        self.unit_price: float | None = None

    def job_ended(self) -> None:
        self._ends.append(self.clock())

    def eta(self) -> float | None:
        left = self.total - self.done - self.failed - self.skipped
        if left <= 0:
            return 0.0
        if len(self._ends) < 2:
            return None
        span = self._ends[-1] - self._ends[0]
        if span <= 0:
            return None
        return left * span / (len(self._ends) - 1)

    def line(self) -> str:
        finished = self.done + self.failed + self.skipped
        frac = finished / self.total if self.total else 1.0
        fill = int(frac * self.width)
        parts = [f"[{'#' * fill}{'-' * (self.width - fill)}] {finished}/{self.total}"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        parts.append(f"{self.running} running")
        parts.append(format_usd(self.cost) or "$0.00")
        eta = self.eta()
        left = self.total - finished
        per_job = (self.cost / self.done) if self.done and self.cost else self.unit_price
        more = f" (~{format_usd(left * per_job)} more)" if per_job is not None and left else ""
        parts.append((f"~{_duration(eta)} left" if eta is not None else "estimating time left") + more)
        return " · ".join(parts)

    def render(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = self.line()
        try:
            if self.tty:
                self.stream.write("\r\x1b[K" + text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        self.render(force=True)
        if self.tty:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
