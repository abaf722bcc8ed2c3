"""The spending limits' check, and the reservation of a submit's estimate, as one atomic step.

``Journal.claim`` calls ``reserve`` inside its own locked step, only when it decided "submit"
(a resume or a wait costs nothing new), before it records the entry and before anything is
sent. ``reserve`` then takes the spend lock, a file lock (store.locked: flock on
``history/spend.lock``) shared by every process using the config folder (ComfyUI processes,
batch runs), reads what the window has spent (reported costs, else estimates of requests that
may be billed, plus every reservation not yet answered), refuses when this request's estimate
would cross a limit, else appends the reservation, and only then releases the lock.

So two submits can never both see the same "room left": each sees the other's reservation.
What can still pass a limit is bounded: a request's real cost above its estimate (a per-second
model that ran longer, more outputs than asked). Reported costs replace estimates when they
arrive, so the next check sees them. Lock order: the journal's lock, then the spend lock; the
spend lock is never held while taking the journal's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import JournalError, RunComfyError
from ..estimate import Estimate, estimate
from ..journal.store import locked, sync_file
from ..pricing import format_usd
from . import limits as limits_mod
from . import tally
from .history import MAX_MONTH_BYTES, HistoryLog
from .windows import day_start, month_start


class SpendLimitError(RunComfyError):
    """A submit refused before anything was sent: it would cross a spending limit."""

    def __init__(self, message: str, *, limit: float | None = None, spent: float | None = None,
                 estimate_usd: float | None = None, window: str | None = None):
        self.limit, self.spent, self.estimate_usd, self.window = limit, spent, estimate_usd, window
        super().__init__(message)


_LOGS: dict = {}          # config folder -> its HistoryLog (a batch makes a Tag per job)


@dataclass
class Tag:
    """What the journal writes into the spend history for a request, besides its ids and states:
    where the history lives, the model, the request's estimate, and where it came from."""

    folder: Path
    model_id: str = ""
    name: str = ""
    estimate: Estimate | None = None
    node: str | None = None
    workflow: str | None = None
    source: str = "node"          # "node" | "batch"
    key: str | None = None        # the batch job's key

    def log(self) -> HistoryLog:
        log = _LOGS.get(self.folder)
        if log is None:
            log = _LOGS[self.folder] = HistoryLog(self.folder)
        return log

    # What the journal calls (it knows nothing of this module: no import cycle).
    def reserve(self, charge_id: str, model_id: str, now: float) -> None:
        reserve(self, charge_id, model_id, now)

    def note(self, ev: str, **fields) -> str | None:
        return note(self, ev, **fields)


def node_tag(folder, schema, values: dict, node_id=None, workflow: str | None = None) -> Tag:
    """The tag of one node run: each of its requests is estimated from the node's values."""
    doc = getattr(schema, "doc", None) or {}
    est = estimate(getattr(schema, "price", None), doc.get("input_schema"), values)
    return Tag(Path(folder), schema.model_id, getattr(schema, "display_name", "") or "", est,
               None if node_id is None else str(node_id)[:64], workflow)


def spent_since(charges, since: float) -> tuple[float, float, float, int]:
    """(total, reported part, estimated part, requests of unknown cost left out) since ``since``,
    folded from whole charges: the definition the running tally (tally.py) keeps without holding
    them (tests/test_spend_tally.py holds the two equal)."""
    reported = estimated = 0.0
    unknown = 0
    for c in charges.values():
        if c.created < since:
            continue
        usd, kind = c.amount()
        if usd is None:
            unknown += 1
        elif kind == "reported":
            reported += usd
        else:
            estimated += usd
    return reported + estimated, reported, estimated, unknown


def _label(source: str) -> str:
    return "Settings › RunComfy Model API" if source == "settings" else source


def reserve(tag: Tag, charge_id: str, model_id: str, now: float) -> None:
    """Check the limits and record this submit's reservation, atomically across processes.
    Raises SpendLimitError (refused; nothing written) or JournalError (history unusable)."""
    log = tag.log()
    est = tag.estimate or Estimate(None, "no estimate was given")
    lim = limits_mod.current(tag.folder)       # ConfigError for a broken limits file: refused too
    try:
        with locked(log.lock_path()):
            size = log.current_bytes()
            if size > MAX_MONTH_BYTES:
                raise JournalError(
                    f"The spend history {log.path_for(now)} holds {size:,} bytes, over its {MAX_MONTH_BYTES:,} "
                    "byte limit for one month; nothing was sent or charged. To continue, move that file aside "
                    "or clear this month's history (history tab › Clear history › this month too); either "
                    "way the spending limits then count this month from $0.")
            if lim.active:
                _check(log, lim, est, now)
            path = log.append("reserve", charge=charge_id, model_id=model_id or tag.model_id, name=tag.name[:300],
                       est=est.usd, basis=est.basis[:300], per_output=est.per_output_usd, node=tag.node,
                       workflow=tag.workflow, source=tag.source, key=tag.key, pid=os.getpid())
        # On disk before the submit leaves, but outside the lock: the others' checks already see
        # the line (the OS's cache), and do not queue behind this fsync.
        sync_file(path)
    except OSError as exc:
        raise JournalError(
            f"The spend history in {log.folder} cannot be written ({type(exc).__name__}: {exc.strerror or exc}). "
            "Nothing was sent or charged: without it a spending limit could not be kept. Make the folder "
            "writable and run again.") from None


def _check(log: HistoryLog, lim, est: Estimate, now: float) -> None:
    windows = []
    if lim.daily is not None:
        windows.append(("daily", lim.daily, lim.daily_source, day_start(now), "today (since midnight, local time)"))
    if lim.monthly is not None:
        windows.append(("monthly", lim.monthly, lim.monthly_source, month_start(now), "this month"))
    if est.usd is None:
        name, limit, source = windows[0][:3]
        raise SpendLimitError(
            f"Not sent: a {name} spending limit of {format_usd(limit)} is on ({_label(source)}), and this "
            f"request's cost cannot be estimated before it runs ({est.basis}), so it could cross the limit "
            "unnoticed. Nothing was sent or charged. Turn the limit off to run it, or use inputs whose cost "
            "the price states.", limit=limit, window=name)
    sums = tally.read(log.folder, min(w[3] for w in windows), lambda t: [t.spent(w[3]) for w in windows])
    for (name, limit, source, since, when), (total, reported, estimated, unknown) in zip(windows, sums):
        if total + est.usd > limit + 1e-9:
            parts = f"{format_usd(reported)} reported by RunComfy"
            if estimated:
                parts += f" + {format_usd(estimated)} estimated for requests still running or without a stated cost"
            if unknown:
                parts += f" ({unknown} request(s) of unknown cost not counted)"
            raise SpendLimitError(
                f"Not sent: the {name} spending limit is {format_usd(limit)} ({_label(source)}); "
                f"{format_usd(total)} is spent or committed {when} ({parts}), and this request's "
                f"estimate is {format_usd(est.usd)} ({est.basis}), which would take it to "
                f"{format_usd(total + est.usd)}. Nothing was sent or charged; running jobs go on. Raise or "
                "turn off the limit in Settings › RunComfy Model API (or its environment variable), or wait for the "
                f"{'next day' if name == 'daily' else 'next month'}.",
                limit=limit, spent=total, estimate_usd=est.usd, window=name)


# --- after the claim: what became of the request (never raises) ------------------------------------

def note(tag: Tag | None, ev: str, **fields) -> str | None:
    """Appends one event; returns the problem as text instead of raising (the journal stays the
    record for resuming; a lost history line leaves the estimate counted, never less)."""
    if tag is None:
        return None
    try:
        tag.log().append(ev, **fields)
        return None
    except OSError as exc:
        return f"spend history not written ({type(exc).__name__}: {exc.strerror or exc})"


def batch_tag(folder, schema, key: str, est: Estimate, assumed: float | None = None) -> Tag:
    """The tag of one batch job; an unknown estimate takes the batch's --max-cost-unknown."""
    if not est.known and assumed is not None:
        est = Estimate(float(assumed), f"assumed by --max-cost-unknown ({est.basis})")
    return Tag(Path(folder), schema.model_id, getattr(schema, "display_name", "") or "", est,
               source="batch", key=str(key)[:300])
