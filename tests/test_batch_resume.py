"""The batch killed for real (SIGKILL, and Ctrl-C as SIGINT) in a subprocess, then run again with
the same command: nothing is paid twice, pending jobs are resumed, finished ones are skipped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.test_batch import MODEL, TOKEN, make_jobs

ROOT = Path(__file__).resolve().parents[1]


def _env(emu, tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_")}
    env.update(RUNCOMFY_API_TOKEN=TOKEN, RUNCOMFY_MODEL_API_BASE=emu.base_url,
               RUNCOMFY_CONFIG_DIR=str(tmp_path / "cfg"), RUNCOMFY_STATE_DIR=str(tmp_path / "state"),
               PYTHONUNBUFFERED="1")
    return env


def _start(emu, tmp_path, jobs, out, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "runcomfy", "batch", MODEL, str(jobs), "--out", str(out),
                             "--report", str(tmp_path / "report.jsonl"), *extra],
                            cwd=ROOT, env=_env(emu, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(cond, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.02)


def _accepted_per_prompt(emu) -> Counter:
    with emu._lock:
        return Counter(j.payload.get("prompt") for j in emu.jobs.values())


def _report(tmp_path) -> dict:
    return {r["key"]: r for r in map(json.loads, (tmp_path / "report.jsonl").read_text().splitlines())}


def test_sigkill_then_rerun_pays_nothing_twice(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=2.0, workers=4)
    emu.queue_processing_times([0.3])            # the first job finishes early: one done before the kill
    jobs = make_jobs(tmp_path, 6)
    out = tmp_path / "out"
    proc = _start(emu, tmp_path, jobs, out, "--concurrency", "3")
    try:
        # Kill once one job is finished and saved and three more are submitted and answered: with
        # all three slots taken by jobs running remotely, no submit is on the wire at that moment.
        _wait_for(lambda: any(out.glob("shot-*.json")))
        _wait_for(lambda: emu.submits_accepted == 4 and emu.count("submit") == 4)
        time.sleep(0.2)
        assert emu.submits_accepted == 4
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    finished = sorted(p.stem for p in out.glob("shot-*.json"))
    assert len(finished) == 1 and not (out / "shot-005.png").exists()

    again = _start(emu, tmp_path, jobs, out, "--concurrency", "3")
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stdout + stderr
    per_prompt = _accepted_per_prompt(emu)
    assert len(per_prompt) == 6 and set(per_prompt.values()) == {1}, per_prompt     # 0 duplicate submits
    rows = _report(tmp_path)
    assert rows[finished[0]]["state"] == "skipped"                 # finished with outputs: skipped
    resumed = [k for k, r in rows.items() if r.get("resumed")]
    assert len(resumed) == 3 and all(rows[k]["submits"] == 0 for k in resumed)    # pending: resumed
    for i in range(6):
        assert (out / f"shot-{i:03d}.png").is_file()
    assert "done 5, failed 0, skipped 1" in stdout


def test_ctrl_c_stops_new_submits_and_the_rerun_finishes(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=1.5, workers=4)
    jobs = make_jobs(tmp_path, 5)
    out = tmp_path / "out"
    proc = _start(emu, tmp_path, jobs, out, "--concurrency", "2")
    try:
        _wait_for(lambda: emu.submits_accepted == 2 and emu.count("submit") == 2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 1
    assert "stopping: no new submits" in stderr
    assert "not run" in stdout and "interrupted" in stdout
    assert emu.submits_accepted == 2
    again = _start(emu, tmp_path, jobs, out, "--concurrency", "2")
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stdout + stderr
    per_prompt = _accepted_per_prompt(emu)
    assert len(per_prompt) == 5 and set(per_prompt.values()) == {1}
    assert all((out / f"shot-{i:03d}.png").is_file() for i in range(5))
