"""Upload progress of a submit's body, and the uplink throughput it measures.

A submit carries megabytes of inline images: seconds on a home uplink, during which the node
would otherwise show nothing. ``ProgressBody`` hands the already-built body to ``requests`` as an
iterable of slices of it (a ``memoryview``: no second copy) with its length, so the request keeps
its Content-Length and urllib3 sends slice after slice; between slices it tells a listener how
much is sent and how fast. The slices are large (256 KiB) so the send is not slowed by Python
work between them; listeners are called at most every ``EVENT_INTERVAL`` seconds.

Who listens is said explicitly: ``client.submit(model, payload, progress=fn, uplink=estimate)``;
runcomfy/run passes its RunContext's listener and uplink estimate.

Each finished send also feeds an ``UplinkEstimate``, the throughput recently observed, which the
``auto (lossless)`` upload format uses to weigh encode time against bytes on the wire. ``UPLINK``
is the estimate used when a caller names none (the process's default).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator

SLICE_BYTES = 256 * 1024
EVENT_INTERVAL = 0.2
# Bodies smaller than this are sent as plain bytes: nothing to watch, and too short to time.
STREAM_MIN_BYTES = 256 * 1024
# Assumed uplink before any submit was measured (bytes/s): 20 Mbit/s, a common home/office uplink.
DEFAULT_UPLINK_BPS = 20e6 / 8
UPLINK_SAMPLES = 5


@dataclass(frozen=True)
class UploadProgress:
    sent: int
    total: int
    elapsed: float
    done: bool = False

    @property
    def rate(self) -> float | None:
        """Bytes per second so far; None before there is a meaningful time."""
        return self.sent / self.elapsed if self.elapsed > 0.01 and self.sent else None

    @property
    def fraction(self) -> float:
        return self.sent / self.total if self.total else 1.0

    def text(self) -> str:
        rate = self.rate
        tail = f", {rate / 1e6:.1f} MB/s" if rate else ""
        return f"sending {self.sent / 1e6:.1f} of {self.total / 1e6:.1f} MB{tail}"


Listener = Callable[[UploadProgress], None]


class UplinkEstimate:
    """Throughput of the last few large submits (bytes over seconds, summed: big sends weigh more)."""

    def __init__(self, default_bps: float = DEFAULT_UPLINK_BPS, samples: int = UPLINK_SAMPLES):
        self.default_bps = float(default_bps)
        self._samples: deque[tuple[int, float]] = deque(maxlen=samples)
        self._lock = threading.Lock()

    def record(self, nbytes: int, seconds: float) -> None:
        if nbytes >= STREAM_MIN_BYTES and seconds > 0:
            with self._lock:
                self._samples.append((int(nbytes), float(seconds)))

    def bytes_per_s(self) -> float:
        with self._lock:
            if not self._samples:
                return self.default_bps
            return sum(b for b, _ in self._samples) / sum(s for _, s in self._samples)

    @property
    def measured(self) -> bool:
        with self._lock:
            return bool(self._samples)

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()


UPLINK = UplinkEstimate()


class ProgressBody:
    """An iterable request body over ``data`` with a known length (see the module docstring).

    Iterable once per send; a re-send (the client's retry of a submit that certainly did not
    arrive) iterates again from the start."""

    def __init__(self, data: bytes, listener: Listener | None = None, *, uplink: UplinkEstimate | None = None,
                 slice_bytes: int = SLICE_BYTES, interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._view = memoryview(data).cast("B")
        self.listener = listener
        self.uplink = uplink if uplink is not None else UPLINK
        self.slice_bytes = int(slice_bytes)
        self.interval = float(EVENT_INTERVAL if interval is None else interval)
        self.clock = clock
        self.sent = 0
        self.started_at: float | None = None
        self.finished_at: float | None = None

    def __len__(self) -> int:
        return len(self._view)

    def _emit(self, done: bool) -> None:
        if self.listener is None:
            return
        try:
            self.listener(UploadProgress(self.sent, len(self._view), self.clock() - self.started_at, done))
        except Exception:
            pass  # a progress display must never break the send

    def __iter__(self) -> Iterator[memoryview]:
        total = len(self._view)
        self.sent, self.started_at, self.finished_at = 0, self.clock(), None
        last = self.started_at
        self._emit(False)
        for i in range(0, total, self.slice_bytes):
            part = self._view[i:i + self.slice_bytes]
            yield part                      # returns here once urllib3 has sent it
            self.sent += len(part)
            now = self.clock()
            if now - last >= self.interval and self.sent < total:
                last = now
                self._emit(False)
        # All handed to the socket; finish() reports the end once the server has answered.
        self._emit(False)

    def finish(self) -> None:
        """The answer arrived, so the server has read the whole body: only now is the send over.
        (The last megabyte or so leaves the iteration at once into the kernel's send buffer,
        so the end of the iteration alone would overstate the uplink.)"""
        if self.started_at is None or self.sent < len(self._view):
            return
        self.finished_at = self.clock()
        self.uplink.record(len(self._view), self.finished_at - self.started_at)
        self._emit(True)


def stream_body(data: bytes, listener: Listener | None = None, uplink: UplinkEstimate | None = None):
    """``data`` as a ProgressBody reporting to ``listener`` and measuring into ``uplink`` (default
    ``UPLINK``), or unchanged when small."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < STREAM_MIN_BYTES:
        return data
    return ProgressBody(data, listener, uplink=uplink)


def request(session, method: str, url: str, *, data=None, listener: Listener | None = None,
            uplink: UplinkEstimate | None = None, **kwargs):
    """``session.request(method, url, data=data, **kwargs)``, a large ``data`` streamed with
    progress to ``listener`` (see the module docstring); the answer is returned as is."""
    body = stream_body(data, listener, uplink)
    resp = session.request(method, url, data=body, **kwargs)
    if isinstance(body, ProgressBody):
        body.finish()
    return resp
