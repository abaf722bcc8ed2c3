import json
import os
import stat
import threading

from runcomfy.journal import PENDING, SUBMIT_UNKNOWN, SUCCEEDED, Journal


def submitted(j, fp, rid, model="m/x"):
    c = j.claim(fp, model)
    assert c.action == "submit"
    j.record_submitted(c, rid)


def test_lifecycle_and_resume_lookup(tmp_path):
    j = Journal(tmp_path / "j.json")
    c = j.claim("fp1", "m/x")
    assert c.action == "submit" and j.find_resumable("fp1") is None
    j.record_submitted(c, "req-1")
    assert j.find_resumable("fp1")["request_id"] == "req-1"
    j.record_succeeded("req-1", ["https://a.runcomfy.net/1.png"], 0.03)
    e = j.find_resumable("fp1")
    assert e["state"] == SUCCEEDED and e["urls"] == ["https://a.runcomfy.net/1.png"]
    j.record_state("req-1", "expired")
    assert j.find_resumable("fp1") is None


def test_unknown_submit_is_remembered_not_resumed(tmp_path):
    j = Journal(tmp_path / "j.json")
    j.record_submit_failed(j.claim("fp", "m/x"), unknown=True, reason="answer lost")
    assert [e["state"] for e in j.entries()] == [SUBMIT_UNKNOWN]
    assert j.find_resumable("fp") is None
    assert j.claim("fp", "m/x").action == "blocked"


def test_file_is_owner_only_and_holds_no_payload(tmp_path):
    path = tmp_path / "sub" / "j.json"
    j = Journal(path)
    submitted(j, "fp", "req-9")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert set(doc["entries"][0]) == {"fingerprint", "model_id", "request_id", "state", "created", "updated",
                                      "claim"}


def test_bounded(tmp_path):
    # Finished (delivered) entries are capped, newest kept; paid undelivered ones are not (test_journal_cap.py).
    j = Journal(tmp_path / "j.json", max_entries=10)
    for i in range(25):
        submitted(j, f"fp{i}", f"req-{i}")
        j.record_succeeded(f"req-{i}", [f"https://a.runcomfy.net/{i}.png"], 0.03)
        j.record_delivered([f"req-{i}"])
    ids = [e["request_id"] for e in j.entries()]
    assert len(ids) == 10 and ids[-1] == "req-24" and "req-0" not in ids


def test_survives_torn_write(tmp_path):
    path = tmp_path / "j.json"
    j = Journal(path)
    submitted(j, "fp1", "req-1")
    submitted(j, "fp2", "req-2")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # a crash mid-write on a filesystem without atomic rename
    j2 = Journal(path)
    assert j2.find_resumable("fp1")["request_id"] == "req-1"  # from the backup
    submitted(j2, "fp3", "req-3")
    assert {e["request_id"] for e in Journal(path).entries()} >= {"req-1", "req-3"}
    assert any(p.name.startswith("j.json.corrupt-") for p in tmp_path.iterdir())


def test_expired_by_age(tmp_path):
    now = [1000.0]
    j = Journal(tmp_path / "j.json", resume_ttl=60, clock=lambda: now[0])
    submitted(j, "fp", "req-1")
    now[0] += 61
    assert j.find_resumable("fp") is None


def test_concurrent_writers_lose_nothing(tmp_path):
    j = Journal(tmp_path / "j.json")
    threads = [threading.Thread(target=submitted, args=(j, f"fp{i}", f"req-{i}")) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({e["request_id"] for e in j.entries()}) == 20
    assert all(e["state"] == PENDING for e in j.entries())


def test_separate_journal_objects_on_one_file_lose_nothing(tmp_path):
    # every node run opens its own Journal on the same file
    path = tmp_path / "j.json"
    threads = [threading.Thread(target=lambda i=i: submitted(Journal(path), f"fp{i}", f"req-{i}"))
               for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({e["request_id"] for e in Journal(path).entries()}) == 30


def test_another_process_writing_at_the_same_time_loses_nothing(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "j.json"
    code = ("import sys; sys.path.insert(0, sys.argv[2]); from runcomfy.journal import Journal\n"
            "j = Journal(sys.argv[1])\n"
            "for i in range(40): j.record_submitted(j.claim(f'child{i}', 'm/x'), f'child-{i}')\n")
    root = str(__import__("conftest").ROOT)
    child = subprocess.Popen([sys.executable, "-c", code, str(path), root])
    j = Journal(path)
    for i in range(40):
        submitted(j, f"parent{i}", f"parent-{i}")
    assert child.wait(timeout=60) == 0
    assert len({e["request_id"] for e in Journal(path).entries()}) == 80


def test_odd_entries_survive_and_keep_the_others(tmp_path):
    # hand-edited or written by another version: odd timestamps, nested junk, wrong types
    path = tmp_path / "j.json"
    deep = {"a": 1}
    for _ in range(500):
        deep = {"a": deep}
    good = {"fingerprint": "fp-good", "model_id": "m/x", "request_id": "req-good", "state": "pending",
            "created": 1e18, "updated": 1e18}
    odd = [
        {"fingerprint": "fp-t", "request_id": "req-t", "state": "pending", "created": "yesterday", "updated": None},
        {"fingerprint": "fp-n", "request_id": {"nested": deep}, "state": ["pending"], "created": [1], "urls": deep},
        "not an entry", 42, None, {"no": "fingerprint"},
    ]
    path.write_text(json.dumps({"version": 1, "entries": odd + [good]}))
    j = Journal(path, clock=lambda: 1e18 + 5)
    assert j.find_resumable("fp-good")["request_id"] == "req-good"
    assert j.find_resumable("fp-t") is None           # a timestamp that is not a number reads as very old
    kept = {e["fingerprint"]: e for e in j.entries()}
    assert set(kept) == {"fp-t", "fp-n", "fp-good"}
    assert kept["fp-n"]["request_id"] is None and "urls" not in kept["fp-n"]
    assert j.claim("fp-t", "m/x").action == "submit"  # and it blocks nothing


def test_absurdly_nested_file_is_survived_from_the_backup(tmp_path):
    path = tmp_path / "j.json"
    j = Journal(path)
    submitted(j, "fp1", "req-1")
    submitted(j, "fp2", "req-2")
    path.write_text('{"version": 1, "entries": [' + "[" * 200000 + "]" * 200000 + "]}")
    assert Journal(path).find_resumable("fp1")["request_id"] == "req-1"


def test_unusable_folder_is_a_clear_error_before_anything_is_sent(tmp_path):
    from runcomfy.errors import JournalError
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    j = Journal(blocker / "sub" / "journal.json")     # its folder cannot exist: a file is in the way
    try:
        j.claim("fp", "m/x")
    except JournalError as exc:
        text = str(exc)
    else:
        raise AssertionError("claim() on an unusable folder must raise JournalError")
    assert "cannot be written" in text and "Nothing was sent" in text and str(blocker) in text


def test_a_write_failing_after_a_good_one_keeps_the_newer_state_in_memory(tmp_path):
    path = tmp_path / "j.json"
    j = Journal(path)
    c = j.claim("fp", "m/x")
    j.record_submitted(c, "req-1")                       # on disk: pending
    lock = path.with_name(path.name + ".lock")
    lock.unlink()
    lock.mkdir()                                         # now every journal operation fails (EISDIR)
    from runcomfy.errors import JournalWriteError
    try:
        j.record_succeeded("req-1", ["https://x.runcomfy.net/1.png"], 0.03)
    except JournalWriteError as exc:
        assert exc.request_id == "req-1"
    else:
        raise AssertionError("expected JournalWriteError")
    again = Journal(path).claim("fp", "m/x")             # the disk is unreadable: memory answers
    assert again.action == "resume" and again.entry["state"] == "succeeded"
    assert again.entry["urls"] == ["https://x.runcomfy.net/1.png"]
