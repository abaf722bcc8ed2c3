"""A total deadline for every HTTP call, and Stop for a call in flight.

Per-read timeouts do not bound a call: a server dripping one byte every 1.5 s never trips a
30 s read timeout. Every call therefore runs as a ``Call`` with an absolute deadline (and,
optionally, the Stop flag); one watchdog thread shuts down the socket of any call past its
deadline or stopped, which ends a blocked send or read at once. The sockets are found through
the urllib3 connection classes below, which note each connection a call uses in that call.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Callable

import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection

TICK = 0.1     # how often the watchdog looks: Stop ends a call within about this long

_current = threading.local()


class Call:
    __slots__ = ("deadline", "abort", "killed", "done", "sent", "_conns", "_lock")

    def __init__(self, deadline: float, abort: Callable[[], bool] | None):
        self.deadline = deadline
        self.abort = abort
        self.killed: str | None = None       # "deadline" | "stopped"
        self.done = False                    # after the exchange its connection may serve another call
        # False while only connecting (TCP, a proxy's CONNECT, the TLS handshake): a call killed
        # then has certainly sent nothing to the server.
        self.sent = False
        self._conns: list = []
        self._lock = threading.Lock()

    def attach(self, conn) -> None:
        with self._lock:
            self._conns.append(conn)
            killed = self.killed
        if killed:
            _shutdown(conn)

    def check(self, now: float) -> None:
        if self.killed:
            return
        reason = None
        if now >= self.deadline:
            reason = "deadline"
        elif self.abort is not None:
            try:
                if self.abort():
                    reason = "stopped"
            except Exception:   # a broken Stop hook must not kill the watchdog
                reason = None
        if reason:
            self.kill(reason)

    def kill(self, reason: str) -> None:
        with self._lock:
            if self.killed or self.done:
                return
            self.killed = reason
            conns = list(self._conns)
        for c in conns:
            _shutdown(c)

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def _shutdown(conn) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Watchdog:
    def __init__(self):
        self._calls: set[Call] = set()
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, call: Call) -> None:
        with self._cv:
            self._calls.add(call)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="runcomfy-deadlines", daemon=True)
                self._thread.start()
            self._cv.notify()

    def remove(self, call: Call) -> None:
        with self._cv:
            self._calls.discard(call)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._calls:
                    self._cv.wait()
                calls = list(self._calls)
            now = time.monotonic()
            for c in calls:
                c.check(now)
            time.sleep(TICK)


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def running(call: Call):
    """Run the HTTP exchange of ``call`` in this block, under the watchdog."""
    prev = getattr(_current, "call", None)
    _current.call = call
    _WATCHDOG.add(call)
    try:
        call.check(time.monotonic())
        yield call
    finally:
        with call._lock:
            call.done = True
        _WATCHDOG.remove(call)
        _current.call = prev


def _note(conn, sending: bool = False) -> None:
    call = getattr(_current, "call", None)
    if call is not None:
        if sending:
            call.sent = True
        call.attach(conn)


class _Tracked:
    """Mixed into urllib3's connection classes: each use ties the connection to the current call."""

    def connect(self):
        _note(self)
        out = super().connect()
        call = getattr(_current, "call", None)
        if call is not None and call.killed:
            _shutdown(self)     # killed while it had no socket yet (Stop just as a download began)
        return out

    def request(self, *args, **kwargs):
        _note(self, sending=True)
        return super().request(*args, **kwargs)

    def request_chunked(self, *args, **kwargs):   # urllib3 1.26 sends generator bodies this way
        _note(self, sending=True)
        return super().request_chunked(*args, **kwargs)


class _TrackedHTTPConnection(_Tracked, HTTPConnection):
    pass


class _TrackedHTTPSConnection(_Tracked, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class TrackedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections can be shut down by the watchdog, direct or through an
    HTTP(S) proxy (the socket to the proxy carries the CONNECT, then the tunnel: one socket)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        if not proxy.lower().startswith(("http://", "https://")):
            # SOCKS managers use their own connection classes, which the watchdog cannot reach.
            raise ValueError(f"unsupported proxy scheme in {proxy.split('://', 1)[0]!r}")
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager
