"""The batch's journal: one append-only file per ``--out`` folder, written by one thread.

``DIR/.runcomfy-batch/journal.jsonl`` holds every job's claim, request id and outcome, and the
spend ledger's charges (spend.py): one JSON object a line. The node's journal (runcomfy/journal)
rewrites a small file under a lock on every change; a batch of 100,000 jobs cannot afford that
(two fsyncs, a rename and a lock per write, per job), so here:

- one writer thread takes the records of every job in flight and writes them with one ``write``
  and one ``fsync`` per batch (group commit);
- a job's claim (with its spend reservation) and the request id the service returned are
  *awaited*: ``claim`` and ``record_submitted`` return only once the fsync covering them did, so
  a submit leaves only after its claim is on disk, and a job goes on only after its request id
  is. Later states (succeeded, delivered, settled) are not awaited: losing them to a crash
  costs a status call and a re-download by the request id on the next run, never a new charge.
  ``barrier()`` waits for everything written so far (the runner calls it before a manifest says
  a job is done, so the job's settled cost is on disk first);
- the run holds an exclusive lock on ``DIR/.runcomfy-batch/lock`` for its whole length: a
  second run on the same folder is refused, so no per-write locking is needed and "another
  process is submitting this job right now" cannot happen across processes;
- in memory: only jobs that are not finished (in flight, paid but not saved, uncertain), and
  the spend totals; a finished job costs nothing. Opening reads the file once, streaming.

A line torn by a kill mid-write is skipped (at most the last one). The jobs' views
(``job_view``) have the interface run/jobs uses of runcomfy.journal.Journal (claim,
record_submitted, record_submit_failed, record_state, record_succeeded, record_delivered,
find_resumable, heartbeat, block_window), keyed by the job's identity, not the payload.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from pathlib import Path

from ..errors import JournalError, JournalWriteError
from ..journal.ledger import (BLOCK_WINDOW, DEFAULT_RESUME_TTL, EXPIRED, PENDING, REJECTED, RESUMABLE,
                              SUBMIT_UNKNOWN, SUBMITTING, SUCCEEDED, SUPERSEDED, UNCERTAIN, Claim,
                              new_resubmit_code, parse_codes)
from .spend import SpendLedger

JOURNAL_NAME = "journal.jsonl"
LEGACY_SPEND = "spend.jsonl"       # spend ledger of earlier versions: read, never written
LEGACY_JOURNALS = "journal"        # per-job journal files of earlier versions: imported once
FINISHED = frozenset({"failed", "cancelled", REJECTED, EXPIRED, SUPERSEDED})
# Over this size, opening rewrites the file to what it still means (live jobs, open charges, the
# totals): a 100,000-job run leaves ~100 MB of records that the next run need not read again.
COMPACT_BYTES = 32 << 20


class FolderBusyError(JournalError):
    """Another batch run holds this --out folder."""


class _Writer:
    """Appends records in order from one thread; one write + one fsync per batch of records."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._cond = threading.Condition()
        self._pending: list[bytes] = []
        self._queued = 0          # records handed over
        self._synced = 0          # records written and fsynced
        self._error: OSError | None = None
        self._closing = False
        self.batches = 0          # fsyncs: for the benchmark
        self._thread = threading.Thread(target=self._loop, name="runcomfy-batch-journal", daemon=True)
        self._thread.start()

    def append(self, rec: dict, durable: bool = False) -> None:
        data = (json.dumps(rec, separators=(",", ":")) + "\n").encode()
        with self._cond:
            if self._error is not None and durable:
                raise OSError(self._error.errno, self._error.strerror)
            self._pending.append(data)
            self._queued += 1
            mine = self._queued
            self._cond.notify_all()
            if durable:
                self._wait(mine)

    def barrier(self) -> None:
        with self._cond:
            self._wait(self._queued)

    def _wait(self, seq: int) -> None:
        while self._synced < seq:
            if self._error is not None:
                raise OSError(self._error.errno, self._error.strerror)
            self._cond.wait()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
                upto = self._queued
            try:
                os.write(self._fd, b"".join(batch))
                os.fsync(self._fd)
            except OSError as exc:
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                continue
            with self._cond:
                self._synced = upto
                self.batches += 1
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=60)
        os.close(self._fd)


class BatchJournal:
    def __init__(self, state_dir: Path, *, resume_ttl: float = DEFAULT_RESUME_TTL,
                 block_window: float = BLOCK_WINDOW, clock=time.time):
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.resume_ttl, self.block_window, self.clock = resume_ttl, block_window, clock
        self.path = self.dir / JOURNAL_NAME
        self._lock_fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise FolderBusyError(f"another batch run is using {self.dir.parent} (its lock {self.dir / 'lock'} "
                                  "is held); nothing was sent. Wait for it to end, or give another --out.") from None
        self._mu = threading.RLock()
        self.live: dict[str, dict] = {}           # identity -> its entry, for jobs not finished
        self._by_rid: dict[str, str] = {}         # request id -> identity (live entries)
        self._by_claim: dict[str, str] = {}       # claim id -> identity (live entries)
        self._mine: set[str] = set()              # claims this run is submitting right now
        self.unreadable_lines = 0
        self.notes: list[str] = []
        self._writer = None
        self.ledger = SpendLedger(sink=self)
        try:
            if not self._legacy_spend_included():
                self.ledger.load(self.dir / LEGACY_SPEND)
            self._replay()
            self._compact_if_large()
            self._writer = _Writer(self.path)
            self._import_legacy()
        except BaseException:
            self.close()
            raise

    # --- the file -----------------------------------------------------------------------------

    def _replay(self) -> None:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return
        torn = False
        with fh:
            for line in fh:
                torn = not line.endswith(b"\n")
                try:
                    rec = json.loads(line)
                    op = rec["op"]
                except (ValueError, KeyError, TypeError):
                    self.unreadable_lines += 1
                    continue
                if op in ("reserve", "request", "settle", "release", "totals"):
                    self.ledger.apply_line(line)
                else:
                    try:
                        self._apply(rec)
                    except (KeyError, TypeError, AttributeError):
                        self.unreadable_lines += 1
        if torn:       # the next record must start on a line of its own
            with open(self.path, "ab") as out:
                out.write(b"\n")

    def _legacy_spend_included(self) -> bool:
        """A compaction took spend.jsonl in (and was cut before renaming it): not read twice."""
        try:
            with open(self.path, "rb") as fh:
                head = [fh.readline(), fh.readline()]
        except OSError:
            return False
        return b'"legacy_spend_included"' in head[1] and b'"compacted"' in head[0]

    def _compact_if_large(self) -> None:
        try:
            if self.path.stat().st_size <= COMPACT_BYTES:
                return
        except OSError:
            return
        recs = [{"op": "compacted", "t": self.clock()}]
        if self.dir.joinpath(LEGACY_SPEND).exists():
            # The legacy ledger was read into this one: the snapshot holds it from now on.
            recs.append({"op": "legacy_spend_included"})
        recs += self.ledger.snapshot()
        recs += [{"op": "entry", "e": e} for e in self.live.values()]
        tmp = self.path.with_name(self.path.name + ".compact")
        with open(tmp, "wb") as fh:
            for r in recs:
                fh.write((json.dumps(r, separators=(",", ":")) + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        if self.dir.joinpath(LEGACY_SPEND).exists():
            os.replace(self.dir / LEGACY_SPEND, self.dir / f"{LEGACY_SPEND}.included-{int(time.time())}")
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)                 # the rename itself survives a crash
        finally:
            os.close(fd)
        self.notes.append(f"batch journal compacted to {len(recs)} record(s)")

    def _apply(self, rec: dict) -> None:
        op = rec["op"]
        if op == "claim":
            self._put({"fingerprint": rec["id"], "model_id": rec.get("model"), "request_id": None,
                       "state": SUBMITTING, "created": rec["t"], "updated": rec["t"], "claim": rec["claim"],
                       "resubmit_code": rec.get("code"), "key": rec.get("key")})
        elif op == "entry":                      # imported from an older version's journal
            self._put(dict(rec["e"]))
        elif op == "submitted":
            e = self._entry(claim=rec["claim"])
            if e is not None:
                self._by_rid[rec["rid"]] = e["fingerprint"]
                e.update(request_id=rec["rid"], state=PENDING, updated=rec["t"])
        elif op == "submit_failed":
            e = self._entry(claim=rec["claim"])
            if e is not None:
                e.update(state=SUBMIT_UNKNOWN if rec.get("unknown") else REJECTED, updated=rec["t"],
                         reason=rec.get("reason", ""))
                self._settle_entry(e)
        elif op == "state":
            e = self._entry(rid=rec["rid"])
            if e is not None:
                e.update(state=rec["state"], updated=rec["t"])
                if "urls" in rec:
                    e["urls"], e["cost"] = rec["urls"], rec.get("cost")
                self._settle_entry(e)
        elif op == "delivered":
            for rid in rec["rids"]:
                e = self._entry(rid=rid)
                if e is not None and e.get("state") == SUCCEEDED:
                    e["delivered"] = rec["t"]
                    self._settle_entry(e)
        elif op == "superseded":
            e = self._entry(claim=rec["claim"])
            if e is not None:
                e["state"] = SUPERSEDED
                self._settle_entry(e)

    def _put(self, e: dict) -> None:
        old = self.live.get(e["fingerprint"])
        if old is not None:
            self._forget(old)
        self.live[e["fingerprint"]] = e
        if e.get("claim"):
            self._by_claim[e["claim"]] = e["fingerprint"]
        if e.get("request_id"):
            self._by_rid[e["request_id"]] = e["fingerprint"]

    def _forget(self, e: dict) -> None:
        if self.live.get(e["fingerprint"]) is e:
            del self.live[e["fingerprint"]]
        self._by_claim.pop(e.get("claim"), None)
        if e.get("request_id"):
            self._by_rid.pop(e["request_id"], None)

    def _settle_entry(self, e: dict) -> None:
        """A finished entry leaves memory: it neither resumes nor blocks anything any more."""
        if e.get("state") in FINISHED or (e.get("state") == SUCCEEDED and e.get("delivered")):
            self._forget(e)

    def _entry(self, claim: str | None = None, rid: str | None = None) -> dict | None:
        ident = self._by_claim.get(claim) if claim else self._by_rid.get(rid)
        return self.live.get(ident) if ident else None

    def _import_legacy(self) -> None:
        """Per-job journal files of an earlier version: their live entries move into this file once."""
        old = self.dir / LEGACY_JOURNALS
        if not old.is_dir():
            return
        from ..journal.store import read_entries
        moved = 0
        for p in sorted(old.glob("*/*.json")):
            for e in read_entries(p) or []:
                if e.get("state") in RESUMABLE | UNCERTAIN and not e.get("delivered") and e.get("fingerprint"):
                    e = {k: v for k, v in e.items() if k not in ("owner", "heartbeat")}
                    if e.get("state") == SUBMITTING:
                        e["claim"] = e.get("claim") or uuid.uuid4().hex
                    self.append({"op": "entry", "e": e})
                    self._put(e)
                    moved += 1
        self._writer.barrier()
        os.replace(old, self.dir / f"{LEGACY_JOURNALS}.imported-{int(time.time())}")
        if moved:
            self.notes.append(f"journal: {moved} live entr{'y' if moved == 1 else 'ies'} of an earlier version "
                              "imported")

    def append(self, rec: dict, durable: bool = False) -> None:
        """The spend ledger's sink, and every record of the jobs."""
        self._writer.append(rec, durable)

    def barrier(self) -> None:
        self._writer.barrier()

    @property
    def fsyncs(self) -> int:
        return self._writer.batches if self._writer is not None else 0

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)          # releases the run's lock
            self._lock_fd = None

    # --- look-ups (no I/O) --------------------------------------------------------------------

    def lookup(self, identity: str) -> dict | None:
        with self._mu:
            e = self.live.get(identity)
            return dict(e) if e is not None else None

    def resumable(self, identity: str) -> dict | None:
        e = self.lookup(identity)
        if e and e.get("state") in RESUMABLE and e.get("request_id") \
                and self.clock() - e["created"] < self.resume_ttl:
            return e
        return None

    def blocking(self, identity: str) -> dict | None:
        e = self.lookup(identity)
        if e and e.get("state") in UNCERTAIN and self.clock() - e["created"] < self.block_window \
                and e.get("claim") not in self._mine:
            return e
        return None

    def job_view(self, identity: str, key: str, spend=None, on_claim=None, charge_of=None) -> "JobJournal":
        return JobJournal(self, identity, key, spend, on_claim, charge_of)


class JobJournal:
    """One job's view of the batch journal, with the interface run/jobs uses (see module doc).
    ``on_claim()`` returns the spend charge a submit is about to be counted under (written with the
    claim); ``charge_of()`` the job's current charge (its request id is written with the submit's)."""

    def __init__(self, journal: BatchJournal, identity: str, key: str, spend=None, on_claim=None, charge_of=None):
        self.j, self.identity, self.key = journal, identity, key
        self.spend = spend                         # spending.Tag (the config folder's limits) or None
        self.on_claim = on_claim or (lambda: None)
        self.charge_of = charge_of or (lambda: None)
        self.block_window = journal.block_window

    def _note(self, ev: str, **fields) -> None:
        if self.spend is None:
            return
        problem = self.spend.note(ev, **fields)
        if problem:
            import logging
            logging.getLogger("runcomfy").warning("runcomfy: %s (%s)", problem, ev)

    # --- before the submit --------------------------------------------------------------------

    def claim(self, fp: str, model_id: str, *, codes=frozenset(), allow_resume: bool = True) -> Claim:
        j, ident = self.j, self.identity
        codes = parse_codes(codes)
        now = j.clock()
        with j._mu:
            e = j.live.get(ident)
            if e is not None:
                if allow_resume and e.get("state") in RESUMABLE and e.get("request_id") \
                        and now - e["created"] < j.resume_ttl:
                    return Claim("resume", dict(e))
                if e.get("state") in UNCERTAIN and now - e["created"] < j.block_window:
                    if e.get("claim") in j._mine:
                        return Claim("wait", dict(e))
                    if e.get("resubmit_code") not in codes:
                        return Claim("blocked", dict(e), code_rejected=bool(codes))
                    # The user read the warning about this entry and chose to pay again: once.
                    j.append({"op": "superseded", "claim": e["claim"], "t": now})
                    e["state"] = SUPERSEDED
                    j._forget(e)
            cid = uuid.uuid4().hex
            mine = {"fingerprint": ident, "model_id": model_id, "request_id": None, "state": SUBMITTING,
                    "created": now, "updated": now, "claim": cid, "resubmit_code": new_resubmit_code(),
                    "key": self.key}
            if self.spend is not None:
                # The config folder's limits: checked and reserved before anything is recorded or sent.
                self.spend.reserve(cid, model_id, now)
            charge = self.on_claim()
            j._put(mine)
            j._mine.add(cid)
        try:
            if charge is not None:
                j.ledger.sent(charge, durable=False)     # same fsync as the claim below
            j.append({"op": "claim", "id": ident, "key": self.key, "claim": cid, "model": model_id, "t": now,
                      "code": mine["resubmit_code"]}, durable=True)
        except OSError as exc:
            with j._mu:
                j._mine.discard(cid)
                j._forget(mine)
            self._note("release", charge=cid, reason="journal not writable")
            raise JournalError(
                f"The batch journal {j.path} cannot be written ({type(exc).__name__}: {exc.strerror or exc}). "
                "Nothing was sent or charged for this job: without the journal a lost answer could be paid "
                "twice. Make the folder writable and run again.") from None
        return Claim("submit", dict(mine))

    def heartbeat(self, claim_id: str) -> None:
        """Nothing to refresh: the run's lock keeps other runs off this folder."""

    def find_resumable(self, fp: str) -> dict | None:
        return self.j.resumable(self.identity)

    # --- after the submit ---------------------------------------------------------------------

    def record_submit_failed(self, claim: Claim, unknown: bool, reason: str = "") -> None:
        j = self.j
        self._note("unknown" if unknown else "release", charge=claim.claim_id, reason=reason[:300])
        now = j.clock()
        with j._mu:
            j._mine.discard(claim.claim_id)
            e = j._entry(claim=claim.claim_id)
            if e is not None:
                e.update(state=SUBMIT_UNKNOWN if unknown else REJECTED, updated=now, reason=reason[:300])
                j._settle_entry(e)
        try:
            j.append({"op": "submit_failed", "claim": claim.claim_id, "unknown": bool(unknown),
                      "reason": reason[:300], "t": now}, durable=unknown)
        except OSError as exc:
            raise JournalWriteError(f"The batch journal {j.path} could not be written ({exc}).") from None

    def record_submitted(self, claim: Claim, request_id: str) -> None:
        j = self.j
        self._note("sent", charge=claim.claim_id, request_id=request_id)
        now = j.clock()
        with j._mu:
            j._mine.discard(claim.claim_id)
            e = j._entry(claim=claim.claim_id)
            if e is not None:
                e.update(request_id=request_id, state=PENDING, updated=now)
                j._by_rid[request_id] = self.identity
        try:
            charge = self.charge_of()
            if charge is not None:
                j.ledger.request(charge, request_id, durable=False, fresh=True)   # same fsync as below
            j.append({"op": "submitted", "claim": claim.claim_id, "rid": request_id, "t": now}, durable=True)
        except OSError as exc:
            # The entry stays in this run's memory (it resumes within the run).
            raise JournalWriteError(f"The batch journal {j.path} could not be written ({exc}); this run keeps "
                                    f"request {request_id} in memory.", request_id=request_id) from None

    def record_state(self, request_id: str, state: str, **extra) -> None:
        j = self.j
        now = j.clock()
        shown = {k: extra[k] for k in ("cost", "urls") if k in extra}
        if "urls" in shown:
            shown["urls"] = list(shown["urls"] or [])[:64]
        self._note("state", request_id=request_id, state=state, model_id=getattr(self.spend, "model_id", ""),
                   name=getattr(self.spend, "name", ""), **shown)
        rec = {"op": "state", "rid": request_id, "state": state, "t": now}
        if "urls" in extra:
            rec["urls"], rec["cost"] = list(extra["urls"] or []), extra.get("cost")
        with j._mu:
            e = j._entry(rid=request_id)
            if e is not None:
                e.update(extra, state=state, updated=now)
                j._settle_entry(e)
        try:
            j.append(rec)
        except OSError as exc:
            raise JournalWriteError(f"The batch journal {j.path} could not be written ({exc}).",
                                    request_id=request_id) from None

    def record_succeeded(self, request_id: str, urls: list[str], cost: float | None) -> None:
        self.record_state(request_id, SUCCEEDED, urls=list(urls), cost=cost)

    def record_delivered(self, request_ids) -> None:
        j = self.j
        ids = sorted({r for r in request_ids if r})
        if not ids:
            return
        now = j.clock()
        self._note("delivered", request_ids=ids)
        with j._mu:
            for rid in ids:
                e = j._entry(rid=rid)
                if e is not None and e.get("state") == SUCCEEDED:
                    e["delivered"] = now
                    j._settle_entry(e)
        j.append({"op": "delivered", "rids": ids, "t": now})

    def entries(self) -> list[dict]:
        e = self.j.lookup(self.identity)
        return [e] if e else []

    # Appends the writer thread makes durable later: run/jobs calls them without a thread hop.
    record_state.nonblocking = True
    record_succeeded.nonblocking = True
    record_delivered.nonblocking = True
