"""When to ask /status next.

Completion should be noticed quickly (the peers notice 1.5 to 5 s late) without hammering
the service: poll fast while a job is young, back off to a cap (gently for the first ten
seconds, where short jobs end, then faster), slow down while other jobs are ahead in the
queue, and add jitter so many nodes do not poll in lockstep. With the defaults a 120 s job
costs about 150 status calls and is noticed about 0.5 s late at the median; a 10 s job
about 0.2 s late. ``python -m runcomfy bench`` measures both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..api import QUEUED


@dataclass
class PollPolicy:
    first: float = 0.2           # first interval, seconds
    growth: float = 0.02         # added per second of running time, up to `knee`
    knee: float = 10.0           # seconds
    late_growth: float = 0.1     # added per second after `knee`
    cap: float = 1.0             # longest interval while running
    queued_cap: float = 3.0      # longest interval while other jobs are ahead
    per_queue_position: float = 0.5
    jitter: float = 0.1          # +/- fraction
    rng: random.Random = field(default_factory=random.Random, repr=False)
    # Poll /result instead of /status: it answers an unfinished request with its state (API README),
    # so a finished job costs one call less (no queue position, though). The batch sets it.
    via_result: bool = False

    def base(self, running_for: float) -> float:
        t = max(0.0, running_for)
        return min(self.cap, self.first + self.growth * min(t, self.knee)
                   + self.late_growth * max(0.0, t - self.knee))

    def ramp_seconds(self) -> float:
        """How long until polling reaches the cap."""
        at_knee = self.first + self.growth * self.knee
        if at_knee >= self.cap:
            return (self.cap - self.first) / self.growth if self.growth > 0 else 0.0
        return self.knee + ((self.cap - at_knee) / self.late_growth if self.late_growth > 0 else float("inf"))

    def describe(self) -> str:
        return (f"first {self.first:g} s, +{self.growth:g} s per s to {self.knee:g} s, then "
                f"+{self.late_growth:g} s per s, cap {self.cap:g} s, jitter {self.jitter:g}")

    def interval(self, state: str | None, running_for: float, queue_position: int | None) -> float:
        base = self.base(running_for)
        if state == QUEUED and queue_position is not None and queue_position > 1:
            # Nothing can finish before the jobs ahead of it do.
            base = max(base, min(self.queued_cap, self.per_queue_position * queue_position))
        return base * self.rng.uniform(1 - self.jitter, 1 + self.jitter)


class FixedPoll(PollPolicy):
    """The naive way (a fixed sleep), kept for the benchmark's baseline."""

    def __init__(self, every: float):
        super().__init__()
        self.every = every

    def interval(self, state, running_for, queue_position) -> float:
        return self.every
