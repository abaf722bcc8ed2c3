"""The batch runner (python -m runcomfy batch) over real sockets against the emulator: dry run
sends nothing and prices the batch, --max-cost stops new submits, 429s back off without paying
twice, invalid lines are named. The kill-and-resume test is in test_batch_resume.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from devtools import photomodel
from runcomfy.media import images as media
from runcomfy.batch import parse_jobs
from runcomfy.batch.cli import main as batch_main
from runcomfy.batch.limiter import AdaptiveLimit
from runcomfy.batch.progress import ProgressBar
from runcomfy.schema import find_schema

TOKEN = "tok-batch-test"
MODEL = "wan-ai/wan-2-6/image-to-image"
SCHEMA = find_schema(MODEL)


def make_jobs(folder: Path, n: int, *, extra_lines: list[str] = (), side: int = 400) -> Path:
    for i in range(3):
        Image.fromarray(photomodel.photo(40 + i, side)).save(folder / f"in{i}.png")
    path = folder / "jobs.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("# a comment line, then the jobs\n")
        for i in range(n):
            fh.write(json.dumps({"key": f"shot-{i:03d}", "prompt": f"edit number {i}",
                                 "image_urls": [f"in{i % 3}.png"], "seed": i}) + "\n")
        for line in extra_lines:
            fh.write(line + "\n")
    return path


def run_cli(emu, jobs: Path, out: Path, *args: str) -> int:
    return batch_main([MODEL, str(jobs), "--out", str(out), "--base-url", emu.base_url, *args])


def submitted_prompts(emu) -> list[str]:
    with emu._lock:
        return [j.payload.get("prompt") for j in emu.jobs.values()]


def test_dry_run_sends_nothing_and_prices_the_batch(start_emulator, tmp_path, monkeypatch, capsys):
    emu = start_emulator(TOKEN, as_env=True, price_usd=0.25)
    jobs = make_jobs(tmp_path, 5, extra_lines=[
        json.dumps({"key": "too-big-seed", "prompt": "p", "image_urls": ["in0.png"], "seed": 2**40}),
        json.dumps({"key": "no-file", "prompt": "p", "image_urls": ["nope.png"]}),
        "{not json",
    ])
    report = tmp_path / "report.jsonl"
    code = run_cli(emu, jobs, tmp_path / "out", "--dry-run", "--report", str(report))
    out = capsys.readouterr().out
    assert code == 1                                   # some lines are invalid
    assert emu.count("submit") == 0 and emu.submits_accepted == 0
    assert "dry run: 5 job(s) valid, 3 invalid; nothing was sent" in out
    assert "5 x $0.25 / image = $1.25" in out
    assert "line 8 (key 'no-file'): 'image_urls[1]': file not found" in out
    assert "line 9: not valid JSON" in out
    # the seed is checked by the pipeline's own validation: field, limit, value
    assert "too-big-seed" in out and "seed" in out and "2147483647" in out
    rows = [json.loads(x) for x in report.read_text().splitlines()]
    assert sorted(r["state"] for r in rows) == ["dry_run"] * 5 + ["failed"] + ["invalid"] * 2
    assert not list((tmp_path / "out").glob("*.png"))


def test_batch_runs_every_line_and_names_outputs_by_key(start_emulator, tmp_path, capsys):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.2, workers=4)
    jobs = make_jobs(tmp_path, 6)
    report = tmp_path / "r.jsonl"
    assert run_cli(emu, jobs, tmp_path / "out", "--concurrency", "4", "--report", str(report)) == 0
    out = capsys.readouterr().out
    assert "done 6, failed 0" in out and "cost $0.18 reported" in out
    assert sorted(submitted_prompts(emu)) == sorted(f"edit number {i}" for i in range(6))
    rows = {r["key"]: r for r in map(json.loads, report.read_text().splitlines())}
    for i in range(6):
        key = f"shot-{i:03d}"
        png = tmp_path / "out" / f"{key}.png"
        assert rows[key]["state"] == "done" and rows[key]["outputs"] == [png.name]
        assert png.read_bytes() == emu.file_bytes(rows[key]["request_id"], 0)     # the service's bytes
    # The input travelled losslessly through the pipeline.
    sent = emu.jobs[rows["shot-001"]["request_id"]].inputs[0]
    assert np.array_equal(media.decode_image(sent), np.asarray(Image.open(tmp_path / "in1.png").convert("RGB")))
    # Same command again: everything is skipped, nothing is sent.
    before = emu.submits_accepted
    assert run_cli(emu, jobs, tmp_path / "out") == 0
    assert "skipped 6 (already done)" in capsys.readouterr().out
    assert emu.submits_accepted == before


def test_max_cost_stops_new_submits(start_emulator, tmp_path, capsys):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.05, price_usd=0.03)
    jobs = make_jobs(tmp_path, 8)
    code = run_cli(emu, jobs, tmp_path / "out", "--concurrency", "1", "--max-cost", "0.10")
    out = capsys.readouterr().out
    assert code == 1
    # A job starts only if spent + its estimate stays within the cap: 0.03, 0.06, 0.09; 0.12 would pass it.
    assert emu.submits_accepted == 3
    assert "done 3" in out and "not run 5" in out and "--max-cost 0.1 USD reached" in out
    assert "spent in this folder, all runs: $0.09 of --max-cost $0.10" in out


def test_max_cost_counts_jobs_in_flight(start_emulator, tmp_path, capsys):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.3, workers=8, price_usd=0.03)
    jobs = make_jobs(tmp_path, 8)
    run_cli(emu, jobs, tmp_path / "out", "--concurrency", "8", "--max-cost", "0.10")
    capsys.readouterr()
    assert emu.submits_accepted == 3          # never 8 at once: jobs in flight count at their estimate


def test_rate_limits_back_off_and_never_pay_twice(start_emulator, tmp_path, capsys):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.1, workers=4)
    # Every 2nd..: a burst of 429s with Retry-After on submits, and on status calls.
    emu.faults.add("submit", "http", 6, status=429, retry_after=0.2)
    emu.faults.add("status", "http", 5, status=429, retry_after=0.1)
    jobs = make_jobs(tmp_path, 6)
    report = tmp_path / "r.jsonl"
    assert run_cli(emu, jobs, tmp_path / "out", "--concurrency", "4", "--report", str(report)) == 0
    capsys.readouterr()
    prompts = submitted_prompts(emu)
    assert len(prompts) == 6 and len(set(prompts)) == 6          # one accepted submit per job
    assert sum(1 for c in emu.calls if c.endpoint == "submit" and c.status == 429) == 6


def test_limiter_halves_on_429_and_grows_on_success():
    async def main():
        t = [0.0]
        lim = AdaptiveLimit(16, clock=lambda: t[0], cooldown=1.0)
        assert lim.allowed == 16
        lim.throttled(2.0)
        lim.throttled(2.0)                 # same burst: one halving
        assert lim.allowed == 8 and lim.cuts == 1
        assert lim.paused_until == 2.0
        t[0] = 1.5
        lim.throttled(None)
        assert lim.allowed == 4
        for _ in range(5):
            lim.succeeded()
        assert lim.allowed == 9               # one more per successful submit
        for _ in range(100):
            lim.succeeded()
        assert lim.allowed == 16              # never above --concurrency
    asyncio.run(main())


def test_parse_jobs_problems_name_line_and_field(tmp_path):
    Image.fromarray(photomodel.photo(1, 400)).save(tmp_path / "a.png")
    (tmp_path / "jobs.jsonl").write_text("\n".join([
        json.dumps({"key": "a", "prompt": "p", "image_urls": ["a.png", "https://example.com/x.png"]}),
        json.dumps({"key": "a", "prompt": "dup"}),
        json.dumps({"key": "../evil", "prompt": "p"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"prompt": "p", "image_urls": ["https://example.com/x.png", "a.png"]}),
        "",
    ]) + "\n")
    specs, problems = parse_jobs(tmp_path / "jobs.jsonl", SCHEMA)
    assert [s.key for s in specs] == ["a"]
    assert specs[0].files["image_urls"] == [tmp_path / "a.png"] and specs[0].urls["image_urls"] == [
        "https://example.com/x.png"]
    text = [str(p) for p in problems]
    assert "line 2 (key 'a'): 'key' 'a' is already used on line 1" in text
    assert any(t.startswith("line 3: 'key' must be") and "'../evil'" in t for t in text)
    assert any(t.startswith("line 4: must be a JSON object") for t in text)
    assert any(t.startswith("line 5 (key 'line-5'): 'image_urls[2]': list files before URLs") for t in text)


def test_progress_line_has_counts_cost_and_estimate():
    t = [0.0]
    bar = ProgressBar(10, clock=lambda: t[0])
    bar.unit_price = 0.03
    assert "0/10" in bar.line() and "estimating time left (~$0.30 more)" in bar.line()
    for i in range(4):
        t[0] = i + 1.0
        bar.done += 1
        bar.cost += 0.03
        bar.job_ended()
    bar.failed, bar.running = 1, 3
    line = bar.line()
    assert "5/10" in line and "1 failed" in line and "3 running" in line and "$0.12" in line
    assert "~5s left" in line and "(~$0.15 more)" in line


def test_uncertain_submit_is_reported_never_resent_unless_asked(start_emulator, tmp_path, capsys):
    import re
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.05)
    emu.faults.add("submit", "drop_after", 1)      # accepted, then the answer is lost
    jobs = make_jobs(tmp_path, 2)
    report = tmp_path / "r.jsonl"
    assert run_cli(emu, jobs, tmp_path / "out", "--concurrency", "1", "--report", str(report)) == 1
    assert "may have reached RunComfy" in capsys.readouterr().out
    assert emu.submits_accepted == 2                 # the lost answer's job was in fact accepted
    lost = next(r for r in map(json.loads, report.read_text().splitlines()) if r["state"] == "failed")
    # Same command again: the finished job is skipped, the uncertain one is reported, not re-sent.
    assert run_cli(emu, jobs, tmp_path / "out", "--report", str(report)) == 1
    out = capsys.readouterr().out
    assert emu.submits_accepted == 2
    assert "may have been accepted and billed" in out and "skipped 1" in out
    code = re.search(r"resubmit-[0-9a-f]+", out).group(0)
    # With its one-time code the user pays again for exactly that job.
    assert run_cli(emu, jobs, tmp_path / "out", "--submit-anyway", code) == 0
    assert emu.submits_accepted == 3
    assert (tmp_path / "out" / f"{lost['key']}.png").is_file()
