"""Who is submitting right now: an in-flight submit is tied to the process that sends it
(pid and host) and refreshed by a heartbeat. A live one is waited for; a dead one (its process
gone, or no heartbeat for STALE_AFTER seconds) may have been accepted and billed, so it blocks."""

from __future__ import annotations

import os
import socket
import sys
import threading

HEARTBEAT_EVERY = 2.0
STALE_AFTER = 20.0

_LIVE: set[str] = set()           # claim ids of the submits this process is sending right now
_LIVE_GUARD = threading.Lock()


def me() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def mark_live(claim: str) -> None:
    with _LIVE_GUARD:
        _LIVE.add(claim)


def mark_done(claim: str) -> None:
    with _LIVE_GUARD:
        _LIVE.discard(claim)


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # os.kill(pid, 0) would terminate it there; the heartbeat decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def in_flight(entry: dict, now: float) -> bool:
    """True while the submit of this ``submitting`` entry is still being sent by a live process."""
    owner = entry.get("owner") or {}
    beat = entry.get("heartbeat") or entry.get("updated") or 0.0
    if owner.get("host") == socket.gethostname():
        if owner.get("pid") == os.getpid():
            with _LIVE_GUARD:
                return entry.get("claim") in _LIVE
        if not _pid_alive(int(owner.get("pid", 0))):
            return False
    elif not owner:
        return False
    return now - beat < STALE_AFTER
