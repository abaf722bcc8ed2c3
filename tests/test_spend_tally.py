"""The spend history's running tally (runcomfy/spending/tally.py), which the spending limits and the
totals read at every submit (issue 21: a 100,000-request month must not make each check hold or
re-read the whole month):

- on random histories (every event kind, late cost corrections, requests known only by a state line,
  torn lines, a zone east of UTC, where a local month starts in the UTC month file before it), read a piece at a time,
  its sums equal the from-scratch fold (``HistoryLog.charges`` + ``gate.spent_since``) for every
  day, week and month window, by model;
- a month of ended requests holds no charge in memory, only its per-day sums and 8 bytes a request;
- a cleared history starts the sums again; an over-long line is skipped without being held;
- the monthly size cap admits a batch of 100,000 requests written the way a batch writes them."""

from __future__ import annotations

import random
import time

import pytest

from runcomfy.spending import HistoryLog, gate, history, tally
from runcomfy.spending.windows import day_start, month_start, week_start
from runcomfy.spending.history import whole_lines


@pytest.fixture
def east_of_utc(monkeypatch):
    """A zone where the local month starts inside the UTC month file before it."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _events(rng: random.Random, start: float, n: int, late: bool = True) -> list[tuple[float, str, dict]]:
    """A random history of n requests over ~70 days: (time, event, fields); ``late``: some
    requests get a second state line after they ended."""
    out = []
    models = ["acme/a", "acme/b", "acme/c"]
    for i in range(n):
        t = start + rng.uniform(0, 70 * 86400)
        cid, rid, model = f"c{i}", f"r{i}-{rng.getrandbits(32):x}", rng.choice(models)
        est = rng.choice([None, 0.01, 0.25, 1.5])
        if rng.random() < 0.05:                 # known only by a state line (resumed from before)
            out.append((t, "state", dict(request_id=rid, state="succeeded", model_id=model, name=model.upper(),
                                         cost=rng.choice([None, 0.4]))))
            continue
        out.append((t, "reserve", dict(charge=cid, model_id=model, name=model.upper(), est=est, basis="b",
                                       per_output=rng.choice([None, 0.05]))))
        r = rng.random()
        if r < 0.1:
            out.append((t + 1, "release", dict(charge=cid, reason="429")))
            continue
        if r < 0.15:
            out.append((t + 1, "unknown", dict(charge=cid, reason="timeout")))
            continue
        out.append((t + 1, "sent", dict(charge=cid, request_id=rid)))
        if r < 0.25:
            continue                             # still in flight
        end = t + rng.uniform(2, 3 * 86400)      # some end on a later day or month
        state = rng.choice(["succeeded", "succeeded", "failed", "cancelled", "expired"])
        fields = dict(request_id=rid, state=state, model_id=model, name=model.upper())
        if state == "succeeded":
            fields["urls"] = [f"https://x/{i}/{k}.png" for k in range(rng.randint(1, 4))]
            if rng.random() < 0.6:
                fields["cost"] = rng.choice([0.02, 0.3])
            elif rng.random() < 0.5:
                fields["counted"], fields["basis"] = 0.2, "counted"
        out.append((end, "state", fields))
        if rng.random() < 0.3:
            out.append((end + 1, "files", dict(request_id=rid, files=["/tmp/a.png"])))
            out.append((end + 2, "delivered", dict(request_ids=[rid])))
        if rng.random() < 0.15 and late:         # a later line for an ended request: a fetch, a cancel
            out.append((end + rng.uniform(5, 86400), "state",
                        dict(request_id=rid, state=rng.choice(["succeeded", "cancelled"]), model_id=model,
                             cost=rng.choice([None, 0.07]))))
    return sorted(out, key=lambda e: e[0])


def _oracle(log: HistoryLog, since: float) -> dict:
    """By model (and "*" for all): (reported, estimated, unknown, requests), folded from scratch."""
    charges = log.charges(since=since)
    out = {}
    for c in charges.values():
        if c.created < since:
            continue
        for k in (c.model_id, "*"):
            _, rep, est, unknown = gate.spent_since({c.id: c}, since)
            r = out.setdefault(k, [0.0, 0.0, 0, 0])
            r[0] += rep
            r[1] += est
            r[2] += unknown
            r[3] += 1
    return out


def _from_tally(folder, since: float) -> dict:
    total, models = tally.read(folder, since, lambda t: t.window(since))
    out = {m: [s.reported, s.estimated, s.unknown, s.requests] for m, s in models.items() if s.requests}
    if total.requests:
        out["*"] = [total.reported, total.estimated, total.unknown, total.requests]
    return out


def _midnights(t0: float, t1: float) -> list[float]:
    days = []
    t = day_start(t0)
    while t < t1:
        days.append(t)
        t = day_start(t + 36 * 3600)
    return days


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_tally_equals_the_fold_from_scratch_for_every_window(tmp_path, east_of_utc, seed):
    rng = random.Random(seed)
    start = time.mktime((2026, 1, 20, 12, 0, 0, 0, 0, -1))
    events = _events(rng, start, 500)
    log = HistoryLog(tmp_path)
    now = [start]
    log.clock = lambda: now[0]
    checkpoints = sorted(rng.sample(range(len(events)), 6)) + [len(events) - 1]
    windows = [w for w in _midnights(start, start + 75 * 86400)[::4]]
    windows += [month_start(start + d * 86400) for d in (15, 45)] + [week_start(start + 30 * 86400)]
    for i, (t, ev, fields) in enumerate(events):
        now[0] = t
        log.append(ev, **fields)
        if i == checkpoints[0]:
            checkpoints.pop(0)
            # A line cut mid-write at the end is left for the next read.
            path = log.path_for(t)
            with open(path, "ab") as fh:
                fh.write(b'{"ev":"reserve","t":%r,"charge":"torn-%d"' % (t, i))
            if len(checkpoints) % 2:
                # As a new process whose first read is a month start.
                tally._TALLIES.clear()
                month = max(w for w in windows if w == month_start(w) and w <= t)
                order = [month] + [w for w in windows if w != month]
            else:
                order = windows
            for since in order:
                want, got = _oracle(log, since), _from_tally(log.folder, since)
                assert got.keys() == want.keys(), since
                for k in want:
                    assert got[k][2:] == want[k][2:], (since, k)
                    assert got[k][:2] == pytest.approx(want[k][:2], abs=1e-9), (since, k)
            with open(path, "ab") as fh:
                fh.write(b',"model_id":"acme/torn","est":0.5}\n')
            if not checkpoints:
                break
    t = tally.read(log.folder, windows[0], lambda t: t)
    assert t.rescans > 0 and not t.bad          # the late lines were met and corrected
    assert "acme/torn" in _from_tally(log.folder, windows[0])


def test_a_month_of_ended_requests_keeps_no_charge_in_memory(tmp_path):
    log = HistoryLog(tmp_path)
    t0 = time.mktime((2026, 3, 2, 9, 0, 0, 0, 0, -1))
    now = [t0]
    log.clock = lambda: now[0]
    n = 3000
    log.folder.mkdir(parents=True)
    with open(log.folder / "2026-03.jsonl", "ab") as fh:
        for i in range(n):
            t = t0 + i * 600                     # ~20 days
            for line in (b'{"ev":"reserve","t":%r,"charge":"c%d","model_id":"m%d","est":0.5}' % (t, i, i % 3),
                         b'{"ev":"sent","t":%r,"charge":"c%d","request_id":"r%d"}' % (t, i, i),
                         b'{"ev":"state","t":%r,"request_id":"r%d","state":"succeeded","cost":0.25}' % (t, i),
                         b'{"ev":"delivered","t":%r,"request_ids":["r%d"]}' % (t, i)):
                fh.write(line + b"\n")
    since = month_start(t0)
    t = tally.read(log.folder, since, lambda t: t)
    assert not t.open and not t.open_rid                   # no charge held
    days = n * 600 // 86400 + 2
    assert len(t.sums) <= days * 3 and len(t.ended) == n   # per day and model, and 8 bytes a request
    assert t.spent(since) == (pytest.approx(0.25 * n), pytest.approx(0.25 * n), 0.0, 0)
    # One more in flight is held whole, and counts at its estimate.
    now[0] = t0 + n * 600
    log.append("reserve", charge="live", model_id="m0", est=0.5)
    t = tally.read(log.folder, since, lambda t: t)
    assert list(t.open) == ["live"] and t.spent(since)[2] == pytest.approx(0.5)


def test_a_cleared_history_starts_the_sums_again(tmp_path):
    log = HistoryLog(tmp_path)
    t0 = time.mktime((2026, 5, 10, 12, 0, 0, 0, 0, -1))
    log.clock = lambda: t0
    log.append("reserve", charge="a", model_id="m", est=1.0)
    since = month_start(t0)
    assert tally.read(log.folder, since, lambda t: t.spent(since))[0] == 1.0
    log.clear(keep_current_month=False)
    assert tally.read(log.folder, since, lambda t: t.spent(since))[0] == 0.0
    log.append("reserve", charge="b", model_id="m", est=2.0)
    assert tally.read(log.folder, since, lambda t: t.spent(since))[0] == 2.0


def test_an_over_long_line_is_skipped_without_being_held(tmp_path):
    path = tmp_path / "f"
    good = b'{"ev":"reserve","t":1,"charge":"a"}'
    path.write_bytes(good + b"\n" + b"x" * (history.MAX_LINE_BYTES * 3) + b"\n" + good + b"\n" + b'{"partial')
    with open(path, "rb") as fh:
        got = list(whole_lines(fh))
    assert [line for _, line in got] == [good, None, good]
    assert got[-1][0] == path.stat().st_size - len(b'{"partial')      # the partial line is left unread
    with open(path, "rb") as fh:                                      # a stop inside a line ends before it
        assert [line for _, line in whole_lines(fh, 0, len(good) + 5)] == [good]


def test_the_monthly_cap_admits_a_batch_of_100000_requests(tmp_path):
    """Written by a batch's own tag and journal calls, as one request of a real batch writes them."""
    from runcomfy.estimate import Estimate
    tag = gate.batch_tag(tmp_path, type("S", (), {"model_id": "runcomfy/some-model/text-to-image",
                                                 "display_name": "Some Model Text To Image"})(),
                         "product-shot-000123", Estimate(0.04, "0.04 USD per image x 1 image"))
    log = tag.log()
    tag.reserve("c-8f2a1b9c4d5e6f70", tag.model_id, time.time())
    rid = "2f0e1f9a-7c51-4a8e-9c55-1b8f1e3b9d42"
    tag.note("sent", charge="c-8f2a1b9c4d5e6f70", request_id=rid)
    tag.note("state", request_id=rid, state="succeeded", model_id=tag.model_id, name=tag.name, cost=0.04,
             urls=["https://storage.runcomfy.net/outputs/2f0e1f9a-7c51-4a8e-9c55-1b8f1e3b9d42/image_0.png"])
    tag.note("delivered", request_ids=[rid])
    per_request = log.current_bytes()
    assert 100_000 * per_request < history.MAX_MONTH_BYTES, per_request


class _AlwaysLate(tally.Newest):
    def catch_up(self):
        raise tally.Late("the whole fold, as the oracle")


def _walk(log, monkeypatch, oracle: bool, **filters) -> list:
    """Every page of the listing, following its cursor: [(ids and states, next)]."""
    from runcomfy.spending import report
    if oracle:
        monkeypatch.setattr(tally, "Newest", _AlwaysLate)
    pages, cursor = [], None
    try:
        for _ in range(200):
            p = report.page(log, cursor=cursor, now=2e9, **filters)
            pages.append(([(i["id"], i["state"], i["cost"]["usd"], i["delivered"], i["urls"], i["files"])
                           for i in p["items"]],
                          p["next"]))
            cursor = p["next"]
            if cursor is None:
                return pages
    finally:
        monkeypatch.undo()
    raise AssertionError("the listing did not end")


@pytest.mark.parametrize("seed,late", [(4, False), (5, False), (6, True)])
def test_a_page_of_the_list_equals_the_whole_fold(tmp_path, monkeypatch, seed, late):
    """The list keeps only the newest wanted charges while it reads; every page, with every filter,
    equals the page cut from all charges. With a state line after a request ended it folds it all."""
    rng = random.Random(seed)
    start = time.mktime((2026, 6, 3, 12, 0, 0, 0, 0, -1))
    events = _events(rng, start, 400, late=late)
    log = HistoryLog(tmp_path)
    now = [start]
    log.clock = lambda: now[0]
    for t, ev, fields in events:
        now[0] = t
        log.append(ev, **fields)
    folds = []

    class Spy(tally.Newest):
        def catch_up(self):
            folds.append("late")
            done = super().catch_up()
            folds[-1] = "bounded"
            return done
    day = time.strftime("%Y-%m-%d", time.localtime(start + 20 * 86400))
    for filters in ({"limit": 7}, {"limit": 50, "states": ["succeeded"]}, {"limit": 5, "model": "acme/b"},
                    {"limit": 3, "day": day}, {"limit": 4, "states": ["submitted", "uncertain", "rejected"]}):
        want = _walk(log, monkeypatch, True, **filters)
        monkeypatch.setattr(tally, "Newest", Spy)
        got = _walk(log, monkeypatch, False, **filters)
        assert got == want, filters
        assert sum(len(items) for items, _ in want) > 0, filters
    assert set(folds) == ({"late"} if late else {"bounded"})
