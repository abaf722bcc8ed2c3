"""What the batches of one ``--out`` folder have spent, across runs: the ``--max-cost`` budget.

``DIR/.runcomfy-batch/spend.jsonl``, append only, one JSON object a line. A *charge* is one
submit that may be paid for:

- ``reserve`` {charge, job, key, usd, basis}: written just before the submit is sent, at the
  job's estimate (so a kill mid-submit leaves it counted: it may have been billed);
- ``request`` {charge, request_id}: the submit was accepted (or a run resumed this request);
- ``settle`` {charge, usd, basis}: the request ended; what it counts for from now on;
- ``release`` {charge}: certainly nothing was sent (a 429, a refusal), so it counts 0.

Spent = one amount per request id (its settled amount, else its estimate) + the estimate of
every charge without a request id that was not released. A request resumed by a later run is
counted once, however many runs touch it.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path


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


class SpendLedger:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.charges: dict[str, Charge] = {}
        self._lock = threading.Lock()
        self.unreadable_lines = 0
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        for line in text.splitlines():
            try:
                rec = json.loads(line)
                self._apply(rec)
            except (ValueError, KeyError, TypeError):
                # A line torn by a kill mid-write: ignore it (at most the one being written).
                self.unreadable_lines += 1

    def _apply(self, rec: dict) -> None:
        op, cid = rec["op"], str(rec["charge"])
        if op == "reserve":
            usd = rec["usd"]
            self.charges[cid] = Charge(cid, str(rec["job"]), str(rec.get("key", "")),
                                       None if usd is None else float(usd), str(rec.get("basis", "")), durable=True)
            return
        c = self.charges[cid]
        if op == "request":
            c.request_id = str(rec["request_id"])
        elif op == "settle":
            c.settled = float(rec["usd"])
        elif op == "release":
            c.released = True

    def _write(self, rec: dict) -> None:
        data = (json.dumps(rec, sort_keys=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- the total --------------------------------------------------------------------------

    def spent(self, assumed: float | None = None) -> tuple[float, int]:
        """(total, how many charges of unknown amount it leaves out). An unknown amount (no
        estimate, no numeric cost) counts as ``assumed`` when given."""
        settled: dict[str, float] = {}
        estimated: dict[str, float | None] = {}
        total, unknown = 0.0, 0

        def add(amount):
            nonlocal total, unknown
            if amount is None and assumed is None:
                unknown += 1
            else:
                total += assumed if amount is None else amount

        for c in list(self.charges.values()):
            if c.request_id is not None:
                # One amount per request: the largest settled one, else the largest estimate.
                if c.settled is not None:
                    settled[c.request_id] = max(c.settled, settled.get(c.request_id, 0.0))
                prev = estimated.get(c.request_id)
                estimated[c.request_id] = c.usd if prev is None else (prev if c.usd is None else max(prev, c.usd))
            elif not c.released:
                add(c.settled if c.settled is not None else c.usd)
        for rid, est in estimated.items():
            add(settled[rid] if rid in settled else est)
        return total, unknown

    def knows_request(self, request_id: str) -> bool:
        return any(c.request_id == request_id for c in self.charges.values())

    # --- one charge -------------------------------------------------------------------------

    def reserve(self, job: str, key: str, usd: float | None, basis: str) -> Charge:
        """In memory only, counted at once: made durable by ``sent`` just before the submit."""
        c = Charge(uuid.uuid4().hex, job, key, None if usd is None else float(usd), basis)
        with self._lock:
            self.charges[c.id] = c
        return c

    def sent(self, c: Charge) -> None:
        """The submit is about to go out: from now on the charge survives a kill."""
        if not c.durable:
            self._write({"op": "reserve", "charge": c.id, "job": c.job, "key": c.key, "usd": c.usd,
                         "basis": c.basis})
            c.durable = True

    def request(self, c: Charge, request_id: str) -> None:
        if c.request_id == request_id:
            return
        if not c.durable:
            self.sent(c)
        c.request_id = request_id
        self._write({"op": "request", "charge": c.id, "request_id": request_id})

    def settle(self, c: Charge, usd: float, basis: str) -> None:
        if not c.durable:
            self.sent(c)
        c.settled = float(usd)
        self._write({"op": "settle", "charge": c.id, "usd": float(usd), "basis": basis})

    def release(self, c: Charge) -> None:
        """Certainly nothing was sent under this charge."""
        c.released = True
        if c.durable:
            self._write({"op": "release", "charge": c.id})
        else:
            with self._lock:
                self.charges.pop(c.id, None)

    def settle_request(self, request_id: str, usd: float, basis: str) -> None:
        c = next((c for c in self.charges.values() if c.request_id == request_id), None)
        if c is not None:
            self.settle(c, usd, basis)

    def record_known(self, job: str, key: str, request_id: str, usd: float | None, basis: str, *,
                     settled: bool) -> Charge | None:
        """A request of an earlier run this ledger never saw (outputs or a journal of an older
        version): counted from now on, once."""
        if self.knows_request(request_id):
            return None
        c = self.reserve(job, key, usd, basis)
        self.request(c, request_id)
        if settled and usd is not None:
            self.settle(c, usd, basis)
        return c
