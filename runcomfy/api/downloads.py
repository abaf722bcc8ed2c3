"""Result files: fetched without the token, only from allow-listed hosts (urls.py), https only
(loopback only for the emulator), redirects re-checked, capped in size, each attempt under its
own total deadline, and retried (a 404 too: storage can trail the job) within a window."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin

import requests
import urllib3

from ..errors import DownloadError, Interrupted, ServerError, TransportError, UnsafeUrlError
from . import proxies
from .deadlines import Call, running
from .session import send_small
from .urls import check_download_url

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024


class MemorySink:
    def __init__(self):
        self._parts: list[bytes] = []

    def reset(self):
        self._parts = []

    def write(self, chunk: bytes):
        self._parts.append(chunk)

    def value(self) -> bytes:
        return b"".join(self._parts)


def _new_file_mode() -> int:
    """The mode a file the user's tools create gets (0o666 less the umask), as ComfyUI's own outputs
    do. The umask is read, not set (setting it is process-wide and racy)."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o644


class FileSink:
    """A result file written as it streams. ``fetch`` calls ``reset`` before each attempt, so a
    retry starts the file over, and its size, SHA-256 and first bytes (``hashed``) with it.

    ``FileSink(target)``: a temp file next to ``target`` (mkstemp), renamed onto it by ``commit``.
    ``FileSink(part=path, hashed=True)``: written at ``path`` itself (mode 0o644), finished by
    ``close``, renamed later by the caller: a batch names a job's files with plain strings, as
    pathlib interns every name it parses and one new name per job grew that table."""

    def __init__(self, target: Path | None = None, durable: bool = True, *, part: str | None = None,
                 hashed: bool = False):
        self.target = target
        self.durable = durable          # fsync before closing (not for a file read back at once)
        if part is None:
            fd, part = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
            os.fchmod(fd, _new_file_mode())     # mkstemp's 0o600 would hide a result from other users
            self.fh = os.fdopen(fd, "wb")
        else:
            self.fh = open(part, "wb")
            os.fchmod(self.fh.fileno(), 0o644)
        self.part = part
        self.size = 0
        self.hash = hashlib.sha256() if hashed else None
        self.head = b""                 # the first 16 bytes (hashed only): they tell the file type

    def reset(self):
        self.fh.seek(0)
        self.fh.truncate()
        self.size = 0
        if self.hash is not None:
            self.hash, self.head = hashlib.sha256(), b""

    def write(self, chunk: bytes):
        if self.hash is not None:
            if len(self.head) < 16:
                self.head += chunk[:16 - len(self.head)]
            self.hash.update(chunk)
        self.fh.write(chunk)
        self.size += len(chunk)

    def close(self) -> int:
        """The file complete where it was written; its byte count."""
        if self.durable:
            self.fh.flush()
            os.fsync(self.fh.fileno())
        self.fh.close()
        return self.size

    def commit(self) -> int:
        size = self.close()
        os.replace(self.part, self.target)
        return size

    def discard(self):
        if not self.fh.closed:
            self.fh.close()
        try:
            os.unlink(self.part)
        except OSError:
            pass


def _transient(message: str, http_status: int | None = None) -> DownloadError:
    return DownloadError(message, transient=True, http_status=http_status)


def fetch(session, url: str, sink, limit: int, window: float | None, until: float | None) -> None:
    """``url`` into ``sink`` through ``session`` (an ApiSession: its file pool, deadlines, Stop,
    retry policy and token scrubbing)."""
    window = session.retry.download_window if window is None else window
    start = time.monotonic()
    # The window bounds when a new attempt may start; each attempt has its own deadline.
    end = start + window if until is None else min(start + window, until)
    attempt = 0
    while True:
        try:
            sink.reset()
            return _fetch_once(session, url, limit, sink, until)
        except (DownloadError, TransportError, ServerError) as exc:
            attempt += 1
            if isinstance(exc, DownloadError) and not getattr(exc, "transient", False):
                raise session.scrub(exc)
            wait = max(session.retry.download_min_delay,
                       min(session.retry.delay(min(attempt - 1, 6), None), session.retry.max_delay))
            if time.monotonic() + wait >= end:
                final = DownloadError(f"Could not download {url} after {attempt} attempts over "
                                      f"{time.monotonic() - start:.0f} s: {exc.base_message}",
                                      transient=True, http_status=getattr(exc, "http_status", None))
                raise session.scrub(final) from None
            session._sleep(wait)


def _fetch_once(session, url: str, limit: int, sink, until: float | None) -> None:
    current = url
    for _hop in range(5):
        check_download_url(current, session.download_hosts)
        route = proxies.route_for(current)
        verify, _ca_source = proxies.ca_bundle()
        call = Call(session._deadline(session.download_deadline, until), session.should_abort)
        with running(call):
            try:
                resp = send_small(session._files, "GET", current, body=None, params=None, headers={"Accept": "*/*"},
                                  timeout=session._timeouts(call), stream=True, cert=None,
                                  proxies=route.requests_proxies(), verify=verify)
            except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
                if call.killed == "stopped":
                    raise Interrupted(f"Download of {current}: stopped by the user.") from None
                failure = proxies.classify(exc, route, current, f"Download of {current}", sent=call.sent)
                if failure is not None:
                    raise _transient(failure.base_message) if not failure.permanent \
                        else DownloadError(failure.base_message) from None
                raise TransportError(f"Download of {current}: {type(exc).__name__}", maybe_received=True) from None
            with resp:
                if resp.is_redirect:
                    target = urljoin(current, resp.headers.get("Location", ""))
                    if current.startswith("https://") and not target.startswith("https://"):
                        raise UnsafeUrlError(f"Refusing redirect from https to {target!r}.")
                    current = target
                    continue
                if resp.status_code == 404 or resp.status_code >= 500 or resp.status_code == 429:
                    # Storage can lag behind the job's completion for a while.
                    raise _transient(f"Download of {current} answered HTTP {resp.status_code}.",
                                     http_status=resp.status_code)
                if resp.status_code != 200:
                    raise DownloadError(f"Download of {current} answered HTTP {resp.status_code}.")
                declared = resp.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise DownloadError(f"Result file {current} is {int(declared)} bytes, over the {limit}-byte limit.")
                total = 0
                try:
                    for chunk in resp.iter_content(256 * 1024):
                        total += len(chunk)
                        if total > limit:
                            raise DownloadError(f"Result file {current} is over the {limit}-byte limit.")
                        sink.write(chunk)
                except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
                    if call.killed == "stopped":
                        raise Interrupted(f"Download of {current}: stopped by the user.") from None
                    why = "took longer than its deadline" if call.killed else f"broke off ({type(exc).__name__})"
                    raise _transient(f"Download of {current} {why}.") from None
                if declared is not None and declared.isdigit() and total != int(declared):
                    raise _transient(f"Download of {current} was truncated ({total} of {declared} bytes).")
                return
    raise DownloadError(f"Too many redirects downloading {url}.")
