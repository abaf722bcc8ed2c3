"""Never paid twice (issue 9, points 1, 2, 4, 5), over real sockets against the emulator: a
submit whose outcome is uncertain blocks a re-run of the same inputs until the user says how
to proceed; an accepted submit's id survives an unwritable journal; odd submit answers are
"outcome unknown", never "rejected"; two processes with the same new inputs pay once."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.errors import EarlierSubmitUncertainError, SubmitOutcomeUnknownError
from runcomfy.journal import SUBMIT_UNKNOWN, SUPERSEDED, Journal
from runcomfy.run import Runner
from runcomfy.run.polling import PollPolicy

sys.path.insert(0, str(Path(__file__).parent))
import money_worker  # noqa: E402

TOKEN = "tok-money-test-0123"
MODEL = money_worker.MODEL
ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("money_worker.py")


def runner(emu, journal, **kw):
    client = RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
    return Runner(client, journal=journal, poll=PollPolicy(first=0.05, cap=0.1), timeout=30, **kw)


def wait_until(cond, limit=20.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def worker(emu, journal_path, prompt):
    return subprocess.Popen([sys.executable, str(WORKER), str(ROOT), emu.base_url, TOKEN, str(journal_path), prompt],
                            stdout=subprocess.PIPE, text=True)


def test_kill_during_submit_then_same_inputs_are_not_paid_again(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=0.1)
    emu.faults.add("submit", "slow", times=1, delay=1.5)   # the upload "takes seconds"
    path = tmp_path / "journal.json"
    child = worker(emu, path, "killed mid-submit")
    # the fault is taken when the request has arrived, before its answer is sent
    assert wait_until(lambda: ("submit", "slow") in emu.faults.injected)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert wait_until(lambda: emu.submits_accepted == 1)   # ... and the server took (and billed) it

    with pytest.raises(EarlierSubmitUncertainError) as ei:
        asyncio.run(runner(emu, Journal(path)).run_job(MODEL, money_worker.payload("killed mid-submit")))
    text = str(ei.value)
    code = ei.value.resubmit_code
    assert "may have been accepted and billed" in text and "UTC" in text and "fetch it by its request id" in text
    assert code and code in text and "one-time code" in text
    assert "resume_request_id" not in text and "submit_anyway" not in text     # the front end says where
    assert emu.submits_accepted == 1 and emu.count("submit") == 1          # nothing sent again

    # a code from elsewhere (another machine's shared workflow) unblocks nothing
    with pytest.raises(EarlierSubmitUncertainError, match="does not match"):
        asyncio.run(runner(emu, Journal(path), submit_anyway="resubmit-000000").run_job(
            MODEL, money_worker.payload("killed mid-submit")))
    assert emu.count("submit") == 1

    # the user's explicit choice: pays once more, and the warning's entry is done with
    out = asyncio.run(runner(emu, Journal(path), submit_anyway=code).run_job(
        MODEL, money_worker.payload("killed mid-submit")))
    assert emu.submits_accepted == 2 and out.files
    states = [e["state"] for e in Journal(path).entries()]
    assert SUPERSEDED in states and "succeeded" in states
    # the same code left in the workflow later changes nothing: the inputs now resume
    again = asyncio.run(runner(emu, Journal(path), submit_anyway=code).run_job(
        MODEL, money_worker.payload("killed mid-submit")))
    assert again.resumed and again.request_id == out.request_id and emu.submits_accepted == 2


@pytest.mark.parametrize("kind,params", [
    ("nested_json", {"depth": 100000}),
    ("bad_request_id", {"value": "../../admin?x=1"}),
    ("not_json", {}),
    ("oversized", {"bytes": 8 * 1024 * 1024}),
    ("drop_after", {}),
])
def test_odd_submit_answers_are_outcome_unknown_and_block_a_rerun(start_emulator, tmp_path, kind, params):
    emu = start_emulator(TOKEN, processing_time=0.1)
    emu.faults.add("submit", kind, times=1, **params)
    journal = Journal(tmp_path / "journal.json")
    payload = money_worker.payload(f"odd answer {kind}")
    with pytest.raises(SubmitOutcomeUnknownError) as ei:
        asyncio.run(runner(emu, journal).run_job(MODEL, payload))
    assert "NOT re-sent" in str(ei.value)
    assert emu.submits_accepted == 1                       # it was in fact accepted
    assert [e["state"] for e in journal.entries()] == [SUBMIT_UNKNOWN]
    with pytest.raises(EarlierSubmitUncertainError):
        asyncio.run(runner(emu, journal).run_job(MODEL, payload))
    assert emu.count("submit") == 1


def test_two_processes_with_the_same_new_inputs_pay_once(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=0.3)
    emu.faults.add("submit", "slow", times=None, delay=1.0)   # both overlap the first's submit
    path = tmp_path / "journal.json"
    kids = [worker(emu, path, "same prompt, two instances") for _ in range(2)]
    outs = []
    for k in kids:
        out, _ = k.communicate(timeout=90)
        outs.append([json.loads(line) for line in out.splitlines() if line.strip()][-1])
    assert all("request_id" in o for o in outs), outs
    assert emu.submits_accepted == 1 and emu.count("submit") == 1
    assert outs[0]["request_id"] == outs[1]["request_id"]
    assert sorted(o["resumed"] for o in outs) == [False, True]


def break_journal(path: Path) -> Path:
    """Every journal operation now fails with an OSError from the OS (EISDIR): a directory takes
    the lock file's name. (As root, chmod cannot make a folder read-only; this can.) A journal
    call in another thread may re-create the lock file meanwhile, so this retries, bounded."""
    lock = path.with_name(path.name + ".lock")
    for _ in range(200):
        try:
            lock.unlink()
        except FileNotFoundError:
            pass
        try:
            lock.mkdir()
            return lock
        except FileExistsError:
            time.sleep(0.005)
    raise AssertionError("could not break the journal")


def test_journal_unwritable_after_accept_keeps_the_id(start_emulator, tmp_path, caplog):
    emu = start_emulator(TOKEN, processing_time=0.2)
    emu.faults.add("submit", "slow", times=1, delay=1.0)
    state = tmp_path / "state"
    path = state / "journal.json"
    payload = money_worker.payload("journal breaks mid-submit")
    r = runner(emu, Journal(path))

    async def go():
        task = asyncio.ensure_future(r.run_job(MODEL, payload))
        for _ in range(500):
            if emu.count("submit"):
                break
            await asyncio.sleep(0.01)
        # the journal becomes unusable under the running job
        break_journal(path)
        return await task
    with caplog.at_level(logging.INFO, logger="runcomfy"):
        out = asyncio.run(go())
    rid = out.request_id
    assert out.files and emu.submits_accepted == 1
    assert any(rid in n for n in out.notes), out.notes                        # on the node
    assert any(rid in rec.getMessage() and rec.levelno >= logging.WARNING for rec in caplog.records)
    # a re-run in this process resumes from memory even though the disk is still unusable
    again = asyncio.run(runner(emu, Journal(path)).run_job(MODEL, payload))
    assert again.resumed and again.request_id == rid and emu.submits_accepted == 1
    # once the folder is back, the next write puts the remembered entry on disk
    (state / "journal.json.lock").rmdir()
    asyncio.run(runner(emu, Journal(path)).run_job(MODEL, money_worker.payload("another prompt")))
    assert Journal(path).find_request(rid) is not None


def test_error_after_an_unjournaled_accept_says_accepted_and_billed(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=0.2)
    emu.faults.add("submit", "slow", times=1, delay=1.0)
    emu.fail_next_jobs(1, "Content moderation: rejected")
    state = tmp_path / "state"
    r = runner(emu, Journal(state / "journal.json"))

    async def go():
        task = asyncio.ensure_future(r.run_job(MODEL, money_worker.payload("accepted, then failed")))
        for _ in range(500):
            if ("submit", "slow") in emu.faults.injected:
                break
            await asyncio.sleep(0.01)
        break_journal(state / "journal.json")
        return await task
    with pytest.raises(Exception) as ei:
        asyncio.run(go())
    rid = next(iter(emu.jobs))
    assert ei.value.request_id == rid
    assert f"accepted and billed as request {rid}" in str(ei.value) and "Content moderation" in str(ei.value)


def test_a_run_cancelled_mid_submit_leaves_an_uncertain_entry_not_a_live_one(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=0.1)
    emu.faults.add("submit", "slow", times=1, delay=1.0)
    journal = Journal(tmp_path / "journal.json")
    payload = money_worker.payload("cancelled mid-submit")

    async def go():
        task = asyncio.ensure_future(runner(emu, journal).run_job(MODEL, payload))
        for _ in range(500):
            if ("submit", "slow") in emu.faults.injected:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # this process is not sending it any more: a re-run is warned at once, not kept waiting
        await asyncio.wait_for(runner(emu, journal).run_job(MODEL, payload), 20)
    with pytest.raises(EarlierSubmitUncertainError, match="cancelled during the submit"):
        asyncio.run(go())
    assert emu.count("submit") <= 1
