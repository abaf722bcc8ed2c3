"""What the history shows: a page of requests (newest first, filtered, with a cursor), spend
totals (today, this week, this month, by model; reported costs apart from estimates) and exports
(CSV, JSON lines) whose fields are exactly the batch runner's ``--report`` fields, so one tool
reads both (tests/test_history.py holds the two lists equal)."""

from __future__ import annotations

import csv
import io
import json
import os
import time

from . import tally
from .windows import day_start, month_start, week_start
from .history import (CANCELLED, EXPIRED, FAILED, REJECTED, SUBMITTED, SUBMITTING, SUCCEEDED, UNCERTAIN, Charge,
                      HistoryLog, _month_index)

# runcomfy/batch/runner.JobReport's fields, in its order.
REPORT_FIELDS = ("key", "line", "state", "request_id", "cost", "outputs", "error", "resumed", "seconds", "submits",
                 "estimate", "counted", "cost_basis", "model_id", "finished")
STATES = (SUBMITTING, SUBMITTED, UNCERTAIN, SUCCEEDED, FAILED, CANCELLED, REJECTED, EXPIRED)
MAX_PAGE = 200


def shown_state(c: Charge, now: float, live_submit) -> str:
    """The listing's state: a "submitting" charge whose process is gone is "uncertain"."""
    if c.state == SUBMITTING and not live_submit(c):
        return UNCERTAIN
    if c.state == "submit_unknown":
        return UNCERTAIN
    return c.state


def local_day(t: float) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(t))


def item(c: Charge, state: str) -> dict:
    usd, kind = c.amount()
    files = [{"path": f, "exists": os.path.exists(f)} for f in c.files]
    return {"id": c.id, "request_id": c.request_id, "model_id": c.model_id, "display_name": c.name or c.model_id,
            "state": state, "created": c.created, "updated": c.updated, "day": local_day(c.created),
            "cost": {"usd": usd, "kind": kind, "reported": c.cost, "estimate": c.estimate,
                     "basis": "reported by RunComfy" if kind == "reported" else (c.counted_basis or c.basis)},
            "node_id": c.node, "workflow": c.workflow, "source": c.source, "batch_key": c.key,
            "urls": list(c.urls), "files": files, "delivered": c.delivered is not None, "reason": c.reason}


def _cursor_of(c: Charge) -> str:
    return f"{c.created!r}:{c.id}"


def _parse_cursor(cursor: str | None) -> tuple[float, str] | None:
    if not cursor:
        return None
    t, _, cid = str(cursor).partition(":")
    try:
        return float(t), cid
    except ValueError:
        raise ValueError(f"cursor {str(cursor)[:40]!r} is not one this listing gave") from None


def page(log: HistoryLog, *, states=(), model: str | None = None, day: str | None = None, cursor: str | None = None,
         limit: int = 50, live_submit=lambda c: False, now: float | None = None, extra=()) -> dict:
    """One page, newest first: {"items": [...], "next": cursor | None}. One pass over the kept
    months keeps only the newest charges the filters accept and those still in flight
    (tally.Newest), so a month of a large batch costs its reading time, not its size in memory;
    the totals and limits read the running tally instead."""
    now = time.time() if now is None else now
    limit = max(1, min(int(limit), MAX_PAGE))
    after = _parse_cursor(cursor)
    states = set(states or ())
    extra = list(extra)

    def wanted(c: Charge) -> bool:
        if after is not None and (c.created, c.id) >= after:
            return False
        if model and model not in (c.model_id, c.name):
            return False
        if day and local_day(c.created) != day:
            return False
        return not states or shown_state(c, now, live_submit) in states

    watch = frozenset(x for c in extra for x in (c.id, c.request_id) if x)
    months = log.months()
    fold = None
    if months:
        fold = tally.Newest(str(log.folder), _month_index(months[0].name), wanted, limit + 1, watch)
        try:
            if not fold.catch_up():
                fold = None              # a file was replaced while read: read it all again below
        except tally.Late:
            fold = None                  # a request changed after it ended: rare, fold it all
    if fold is not None:
        known, seen = fold.charges(), fold.seen
    elif months:
        everything = log.charges()
        known = list(everything.values())
        seen = set(everything) | {c.request_id for c in known if c.request_id}
    else:
        known, seen = [], set()
    # ``extra``: the journal's entries the history never saw (made before it existed).
    cleared = log.cleared_at()
    merged = [c for c in known if wanted(c)] + [c for c in extra if c.id not in seen and c.request_id not in seen
                                                and c.created >= cleared and wanted(c)]
    merged.sort(key=lambda c: (c.created, c.id), reverse=True)
    out = [item(c, shown_state(c, now, live_submit)) for c in merged[:limit]]
    return {"items": out, "next": _cursor_of(merged[limit - 1]) if len(merged) > limit else None}


def totals(log: HistoryLog, now: float | None = None) -> dict:
    """Spend today, this week, this month (local time), each by model; reported costs apart from
    estimated ones; requests of unknown cost counted apart (from the running tally: tally.py)."""
    now = time.time() if now is None else now
    windows = {"today": day_start(now), "week": week_start(now), "month": month_start(now)}

    def read(t):
        return {name: (t.window(since), dict(t.names)) for name, since in windows.items()}
    out = {}
    for name, ((total, models), names) in tally.read(log.folder, min(windows.values()), read).items():
        out[name] = {**_sum_fields(total), "since": windows[name],
                     "by_model": {m: {"display_name": names.get(m) or m, **_sum_fields(s)}
                                  for m, s in models.items()}}
    return out


def _sum_fields(s) -> dict:
    return {"reported_usd": s.reported, "estimated_usd": s.estimated, "unknown": s.unknown, "requests": s.requests}


def report_row(c: Charge, state: str) -> dict:
    """A history entry in the batch --report's fields (state "done" for a succeeded request,
    as the batch says)."""
    usd, kind = c.amount()
    return {"key": c.key or c.id, "line": None, "state": "done" if state == SUCCEEDED else state,
            "request_id": c.request_id, "cost": c.cost, "outputs": list(c.files or c.urls),
            "error": c.reason or None, "resumed": False, "seconds": round(max(0.0, c.updated - c.created), 3),
            "submits": 1 if c.request_id or state == UNCERTAIN else 0, "estimate": c.estimate, "counted": usd,
            "cost_basis": "reported" if kind == "reported" else (c.counted_basis or c.basis or None),
            "model_id": c.model_id, "finished": c.updated}


def _cell(v):
    """A CSV cell; text a spreadsheet would run as a formula is prefixed with ' (model names and
    reasons come from the service)."""
    if isinstance(v, list):
        v = " ".join(v)
    if v is None:
        return ""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def export(log: HistoryLog, fmt: str, *, since: float | None = None, live_submit=lambda c: False) -> str:
    """Every kept request (or those since ``since``), oldest first, as "csv" or "jsonl"."""
    now = time.time()
    rows = [report_row(c, shown_state(c, now, live_submit))
            for c in sorted(log.charges(since=since).values(), key=lambda c: (c.created, c.id))]
    if fmt == "jsonl":
        return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    if fmt != "csv":
        raise ValueError(f"format must be csv or jsonl (got {str(fmt)[:20]!r})")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(REPORT_FIELDS), extrasaction="raise")
    w.writeheader()
    for r in rows:
        w.writerow({k: _cell(v) for k, v in r.items()})
    return buf.getvalue()
