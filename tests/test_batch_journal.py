"""The batch's append-only journal (runcomfy/batch/journal.py, issue 21): what a claim and a
request id leave on disk before they return, a torn last line, one run per folder, finished jobs
leaving memory, the spend totals as running sums across reopenings, and an earlier version's
per-job journal files imported once."""

from __future__ import annotations

import json

import pytest

from runcomfy.batch.journal import BatchJournal, FolderBusyError
from runcomfy.batch.spend import SpendLedger
from runcomfy.journal.store import atomic_write, encode


def _records(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _submit(j: BatchJournal, ident: str, key: str, usd: float, rid: str):
    state = {"charge": None}

    def on_claim():
        state["charge"] = j.ledger.reserve(ident, key, usd, "estimate")
        return state["charge"]
    view = j.job_view(ident, key, on_claim=on_claim, charge_of=lambda: state["charge"])
    claim = view.claim("ignored payload fingerprint", "m/x")
    assert claim.action == "submit"
    return view, claim, state


def test_claim_and_request_id_are_on_disk_when_they_return(tmp_path):
    j = BatchJournal(tmp_path / "state")
    try:
        view, claim, state = _submit(j, "id-1", "a", 0.5, "r-1")
        # The claim returned: its record and the spend reservation are in the file already.
        ops = [r["op"] for r in _records(j.path)]
        assert ops == ["reserve", "claim"]
        view.record_submitted(claim, "r-1")
        recs = _records(j.path)
        assert [r["op"] for r in recs][-2:] == ["request", "submitted"] and recs[-1]["rid"] == "r-1"
        assert j.resumable("id-1")["request_id"] == "r-1"
        # A second claim of the same job resumes that request: nothing new to submit.
        assert view.claim("x", "m/x").action == "resume"
    finally:
        j.close()


def test_a_killed_submit_blocks_the_job_in_the_next_run_until_its_code_is_given(tmp_path):
    j = BatchJournal(tmp_path / "state")
    _submit(j, "id-1", "a", 0.5, "r-1")
    j.close()                                 # "killed" between the claim and the service's answer
    j = BatchJournal(tmp_path / "state")
    try:
        view = j.job_view("id-1", "a", on_claim=lambda: None)
        blocked = view.claim("x", "m/x")
        assert blocked.action == "blocked" and j.blocking("id-1") is not None
        again = view.claim("x", "m/x", codes=blocked.entry["resubmit_code"])
        assert again.action == "submit"
        # Counted at its estimate: it may have been billed.
        assert j.ledger.spent() == (0.5, 0)
    finally:
        j.close()


def test_a_torn_last_line_is_skipped_and_the_next_record_starts_its_own_line(tmp_path):
    j = BatchJournal(tmp_path / "state")
    view, claim, _ = _submit(j, "id-1", "a", 0.25, "r-1")
    view.record_submitted(claim, "r-1")
    j.close()
    with open(j.path, "ab") as fh:
        fh.write(b'{"op": "submitted", "claim": "zz", "rid": "r-')      # cut by a kill
    j = BatchJournal(tmp_path / "state")
    try:
        assert j.unreadable_lines == 1
        assert j.resumable("id-1")["request_id"] == "r-1"
        _submit(j, "id-2", "b", 0.25, "r-2")
    finally:
        j.close()
    j = BatchJournal(tmp_path / "state")
    try:
        assert j.unreadable_lines == 1 and j.lookup("id-2") is not None
    finally:
        j.close()


def test_one_run_per_folder(tmp_path):
    j = BatchJournal(tmp_path / "state")
    try:
        with pytest.raises(FolderBusyError, match="another batch run"):
            BatchJournal(tmp_path / "state")
    finally:
        j.close()
    BatchJournal(tmp_path / "state").close()     # free again once the run ended


def test_finished_jobs_leave_memory_and_the_totals_stay_exact_across_runs(tmp_path):
    j = BatchJournal(tmp_path / "state")
    for i in range(50):
        view, claim, state = _submit(j, f"id-{i}", f"k{i}", 0.10, f"r-{i}")
        view.record_submitted(claim, f"r-{i}")
        view.record_succeeded(f"r-{i}", [f"http://x/{i}.png"], 0.07)
        j.ledger.settle_request(f"r-{i}", 0.07, "reported", durable=False)
        view.record_delivered([f"r-{i}"])
    # One still in flight, one released (a 429: certainly not sent).
    _submit(j, "id-live", "live", 0.10, "r-live")
    c = j.ledger.reserve("id-429", "k429", 0.10, "estimate")
    j.ledger.release(c)
    assert set(j.live) == {"id-live"} and len(j.ledger.open) == 1
    spent, unknown = j.ledger.spent()
    assert unknown == 0 and spent == pytest.approx(50 * 0.07 + 0.10)
    j.close()
    j = BatchJournal(tmp_path / "state")
    try:
        assert set(j.live) == {"id-live"} and len(j.ledger.open) == 1
        assert j.ledger.spent()[0] == pytest.approx(50 * 0.07 + 0.10)
        assert j.ledger.knows_request("r-7") and not j.ledger.knows_request("r-unknown")
        # A request counted once however often it is met again.
        assert j.ledger.record_known("id-7", "k7", "r-7", 0.07, "again", settled=True) is None
    finally:
        j.close()
    # The spend records read alone (SpendLedger on the journal file) give the same total.
    assert SpendLedger(tmp_path / "state" / "journal.jsonl").spent()[0] == pytest.approx(50 * 0.07 + 0.10)


def test_an_earlier_versions_per_job_journal_and_spend_ledger_are_read(tmp_path):
    state = tmp_path / "state"
    pending = {"fingerprint": "id-old", "model_id": "m/x", "request_id": "r-old", "state": "pending",
               "created": __import__("time").time(), "updated": 0, "claim": "c-old"}
    atomic_write(state / "journal" / "id" / "id-old.json", encode([pending]))
    (state / "spend.jsonl").write_text(json.dumps({"op": "reserve", "charge": "c1", "job": "id-old", "key": "o",
                                                   "usd": 0.2, "basis": "b"}) + "\n"
                                       + json.dumps({"op": "request", "charge": "c1", "request_id": "r-old"}) + "\n")
    j = BatchJournal(state)
    try:
        assert j.resumable("id-old")["request_id"] == "r-old"
        assert j.ledger.spent() == (pytest.approx(0.2), 0) and j.ledger.knows_request("r-old")
        assert not (state / "journal").exists() and any(j.notes)
    finally:
        j.close()
    j = BatchJournal(state)                  # imported once: still there, from the new file
    try:
        assert j.resumable("id-old")["request_id"] == "r-old"
    finally:
        j.close()


def test_a_large_journal_is_compacted_to_what_it_still_means(tmp_path, monkeypatch):
    from runcomfy.batch import journal as jmod
    monkeypatch.setattr(jmod, "COMPACT_BYTES", 2000)
    state = tmp_path / "state"
    (state).mkdir()
    (state / "spend.jsonl").write_text(json.dumps({"op": "reserve", "charge": "c1", "job": "old", "key": "o",
                                                   "usd": 0.2, "basis": "b"}) + "\n")
    j = BatchJournal(state)
    for i in range(30):
        view, claim, _ = _submit(j, f"id-{i}", f"k{i}", 0.10, f"r-{i}")
        view.record_submitted(claim, f"r-{i}")
        if i < 29:
            view.record_succeeded(f"r-{i}", [f"http://x/{i}.png"], 0.05)
            j.ledger.settle_request(f"r-{i}", 0.05, "reported", durable=False)
            view.record_delivered([f"r-{i}"])
    j.close()
    size = j.path.stat().st_size
    before = (j.ledger.spent()[0], set(j.live))
    j = BatchJournal(state)
    try:
        assert j.path.stat().st_size < size and any("compacted" in n for n in j.notes)
        assert (j.ledger.spent()[0], set(j.live)) == (pytest.approx(before[0]), before[1]) == \
               (pytest.approx(0.2 + 29 * 0.05 + 0.10), {"id-29"})
        assert j.resumable("id-29")["request_id"] == "r-29" and j.ledger.knows_request("r-3")
        assert not (state / "spend.jsonl").exists()
    finally:
        j.close()
    j = BatchJournal(state)                  # and reopened: the same, nothing counted twice
    try:
        assert j.ledger.spent()[0] == pytest.approx(0.2 + 29 * 0.05 + 0.10)
    finally:
        j.close()
