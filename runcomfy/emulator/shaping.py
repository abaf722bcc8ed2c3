"""Link emulation for the emulator: the bandwidth and latency of a home or office connection.

A benchmark on loopback sees none of the seconds a user's uplink spends on megabytes of inline
images. ``Link`` makes the emulator's sockets behave like a link of a given uplink (client ->
server), downlink (server -> client) and round-trip time:

- every byte the server reads (request line, headers, body) passes an uplink token bucket, every
  byte it writes (headers, JSON answers, result files) a downlink one; each direction has a
  bucket per connection and one for the whole link, so parallel connections share the link as
  they would share a real one (a single connection may also be capped lower: ``per_connection_*``);
- each request waits one RTT before its answer is made (half out, half back);
- each new connection waits ``connect_rtts`` RTTs before its first request is read: TCP's
  handshake plus TLS 1.3's, as the real service is HTTPS.

The server's receive buffer is kept small while shaping, so a client's send is held back by the
link (TCP flow control) rather than vanishing into megabytes of loopback socket buffer.
"""

from __future__ import annotations

import socket
import threading
import time

# Bytes per token-bucket charge: small enough that a 20 Mbit/s link is paced every ~7 ms,
# large enough that the per-chunk overhead stays negligible next to the link's own time.
CHUNK = 16 * 1024
# How far ahead of the ideal schedule a bucket lets a sender run (seconds of traffic): a real
# link's queue absorbs a little burst too; larger would blur the timing of small answers.
BURST_S = 0.004
# How much time a late sender (a thread the OS scheduled late) may make up: without it every
# scheduling delay on a loaded machine would be lost and the link would run slower than set.
CATCH_UP_S = 0.02
# Receive buffer of shaped server sockets (bytes): the kernel otherwise accepts megabytes before
# the shaped reader sees any, and the client would believe its body was sent.
SHAPED_RCVBUF = 64 * 1024


def _mbps_to_bytes(mbps: float | None, name: str) -> float | None:
    if mbps is None:
        return None
    mbps = float(mbps)
    if not mbps > 0:
        raise ValueError(f"{name} must be a positive number of Mbit/s (or unset for unlimited), got {mbps!r}")
    return mbps * 1e6 / 8.0


class TokenBucket:
    """A shared rate limit: ``take(n)`` blocks until ``n`` more bytes fit the rate.

    Kept as a theoretical arrival time (GCRA): each charge moves it by n/rate; a caller sleeps
    until it is at most ``burst_s`` in the future. Thread-safe; the sleep happens outside the lock.
    """

    def __init__(self, bytes_per_s: float, burst_s: float = BURST_S):
        self.rate = float(bytes_per_s)
        self.burst_s = float(burst_s)
        self._tat = 0.0
        self._lock = threading.Lock()
        self.total = 0

    def reserve(self, n: int) -> float:
        """Charge ``n`` bytes; the seconds the caller must wait before sending them."""
        with self._lock:
            now = time.monotonic()
            self._tat = max(self._tat, now - CATCH_UP_S) + n / self.rate
            self.total += n
            return max(0.0, self._tat - now - self.burst_s)


class Link:
    """The emulated link between the client and the emulator (see the module docstring)."""

    def __init__(self, uplink_mbps: float | None = None, downlink_mbps: float | None = None,
                 rtt_ms: float = 0.0, *, per_connection_uplink_mbps: float | None = None,
                 per_connection_downlink_mbps: float | None = None, connect_rtts: int = 2):
        self.uplink_mbps, self.downlink_mbps = uplink_mbps, downlink_mbps
        self.rtt_ms = float(rtt_ms or 0.0)
        if self.rtt_ms < 0:
            raise ValueError(f"rtt_ms must be 0 or more milliseconds, got {rtt_ms!r}")
        if int(connect_rtts) < 0:
            raise ValueError(f"connect_rtts must be 0 or more, got {connect_rtts!r}")
        self.connect_rtts = int(connect_rtts)
        self._up = _mbps_to_bytes(uplink_mbps, "uplink_mbps")
        self._down = _mbps_to_bytes(downlink_mbps, "downlink_mbps")
        self._conn_up = _mbps_to_bytes(per_connection_uplink_mbps, "per_connection_uplink_mbps") or self._up
        self._conn_down = _mbps_to_bytes(per_connection_downlink_mbps, "per_connection_downlink_mbps") or self._down
        self.up_total = TokenBucket(self._up) if self._up else None
        self.down_total = TokenBucket(self._down) if self._down else None

    @property
    def active(self) -> bool:
        return bool(self._conn_up or self._conn_down or self.rtt_ms > 0)

    @property
    def rtt(self) -> float:
        return self.rtt_ms / 1000.0

    def describe(self) -> str:
        up = f"{self.uplink_mbps:g}" if self._up else "unlimited"
        down = f"{self.downlink_mbps:g}" if self._down else "unlimited"
        return f"uplink {up} Mbit/s, downlink {down} Mbit/s, RTT {self.rtt_ms:g} ms"

    def buckets(self, direction: str) -> list[TokenBucket]:
        """Fresh per-connection bucket(s) for ``direction`` ("up" or "down"), then the link's."""
        per, total = (self._conn_up, self.up_total) if direction == "up" else (self._conn_down, self.down_total)
        # A connection capped at the link's own rate needs no bucket of its own.
        out = [TokenBucket(per)] if per and (total is None or per < total.rate) else []
        if total is not None:
            out.append(total)
        return out

    def wrap_handler(self, handler, stop: threading.Event) -> None:
        """Shape one connection's handler: its rfile and wfile, and the handshake delay."""
        if not self.active:
            return
        if self._conn_up:
            try:
                handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SHAPED_RCVBUF)
            except OSError:
                pass
            handler.rfile = ShapedReader(handler.rfile, self.buckets("up"), stop)
        if self._conn_down:
            handler.wfile = ShapedWriter(handler.wfile, self.buckets("down"), stop)
        if self.rtt > 0 and self.connect_rtts:
            stop.wait(self.rtt * self.connect_rtts)

    def request_delay(self, stop: threading.Event) -> None:
        """One round trip for a request and its answer."""
        if self.rtt > 0:
            stop.wait(self.rtt)


def _charge(buckets: list[TokenBucket], n: int, stop: threading.Event) -> None:
    # Charged to every bucket at once and waited for the slowest: waiting for each in turn would
    # add the waits up and halve the rate of a connection that both buckets limit.
    wait = max(b.reserve(n) for b in buckets)
    if wait > 0:
        stop.wait(wait)


class ShapedReader:
    """A file-like reader that charges every byte it hands out to the uplink buckets."""

    def __init__(self, raw, buckets: list[TokenBucket], stop: threading.Event):
        self._raw, self._buckets, self._stop = raw, buckets, stop

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while True:
                chunk = self.read(CHUNK)
                if not chunk:
                    return b"".join(parts)
                parts.append(chunk)
        parts, left = [], size
        while left > 0:
            chunk = self._raw.read(min(CHUNK, left))
            if not chunk:
                break
            _charge(self._buckets, len(chunk), self._stop)
            parts.append(chunk)
            left -= len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readline(self, size: int = -1) -> bytes:
        line = self._raw.readline(size)
        if line:
            _charge(self._buckets, len(line), self._stop)
        return line

    def __getattr__(self, name):
        return getattr(self._raw, name)


class ShapedWriter:
    """A file-like writer that sends in chunks, each after the downlink buckets allow it."""

    def __init__(self, raw, buckets: list[TokenBucket], stop: threading.Event):
        self._raw, self._buckets, self._stop = raw, buckets, stop

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        for i in range(0, len(view), CHUNK):
            part = view[i:i + CHUNK]
            _charge(self._buckets, len(part), self._stop)
            self._raw.write(part)
        return len(view)

    def __getattr__(self, name):
        return getattr(self._raw, name)


def parse_link(text: str) -> tuple[float | None, float | None, float]:
    """``"UP/DOWN/RTT"`` (Mbit/s, Mbit/s, ms), e.g. ``"20/100/60"``; ``-`` or empty = unlimited."""
    parts = [p.strip() for p in str(text).split("/")]
    if len(parts) != 3:
        raise ValueError(f"link {text!r}: expected UP/DOWN/RTT, e.g. 20/100/60 (Mbit/s, Mbit/s, ms)")
    def num(p, name, allow_none=True):
        if p in ("", "-") and allow_none:
            return None
        try:
            v = float(p)
        except ValueError:
            raise ValueError(f"link {text!r}: {name} must be a number, got {p!r}") from None
        if v < 0 or (name != "RTT" and v == 0):
            raise ValueError(f"link {text!r}: {name} must be positive, got {p!r}")
        return v
    up, down = num(parts[0], "UP"), num(parts[1], "DOWN")
    rtt = num(parts[2], "RTT") or 0.0
    return up, down, rtt
