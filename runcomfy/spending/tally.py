"""The running tally of the spend history: what each local day cost, by model, in memory that does
not grow with the number of requests.

The limits are checked at every submit (gate.py), and a month can hold hundreds of thousands of
requests (a large batch). Holding every event, or every charge, of the month would make each check
cost more memory and time than the one before. So the month files are folded once, in order, and
only their new lines are read at the next check:

- a charge whose amount can still change (reserved, sent, uncertain: a few per job in flight) is
  kept whole;
- a charge that ended (succeeded, failed, cancelled, expired, released) is added to the sums of its
  local day and model and dropped; only an 8-byte digest of its request id stays, so a later
  ``state`` line for it (rare: a fetch or cancel from the history tab) is recognised. That line's
  charge is then rebuilt from the lines that name it (a scan of the files, once per such line) and
  the sums take the difference.

The sums are exactly what ``history.charges`` + ``gate.spent_since`` give for any window that starts
at a local midnight (a day, week or month start), which is the only kind the limits and totals use.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import threading
from array import array
from collections import ChainMap

from .history import (CANCELLED, EXPIRED, FAILED, REJECTED, SUCCEEDED, Charge, _apply, _month_index, _text, month_of,
                      parse_line, records, whole_lines)
from .windows import day_start

ENDED = frozenset({SUCCEEDED, FAILED, CANCELLED, EXPIRED, REJECTED})


def request_digest(request_id: str) -> int:
    """8 bytes that stand for a request id once its charge is summed (here and in a batch's
    ledger, batch/spend.py, which keeps them in its journal: the function must not change)."""
    return int.from_bytes(hashlib.blake2b(request_id.encode(), digest_size=8).digest(), "little")


class _Sum:
    __slots__ = ("reported", "estimated", "unknown", "requests")

    def __init__(self):
        self.reported = self.estimated = 0.0
        self.unknown = self.requests = 0

    def add(self, usd, kind: str, sign: int = 1, requests: int = 1) -> None:
        self.requests += sign * requests
        if usd is None:
            self.unknown += sign
        elif kind == "reported":
            self.reported += sign * usd
        elif kind == "estimated":
            self.estimated += sign * usd


class Tally:
    """The folded month files of one history folder, from month index ``start`` on."""

    def __init__(self, folder: str, start: int):
        self.folder, self.start = folder, start
        self.files: dict[str, tuple[int, int]] = {}     # name -> (inode, bytes folded)
        self.open: dict[str, Charge] = {}                # charge id -> a charge that has not ended
        self.open_rid: dict[str, Charge] = {}
        self.sums: dict[tuple[float, str], _Sum] = {}    # (local day start, model id) -> what ended
        self.names: dict[str, str] = {}
        self.ended = array("Q")                          # digests of ended requests' ids
        self.bad = 0
        self.rescans = 0                                 # late lines that needed a scan (see above)
        self._day = (0.0, -1.0)

    # --- reading the files ------------------------------------------------------------------------

    def catch_up(self) -> bool:
        """Folds what was appended since the last call. False: a file was replaced, shortened or
        removed (cleared, pruned): the caller starts a new tally."""
        try:
            names = sorted(n for n in os.listdir(self.folder) if (_month_index(n) or -1) >= self.start)
        except FileNotFoundError:
            names = []
        if set(self.files) - set(names):
            return False
        for name in names:
            path = os.path.join(self.folder, name)
            try:
                st = os.stat(path)
            except OSError:
                return False
            inode, done = self.files.get(name, (st.st_ino, 0))
            if inode != st.st_ino or st.st_size < done:
                return False
            self.files[name] = (inode, done)
            if st.st_size > done:
                self.files[name] = (inode, self._fold(path, name, done, st.st_size))
        return True

    def _fold(self, path: str, name: str, offset: int, size: int) -> int:
        """Folds the whole lines of path[offset:size]; returns the offset after the last one (a
        line still being written is read next time)."""
        with open(path, "rb") as fh:
            for end, line in whole_lines(fh, offset, size):
                rec = parse_line(line)
                if rec is None:
                    self.bad += line is None or bool(line.strip())
                else:
                    self.feed(rec, (name, end - len(line) - 1))
                offset = end
        return offset

    def _lines_naming(self, needle: bytes, upto: tuple[str, int]):
        """The records, in file order, of the lines before ``upto`` that contain ``needle``."""
        for name in sorted(self.files):
            if name > upto[0]:
                return
            stop = upto[1] if name == upto[0] else self.files[name][1]
            yield from records(os.path.join(self.folder, name), stop, needle)

    # --- folding ----------------------------------------------------------------------------------

    def feed(self, rec: dict, where: tuple[str, int]) -> None:
        ev = rec["ev"]
        if ev in ("files", "delivered"):
            return                               # nothing a sum depends on
        if ev == "state":
            rid = _text(rec.get("request_id"), 128)
            if not rid:
                return
            if rid not in self.open_rid and request_digest(rid) in self.ended:
                self._correct(rid, rec, where)
                return
            _apply(rec, self.open, self.open_rid)
            c = self.open_rid.get(rid)
        else:
            _apply(rec, self.open, self.open_rid)
            cid = _text(rec.get("charge"), 64)
            c = self.open.get(cid) if cid else None
        if c is not None and c.state in ENDED:
            self._end(c)

    def _sum_for(self, c: Charge) -> _Sum:
        lo, hi = self._day
        if not lo <= c.created < hi:
            lo = day_start(c.created)
            self._day = lo, day_start(lo + 36 * 3600)
        key = (lo, c.model_id)
        s = self.sums.get(key)
        if s is None:
            s = self.sums[key] = _Sum()
        if c.name:
            self.names[c.model_id] = c.name
        return s

    def _end(self, c: Charge) -> None:
        usd, kind = c.amount()
        self._sum_for(c).add(usd, kind)
        self._forget(c)

    def _forget(self, c: Charge) -> None:
        """An ended charge leaves the open ones; its request id stays as a digest."""
        self.open.pop(c.id, None)
        if c.request_id:
            self.open_rid.pop(c.request_id, None)
            self.ended.append(request_digest(c.request_id))

    def _correct(self, rid: str, rec: dict, where: tuple[str, int]) -> None:
        """A state line for a request already summed: rebuild it from its earlier lines and move
        its sum by the difference."""
        self.rescans += 1
        out: dict[str, Charge] = {}
        by_rid: dict[str, Charge] = {}
        lines = list(self._lines_naming(json.dumps(rid).encode(), where))
        cid = next((r.get("charge") for r in lines if r["ev"] == "sent" and isinstance(r.get("charge"), str)), None)
        if cid:
            lines = list(self._lines_naming(json.dumps(cid).encode(), where)) + lines
            lines.sort(key=lambda r: 0 if r["ev"] == "reserve" else 1)   # its reserve comes first
        for r in lines:
            _apply(r, out, by_rid)
        before = by_rid.get(rid)
        if before is None:                       # a digest shared by another id: a new request
            _apply(rec, self.open, self.open_rid)
            c = self.open_rid.get(rid)
            if c is not None and c.state in ENDED:
                self._end(c)
            return
        usd, kind = before.amount()
        s = self._sum_for(before)
        s.add(usd, kind, -1, 0)
        _apply(rec, out, by_rid)
        usd, kind = by_rid[rid].amount()
        s.add(usd, kind, 1, 0)

    # --- what the limits and totals read -----------------------------------------------------------

    def spent(self, since: float) -> tuple[float, float, float, int]:
        """(total, reported, estimated, requests of unknown cost) of the charges made at or after
        ``since``, a local midnight."""
        s = self.window(since)[0]
        return s.reported + s.estimated, s.reported, s.estimated, s.unknown

    def window(self, since: float) -> tuple[_Sum, dict[str, _Sum]]:
        """The sum of the charges made at or after ``since`` (a local midnight), and by model."""
        total, models = _Sum(), {}

        def into(model: str) -> _Sum:
            s = models.get(model)
            if s is None:
                s = models[model] = _Sum()
            return s
        for (day, model), s in self.sums.items():
            if day >= since:
                for t in (total, into(model)):
                    t.reported += s.reported
                    t.estimated += s.estimated
                    t.unknown += s.unknown
                    t.requests += s.requests
        for c in self.open.values():
            if c.created >= since:
                usd, kind = c.amount()
                total.add(usd, kind)
                into(c.model_id).add(usd, kind)
                if c.name:
                    self.names.setdefault(c.model_id, c.name)
        return total, models


class Late(Exception):
    """A state line for a request that had already ended: the caller folds everything instead."""


class Newest(Tally):
    """The ``k`` newest ended charges that ``wanted`` accepts, plus every charge still open, from
    one pass over the files: what a page of the request list needs, in memory bounded by ``k`` and
    the requests in flight (plus 8 bytes a request), not by the month. A state line for a request
    that already ended (it could change whether the request is wanted) raises Late. ``watch``: ids
    whose presence in the history the caller asks about (``seen``)."""

    def __init__(self, folder: str, start: int, wanted, k: int, watch=frozenset()):
        super().__init__(folder, start)
        self.wanted, self.k = wanted, k
        self.heap: list = []                          # (created, id, Charge): the oldest kept on top
        self.kept: dict[str, Charge] = {}             # request id -> a kept ended charge
        self.watch, self.seen = watch, set()

    def feed(self, rec: dict, where: tuple[str, int]) -> None:
        ev = rec["ev"]
        rid = _text(rec.get("request_id"), 128)
        if ev == "reserve":
            cid = _text(rec.get("charge"), 64)
            if cid in self.watch:
                self.seen.add(cid)
        elif rid in self.watch and (ev == "state" or (ev == "sent" and _text(rec.get("charge"), 64) in self.open)):
            self.seen.add(rid)
        if ev in ("files", "delivered"):
            _apply(rec, {}, ChainMap(self.open_rid, self.kept))    # only to the charges still held
            return
        if ev == "state" and rid and rid in self.kept:
            raise Late(rid)
        super().feed(rec, where)

    def _correct(self, rid: str, rec: dict, where: tuple[str, int]) -> None:
        raise Late(rid)

    def _end(self, c: Charge) -> None:
        self._forget(c)
        if not self.wanted(c):
            return
        heapq.heappush(self.heap, (c.created, c.id, c))
        if c.request_id:
            self.kept[c.request_id] = c
        if len(self.heap) > self.k:
            old = heapq.heappop(self.heap)[2]
            if old.request_id and self.kept.get(old.request_id) is old:
                del self.kept[old.request_id]

    def charges(self) -> list[Charge]:
        return [c for _, _, c in self.heap] + list(self.open.values())


_TALLIES: dict[str, Tally] = {}
_GUARD = threading.Lock()


def read(folder, since: float, fn):
    """``fn(tally)`` for the history folder ``folder``, its tally caught up with the files and
    covering every charge made at or after ``since``. Under the spend lock, a check sees every
    other process's reservations."""
    folder = os.path.abspath(folder)
    # The UTC month of the instant ``since`` (east of UTC a local month starts in the file before).
    start = _month_index(f"{month_of(since)}.jsonl")
    with _GUARD:
        t = _TALLIES.get(folder)
        if t is None or t.start > start or not t.catch_up():
            t = _TALLIES[folder] = Tally(folder, start if t is None else min(start, t.start))
            t.catch_up()
        return fn(t)
