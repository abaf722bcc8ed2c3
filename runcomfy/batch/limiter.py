"""How many jobs may be in flight: additive increase, multiplicative decrease.

The service answers 429 (often with Retry-After) when a client sends too much. The limit starts
at ``start`` (at most ``maximum``); each 429 halves it (at most once per ``cooldown``, so one burst
of 429s is one halving) and holds new submits until the Retry-After has passed; each successful
submit adds one. (TCP's +1/limit per success recovered too slowly here: after a storm of a
minute the limit sat near 1 for long after the service was fine again, costing more wall time
than the storm itself.)
"""

from __future__ import annotations

import asyncio
import time


class AdaptiveLimit:
    def __init__(self, maximum: int, start: int | None = None, minimum: int = 1, cooldown: float = 2.0,
                 clock=time.monotonic):
        if maximum < 1:
            raise ValueError(f"concurrency must be at least 1, got {maximum}")
        self.maximum, self.minimum = int(maximum), max(1, int(minimum))
        self.limit = float(min(self.maximum, start or self.maximum))
        self.cooldown = cooldown
        self.clock = clock
        self.in_flight = 0
        self.paused_until = 0.0
        self._last_cut = -1e9
        self.cuts = 0
        self.peak = 0
        self._changed = asyncio.Event()

    @property
    def allowed(self) -> int:
        return max(self.minimum, int(self.limit))

    def throttled(self, retry_after: float | None = None) -> None:
        """A 429: halve (once per cooldown) and hold new submits for Retry-After (or 1 s)."""
        now = self.clock()
        if now - self._last_cut >= self.cooldown:
            self.limit = max(float(self.minimum), self.limit / 2)
            self._last_cut = now
            self.cuts += 1
        self.paused_until = max(self.paused_until, now + (retry_after if retry_after else 1.0))
        self._changed.set()

    def succeeded(self) -> None:
        self.limit = min(float(self.maximum), self.limit + 1.0)
        self._changed.set()

    async def acquire(self, stop: asyncio.Event | None = None) -> bool:
        """Wait for a slot; False if ``stop`` was set meanwhile."""
        while True:
            if stop is not None and stop.is_set():
                return False
            wait = self.paused_until - self.clock()
            if wait <= 0 and self.in_flight < self.allowed:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                return True
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=max(0.01, min(wait, 0.5)) if wait > 0 else 0.5)
            except asyncio.TimeoutError:
                pass

    def release(self) -> None:
        self.in_flight -= 1
        self._changed.set()
