"""The spend history: every paid (or possibly paid) request, kept longer than the journal.

The journal keeps the newest 500 finished entries, which is what resuming needs; a month's
spend needs every request of the month. So each request's events are also appended here, one
JSON object a line, to ``<folder>/history/YYYY-MM.jsonl`` (the UTC month of the event):

- ``reserve`` {charge, model_id, name, est, basis, per_output, node, workflow, source, key}:
  written (and fsynced) under the spend lock just before a submit is sent, at the request's
  estimate, after the limits were checked (see gate.py); a kill mid-submit leaves it counted;
- ``sent`` {charge, request_id}: RunComfy accepted the submit;
- ``release`` {charge, reason}: certainly nothing was sent (a refusal): counts 0;
- ``unknown`` {charge, reason}: the submit's outcome is unknown: counts at the estimate;
- ``state`` {request_id, state, cost, counted, basis, urls}: the request ended (succeeded,
  failed, cancelled, expired); ``cost`` is /result's number (None: not stated), ``counted``
  what it counts for when no number came (the estimate, see estimate.counted_cost);
- ``delivered`` {request_ids}; ``files`` {request_id, files}: local copies of its results.

The later events are appended without an fsync: other processes see them at once, and one lost
to a power cut leaves its request counted at the estimate (never less). What is never written:
prompts, inputs, inline media, the token. Each line carries ``t`` (epoch
seconds). Files older than KEEP_MONTHS months are deleted when a new month's file starts; a
month's file past MAX_MONTH_BYTES refuses new reservations (an explicit error before any
submit, like the journal's live limit), so the folder stays bounded.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..journal.store import append_durably

KEEP_MONTHS = 13                       # this month and the twelve before it
MAX_MONTH_BYTES = 512 * 1024 * 1024    # ~750,000 requests in one month (~700 bytes each)
MAX_LINE_BYTES = 64 * 1024             # a longer line is not ours (16 result URLs fit easily)
_CHUNK = 1 << 20
_NAME = re.compile(r"^(\d{4})-(\d{2})\.jsonl$")

# States of a charge as the listing shows them.
SUBMITTING, SUBMITTED, UNCERTAIN, REJECTED = "submitting", "submitted", "uncertain", "rejected"
SUCCEEDED, FAILED, CANCELLED, EXPIRED = "succeeded", "failed", "cancelled", "expired"


def month_of(t: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(t))


def _month_index(name: str) -> int | None:
    m = _NAME.match(name)
    return int(m.group(1)) * 12 + int(m.group(2)) - 1 if m else None


@dataclass(slots=True)
class Charge:
    """One submit and what became of it."""

    id: str
    created: float
    model_id: str = ""
    name: str = ""
    estimate: float | None = None
    basis: str = ""
    per_output: float | None = None
    node: str | None = None
    workflow: str | None = None
    source: str = "node"
    key: str | None = None
    request_id: str | None = None
    state: str = SUBMITTING
    cost: float | None = None            # reported by /result
    counted: float | None = None         # what it counts for when no cost was reported
    counted_basis: str = ""
    urls: list = field(default_factory=list)
    files: list = field(default_factory=list)
    updated: float = 0.0
    delivered: float | None = None
    reason: str = ""

    def amount(self) -> tuple[float | None, str]:
        """(USD, "reported" | "estimated" | "none"): what this request counts for now. An
        unknown estimate is (None, "estimated"): the caller must not take it as 0."""
        if self.state == REJECTED:
            return 0.0, "none"
        if self.cost is not None:
            return self.cost, "reported"
        if self.state == CANCELLED:
            return 0.0, "none"            # cancelled while queued: not billed
        if self.counted is not None:
            return self.counted, "estimated"
        if self.state == SUCCEEDED and self.per_output is not None and self.estimate is not None and self.urls:
            # No cost stated: more results than estimated count at the unit price (estimate.counted_cost).
            return max(self.estimate, self.per_output * len(self.urls)), "estimated"
        # In flight, uncertain, failed or expired without a stated cost: it may have been billed.
        return self.estimate, "estimated"


def _text(v, n: int = 300) -> str | None:
    return v[:n] if isinstance(v, str) else None


def _num(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if v == v and v not in (float("inf"), float("-inf")) and v >= 0 else None


def parse_line(line: bytes | None) -> dict | None:
    """One history line as its event, or None for a line that is not one of ours."""
    if not line or len(line) > MAX_LINE_BYTES or not line.strip():
        return None
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    if isinstance(rec, dict) and isinstance(rec.get("ev"), str) and _num(rec.get("t")) is not None:
        return rec
    return None


def whole_lines(fh, start: int = 0, stop: int | None = None):
    """(end, line without its newline) for each whole line of the open file between ``start`` and
    ``stop`` (None: its end), read a block at a time; ``end`` is the offset just past the line's
    newline. A line still being written is not given; one longer than MAX_LINE_BYTES is given as
    None, and never held beyond one block."""
    fh.seek(start)
    pos, carry, skipping = start, b"", False
    while stop is None or pos + len(carry) < stop:
        block = fh.read(_CHUNK if stop is None else min(_CHUNK, stop - pos - len(carry)))
        if not block:
            return
        lines = (carry + block).split(b"\n")
        carry = lines.pop()
        for line in lines:
            pos += len(line) + 1
            yield pos, (None if skipping or len(line) > MAX_LINE_BYTES else line)
            skipping = False
        if len(carry) > MAX_LINE_BYTES:
            pos, carry, skipping = pos + len(carry), b"", True


def records(path, stop: int | None = None, naming: bytes | None = None):
    """The events of a month file, streamed: its whole lines before ``stop`` (None: all), only
    those containing ``naming`` when given (tested before parsing). A missing file has none."""
    try:
        fh = open(path, "rb")
    except OSError:
        return
    with fh:
        for _, line in whole_lines(fh, 0, stop):
            if line is not None and (naming is None or naming in line):
                rec = parse_line(line)
                if rec is not None:
                    yield rec


class HistoryLog:
    def __init__(self, folder: Path | str, *, clock=time.time):
        self.folder = Path(folder) / "history"
        self.clock = clock
        self._paths: dict[str, Path] = {}      # month -> its file (a batch appends 4 lines a job)
        self._lock = str(self.folder / "spend")

    # --- files ------------------------------------------------------------------------------

    def path_for(self, t: float) -> Path:
        month = month_of(t)
        path = self._paths.get(month)
        if path is None:
            path = self._paths[month] = self.folder / f"{month}.jsonl"
        return path

    def lock_path(self) -> str:
        return self._lock                      # store.locked adds ".lock"

    def months(self) -> list[Path]:
        """The month files, oldest first."""
        try:
            names = [n for n in os.listdir(self.folder) if _month_index(n) is not None]
        except FileNotFoundError:
            return []
        return [self.folder / n for n in sorted(names)]

    def append(self, ev: str, *, sync: bool = False, **fields) -> Path:
        """One event, into the file this returns; with ``sync`` on disk (fsync) before this
        returns, else in the OS's cache (seen at once by every process; a power cut may lose it).
        OSError propagates."""
        t = self.clock()
        rec = {"ev": ev, "t": t, **fields}
        data = (json.dumps(rec, separators=(",", ":"), default=str) + "\n").encode()
        path = self.path_for(t)
        try:
            new = append_durably(path, data, fsync=sync)
        except FileNotFoundError:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            new = append_durably(path, data, fsync=sync)
        if new:
            self.prune()
        return path

    def prune(self, keep: int = KEEP_MONTHS) -> list[Path]:
        """Deletes the month files older than ``keep`` months before the current one."""
        now = _month_index(f"{month_of(self.clock())}.jsonl")
        gone = []
        for p in self.months():
            if now - _month_index(p.name) >= keep:
                try:
                    p.unlink()
                    gone.append(p)
                except OSError:
                    pass
        return gone

    def clear(self, *, keep_current_month: bool = True) -> list[str]:
        """Deletes the history (all of it, or every month before the current one). The current
        month is what the spending limits count: without it they start again from zero."""
        current = self.path_for(self.clock())
        gone = []
        if not keep_current_month:
            # The journal keeps its entries (resuming and blocking need them); the listing hides
            # the ones from before this moment.
            from ..journal.store import atomic_write
            atomic_write(self.folder / "cleared", f"{self.clock()!r}\n".encode())
        for p in self.months():
            if keep_current_month and p == current:
                continue
            try:
                p.unlink()
                gone.append(p.name)
            except OSError:
                pass
        return gone

    def cleared_at(self) -> float:
        """When the whole history was last cleared (0: never)."""
        try:
            return float((self.folder / "cleared").read_text().strip())
        except (OSError, ValueError):
            return 0.0

    def current_bytes(self) -> int:
        try:
            return self.path_for(self.clock()).stat().st_size
        except OSError:
            return 0

    # --- reading ------------------------------------------------------------------------------

    def charges(self, since: float | None = None) -> dict[str, Charge]:
        """Every charge reserved at or after ``since`` (None: everything kept), with what became
        of it, by charge id, oldest first. Requests known only by later events (resumed from
        before this history existed) appear under their request id."""
        files = self.months()
        if since is not None:
            first = _month_index(f"{month_of(since)}.jsonl")
            files = [p for p in files if _month_index(p.name) >= first - 1]
        out: dict[str, Charge] = {}
        by_rid: dict[str, Charge] = {}
        for path in files:
            for rec in records(path):
                _apply(rec, out, by_rid)
        if since is not None:
            out = {k: c for k, c in out.items() if c.created >= since}
        return out


def _apply(rec: dict, out: dict, by_rid: dict) -> None:
    ev, t = rec["ev"], float(rec["t"])
    cid = _text(rec.get("charge"), 64)
    if ev == "reserve" and cid:
        out[cid] = Charge(cid, t, model_id=_text(rec.get("model_id"), 512) or "", name=_text(rec.get("name")) or "",
                          estimate=_num(rec.get("est")), basis=_text(rec.get("basis")) or "",
                          per_output=_num(rec.get("per_output")), node=_text(rec.get("node"), 64),
                          workflow=_text(rec.get("workflow")), source=_text(rec.get("source"), 16) or "node",
                          key=_text(rec.get("key")), updated=t)
        return
    c = out.get(cid) if cid else None
    rid = _text(rec.get("request_id"), 128)
    if ev == "sent" and c is not None and rid:
        c.request_id, c.state, c.updated = rid, SUBMITTED, t
        by_rid[rid] = c
    elif ev == "release" and c is not None:
        c.state, c.updated, c.reason = REJECTED, t, _text(rec.get("reason")) or ""
    elif ev == "unknown" and c is not None:
        c.state, c.updated, c.reason = UNCERTAIN, t, _text(rec.get("reason")) or ""
    elif ev in ("state", "files") and rid:
        c = by_rid.get(rid)
        if c is None and ev == "files":
            return          # files of a request this history does not hold: nothing to count or list
        if c is None:
            c = by_rid[rid] = out[rid] = Charge(rid, t, model_id=_text(rec.get("model_id"), 512) or "",
                                               name=_text(rec.get("name")) or "", request_id=rid, state=SUBMITTED)
        c.updated = t
        if ev == "files":
            files = rec.get("files")
            if isinstance(files, list):
                c.files = [f for f in files if isinstance(f, str)][:64]
            return
        state = _text(rec.get("state"), 32)
        if state:
            c.state = state
        if "cost" in rec:
            c.cost = _num(rec.get("cost"))
        if _num(rec.get("counted")) is not None:
            c.counted, c.counted_basis = _num(rec.get("counted")), _text(rec.get("basis")) or ""
        urls = rec.get("urls")
        if isinstance(urls, list) and urls:
            c.urls = [u for u in urls if isinstance(u, str)][:64]
    elif ev == "delivered":
        ids = rec.get("request_ids")
        for r in ids if isinstance(ids, list) else []:
            if isinstance(r, str) and r in by_rid:
                by_rid[r].delivered = t
