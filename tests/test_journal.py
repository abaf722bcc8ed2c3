import json
import os
import stat
import threading

from runcomfy.journal import PENDING, SUBMIT_UNKNOWN, SUCCEEDED, Journal


def test_lifecycle_and_resume_lookup(tmp_path):
    j = Journal(tmp_path / "j.json")
    j.record_submitting("fp1", "m/x")
    assert j.find_resumable("fp1") is None
    j.record_submitted("fp1", "m/x", "req-1")
    assert j.find_resumable("fp1")["request_id"] == "req-1"
    j.record_succeeded("req-1", ["https://a.runcomfy.net/1.png"], 0.03)
    e = j.find_resumable("fp1")
    assert e["state"] == SUCCEEDED and e["urls"] == ["https://a.runcomfy.net/1.png"]
    j.record_state("req-1", "expired")
    assert j.find_resumable("fp1") is None


def test_unknown_submit_is_remembered_not_resumed(tmp_path):
    j = Journal(tmp_path / "j.json")
    j.record_submitting("fp", "m/x")
    j.record_submit_failed("fp", unknown=True)
    assert [e["state"] for e in j.entries()] == [SUBMIT_UNKNOWN]
    assert j.find_resumable("fp") is None


def test_file_is_owner_only_and_holds_no_payload(tmp_path):
    path = tmp_path / "sub" / "j.json"
    j = Journal(path)
    j.record_submitted("fp", "m/x", "req-9")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert set(doc["entries"][0]) == {"fingerprint", "model_id", "request_id", "state", "created", "updated"}


def test_bounded(tmp_path):
    j = Journal(tmp_path / "j.json", max_entries=10)
    for i in range(25):
        j.record_submitted(f"fp{i}", "m/x", f"req-{i}")
    ids = [e["request_id"] for e in j.entries()]
    assert len(ids) == 10 and ids[-1] == "req-24" and "req-0" not in ids


def test_survives_torn_write(tmp_path):
    path = tmp_path / "j.json"
    j = Journal(path)
    j.record_submitted("fp1", "m/x", "req-1")
    j.record_submitted("fp2", "m/x", "req-2")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # a crash mid-write on a filesystem without atomic rename
    j2 = Journal(path)
    assert j2.find_resumable("fp1")["request_id"] == "req-1"  # from the backup
    j2.record_submitted("fp3", "m/x", "req-3")
    assert {e["request_id"] for e in Journal(path).entries()} >= {"req-1", "req-3"}
    assert any(p.name.startswith("j.json.corrupt-") for p in tmp_path.iterdir())


def test_expired_by_age(tmp_path):
    now = [1000.0]
    j = Journal(tmp_path / "j.json", resume_ttl=60, clock=lambda: now[0])
    j.record_submitted("fp", "m/x", "req-1")
    now[0] += 61
    assert j.find_resumable("fp") is None


def test_concurrent_writers_lose_nothing(tmp_path):
    j = Journal(tmp_path / "j.json")
    threads = [threading.Thread(target=j.record_submitted, args=(f"fp{i}", "m/x", f"req-{i}")) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({e["request_id"] for e in j.entries()}) == 20
    assert all(e["state"] == PENDING for e in j.entries())


def test_separate_journal_objects_on_one_file_lose_nothing(tmp_path):
    # every node run opens its own Journal on the same file
    path = tmp_path / "j.json"
    threads = [threading.Thread(target=lambda i=i: Journal(path).record_submitted(f"fp{i}", "m/x", f"req-{i}"))
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
            "for i in range(40): j.record_submitted(f'child{i}', 'm/x', f'child-{i}')\n")
    root = str(__import__("conftest").ROOT)
    child = subprocess.Popen([sys.executable, "-c", code, str(path), root])
    j = Journal(path)
    for i in range(40):
        j.record_submitted(f"parent{i}", "m/x", f"parent-{i}")
    assert child.wait(timeout=60) == 0
    assert len({e["request_id"] for e in Journal(path).entries()}) == 80
