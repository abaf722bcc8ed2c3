"""The journal file on disk: atomic writes, a cross-process lock, and reading a file that may
be torn, hand-edited or written by another version without crashing on it."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import threading
from pathlib import Path

from .. import settings

try:
    import fcntl
except ImportError:  # Windows: one ComfyUI process per user directory is the norm there
    fcntl = None

# One lock per journal file, shared by every Journal object of this process (each node run makes
# its own), so concurrent read-modify-write cycles never drop an entry.
_PATH_LOCKS: dict[str, threading.Lock] = {}
_PATH_LOCKS_GUARD = threading.Lock()

# The file is small (the capped finished entries plus the live ones, at most
# ledger.DEFAULT_MAX_LIVE: about 1 MB at worst); anything far larger is not ours to parse.
MAX_FILE_BYTES = 8 * 1024 * 1024
# Version 2 adds "delivered" (when a succeeded request's result was handed over). A version 1
# file reads as is: its succeeded entries count as not yet delivered, so they are kept until
# their resume window passes instead of being capped. Version 1 readers ignore the new field.
VERSION = 2

# Fields an entry may carry, and the types they must have; anything else is dropped on load.
_TEXT = ("fingerprint", "model_id", "request_id", "state", "claim", "resubmit_code", "reason")
_NUMBERS = ("created", "updated", "heartbeat", "cost", "delivered")


def default_journal_path() -> Path:
    return settings.state_dir() / "journal.json"


def _lock_for(path: Path) -> threading.Lock:
    key = os.path.abspath(path)
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(key, threading.Lock())


def atomic_write(path: Path | str, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` so readers see the old file or the new one, never a mix. Plain ``os.path``
    steps, so a caller with one new name per job can pass a string (pathlib interns every name it
    parses: see batch/outputs._join)."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
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


def append_durably(path, data: bytes, mode: int = 0o600, *, fsync: bool = True) -> bool:
    """Append ``data`` (whole records, newline-ended) to ``path`` and fsync before returning: an
    appended line is on disk once this returns. ``fsync=False``: it is in the OS's cache (it
    outlives this process and is seen by every other one, not a power cut). The caller makes the
    folder. Returns whether this write began the file. OSError propagates."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
        return os.lseek(fd, 0, os.SEEK_CUR) == len(data)
    finally:
        os.close(fd)


def sync_file(path) -> None:
    """fsync what was appended to ``path`` (through any descriptor). OSError propagates."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path | str):
    """This process's lock on ``path``, plus an advisory file lock against other processes (on
    ``path`` + ".lock"; its folder is made when missing). Plain ``os`` calls: a batch takes it
    for every submit."""
    with _lock_for(path):
        if fcntl is None:
            yield
            return
        name = os.fspath(path) + ".lock"
        try:
            fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(name) or ".", mode=0o700, exist_ok=True)
            fd = os.open(name, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock


def _finite(v) -> float | None:
    if type(v) is float:
        return v if math.isfinite(v) else None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        v = float(v)
    except OverflowError:
        return None
    return v if math.isfinite(v) else None


_FIELDS = {**{k: str for k in _TEXT}, **{k: float for k in _NUMBERS}}
_TIMES = ("created", "updated")


def clean_entry(raw) -> dict | None:
    """One entry with only known fields of the right types, or None when it has no fingerprint.
    A timestamp that is not a finite number reads as 0 (the epoch): the entry is kept, and
    counts as too old to resume or to block anything. (One pass over the entry: the journal
    is read before every write, thousands of entries at times.)"""
    if not isinstance(raw, dict) or not isinstance(raw.get("fingerprint"), str):
        return None
    e: dict = {}
    for k, v in raw.items():
        kind = _FIELDS.get(k)
        if kind is str:
            if isinstance(v, str):
                e[k] = v if len(v) <= 512 else v[:512]
        elif kind is float:
            v = _finite(v)
            e[k] = v if v is not None else (0.0 if k in _TIMES else None)
        elif k == "urls":
            if isinstance(v, list):
                e["urls"] = [u for u in v if isinstance(u, str)][:1000]
        elif k == "owner":
            if isinstance(v, dict):
                pid, host = v.get("pid"), v.get("host")
                if isinstance(pid, int) and not isinstance(pid, bool) and isinstance(host, str):
                    e["owner"] = {"pid": pid, "host": host[:255]}
    e.setdefault("request_id", None)
    e.setdefault("state", "unknown")
    e.setdefault("created", 0.0)
    e.setdefault("updated", e["created"])
    return e


def read_entries(path: Path, *, with_raw: bool = False):
    """The entries of ``path``; [] when it does not exist; None when it is unreadable or not
    a journal (torn, corrupt, absurdly nested or huge). ``with_raw``: (entries, the file's
    bytes when they parsed, else None)."""
    entries, data = _read(path)
    if with_raw:
        return entries, (data if entries is not None and data else None)
    return entries


def _read(path: Path) -> tuple[list[dict] | None, bytes | None]:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return [], None
    except OSError:
        return None, None
    if len(data) > MAX_FILE_BYTES:
        return None, None
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return None, None
    entries = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        return None, None
    return [e for e in (clean_entry(x) for x in entries) if e is not None], data


_ENCODER = json.JSONEncoder(separators=(", ", ": "))     # built once: json.dumps(..., separators) builds one per call


def encode(entries: list[dict]) -> bytes:
    """One entry per line: readable, and written by json's C encoder (``indent`` would use the
    pure-Python one, several times slower on a journal of thousands of entries)."""
    lines = ",\n".join(_ENCODER.encode(e) for e in entries)
    return (f'{{"version": {VERSION}, "entries": [\n' + lines + "\n]}\n").encode()
