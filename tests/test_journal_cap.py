"""Issue 16 point 3: the journal's cap drops only finished entries. A paid request not yet
delivered (pending, or succeeded and not delivered) and a submit that may have been billed
(submit_unknown, or a dead submitting) stay however many newer entries arrive, so the same
inputs never submit (and pay) again; the file stays bounded; a version 1 file is read as is and
the new file is readable by the version 1 reader."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.errors import (EarlierSubmitUncertainError, JobTimeoutError, JournalError,
                             SubmitOutcomeUnknownError)
from runcomfy.journal import (DEFAULT_MAX_ENTRIES, PENDING, SUBMIT_UNKNOWN, SUBMITTING, SUCCEEDED, Journal)
from runcomfy.run.jobs import fingerprint
from runcomfy.run import Runner
from runcomfy.run.polling import PollPolicy

sys.path.insert(0, str(Path(__file__).parent))
import money_worker  # noqa: E402

TOKEN = "tok-journal-cap-77c1"
MODEL = money_worker.MODEL
ROOT = Path(__file__).resolve().parents[1]
FINISHED = ("rejected", "failed", "cancelled", "expired", "superseded")


def runner(emu, journal, timeout=30.0):
    client = RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
    return Runner(client, journal=journal, poll=PollPolicy(first=0.05, cap=0.1), timeout=timeout)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def dead_submitting(path: Path, fp: str) -> None:
    """A process claims ``fp`` (records "submitting") and dies before any answer."""
    code = ("import os, sys; sys.path.insert(0, sys.argv[1]); from runcomfy.journal import Journal; "
            "Journal(sys.argv[2]).claim(sys.argv[3], sys.argv[4]); os._exit(0)")
    subprocess.run([sys.executable, "-c", code, str(ROOT), str(path), fp, MODEL], check=True, timeout=60)


def newer_finished(start: int, n: int, t0: float) -> list[dict]:
    """``n`` finished entries, each newer than the last, in every finished state (delivered
    results among them)."""
    out = []
    for i in range(start, start + n):
        t = t0 + i * 0.001
        state = FINISHED[i % 6] if i % 6 < 5 else SUCCEEDED
        e = {"fingerprint": f"newer-{i:08d}", "model_id": MODEL, "request_id": f"req-newer-{i}", "state": state,
             "created": t, "updated": t, "claim": f"{i:032x}"}
        if state == SUCCEEDED:
            e.update(urls=[f"https://x.runcomfy.net/{i}.png"], cost=0.03, delivered=t)
        out.append(e)
    return out


def money_entries(emu, path):
    """Over the emulator: a paid pending request (its job held past the wait limit), a
    submit_unknown (the answer to an accepted submit lost) and a dead submitting entry."""
    journal = Journal(path)
    emu.hold_next_jobs(1)
    with pytest.raises(JobTimeoutError) as ei:
        run(runner(emu, journal, timeout=1.0).run_job(MODEL, money_worker.payload("paid, still pending")))
    pending_rid = ei.value.request_id
    emu.faults.add("submit", "drop_after", times=1)
    with pytest.raises(SubmitOutcomeUnknownError):
        run(runner(emu, journal).run_job(MODEL, money_worker.payload("answer lost")))
    dead_submitting(path, fingerprint(MODEL, money_worker.payload("sender died")))
    states = {e["fingerprint"]: e["state"] for e in journal.entries()}
    assert sorted(states.values()) == sorted([PENDING, SUBMIT_UNKNOWN, SUBMITTING])
    assert emu.submits_accepted == 2      # the pending one and the one whose answer was lost
    return pending_rid, dict(states)


def test_ten_thousand_newer_entries_leave_the_blocks_and_the_paid_request_in_place(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=0.05)
    path = tmp_path / "journal.json"
    pending_rid, money = money_entries(emu, path)
    journal = Journal(path)

    # 10,000 newer finished entries arrive, 100 per save (each save applies the cap).
    t0 = time.time() + 1
    sizes = []
    for batch in range(100):
        journal._mutate(lambda entries, b=batch: entries.extend(newer_finished(b * 100, 100, t0)))
        kept = {e["fingerprint"]: e["state"] for e in journal.entries()}
        assert all(kept.get(fp) == state for fp, state in money.items()), f"after {(batch + 1) * 100} entries"
        sizes.append(path.stat().st_size)
    entries = journal.entries()
    assert len(entries) == DEFAULT_MAX_ENTRIES + 3
    assert [e["fingerprint"] for e in entries[-DEFAULT_MAX_ENTRIES:]] == \
        [f"newer-{i:08d}" for i in range(10_000 - DEFAULT_MAX_ENTRIES, 10_000)]     # the newest finished
    # Bounded: from the save that first reached the cap on, the file does not grow.
    assert max(sizes[5:]) <= sizes[5] * 1.01 and sizes[-1] < 200_000

    # The same inputs: resumed (no new submit), or blocked (nothing sent), over the emulator.
    emu.release()
    out = run(runner(emu, Journal(path)).run_job(MODEL, money_worker.payload("paid, still pending")))
    assert out.resumed and out.request_id == pending_rid
    for prompt in ("answer lost", "sender died"):
        with pytest.raises(EarlierSubmitUncertainError):
            run(runner(emu, Journal(path)).run_job(MODEL, money_worker.payload(prompt)))
    assert emu.submits_accepted == 2 and emu.count("submit") == 2


def test_entries_arriving_one_at_a_time_through_the_journal_never_push_out_a_live_one(tmp_path, monkeypatch):
    # Every save applies the cap; durability is not what is tested here, so fsync is skipped.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    j = Journal(tmp_path / "j.json", max_entries=20)
    c = j.claim("paid", "m/x")
    j.record_submitted(c, "req-paid")
    c = j.claim("paid-undelivered", "m/x")
    j.record_submitted(c, "req-undelivered")
    j.record_succeeded("req-undelivered", ["https://x/1.png"], 0.03)
    j.record_submit_failed(j.claim("lost", "m/x"), unknown=True, reason="answer lost")
    for i in range(1000):
        c = j.claim(f"fp{i}", "m/x")
        if i % 10:
            j.record_submit_failed(c, unknown=False, reason="HTTP 400")
        else:
            j.record_submitted(c, f"req-{i}")
            j.record_succeeded(f"req-{i}", [f"https://x/{i}.png"], 0.03)
            j.record_delivered([f"req-{i}"])
    by_fp = {e["fingerprint"]: e for e in j.entries()}
    assert by_fp["paid"]["state"] == PENDING and by_fp["paid-undelivered"]["state"] == SUCCEEDED
    assert by_fp["lost"]["state"] == SUBMIT_UNKNOWN and len(by_fp) == 20 + 3
    assert j.claim("paid", "m/x").action == "resume" and j.claim("paid-undelivered", "m/x").action == "resume"
    assert j.claim("lost", "m/x").action == "blocked"
    # Once delivered, the paid result is an ordinary finished entry, capped like the others.
    j.record_delivered(["req-undelivered"])
    for i in range(30):
        j.record_submit_failed(j.claim(f"later{i}", "m/x"), unknown=False, reason="HTTP 400")
    fps = {e["fingerprint"] for e in j.entries()}
    assert "paid-undelivered" not in fps and {"paid", "lost"} <= fps


def test_a_live_entry_lapses_only_with_its_own_window(tmp_path):
    now = [1_000_000.0]
    j = Journal(tmp_path / "j.json", max_entries=1, clock=lambda: now[0])
    j.record_submit_failed(j.claim("lost", "m/x"), unknown=True, reason="answer lost")
    c = j.claim("paid", "m/x")
    j.record_submitted(c, "req-paid")
    now[0] += j.block_window + 1          # the block no longer blocks: it is finished, capped
    for i in range(3):
        now[0] += 1
        j.record_submit_failed(j.claim(f"fp{i}", "m/x"), unknown=False)
    fps = [e["fingerprint"] for e in j.entries()]
    assert fps == ["paid", "fp2"]
    now[0] += j.resume_ttl                # the paid request is past the resume window too
    j.record_submit_failed(j.claim("fp9", "m/x"), unknown=False)
    assert [e["fingerprint"] for e in j.entries()] == ["fp9"]


def test_live_entries_over_the_limit_refuse_a_new_submit_before_anything_is_sent(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=0.05)
    path = tmp_path / "journal.json"
    money_entries(emu, path)                               # three live entries, two submits
    j = Journal(path, max_live=3)
    with pytest.raises(JournalError) as ei:
        run(runner(emu, j).run_job(MODEL, money_worker.payload("a new one")))
    text = str(ei.value)
    assert "holds 3 requests" in text and "the limit is 3" in text and "Nothing was sent or charged" in text
    assert emu.count("submit") == 2 and len(j.entries()) == 3
    # Resuming what is held still works at the limit: it adds nothing.
    emu.release()
    out = run(runner(emu, j).run_job(MODEL, money_worker.payload("paid, still pending")))
    assert out.resumed and emu.count("submit") == 2


def test_a_version_1_file_is_read_as_is_and_its_succeeded_entries_kept_until_delivered(tmp_path):
    now = time.time()
    path = tmp_path / "journal.json"
    old = [{"fingerprint": f"old-{i}", "model_id": "m/x", "request_id": f"req-old-{i}",
            "state": "rejected", "created": now - 100 + i * 0.01, "updated": now - 100 + i * 0.01} for i in range(600)]
    old[0].update(state=SUCCEEDED, urls=["https://x/0.png"], cost=0.03)    # paid; v1 never said "delivered"
    old[1].update(state=PENDING)
    old[2].update(state=SUBMIT_UNKNOWN, request_id=None)
    path.write_text(json.dumps({"version": 1, "entries": old}, indent=1))      # as version 1 wrote it
    j = Journal(path)
    assert len(j.entries()) == 600 and j.find_resumable("old-0")["urls"] == ["https://x/0.png"]
    j.record_submit_failed(j.claim("new", "m/x"), unknown=False)               # first save: migrated
    doc = json.loads(path.read_text())
    fps = [e["fingerprint"] for e in doc["entries"]]
    assert doc["version"] == 2 and len(fps) == DEFAULT_MAX_ENTRIES + 3
    assert {"old-0", "old-1", "old-2", "new"} <= set(fps) and "old-3" not in fps
    # Delivered, it is the oldest finished entry: the next save caps it away.
    j.record_delivered(["req-old-0"])
    assert j.find_request("req-old-0") is None and j.find_request("req-old-1")["state"] == PENDING


def test_the_new_file_is_readable_by_the_version_1_reader(tmp_path):
    try:
        src = subprocess.run(["git", "show", "875e044:runcomfy/journal/store.py"], cwd=ROOT, capture_output=True,
                             text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        pytest.skip("the version 1 store.py is not in this checkout's history")
    v1 = types.ModuleType("journal_store_v1")
    exec(compile(src, "store_v1.py", "exec"), v1.__dict__)
    path = tmp_path / "journal.json"
    j = Journal(path)
    c = j.claim("fp", "m/x")
    j.record_submitted(c, "req-1")
    j.record_succeeded("req-1", ["https://x/1.png"], 0.03)
    j.record_delivered(["req-1"])
    j.record_submit_failed(j.claim("lost", "m/x"), unknown=True, reason="answer lost")
    read = v1.read_entries(path)
    assert [(e["fingerprint"], e["state"], e["request_id"]) for e in read] == \
        [("fp", SUCCEEDED, "req-1"), ("lost", SUBMIT_UNKNOWN, None)]
    assert read[0]["urls"] == ["https://x/1.png"] and "delivered" not in read[0]


def test_a_journal_that_would_outgrow_what_it_reads_is_refused_not_written(tmp_path, monkeypatch):
    # store.py reads at most MAX_FILE_BYTES (a larger file would read as corrupt): never write one.
    from runcomfy.journal import ledger
    j = Journal(tmp_path / "j.json")
    c = j.claim("paid", "m/x")
    j.record_submitted(c, "req-paid")
    before = (tmp_path / "j.json").read_bytes()
    monkeypatch.setattr(ledger, "MAX_FILE_BYTES", len(before) + 50)
    with pytest.raises(JournalError, match="over its .* byte limit") as ei:
        j.claim("another", "m/x")
    assert "Nothing was sent or charged" in str(ei.value)
    assert (tmp_path / "j.json").read_bytes() == before
