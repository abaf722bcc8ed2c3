"""The threads a batch's blocking steps run on (HTTP calls, file writes): a few while the client
is busy computing, more only while steps wait for the network.

A job holds a thread for one blocking call at a time. Against a fast service the calls finish in
a millisecond and the client is bound by its own CPU (the GIL): then every thread beyond a few
only hands the GIL around (measured at 256 jobs in flight: 32 threads cost ~45% more CPU per job
and twice the context switches of 8; issue 21). Against a distant service a call waits a round
trip, and steps that queue behind busy threads delay polls and submits: then more threads help.
So the pool runs at most ``allowed`` steps at once, starting at ``floor``; when steps had to wait
for a thread while the process used little CPU (it was waiting, not computing) and the machine's
CPUs were not all taken (a process starved of CPU by others also uses little, but more threads
would not help it), ``allowed`` grows by ``step`` up to ``ceiling``; when the process is busy
computing it shrinks back to ``floor``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

GROW_BELOW = 0.25      # process CPU, cores: steps that wait while it computes this little are waiting on I/O
SHRINK_ABOVE = 0.6     # ... and above this it is bound by its own CPU: more threads would only contend


class AdaptivePool(ThreadPoolExecutor):
    # A ThreadPoolExecutor only in type (asyncio's default executor must be one): its own queue and
    # threads, none of the base class's.
    def __init__(self, floor: int = 8, ceiling: int = 32, *, name: str = "runcomfy-batch", step: int = 4,
                 window: float = 0.5, clock=time.monotonic, cpu=time.process_time, loadavg=os.getloadavg):
        super().__init__(max_workers=max(1, int(ceiling)), thread_name_prefix=name)
        self._loadavg, self._cpus = loadavg, os.cpu_count() or 1
        self.floor = max(1, int(floor))
        self.ceiling = max(self.floor, int(ceiling))
        self.allowed = self.floor
        self.peak_allowed = self.floor
        self.step, self.window, self.name = max(1, int(step)), window, name
        self._clock, self._cpu = clock, cpu
        self._items: deque = deque()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._busy = 0
        self._shutdown = False
        self._waited = False
        self._win_t, self._win_cpu = clock(), cpu()

    def submit(self, fn, /, *args, **kwargs):
        """A concurrent Future; called on a running event loop (``run_in_executor``,
        ``asyncio.to_thread``), an asyncio future of that loop instead, which the loop's
        ``wrap_future`` passes through as is: the step's result then reaches the loop with one
        ``call_soon_threadsafe``, without the Future's condition and the two futures chained across
        threads (about 12% of the batch's CPU at 256 jobs in flight, py-spy, issue 21)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        f = loop.create_future() if loop is not None else Future()
        with self._cond:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._items.append((f, fn, args, kwargs))
            if len(self._items) > self.allowed - self._busy:     # more steps than free slots: some wait
                self._waited = True
            self._adjust()
            self._wake()
        return f

    def _wake(self) -> None:
        """(Lock held.) Enough threads awake or started for the queued steps, within ``allowed``."""
        want = min(len(self._items), self.allowed - self._busy)
        if want <= 0:
            return
        if self._idle:
            self._cond.notify(min(want, self._idle))
            want -= self._idle
        while want > 0 and len(self._threads) < self.allowed:
            t = threading.Thread(target=self._work, name=f"{self.name}_{len(self._threads)}", daemon=True)
            self._threads.append(t)
            t.start()
            want -= 1

    def _adjust(self) -> None:
        """(Lock held.) At most once a window: grow while steps wait and the process mostly waits too."""
        now = self._clock()
        span = now - self._win_t
        if span < self.window:
            return
        rate = (self._cpu() - self._win_cpu) / span
        if self._waited and rate < GROW_BELOW and self.allowed < self.ceiling and self._cpus_free():
            self.allowed = min(self.ceiling, self.allowed + self.step)
            self.peak_allowed = max(self.peak_allowed, self.allowed)
        elif rate > SHRINK_ABOVE and self.allowed > self.floor:
            self.allowed = max(self.floor, self.allowed - self.step)
        self._waited = False
        self._win_t, self._win_cpu = now, self._cpu()

    def _cpus_free(self) -> bool:
        try:
            return self._loadavg()[0] < self._cpus
        except OSError:
            return True

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._items or self._busy >= self.allowed:
                    if self._shutdown and not self._items:
                        return
                    self._idle += 1
                    try:
                        self._cond.wait()
                    finally:
                        self._idle -= 1
                f, fn, args, kwargs = self._items.popleft()
                self._busy += 1
            try:
                concurrent = isinstance(f, Future)
                # An asyncio future's state is read across threads: at worst the step runs for nothing.
                if f.set_running_or_notify_cancel() if concurrent else not f.cancelled():
                    try:
                        result, exc = fn(*args, **kwargs), None
                    except BaseException as e:
                        result, exc = None, e
                    if concurrent:
                        _settle(f, result, exc)
                    else:
                        try:
                            f.get_loop().call_soon_threadsafe(_settle, f, result, exc)
                        except RuntimeError:
                            pass                 # the loop is closed: nobody awaits the step
                    del result, exc
            finally:
                del f, fn, args, kwargs
                with self._cond:
                    self._busy -= 1       # the loop takes the next step itself: no other thread woken

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        # (An asyncio future's cancel() from here would run off its loop's thread: those are only
        # dropped; their awaiting tasks are gone with the loop by then.)
        with self._cond:
            self._shutdown = True
            if cancel_futures:
                while self._items:
                    f = self._items.popleft()[0]
                    if isinstance(f, Future):
                        f.cancel()
            self._cond.notify_all()
            threads = list(self._threads)
        if wait:
            for t in threads:
                t.join()


def _settle(f, result, exc) -> None:
    """A step's outcome into its future (a concurrent one, or an asyncio one on its loop's thread)."""
    if f.done():
        return                                   # cancelled while the step ran
    if exc is not None:
        f.set_exception(exc)
    else:
        f.set_result(result)
