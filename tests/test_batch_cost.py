"""``batch --max-cost`` is a cap (issue 16.2), over real sockets against the emulator: jobs in
flight count at their estimate (a per-second model: price x duration), a /result without a
numeric cost counts as the estimate, the budget is the --out folder's across runs (a re-run and
a killed run included), and a job whose cost cannot be estimated is refused unless
--max-cost-unknown says what to assume. Every billed job is summed from the emulator's own
bills, not from what the runner reports."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from runcomfy.batch.cli import main as batch_main
from runcomfy.batch.spend import SpendLedger
from runcomfy.catalog.sync import sync
from tests.test_batch import MODEL, TOKEN, make_jobs
from tests.test_batch_resume import _accepted_per_prompt, _start, _wait_for

PER_SECOND = "acme/clip/per-second"
ODD_UNIT = "acme/clip/per-megapixel"


def _entry(model_id: str, price: float, unit: str) -> dict:
    return {"model_id": model_id, "display_name": "Toy", "categories": ["text-to-image"], "kind": "model",
            "base_price_usd": price, "price_unit": unit,
            "input_schema": {"type": "object", "required": ["prompt"], "properties": {
                "prompt": {"type": "string"},
                "duration": {"type": "integer", "default": 60, "minimum": 1, "maximum": 120},
                "seed": {"type": "integer", "default": 0, "minimum": 0, "maximum": 2147483647}}}}


def _catalog(emu, cfg: Path, *entries) -> None:
    emu.serve_catalog(list(entries), replace=False)
    assert sync(cfg, token=TOKEN, base_url=emu.base_url).ok


def _prompt_jobs(folder: Path, n: int, **extra) -> Path:
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps({"key": f"j{i:03d}", "prompt": f"prompt {i}", "seed": i, **extra}) + "\n"
                            for i in range(n)))
    return path


def billed(emu) -> float:
    """What the service billed: every accepted job that ran, at its own price."""
    with emu._lock:
        return sum(j.price_usd for j in emu.jobs.values())


def run_cli(emu, model, jobs, out, *args, cfg=None) -> int:
    extra = ["--config-dir", str(cfg)] if cfg else []
    return batch_main([model, str(jobs), "--out", str(out), "--base-url", emu.base_url, *extra, *args])


def test_per_second_jobs_in_flight_count_at_price_times_duration(start_emulator, tmp_path, capsys):
    # The case: $0.10/s, 60 s jobs (the schema default), --max-cost 10, concurrency 8.
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.5, workers=8)
    emu.bill_per_second = True
    _catalog(emu, tmp_path / "cfg", _entry(PER_SECOND, 0.10, "second"))
    jobs = _prompt_jobs(tmp_path, 12)
    report = tmp_path / "r.jsonl"
    code = run_cli(emu, PER_SECOND, jobs, tmp_path / "out", "--concurrency", "8", "--max-cost", "10",
                   "--report", str(report), cfg=tmp_path / "cfg")
    out = capsys.readouterr().out
    assert code == 1
    assert emu.submits_accepted == 1 and billed(emu) == pytest.approx(6.0)     # $6 fits; $12 would not
    assert "--max-cost 10 USD reached" in out and "not run 11" in out
    rows = [json.loads(x) for x in report.read_text().splitlines()]
    assert len(rows) == 12 and {r["state"] for r in rows} == {"done", "not_run"}
    assert all(r["estimate"] == pytest.approx(6.0) for r in rows if r["state"] == "done")
    refused = next(r for r in rows if r["state"] == "not_run")
    assert "$6.00 spent or committed" in refused["error"] and "$0.10/s x 60 s" in refused["error"]

    # Shorter jobs fit where long ones did not; the folder's $6 still counts.
    jobs2 = tmp_path / "short.jsonl"
    jobs2.write_text("".join(json.dumps({"key": f"s{i}", "prompt": f"short {i}", "duration": 1}) + "\n"
                             for i in range(50)))
    run_cli(emu, PER_SECOND, jobs2, tmp_path / "out", "--concurrency", "8", "--max-cost", "10",
            cfg=tmp_path / "cfg")
    capsys.readouterr()
    assert billed(emu) == pytest.approx(10.0)            # 6 + 40 x 0.10: exactly the cap, never over
    assert emu.submits_accepted == 41


@pytest.mark.parametrize("cost_as", ["null", "string", "missing"])
def test_a_result_without_a_numeric_cost_counts_as_its_estimate(start_emulator, tmp_path, capsys, cost_as):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.05, workers=8, price_usd=0.03)
    emu.cost_as = cost_as
    jobs = make_jobs(tmp_path, 40, side=384)
    code = run_cli(emu, MODEL, jobs, tmp_path / "out", "--concurrency", "8", "--max-cost", "0.30")
    out = capsys.readouterr().out
    assert code == 1
    assert emu.submits_accepted == 10 and billed(emu) == pytest.approx(0.30)
    assert "10 job(s) reported no numeric cost: counted at $0.30" in out
    assert "no cost reported" in out and "$0.00" not in out
    assert "spent in this folder, all runs: $0.30 of --max-cost $0.30" in out

    # The same command again: the folder's budget is spent; nothing new is submitted.
    code = run_cli(emu, MODEL, jobs, tmp_path / "out", "--concurrency", "8", "--max-cost", "0.30")
    out = capsys.readouterr().out
    assert code == 1 and emu.submits_accepted == 10
    assert "skipped 10" in out and "not run 30" in out


def test_a_cost_string_larger_than_the_estimate_counts_in_full(start_emulator, tmp_path, capsys):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.05, price_usd=0.03)
    emu.cost_as = "string"
    jobs = make_jobs(tmp_path, 6, side=384)
    # The service bills (and says, as text) $0.10 per job while the listed price says $0.03.
    real_price = emu._job_price
    emu._job_price = lambda model, payload: 0.10
    try:
        run_cli(emu, MODEL, jobs, tmp_path / "out", "--concurrency", "1", "--max-cost", "0.25")
    finally:
        emu._job_price = real_price
    out = capsys.readouterr().out
    # Each job starts at its $0.03 estimate and then counts $0.10 (the text): 0.03, 0.13, 0.23 fit when
    # they start; then 0.30 + 0.03 does not. Counted at the estimate, six jobs ($0.18) would have run.
    assert emu.submits_accepted == 3 and "spent in this folder, all runs: $0.30" in out


def test_killed_run_then_rerun_stays_within_the_cap(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=1.5, workers=8, price_usd=0.03)
    emu.cost_as = "null"
    jobs = make_jobs(tmp_path, 40, side=384)
    out = tmp_path / "out"
    proc = _start(emu, tmp_path, jobs, out, "--concurrency", "4", "--max-cost", "0.30")
    try:
        _wait_for(lambda: emu.submits_accepted >= 4 and emu.count("submit") == emu.submits_accepted)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    first = emu.submits_accepted
    first_prompts = set(_accepted_per_prompt(emu))
    assert 4 <= first <= 10
    again = _start(emu, tmp_path, jobs, out, "--concurrency", "4", "--max-cost", "0.30")
    stdout, stderr = again.communicate(timeout=180)
    assert again.returncode == 1, stdout + stderr
    per_prompt = _accepted_per_prompt(emu)
    assert set(per_prompt.values()) == {1}                       # nothing paid twice
    assert billed(emu) <= 0.30 + 1e-9                             # the cap, across both runs
    # The folder's ledger never counts less than was billed, and stops within the cap; a submit
    # killed between its reservation and the service counts at its estimate, sent or not.
    counted, unknown = SpendLedger(out / ".runcomfy-batch" / "journal.jsonl").spent()
    assert unknown == 0 and billed(emu) <= counted + 1e-9 and 0.27 < counted <= 0.30 + 1e-9
    rows = [json.loads(x) for x in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert len(rows) == 40                                        # every line accounted for
    # The killed run's requests: saved before the kill (skipped), resumed, or (killed between the
    # service's answer and the journal write) reported as possibly billed; never submitted again.
    by_key = {r["key"]: r for r in rows}
    for prompt in first_prompts:
        r = by_key[f"shot-{int(prompt.rsplit(' ', 1)[1]):03d}"]
        assert r["state"] == "skipped" or r.get("resumed") or "may have been accepted" in (r["error"] or ""), r


def test_an_unknown_estimate_is_refused_unless_an_amount_is_assumed(start_emulator, tmp_path, capsys):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.05, workers=4)
    _catalog(emu, tmp_path / "cfg", _entry(ODD_UNIT, 0.02, "megapixel"))
    jobs = _prompt_jobs(tmp_path, 5)
    code = run_cli(emu, ODD_UNIT, jobs, tmp_path / "out", "--max-cost", "1", cfg=tmp_path / "cfg")
    out = capsys.readouterr().out
    assert code == 1 and emu.submits_accepted == 0
    assert "its cost is unknown" in out and "--max-cost-unknown" in out and "not run 5" in out
    # With an amount to assume per job, the cap counts it: 0.05 + 0.05 fit under 0.12, a third does not
    # (the service states no cost here either, so the assumed amount stays counted).
    emu.cost_as = "null"
    code = run_cli(emu, ODD_UNIT, jobs, tmp_path / "out", "--max-cost", "0.12", "--max-cost-unknown", "0.05",
                   "--concurrency", "1", cfg=tmp_path / "cfg")
    capsys.readouterr()
    assert emu.submits_accepted == 2
    # Without --max-cost there is no cap: the rest run.
    assert run_cli(emu, ODD_UNIT, jobs, tmp_path / "out", cfg=tmp_path / "cfg") == 0
    assert emu.submits_accepted == 5


def test_a_spent_budget_never_blocks_fetching_what_was_paid_for(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=0.05, workers=8, price_usd=0.03)
    emu.hold_next_jobs(4)                 # in progress until released, however loaded the machine is
    jobs = make_jobs(tmp_path, 8, side=384)
    out = tmp_path / "out"
    proc = _start(emu, tmp_path, jobs, out, "--concurrency", "4", "--max-cost", "0.12")
    try:
        # The four jobs in flight commit the whole budget; kill while they run remotely.
        _wait_for(lambda: emu.submits_accepted == 4 and emu.count("submit") == 4)
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert not list(out.glob("shot-*.json"))
    emu.release()
    again = _start(emu, tmp_path, jobs, out, "--concurrency", "4", "--max-cost", "0.12")
    stdout, stderr = again.communicate(timeout=120)
    rows = {r["key"]: r for r in map(json.loads, (tmp_path / "report.jsonl").read_text().splitlines())}
    # Each of the four: resumed and fetched, or (killed between the service's answer and the journal
    # write) reported as possibly billed with the code to pay again; never refused by the budget.
    paid = [r for r in rows.values() if r["state"] != "not_run"]
    assert len(paid) == 4, stdout
    assert all((r["state"] == "done" and r["resumed"] and r["submits"] == 0)
               or "may have been accepted" in r["error"] for r in paid), stdout
    assert sum(r["state"] == "done" for r in paid) >= 3
    assert emu.submits_accepted == 4 and "not run 4" in stdout and "--max-cost 0.12 USD reached" in stdout
