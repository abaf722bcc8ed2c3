"""How much a job's result files may become in memory, counted before it is allocated.

Two budgets, both checked from a file's header before any sample or pixel is decoded, and again
while decoding (headers can lie, so decoding stops at what was reserved):

- **per job** (``JobBudget``): decoded pixels and audio samples of every result file of one
  generation, all its variations together. Past it the result is refused (the job is paid; its
  URLs stay in the error and the journal), with the limit that was hit.
- **per process** (``PROCESS``): bytes being decoded at the same time by every node of this
  process (a byte semaphore). A decode waits for its share; one that could never fit is refused.
  A file's share is held while it decodes and released when its decode returns, so no decode
  waits while holding a share (no deadlock between concurrent nodes).

``job_decoding()`` opens one job's budget for the code inside it (a context variable, so the
pipeline's decode threads see it); a decode outside it gets a budget of its own.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time

from ... import settings
from ..codecs.containers import DecodeLimitError, TruncatedMediaError  # noqa: F401 (re-exported)

MiB = 1 << 20

# Per job. 100 Mpx is what an IMAGE batch may hold (nodes/tensors.py MAX_BATCH_PIXELS, ~1.2 GB as float);
# 64 M audio samples are 11 min of 48 kHz stereo (256 MB as float32), longer than any model's
# audio output today. A hostile 296 KB FLAC of 29 min of silence is refused from its header.
MAX_JOB_PIXELS = 100_000_000
MAX_JOB_AUDIO_SAMPLES = 64_000_000
# Per process: decoded bytes in flight across every running node (RUNCOMFY_DECODE_BUDGET_MB).
PROCESS_BUDGET_BYTES = settings.decode_budget_mb() * MiB
# How long a decode waits for other nodes' decodes to release their share.
PROCESS_WAIT_S = 120.0

# Bytes a decode may peak at, per unit of output: Pillow holds RGB as 4 bytes a pixel next to
# the 3-byte array; alpha, 16-bit and palette images go through a converted copy too.
IMAGE_PEAK_BYTES_PER_PX = {"RGB": 7, "L": 4, "1": 4, "P": 8}
IMAGE_PEAK_DEFAULT = 16
AUDIO_PEAK_BYTES_PER_SAMPLE = 4      # float32, written in place (plus one decoded frame)


class ProcessBudget:
    """A semaphore counted in bytes."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self.in_use = 0
        self.peak = 0
        self._cond = threading.Condition()

    def acquire(self, nbytes: int, what: str = "", wait_s: float = PROCESS_WAIT_S,
                should_abort=None) -> int:
        nbytes = max(0, int(nbytes))
        if nbytes > self.capacity:
            raise DecodeLimitError("process-wide decode", nbytes // MiB, self.capacity // MiB, "MiB", what)
        end = time.monotonic() + wait_s
        with self._cond:
            while self.in_use + nbytes > self.capacity:
                left = end - time.monotonic()
                if left <= 0 or (should_abort is not None and should_abort()):
                    raise DecodeLimitError("process-wide decode (other nodes are decoding "
                                           f"{self.in_use // MiB} MiB right now)", nbytes // MiB,
                                           self.capacity // MiB, "MiB", what)
                self._cond.wait(min(left, 0.5))
            self.in_use += nbytes
            self.peak = max(self.peak, self.in_use)
        return nbytes

    def release(self, nbytes: int) -> None:
        with self._cond:
            self.in_use = max(0, self.in_use - int(nbytes))
            self._cond.notify_all()

    @contextlib.contextmanager
    def share(self, nbytes: int, what: str = ""):
        got = self.acquire(nbytes, what)
        try:
            yield got
        finally:
            self.release(got)


PROCESS = ProcessBudget(PROCESS_BUDGET_BYTES)


class JobBudget:
    """Pixels and audio samples one job's results may decode to, all files together."""

    def __init__(self, max_pixels: int | None = None, max_audio_samples: int | None = None):
        self.max_pixels = int(MAX_JOB_PIXELS if max_pixels is None else max_pixels)
        self.max_audio_samples = int(MAX_JOB_AUDIO_SAMPLES if max_audio_samples is None else max_audio_samples)
        self.pixels = 0
        self.audio_samples = 0
        self._lock = threading.Lock()

    def take_pixels(self, n: int, what: str = "") -> None:
        with self._lock:
            if self.pixels + n > self.max_pixels:
                raise DecodeLimitError("per-job result pixels", self.pixels + int(n), self.max_pixels, "pixels",
                                       what + (f" (with {self.pixels:,} pixels of earlier results)"
                                               if self.pixels else ""))
            self.pixels += int(n)

    def audio_left(self) -> int:
        with self._lock:
            return self.max_audio_samples - self.audio_samples

    def take_audio(self, n: int, what: str = "") -> None:
        with self._lock:
            if self.audio_samples + n > self.max_audio_samples:
                raise DecodeLimitError("per-job audio samples", self.audio_samples + int(n),
                                       self.max_audio_samples, "samples (all channels)",
                                       what + (f" (with {self.audio_samples:,} samples of earlier results)"
                                               if self.audio_samples else ""))
            self.audio_samples += int(n)

    def give_back_audio(self, n: int) -> None:
        with self._lock:
            self.audio_samples = max(0, self.audio_samples - int(n))


_CURRENT: contextvars.ContextVar[JobBudget | None] = contextvars.ContextVar("runcomfy_job_budget", default=None)


@contextlib.contextmanager
def job_decoding(budget: JobBudget | None = None):
    """Every result decoded inside (threads started from here too) counts against one job budget."""
    token = _CURRENT.set(budget or JobBudget())
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def current() -> JobBudget:
    """The open job's budget, or a fresh one (a decode on its own)."""
    return _CURRENT.get() or JobBudget()
