"""The emulator in a child process, for ``python -m runcomfy bench``.

In the benchmark's own process the emulator would compete with the client for the GIL, which a
remote server never does; in a child it has its own interpreter (it still shares this machine's
CPUs). The benchmark needs a few figures only the emulator knows (job timestamps, /status calls
per job) and a few controls (processing times, a prerendered output): a small command channel
over a ``multiprocessing.Pipe`` gives them, one command at a time.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
import traceback
from collections import Counter

START_TIMEOUT = 60.0
COMMAND_TIMEOUT = 60.0


class ChildEmulatorError(RuntimeError):
    """An error raised in the child; its message carries the child's traceback."""


# --- child side ----------------------------------------------------------------------------------

class _Commands:
    """What the parent may ask; each method runs in the child's command loop."""

    def __init__(self, emu):
        self.emu = emu
        self._seen = 0                      # emu.calls already counted into _status_calls
        self._status_calls: Counter = Counter()

    def job(self, rid: str) -> dict:
        # Timestamps are the child's time.monotonic(). On Linux that is CLOCK_MONOTONIC, one clock
        # for the whole system, so the parent can compare them with its own time.monotonic().
        emu = self.emu
        with emu._lock:
            job = emu.jobs[rid]
            # Count each call once (no rescan per job); the emulator lets go of old records.
            start = max(0, self._seen - getattr(emu, "calls_dropped", 0))
            new = emu.calls[start:]
            self._seen = getattr(emu, "calls_dropped", 0) + len(emu.calls)
            out = {"accepted_at": job.accepted_at, "started_at": job.started_at,
                   "finished_at": job.finished_at, "state": job.state, "processing_time": job.processing_time}
        for c in new:
            if c.endpoint == "status":
                parts = c.path.split("?", 1)[0].rstrip("/").split("/")   # .../requests/<rid>/status
                self._status_calls[parts[-2]] += 1
        out["status_calls"] = self._status_calls[rid]
        return out

    def queue_processing_times(self, seconds: list[float]) -> None:
        self.emu.queue_processing_times(list(seconds))

    def set_lengths(self, lengths: dict) -> None:
        """Processing time per job, chosen by the payload's seed (other jobs: the defaults)."""
        table = {k: float(v) for k, v in lengths.items()}
        self.emu.processing_time_hook = lambda job: table.get(job.payload.get("seed"))

    def reuse_output(self, rid: str) -> bool:
        """Serve the output of finished job ``rid``, rendered once, to every later job: the
        rendering stands for the remote GPU's work and must not take this machine's CPU."""
        emu = self.emu
        render = getattr(emu, "_render", None)
        if not callable(render):
            return False
        try:
            files = list(render(emu.jobs[rid]))
        except Exception:
            return False
        emu._render = lambda job: list(files)
        return True

    def internal_errors(self) -> list[str]:
        with self.emu._lock:
            return list(self.emu.internal_errors)

    def cpu_seconds(self) -> float:
        return time.process_time()

    def batch_stats(self) -> dict:
        """Submits accepted, calls per endpoint and status, and how many prompts were accepted
        more than once (a duplicate submit), for the batch benchmark."""
        emu = self.emu
        with emu._lock:
            prompts = Counter(str(j.payload.get("prompt")) for j in emu.jobs.values())
            calls = Counter(emu.call_counts)
        return {"accepted": emu.submits_accepted, "jobs": len(prompts),
                "duplicates": sum(n - 1 for n in prompts.values() if n > 1),
                "calls": {f"{ep}:{st}": n for (ep, st), n in calls.items()}}

    def storm(self, start_after: float, duration: float, rate: float, seed: int, retry_after: float) -> None:
        """A seeded 429 storm: from ``start_after`` s on, for ``duration`` s, each submit, status
        and result call is answered 429 (with Retry-After) with probability ``rate``."""
        import random

        from runcomfy.emulator.faults import Fault
        emu = self.emu
        rng = random.Random(seed)
        t0 = time.monotonic() + start_after
        lock = threading.Lock()
        take = emu.faults.take

        def storm_take(endpoint):
            if endpoint in ("submit", "status", "result") and t0 <= time.monotonic() < t0 + duration:
                with lock:
                    hit = rng.random() < rate
                if hit:
                    return Fault(endpoint, "http", {"status": 429, "retry_after": retry_after})
            return take(endpoint)
        emu.faults.take = storm_take


def _child_main(conn, kwargs: dict) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when this child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from runcomfy.emulator import Emulator
    try:
        emu = Emulator(**kwargs).start()
    except BaseException:
        conn.send((False, traceback.format_exc()))
        return
    try:
        conn.send((True, emu.base_url))
        commands = _Commands(emu)
        while True:
            try:
                name, args = conn.recv()
            except (EOFError, OSError):     # the parent is gone: nobody to serve
                return
            if name == "stop":
                break
            try:
                conn.send((True, getattr(commands, name)(*args)))
            except Exception:
                conn.send((False, traceback.format_exc()))
    finally:
        emu.stop()
    try:
        conn.send((True, None))             # the answer to "stop", once the server is down
    except (OSError, ValueError):
        pass


# --- parent side ---------------------------------------------------------------------------------

class ChildEmulator:
    """``Emulator(**kwargs)`` in a spawned child process (not forked: the parent has threads).
    Safe to call from several threads: one command is in flight at a time."""

    def __init__(self, start_timeout: float = START_TIMEOUT, **kwargs):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._lock = threading.Lock()
        self._closed = False
        self._broken = False        # a command timed out: its late answer would desync the pipe
        self.process = ctx.Process(target=_child_main, args=(child_conn, kwargs), daemon=True,
                                   name="runcomfy-bench-emulator")
        self.process.start()
        child_conn.close()          # ours: so a dead child reads as EOF here
        try:
            self.base_url: str = self._answer(start_timeout, "start")
        except BaseException:
            self.close()
            raise

    # commands -------------------------------------------------------------------------------

    def job(self, rid: str) -> dict:
        """accepted_at, started_at, finished_at (child's time.monotonic()), state, processing_time,
        status_calls."""
        return self._call("job", rid)

    def queue_processing_times(self, seconds: list[float]) -> None:
        self._call("queue_processing_times", [float(s) for s in seconds])

    def set_lengths(self, lengths: dict) -> None:
        self._call("set_lengths", dict(lengths))

    def reuse_output(self, rid: str) -> bool:
        return self._call("reuse_output", rid)

    def internal_errors(self) -> list[str]:
        return self._call("internal_errors")

    def cpu_seconds(self) -> float:
        return self._call("cpu_seconds")

    def batch_stats(self) -> dict:
        return self._call("batch_stats")

    def storm(self, start_after: float, duration: float, rate: float, seed: int, retry_after: float) -> None:
        self._call("storm", float(start_after), float(duration), float(rate), int(seed), float(retry_after))

    # plumbing -------------------------------------------------------------------------------

    def _call(self, name: str, *args, timeout: float = COMMAND_TIMEOUT):
        with self._lock:
            if self._closed or self._broken:
                raise RuntimeError("the child emulator is " + ("closed" if self._closed else "unusable"))
            self._conn.send((name, args))
            return self._answer(timeout, name)

    def _answer(self, timeout: float, what: str):
        if not self._conn.poll(timeout):
            self._broken = True
            raise TimeoutError(f"the child emulator did not start within {timeout:g} s" if what == "start"
                               else f"the child emulator did not answer {what!r} within {timeout:g} s")
        try:
            ok, value = self._conn.recv()
        except (EOFError, OSError):
            self._broken = True
            self.process.join(timeout=1)
            raise RuntimeError(f"the child emulator exited (exit code {self.process.exitcode}) "
                               f"during {what!r}") from None
        if not ok:
            raise ChildEmulatorError(f"{what} failed in the child emulator:\n{value}")
        return value

    def close(self) -> None:
        """Stop the emulator and end the child (politely, then terminate, then kill)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not self._broken and self.process.is_alive():
                try:
                    self._conn.send(("stop", ()))
                    self._conn.poll(10)
                except (OSError, ValueError):
                    pass
            self._conn.close()
            self.process.join(timeout=10)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(timeout=5)

    stop = close

    def __enter__(self) -> "ChildEmulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
