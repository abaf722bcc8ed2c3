"""Jobs and the worker pool that runs them.

States use the /status vocabulary internally (in_queue, in_progress, completed, failed,
cancelled); the server maps them to the result vocabulary when answering.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED = (
    "in_queue", "in_progress", "completed", "failed", "cancelled")
TERMINAL = (COMPLETED, FAILED, CANCELLED)
RESULT_NAMES = {IN_QUEUE: "in_queue", IN_PROGRESS: "in_progress", COMPLETED: "succeeded",
                FAILED: "failed", CANCELLED: "cancelled"}


@dataclass
class Job:
    request_id: str
    model_id: str
    owner: str                     # the token that submitted it
    payload: dict
    processing_time: float
    state: str = IN_QUEUE
    accepted_at: float | None = None     # time.monotonic()
    started_at: float | None = None
    finished_at: float | None = None
    created_wall: float = 0.0            # time.time(), for the ISO timestamps of /result
    finished_wall: float | None = None
    output_urls: list[str] = field(default_factory=list)
    error: str | None = None
    cost: float | None = None
    stuck: bool = False                  # never leaves the queue (stick_next_jobs)
    fail_message: str | None = None      # ends failed with this text (fail_next_jobs)
    hold: threading.Event | None = field(default=None, repr=False)   # stays in progress until set (hold_next_jobs)
    price_usd: float = 0.0
    inputs: list[bytes] = field(default_factory=list, repr=False)   # encoded reference images, in order
    media: list[tuple[str, bytes]] = field(default_factory=list, repr=False)  # (kind, bytes) of video/audio inputs
    queue_seq: int = 0                   # order of arrival in the queue (JobQueue.position)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


class JobQueue:
    """FIFO queue served by ``workers`` daemon threads.

    ``run`` is called outside the lock with the job already in_progress; it must finish the
    job (state, finished_at) and should wait with ``stop.wait`` so shutdown stays prompt.
    """

    def __init__(self, workers: int, run: Callable[[Job], None], lock: threading.RLock,
                 stop: threading.Event):
        self._run = run
        self._lock = lock
        self._cond = threading.Condition(lock)
        self._stop = stop
        self._pending: deque[Job] = deque()
        self._stuck: list[Job] = []
        # position() without a search of the line (100,000 queued jobs polled at once): the
        # pending jobs' queue_seq ascend from the head; _holes are the seqs cancelled from the
        # middle of the line (rare), sorted, dropped once the head has passed them.
        self._seq = itertools.count(1)
        self._holes: list[int] = []
        self._threads = [threading.Thread(target=self._loop, name=f"emulator-worker-{i}", daemon=True)
                         for i in range(max(1, int(workers)))]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def wake_all(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def put(self, job: Job) -> None:
        with self._cond:
            job.state = IN_QUEUE
            if job.stuck:
                self._stuck.append(job)
            else:
                job.queue_seq = next(self._seq)
                self._pending.append(job)
                self._cond.notify()

    def position(self, job: Job) -> int | None:
        """0-based place in line (stuck jobs count as behind every live one), None if not queued."""
        with self._lock:
            if job.state != IN_QUEUE:
                return None
            if job.stuck:
                try:
                    return len(self._pending) + self._stuck.index(job)
                except ValueError:
                    return None
            if not self._pending:
                return None
            head = self._pending[0].queue_seq
            if not head <= job.queue_seq <= self._pending[-1].queue_seq:
                return None
            drop = bisect.bisect_right(self._holes, head)
            if drop:
                del self._holes[:drop]
            return job.queue_seq - head - bisect.bisect_left(self._holes, job.queue_seq)

    def cancel(self, job: Job) -> bool:
        with self._lock:
            if job.state != IN_QUEUE:
                return False
            if job in self._pending:
                self._pending.remove(job)
                bisect.insort(self._holes, job.queue_seq)
            elif job in self._stuck:
                self._stuck.remove(job)
            job.state = CANCELLED
            job.finished_at = time.monotonic()
            job.finished_wall = time.time()
            return True

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                while not self._pending and not self._stop.is_set():
                    self._cond.wait(0.5)
                if self._stop.is_set():
                    return
                job = self._pending.popleft()
                job.state = IN_PROGRESS
                job.started_at = time.monotonic()
            try:
                self._run(job)
            except Exception as exc:  # a bug here must not kill the worker and hang every later job
                with self._lock:
                    if not job.terminal:
                        job.state = FAILED
                        job.error = f"emulator internal error: {exc!r}"
                        job.finished_at = time.monotonic()
                        job.finished_wall = time.time()
