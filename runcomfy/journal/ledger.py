"""The request journal: every paid request is written down before the node starts waiting,
so a restart, crash, timeout or lost connection never loses a result that was paid for, and a
submit whose outcome is uncertain is never silently sent again.

One small JSON file, rewritten atomically (temp file, fsync, rename), owner-only (0600). The
previous good version is kept as ``.bak`` so a torn or corrupt file is survived.

Bounded without forgetting money: only *finished* entries are capped (``max_entries``, oldest
dropped first): delivered results, failed, rejected, cancelled, expired and superseded ones, and
entries whose own window has passed (a block after BLOCK_WINDOW, a paid request after the resume
TTL: nothing reads them any more). *Live* entries (a submit in flight or blocking, a paid request
not yet delivered) are never dropped, however many newer entries arrive; they are bounded by
``max_live`` instead: a new claim past it is refused with a JournalError before anything is sent.

It holds request ids, model ids, input fingerprints (hashes), states and result URLs: never
images, prompts or the token.

"Look up, then record submitting" is one step under a lock shared with other processes
(``claim``), so two ComfyUI instances on one journal never both submit the same new inputs.
With a ``spend`` tag (runcomfy/spending: the node and the batch give one), that step also checks
the spending limits and reserves the request's estimate in the spend history, and every later
state is appended there too (the history outlives the capped journal: month totals need it).
When a write fails after the server accepted a submit, the entry is kept in this process's
memory (``_MEMORY``) and still found by later runs of this process.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import JournalError, JournalWriteError
from . import owners
from .store import MAX_FILE_BYTES, atomic_write, default_journal_path, encode, locked, read_entries

# States an entry can be in. "pending" and "succeeded" are resumable; "submitting" (when its
# process is gone) and "submit_unknown" block a re-run of the same inputs (see BLOCK_WINDOW).
SUBMITTING, SUBMIT_UNKNOWN, PENDING, SUCCEEDED = "submitting", "submit_unknown", "pending", "succeeded"
REJECTED, SUPERSEDED, EXPIRED = "rejected", "superseded", "expired"
RESUMABLE = frozenset({PENDING, SUCCEEDED})
UNCERTAIN = frozenset({SUBMITTING, SUBMIT_UNKNOWN})

# Finished entries kept (the newest). Live ones are not counted here: see live().
DEFAULT_MAX_ENTRIES = 500
# Live entries allowed before a new submit is refused (each is a paid or possibly paid request
# nobody has collected yet, so hundreds are already unusual). 2,000 of them are about 0.8 MB, a
# tenth of what store.py reads, and a claim then costs ~40 ms of CPU (~10 ms at the usual 500).
DEFAULT_MAX_LIVE = 2000
# RunComfy keeps results for a limited time; an older entry is not worth a status call.
DEFAULT_RESUME_TTL = 7 * 24 * 3600.0
# How long an uncertain submit blocks a re-run of exactly the same inputs. A day covers "the
# machine crashed, I restarted and queued the same prompt"; after it the inputs are free again.
BLOCK_WINDOW = 24 * 3600.0

# Per-process fallback, by journal path: entries whose write to disk failed.
_MEMORY: dict[str, dict[str, dict]] = {}
_MEMORY_GUARD = threading.Lock()
# Entries this process wrote after an accepted submit, by request id (bounded): if a later write
# fails, the entry moves to _MEMORY with its new state, even though the disk has an older one.
_RECENT: dict[str, dict[str, dict]] = {}
_RECENT_MAX = 1000


class LiveLimitError(Exception):
    """Carries the JournalError out of the locked step without saving (nothing changed)."""

    def __init__(self, error: JournalError):
        self.error = error


@dataclass
class Claim:
    """What ``claim`` decided: "submit" (this caller now owns a ``submitting`` entry),
    "resume" (the entry has a request id), "wait" (another live process or task is submitting
    these inputs right now) or "blocked" (an earlier submit of them may have been billed)."""

    action: str
    entry: dict
    code_rejected: bool = False   # a submit_anyway code was given but matched no blocking entry

    @property
    def claim_id(self) -> str | None:
        return self.entry.get("claim")


def new_resubmit_code() -> str:
    return f"resubmit-{secrets.token_hex(3)}"


def parse_codes(text) -> frozenset[str]:
    """The codes typed into ``submit_anyway`` (several, for several variations)."""
    if not text:
        return frozenset()
    if isinstance(text, (list, tuple, set, frozenset)):
        text = " ".join(str(t) for t in text)
    return frozenset(t for t in str(text).replace(",", " ").split() if t.startswith("resubmit-"))


class Journal:
    def __init__(self, path: Path | str | None = None, *, max_entries: int = DEFAULT_MAX_ENTRIES,
                 resume_ttl: float = DEFAULT_RESUME_TTL, block_window: float = BLOCK_WINDOW,
                 max_live: int = DEFAULT_MAX_LIVE, clock=time.time, spend=None):
        self.path = Path(path) if path else default_journal_path()
        self.backup = self.path.with_name(self.path.name + ".bak")
        self.max_entries = max_entries
        self.max_live = max_live
        self.resume_ttl = resume_ttl
        self.block_window = block_window
        self.clock = clock
        self.recovered_from: str | None = None
        self._key = os.path.abspath(self.path)
        # A spending.Tag (duck-typed: reserve(charge, model_id, now), note(event, **fields)) or None.
        self.spend = spend

    # --- storage -------------------------------------------------------------------------

    def _load(self) -> tuple[list[dict], bytes | None]:
        """The entries, and the file's bytes when they parsed (the next save's ``.bak``)."""
        entries, raw = read_entries(self.path, with_raw=True)
        if entries is None:
            # Torn or corrupt: keep it for inspection and fall back to the last good copy.
            try:
                os.replace(self.path, self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}"))
            except OSError:
                pass
            entries = read_entries(self.backup) or []
            self.recovered_from = str(self.backup)
            raw = encode(entries)
            atomic_write(self.path, raw)
        return entries, raw

    def live(self, e: dict, now: float) -> bool:
        """True for an entry that blocks a payment or holds a paid, undelivered result, while
        its window lasts: these are never dropped to make room."""
        state, age = e.get("state"), now - (e.get("created") or 0.0)
        if state in UNCERTAIN:
            return age < self.block_window
        if state == PENDING or (state == SUCCEEDED and not e.get("delivered")):
            return age < self.resume_ttl
        return False

    def _save(self, entries: list[dict], previous: bytes | None) -> None:
        now = self.clock()
        keep_live, finished = [], []
        for e in entries:
            (keep_live if self.live(e, now) else finished).append(e)
        finished.sort(key=lambda e: e.get("updated", 0))
        kept = keep_live + (finished[-self.max_entries:] if self.max_entries > 0 else [])
        kept.sort(key=lambda e: e.get("updated", 0))
        if previous is not None:
            try:
                atomic_write(self.backup, previous)
            except OSError:
                pass
        data = encode(kept)
        if len(data) > MAX_FILE_BYTES:
            # Never written: a file this large would read as corrupt. An explicit error instead
            # (before a submit: nothing is sent; after one: the entry is kept in memory).
            raise OSError(errno.EFBIG, f"the journal would hold {len(data):,} bytes, over its "
                                       f"{MAX_FILE_BYTES:,} byte limit")
        atomic_write(self.path, data)

    def _memory(self) -> dict[str, dict]:
        with _MEMORY_GUARD:
            return _MEMORY.setdefault(self._key, {})

    def _merged(self, entries: list[dict]) -> list[dict]:
        """Disk entries, with this process's in-memory ones (newer) in place of theirs."""
        with _MEMORY_GUARD:
            mem = dict(_MEMORY.get(self._key, {}))
        if not mem:
            return entries
        out = [e for e in entries if (e.get("claim") or e.get("request_id")) not in mem]
        return sorted(out + [dict(e) for e in mem.values()], key=lambda e: e.get("updated", 0))

    def _mutate(self, fn):
        """Apply ``fn`` to the entries under the lock and save. OSError propagates."""
        with locked(self.path):
            loaded, raw = self._load()
            entries = self._merged(loaded)
            out = fn(entries)
            self._save(entries, raw)
            return out

    def _unavailable(self, exc: OSError) -> JournalError:
        return JournalError(
            f"The request journal {self.path} cannot be written ({type(exc).__name__}: {exc.strerror or exc}). "
            "Nothing was sent or charged: without the journal a lost answer could be paid twice. Make the "
            "folder writable (or set RUNCOMFY_CONFIG_DIR to a writable folder) and run again.")

    def entries(self) -> list[dict]:
        try:
            with locked(self.path):
                return self._merged(self._load()[0])
        except OSError as exc:
            raise self._unavailable(exc) from None

    # --- the atomic step before a submit --------------------------------------------------

    def claim(self, fp: str, model_id: str, *, codes=frozenset(), allow_resume: bool = True) -> Claim:
        """Look up ``fp`` and, if nothing is resumable, in flight or blocking, record it as
        ``submitting`` by this process: one step under the cross-process lock."""
        codes = parse_codes(codes)
        now = self.clock()
        mine = {"fingerprint": fp, "model_id": model_id, "request_id": None, "state": SUBMITTING,
                "created": now, "updated": now, "heartbeat": now, "claim": uuid.uuid4().hex,
                "owner": owners.me(), "resubmit_code": new_resubmit_code()}
        reserved: list[str] = []

        def fn(entries: list[dict]) -> Claim:
            same = [e for e in reversed(entries) if e["fingerprint"] == fp]
            if allow_resume:
                for e in same:
                    if e.get("state") in RESUMABLE and e.get("request_id") and now - e["created"] < self.resume_ttl:
                        return Claim("resume", dict(e))
            blocking = []
            for e in same:
                if e.get("state") not in UNCERTAIN or now - e["created"] >= self.block_window:
                    continue
                if e.get("state") == SUBMITTING and owners.in_flight(e, now):
                    return Claim("wait", dict(e))
                blocking.append(e)
            rejected_code = False
            if blocking:
                if blocking[0].get("resubmit_code") not in codes:
                    return Claim("blocked", dict(blocking[0]), code_rejected=bool(codes))
                # The user read the warning about this entry and chose to pay again: once.
                for e in blocking:
                    e["state"], e["updated"] = SUPERSEDED, now
            elif codes:
                rejected_code = True
            held = sum(1 for e in entries if self.live(e, now))
            if held >= self.max_live:
                raise LiveLimitError(self._live_limit_error(entries, now, held))
            if self.spend is not None:
                # The limits' check and the estimate's reservation: atomic with this claim, and
                # across processes (the spend lock); raises before anything is recorded or sent.
                self.spend.reserve(mine["claim"], model_id, now)
                reserved.append(mine["claim"])
            owners.mark_live(mine["claim"])
            entries.append(mine)
            return Claim("submit", dict(mine), code_rejected=rejected_code)

        try:
            return self._mutate(fn)
        except LiveLimitError as exc:
            raise exc.error from None
        except OSError as exc:
            owners.mark_done(mine["claim"])
            if reserved:
                # Reserved, but the journal was not saved: nothing will be sent under it.
                self._note("release", charge=mine["claim"], reason="journal not writable")
            if allow_resume:
                # A request this process kept in memory when the disk failed it can still be fetched.
                for e in reversed(self._merged([])):
                    if e["fingerprint"] == fp and e.get("state") in RESUMABLE and e.get("request_id"):
                        return Claim("resume", dict(e))
            raise self._unavailable(exc) from None

    def _live_limit_error(self, entries: list[dict], now: float, held: int) -> JournalError:
        paid = sum(1 for e in entries if self.live(e, now) and e.get("request_id"))
        return JournalError(
            f"The request journal {self.path} holds {held} requests that are in flight, blocking or paid "
            f"for but not yet delivered ({paid} of them with a request id), the limit is {self.max_live}. "
            "Nothing was sent or charged. They are never dropped to make room, since that could lose a "
            "paid result or pay twice: run the nodes of those requests again to fetch their results, or wait "
            "until they lapse (a paid result after "
            f"{self.resume_ttl / 86400:g} days, a block after {self.block_window / 3600:g} hours), or set "
            "RUNCOMFY_STATE_DIR to another folder for a new journal.")

    def heartbeat(self, claim_id: str) -> None:
        """Refresh an in-flight submit so other processes keep waiting for it (best effort)."""
        def fn(entries):
            for e in entries:
                if e.get("claim") == claim_id and e.get("state") == SUBMITTING:
                    e["heartbeat"] = self.clock()
        try:
            self._mutate(fn)
        except OSError:
            pass

    # --- after the submit: never lose a request id ----------------------------------------

    def _record(self, key: str, fn, fallback: dict | None) -> None:
        """Run ``fn`` on the entries; if the disk write fails keep ``fallback`` (the entry as it
        should now be) in memory and raise JournalWriteError."""
        try:
            self._mutate(fn)
            with _MEMORY_GUARD:
                _MEMORY.get(self._key, {}).pop(key, None)
        except OSError as exc:
            if fallback is not None:
                with _MEMORY_GUARD:
                    _MEMORY.setdefault(self._key, {})[key] = dict(fallback)
            raise JournalWriteError(
                f"The request journal {self.path} could not be written ({type(exc).__name__}: "
                f"{exc.strerror or exc}); this ComfyUI process keeps the entry in memory until it exits.",
                request_id=(fallback or {}).get("request_id")) from None

    def _find(self, entries, claim_id=None, request_id=None) -> dict | None:
        for e in reversed(entries):
            if (claim_id and e.get("claim") == claim_id) or (request_id and e.get("request_id") == request_id):
                return e
        return None

    def _note(self, ev: str, **fields) -> None:
        """One spend-history event (after the claim); a failure is logged, never raised."""
        if self.spend is None:
            return
        problem = self.spend.note(ev, **fields)
        if problem:
            logging.getLogger("runcomfy").warning("runcomfy: %s (%s)", problem, ev)

    def record_submit_failed(self, claim: Claim, unknown: bool, reason: str = "") -> None:
        owners.mark_done(claim.claim_id)
        self._note("unknown" if unknown else "release", charge=claim.claim_id, reason=reason[:300])
        entry = dict(claim.entry, state=SUBMIT_UNKNOWN if unknown else REJECTED, updated=self.clock(),
                     reason=reason[:300])

        def fn(entries):
            e = self._find(entries, claim_id=claim.claim_id)
            if e is None:
                entries.append(entry)
            else:
                e.update(state=entry["state"], updated=entry["updated"], reason=entry["reason"])
        self._record(claim.claim_id, fn, entry if unknown else None)

    def record_submitted(self, claim: Claim, request_id: str) -> None:
        owners.mark_done(claim.claim_id)
        self._note("sent", charge=claim.claim_id, request_id=request_id)
        now = self.clock()
        entry = {k: v for k, v in claim.entry.items() if k not in ("owner", "heartbeat", "resubmit_code")}
        entry.update(request_id=request_id, state=PENDING, updated=now)

        def fn(entries):
            e = self._find(entries, claim_id=claim.claim_id) or self._find(entries, request_id=request_id)
            if e is None:
                entries.append(dict(entry))
            else:
                e.clear()
                e.update(entry)
        self._remember(entry)
        self._record(claim.claim_id, fn, entry)

    def _remember(self, entry: dict) -> None:
        with _MEMORY_GUARD:
            recent = _RECENT.setdefault(self._key, {})
            recent[entry["request_id"]] = dict(entry)
            while len(recent) > _RECENT_MAX:
                recent.pop(next(iter(recent)))

    def record_state(self, request_id: str, state: str, **extra) -> None:
        now = self.clock()
        known = None
        shown = {k: extra[k] for k in ("cost", "urls") if k in extra}
        if "urls" in shown:
            shown["urls"] = list(shown["urls"] or [])[:64]
        self._note("state", request_id=request_id, state=state, model_id=getattr(self.spend, "model_id", ""),
                   name=getattr(self.spend, "name", ""), **shown)

        def fn(entries):
            nonlocal known
            for e in entries:
                if e.get("request_id") == request_id:
                    e.update(extra)
                    e["state"], e["updated"] = state, now
                    known = e
        with _MEMORY_GUARD:
            seen = _RECENT.get(self._key, {}).get(request_id)
            if seen is not None:
                seen.update(extra, state=state, updated=now)
        try:
            self._mutate(fn)
            mem = self._memory()
            with _MEMORY_GUARD:
                for k, e in list(mem.items()):
                    if e.get("request_id") == request_id:
                        mem.pop(k)
        except OSError as exc:
            mem = self._memory()
            with _MEMORY_GUARD:
                hits = [e for e in mem.values() if e.get("request_id") == request_id]
                if not hits and request_id in _RECENT.get(self._key, {}):
                    e = dict(_RECENT[self._key][request_id])
                    mem[e.get("claim") or request_id] = e
                    hits = [e]
                for e in hits:
                    e.update(extra, state=state, updated=now)
            raise JournalWriteError(
                f"The request journal {self.path} could not be written ({type(exc).__name__}: "
                f"{exc.strerror or exc}).", request_id=request_id) from None

    def record_succeeded(self, request_id: str, urls: list[str], cost: float | None) -> None:
        self.record_state(request_id, SUCCEEDED, urls=list(urls), cost=cost)

    def record_delivered(self, request_ids) -> None:
        """The results of these succeeded requests were decoded and handed over: their entries
        are finished (still resumable, now capped like the others). OSError propagates; the
        entries then stay live until their resume window passes."""
        ids = {r for r in request_ids if r}
        if not ids:
            return
        now = self.clock()
        self._note("delivered", request_ids=sorted(ids))

        def fn(entries):
            for e in entries:
                if e.get("request_id") in ids and e.get("state") == SUCCEEDED:
                    e["delivered"] = now
        self._mutate(fn)
        with _MEMORY_GUARD:
            for e in _MEMORY.get(self._key, {}).values():
                if e.get("request_id") in ids and e.get("state") == SUCCEEDED:
                    e["delivered"] = now

    # --- queries ------------------------------------------------------------------------------

    def find_resumable(self, fp: str) -> dict | None:
        now = self.clock()
        for e in reversed(self.entries()):
            if e["fingerprint"] == fp and e.get("state") in RESUMABLE and e.get("request_id") \
                    and now - e["created"] < self.resume_ttl:
                return e
        return None

    def find_request(self, request_id: str) -> dict | None:
        return self._find(self.entries(), request_id=request_id)
