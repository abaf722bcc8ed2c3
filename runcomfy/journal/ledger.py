"""The request journal: every paid request is written down before the node starts waiting,
so a restart, crash, timeout or lost connection never loses a result that was paid for.

One small JSON file, rewritten atomically (temp file, fsync, rename), owner-only (0600),
bounded in entries. The previous good version is kept as ``.bak`` so a torn or corrupt file
is survived. It holds request ids, model ids, input fingerprints (hashes), states and result
URLs: never images, prompts or the token.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: one ComfyUI process per user directory is the norm there
    fcntl = None

# One lock per journal file, shared by every Journal object of this process (each node run makes
# its own), so concurrent read-modify-write cycles never drop an entry.
_PATH_LOCKS: dict[str, threading.Lock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    key = os.path.abspath(path)
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(key, threading.Lock())

# States an entry can be in. "pending" and "succeeded" are resumable.
SUBMITTING, SUBMIT_UNKNOWN, PENDING, SUCCEEDED = "submitting", "submit_unknown", "pending", "succeeded"
RESUMABLE = frozenset({PENDING, SUCCEEDED})

DEFAULT_MAX_ENTRIES = 500
# RunComfy keeps results for a limited time; an older entry is not worth a status call.
DEFAULT_RESUME_TTL = 7 * 24 * 3600.0


def default_journal_path() -> Path:
    base = os.environ.get("RUNCOMFY_STATE_DIR") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "runcomfy")
    return Path(base) / "journal.json"


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` so readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Journal:
    def __init__(self, path: Path | str | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES,
                 resume_ttl: float = DEFAULT_RESUME_TTL, clock=time.time):
        self.path = Path(path) if path else default_journal_path()
        self.backup = self.path.with_name(self.path.name + ".bak")
        self.max_entries = max_entries
        self.resume_ttl = resume_ttl
        self.clock = clock
        self._lock = _lock_for(self.path)
        self.recovered_from: str | None = None

    @contextlib.contextmanager
    def _locked(self):
        """This process's lock, plus an advisory file lock against another process."""
        with self._lock:
            if fcntl is None:
                yield
                return
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the flock

    # --- storage -------------------------------------------------------------------------

    def _read_file(self, path: Path) -> list[dict] | None:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            return None
        entries = doc.get("entries") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            return None
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("fingerprint"), str)]

    def _load(self) -> list[dict]:
        entries = self._read_file(self.path)
        if entries is None:
            # Torn or corrupt: keep it for inspection and fall back to the last good copy.
            try:
                os.replace(self.path, self.path.with_name(f"{self.path.name}.corrupt-{int(self.clock())}"))
            except OSError:
                pass
            entries = self._read_file(self.backup) or []
            self.recovered_from = str(self.backup)
            atomic_write(self.path, json.dumps({"version": 1, "entries": entries}, indent=1).encode())
        return entries

    def _save(self, entries: list[dict]) -> None:
        entries = sorted(entries, key=lambda e: e.get("updated", 0))[-self.max_entries:]
        if self.path.exists():
            try:
                if self._read_file(self.path) is not None:
                    atomic_write(self.backup, self.path.read_bytes())
            except OSError:
                pass
        atomic_write(self.path, json.dumps({"version": 1, "entries": entries}, indent=1).encode())

    def _mutate(self, fn) -> None:
        with self._locked():
            entries = self._load()
            fn(entries)
            self._save(entries)

    def entries(self) -> list[dict]:
        with self._locked():
            return self._load()

    # --- queries and updates ------------------------------------------------------------

    def find_resumable(self, fp: str) -> dict | None:
        now = self.clock()
        for e in reversed(self.entries()):
            if e["fingerprint"] == fp and e.get("state") in RESUMABLE and e.get("request_id") \
                    and now - e.get("created", now) < self.resume_ttl:
                return e
        return None

    def find_request(self, request_id: str) -> dict | None:
        for e in reversed(self.entries()):
            if e.get("request_id") == request_id:
                return e
        return None

    def record_submitting(self, fp: str, model_id: str) -> None:
        now = self.clock()

        def fn(entries):
            entries[:] = [e for e in entries if not (e["fingerprint"] == fp and e.get("state") == SUBMITTING)]
            entries.append({"fingerprint": fp, "model_id": model_id, "request_id": None,
                            "state": SUBMITTING, "created": now, "updated": now})
        self._mutate(fn)

    def record_submit_failed(self, fp: str, unknown: bool) -> None:
        def fn(entries):
            for e in entries:
                if e["fingerprint"] == fp and e.get("state") == SUBMITTING:
                    e["state"], e["updated"] = (SUBMIT_UNKNOWN if unknown else "rejected"), self.clock()
        self._mutate(fn)

    def record_submitted(self, fp: str, model_id: str, request_id: str) -> None:
        now = self.clock()

        def fn(entries):
            for e in entries:
                if e.get("request_id") == request_id:
                    e["updated"] = now
                    return
            entries[:] = [e for e in entries if not (e["fingerprint"] == fp and e.get("state") == SUBMITTING)]
            entries.append({"fingerprint": fp, "model_id": model_id, "request_id": request_id,
                            "state": PENDING, "created": now, "updated": now})
        self._mutate(fn)

    def record_state(self, request_id: str, state: str, **extra) -> None:
        def fn(entries):
            for e in entries:
                if e.get("request_id") == request_id:
                    e.update(extra)
                    e["state"], e["updated"] = state, self.clock()
        self._mutate(fn)

    def record_succeeded(self, request_id: str, urls: list[str], cost: float | None) -> None:
        self.record_state(request_id, SUCCEEDED, urls=list(urls), cost=cost)
