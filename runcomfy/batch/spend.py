"""What the batches of one ``--out`` folder have spent, across runs: the ``--max-cost`` budget.

The charges live in the batch journal (``DIR/.runcomfy-batch/journal.jsonl``, see journal.py),
one JSON object a line, next to the job records; folders written by earlier versions also have
``spend.jsonl`` with the same records, read once at start. A *charge* is one submit that may be
paid for:

- ``reserve`` {charge, job, key, usd, basis}: written with the job's claim, before the submit is
  sent, at the job's estimate (so a kill mid-submit leaves it counted: it may have been billed);
- ``request`` {charge, request_id}: the submit was accepted (or a run resumed this request);
- ``settle`` {charge, usd, basis}: the request ended; what it counts for from now on;
- ``release`` {charge}: certainly nothing was sent (a 429, a refusal), so it counts 0.

Spent = one amount per request id (its settled amount, else its estimate) + the estimate of
every charge without a request id that was not released. A request resumed by a later run is
counted once, however many runs touch it.

Memory and time do not grow with the batch: a settled charge is folded into a running total
(only an 8-byte digest of its request id stays, so a later run knows it was counted); only
charges still open (in flight, or ended without a settled amount) are kept, and ``spent()``
reads running sums.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from array import array
from dataclasses import dataclass
from pathlib import Path

from ..journal.store import append_durably
from ..spending.tally import request_digest


@dataclass
class Charge:
    id: str
    job: str
    key: str
    usd: float | None              # the estimate; None: unknown
    basis: str
    request_id: str | None = None
    settled: float | None = None
    released: bool = False
    durable: bool = False          # written to the file (a reservation not yet sent is not)


class _FileSink:
    """Each record appended and fsynced on its own (a ledger read or written outside a run)."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, rec: dict, durable: bool = False) -> None:
        data = (json.dumps(rec, sort_keys=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        append_durably(self.path, data)


class SpendLedger:
    """``SpendLedger(path)`` reads a ledger file (spend ops; other records in it are skipped) and
    appends to it; the batch journal builds one with ``sink=`` its writer and feeds it records."""

    def __init__(self, path: Path | None = None, *, sink=None):
        self.path = Path(path) if path is not None else None
        self.sink = sink if sink is not None else _FileSink(self.path)
        self.open: dict[str, Charge] = {}            # charges not folded into the totals
        self._lock = threading.RLock()
        self.unreadable_lines = 0
        self._settled_total = 0.0                    # folded charges: their settled amounts
        self._est_sum = 0.0                          # open, unreleased charges with an estimate
        self._est_unknown = 0                        # open, unreleased charges without one
        self._open_rids: dict[str, str] = {}         # request id -> open charge id
        # Digests of request ids folded into the total: 8 bytes each (a set would take ~70). Looked
        # up only for a request met again (resumed, or found in an older version's outputs).
        self._folded = array("Q")
        if self.path is not None and sink is None:
            self.load(self.path)

    # --- reading ------------------------------------------------------------------------------

    def load(self, path: Path) -> None:
        """Apply the spend records of a file, streaming (a missing file is empty)."""
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            return
        with fh:
            for line in fh:
                self.apply_line(line)

    def apply_line(self, line: bytes) -> None:
        try:
            rec = json.loads(line)
            if rec.get("op") in ("reserve", "request", "settle", "release", "totals"):
                self.apply(rec)
        except (ValueError, KeyError, TypeError, AttributeError):
            # A line torn by a kill mid-write: ignore it (at most the one being written).
            self.unreadable_lines += 1

    def apply(self, rec: dict) -> None:
        if rec["op"] == "totals":            # a compacted journal's folded charges (snapshot)
            self._settled_total += float(rec["settled_usd"])
            self._folded.frombytes(base64.b64decode(rec["folded"]))
            return
        op, cid = rec["op"], str(rec["charge"])
        if op == "reserve":
            usd = rec["usd"]
            c = Charge(cid, str(rec["job"]), str(rec.get("key", "")), None if usd is None else float(usd),
                       str(rec.get("basis", "")), durable=True)
            self._count(c)
            return
        c = self.open.get(cid)
        if c is None:
            return                       # folded already (settled): nothing left to change
        if op == "request":
            # Written only after knows_request said no (or for a fresh submit): in file order,
            # no folded charge holds it.
            self._attach(c, str(rec["request_id"]), fresh=True)
        elif op == "settle":
            self._fold(c, float(rec["usd"]))
        elif op == "release":
            self._drop(c)

    # --- the running sums (callers hold the lock or are single-threaded) ----------------------

    def _count(self, c: Charge) -> None:
        self.open[c.id] = c
        if c.usd is None:
            self._est_unknown += 1
        else:
            self._est_sum += c.usd

    def _uncount(self, c: Charge) -> None:
        if self.open.pop(c.id, None) is None:
            return
        if c.usd is None:
            self._est_unknown -= 1
        else:
            self._est_sum -= c.usd
        if c.request_id is not None and self._open_rids.get(c.request_id) == c.id:
            del self._open_rids[c.request_id]

    def _attach(self, c: Charge, rid: str, fresh: bool = False) -> None:
        """``fresh``: the service just returned this request id for this charge's submit, so no
        earlier charge can hold it."""
        other = self._open_rids.get(rid)
        c.request_id = rid
        if other is not None and other != c.id:
            self._uncount(c)             # the request is counted already, under its first charge
            return
        if not fresh and self._known_folded(rid):
            self._uncount(c)
            return
        self._open_rids[rid] = c.id

    def _fold(self, c: Charge, usd: float) -> None:
        c.settled = usd
        if c.request_id is None:
            # Settled without a request id (cannot happen in a run; an old file): counts its amount.
            self._uncount(c)
            self._settled_total += usd
            return
        # Counted once: an open charge is the only one holding its request id (see _attach).
        self._uncount(c)
        self._settled_total += usd
        self._folded.append(request_digest(c.request_id))

    def _drop(self, c: Charge) -> None:
        c.released = True
        self._uncount(c)

    def _known_folded(self, rid: str) -> bool:
        return request_digest(rid) in self._folded          # a linear scan in C: ~0.1 ms per 100,000

    def snapshot(self) -> list[dict]:
        """Records that rebuild this ledger (a compacted journal): the folded totals, then every
        open charge."""
        with self._lock:
            out = [{"op": "totals", "settled_usd": self._settled_total,
                    "folded": base64.b64encode(self._folded.tobytes()).decode()}]
            for c in self.open.values():
                out.append({"op": "reserve", "charge": c.id, "job": c.job, "key": c.key, "usd": c.usd,
                            "basis": c.basis})
                if c.request_id is not None:
                    out.append({"op": "request", "charge": c.id, "request_id": c.request_id})
        return out

    # --- the total --------------------------------------------------------------------------

    def spent(self, assumed: float | None = None) -> tuple[float, int]:
        """(total, how many charges of unknown amount it leaves out). An unknown amount (no
        estimate, no numeric cost) counts as ``assumed`` when given."""
        with self._lock:
            total = self._settled_total + self._est_sum
            if assumed is None:
                return total, self._est_unknown
            return total + assumed * self._est_unknown, 0

    def knows_request(self, request_id: str) -> bool:
        with self._lock:
            return request_id in self._open_rids or self._known_folded(request_id)

    # --- one charge -------------------------------------------------------------------------

    def reserve(self, job: str, key: str, usd: float | None, basis: str) -> Charge:
        """In memory only, counted at once: made durable by ``sent`` just before the submit."""
        c = Charge(uuid.uuid4().hex, job, key, None if usd is None else float(usd), basis)
        with self._lock:
            self._count(c)
        return c

    def sent(self, c: Charge, durable: bool = True) -> None:
        """The submit is about to go out: from now on the charge survives a kill. The batch
        journal passes ``durable=False`` and makes its claim record (same write) wait instead."""
        if not c.durable:
            self.sink.append({"op": "reserve", "charge": c.id, "job": c.job, "key": c.key, "usd": c.usd,
                              "basis": c.basis}, durable)
            c.durable = True

    def request(self, c: Charge, request_id: str, durable: bool = True, fresh: bool = False) -> None:
        if c.request_id == request_id:
            return
        if not c.durable:
            self.sent(c, durable)
        with self._lock:
            self._attach(c, request_id, fresh)
        self.sink.append({"op": "request", "charge": c.id, "request_id": request_id}, durable)

    def settle(self, c: Charge, usd: float, basis: str, durable: bool = True) -> None:
        if not c.durable:
            self.sent(c, durable)
        with self._lock:
            self._fold(c, float(usd))
        self.sink.append({"op": "settle", "charge": c.id, "usd": float(usd), "basis": basis}, durable)

    def release(self, c: Charge) -> None:
        """Certainly nothing was sent under this charge."""
        with self._lock:
            self._drop(c)
        if c.durable:
            self.sink.append({"op": "release", "charge": c.id}, False)

    def settle_request(self, request_id: str, usd: float, basis: str, durable: bool = True) -> None:
        with self._lock:
            cid = self._open_rids.get(request_id)
            c = self.open.get(cid) if cid is not None else None
        if c is not None:
            self.settle(c, usd, basis, durable)

    def record_known(self, job: str, key: str, request_id: str, usd: float | None, basis: str, *,
                     settled: bool) -> Charge | None:
        """A request of an earlier run this ledger never saw (outputs or a journal of an older
        version): counted from now on, once."""
        if self.knows_request(request_id):
            return None
        c = self.reserve(job, key, usd, basis)
        self.request(c, request_id, durable=False)
        if settled and usd is not None:
            self.settle(c, usd, basis, durable=False)
        return c
