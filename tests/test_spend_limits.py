"""Spending limits (issue 20.4), over real sockets against the emulator: a daily limit holds across
two OS processes running the node's job path and a batch run, all started at once (the total the
emulator billed never passes the limit plus one job's estimate); a refusal names the limit, the
spend so far and the estimate, before anything is sent; a cost that arrives replaces the estimate;
an unknown estimate under an active limit is refused; running jobs are never cancelled.

Run as a script, this file is the second "ComfyUI process" (the node's journal with its spend tag,
several jobs at once): python tests/test_spend_limits.py ROOT BASE TOKEN CONFIG N TAG
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])

MODEL = "acme/clip/per-second"
TOKEN = "spend-limit-token"
PRICE, SECONDS = 0.10, 10          # $1.00 a job


def _entry(model_id: str = MODEL, price: float = PRICE, unit: str = "second") -> dict:
    return {"model_id": model_id, "display_name": "Toy clip", "categories": ["text-to-video"], "kind": "model",
            "base_price_usd": price, "price_unit": unit,
            "input_schema": {"type": "object", "required": ["prompt"], "properties": {
                "prompt": {"type": "string"},
                "duration": {"type": "integer", "default": SECONDS, "minimum": 1, "maximum": 120},
                "seed": {"type": "integer", "default": 0, "minimum": 0, "maximum": 2147483647}}}}


def _worker() -> None:
    """N jobs at once through the node's job path: Runner + Journal(spend=node_tag(...))."""
    _, _root, base, token, cfg, n, tag = sys.argv
    from runcomfy.api import RetryPolicy, RunComfyClient
    from runcomfy.batch.cli import _schema
    from runcomfy.journal import Journal
    from runcomfy.run import Runner
    from runcomfy.run.polling import PollPolicy
    from runcomfy.spending import node_tag

    schema = _schema(MODEL, cfg, base)
    client = RunComfyClient(token, base, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))

    async def one(i: int):
        values = {"prompt": f"{tag} job {i}", "seed": i}
        journal = Journal(Path(cfg) / "journal.json", spend=node_tag(cfg, schema, values, node_id=f"{tag}-{i}"))
        runner = Runner(client, journal=journal, poll=PollPolicy(first=0.05, cap=0.1), timeout=60)
        try:
            out = await runner.run_job(MODEL, values)
            return {"request_id": out.request_id, "cost": out.cost}
        except Exception as exc:  # judged by the parent test
            return {"error": type(exc).__name__, "text": str(exc)}

    async def all_jobs():
        return await asyncio.gather(*(one(i) for i in range(int(n))))
    print(json.dumps({"tag": tag, "results": asyncio.run(all_jobs())}), flush=True)


def _reserver() -> None:
    """Claims as fast as it can from a common start time, each on its own journal file (like a
    batch job's): only the spend lock stands between these processes."""
    _, _root, _mode, cfg, n, start = sys.argv
    from runcomfy.estimate import Estimate
    from runcomfy.journal import Journal
    from runcomfy.spending import SpendLimitError, Tag
    from runcomfy.spending import history
    tag = Tag(Path(cfg), MODEL, "", Estimate(1.0, "one dollar"), source="batch")
    read = history.HistoryLog.charges

    def slow_disk(self, *a, **kw):          # widens the gap between reading the total and reserving
        out = read(self, *a, **kw)
        time.sleep(0.05)
        return out
    history.HistoryLog.charges = slow_disk
    while time.time() < float(start):
        time.sleep(0.001)
    ok = refused = 0
    for i in range(int(n)):
        j = Journal(Path(cfg) / "jobs" / f"{os.getpid()}-{i}.json", spend=tag)
        try:
            j.claim(f"fp-{i}", MODEL)
            ok += 1
        except SpendLimitError:
            refused += 1
    print(json.dumps({"ok": ok, "refused": refused}), flush=True)


if __name__ == "__main__":
    _reserver() if sys.argv[2] == "reserve" else _worker()
    raise SystemExit(0)

import pytest  # noqa: E402

from runcomfy.catalog.sync import sync  # noqa: E402
from runcomfy.estimate import Estimate  # noqa: E402
from runcomfy.journal import Journal  # noqa: E402
from runcomfy.spending import HistoryLog, SpendLimitError, Tag, save_limits  # noqa: E402
from runcomfy.spending import report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def billed(emu) -> float:
    with emu._lock:
        return sum(j.price_usd for j in emu.jobs.values())


@pytest.fixture
def per_second(start_emulator, tmp_path):
    emu = start_emulator(TOKEN, processing_time=0.4, workers=8)
    emu.bill_per_second = True
    cfg = tmp_path / "cfg"
    emu.serve_catalog([_entry()], replace=False)
    assert sync(cfg, token=TOKEN, base_url=emu.base_url).ok
    return emu, cfg


def _env(cfg: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_")}
    env.update(RUNCOMFY_CONFIG_DIR=str(cfg), PYTHONPATH=str(ROOT))
    return env


def test_a_daily_limit_holds_across_two_processes_and_a_batch_started_at_once(per_second, tmp_path):
    emu, cfg = per_second
    limit = 3.5
    save_limits(cfg, limit, None)            # Settings › RunComfy Model API: shared through the config folder
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"key": f"b{i}", "prompt": f"batch job {i}", "seed": i}) + "\n"
                            for i in range(6)))
    env = _env(cfg)
    procs = [subprocess.Popen([sys.executable, __file__, str(ROOT), emu.base_url, TOKEN, str(cfg), "3", tag],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for tag in ("comfy-a", "comfy-b")]
    report_path = tmp_path / "report.jsonl"
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "runcomfy", "batch", MODEL, str(jobs), "--out", str(tmp_path / "out"),
         "--config-dir", str(cfg), "--base-url", emu.base_url, "--report", str(report_path), "--concurrency", "6"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**env, "RUNCOMFY_API_TOKEN": TOKEN},
        cwd=str(ROOT)))
    outs = [p.communicate(timeout=240) for p in procs]
    workers = [json.loads(o[0].strip().splitlines()[-1]) for o in outs[:2]]
    results = [r for w in workers for r in w["results"]]
    batch_lines = [json.loads(line) for line in report_path.read_text().splitlines()]

    # What the service billed (its own per-second bills), never above the limit plus one job's estimate.
    assert emu.internal_errors == []
    assert billed(emu) <= limit + PRICE * SECONDS + 1e-9
    # Exact estimates here: the check-and-reserve is atomic, so the limit itself holds.
    assert billed(emu) <= limit + 1e-9
    assert emu.submits_accepted == 3 == len([r for r in results if "request_id" in r]) + \
        len([b for b in batch_lines if b["state"] == "done"])
    refused = [r["text"] for r in results if r.get("error") == "SpendLimitError"] + \
        [b["error"] for b in batch_lines if b["state"] == "not_run"]
    assert len(refused) == 12 - 3, (outs, batch_lines)
    for text in refused:
        assert "daily spending limit is $3.50" in text and "$3.00 is spent or committed today" in text
        assert "estimate is $1.00 ($0.10/s x 10 s)" in text and "Nothing was sent or charged" in text
    # Every process's requests are in one history, read here by a third process.
    h = HistoryLog(cfg)
    charges = h.charges()
    assert {c.request_id for c in charges.values() if c.request_id} == {j for j in emu.jobs}
    done_in_batch = {b["request_id"] for b in batch_lines if b["state"] == "done"}
    assert {c.request_id for c in charges.values() if c.source == "batch"} == done_in_batch
    assert {c.node for c in charges.values() if c.source == "node"} <= {f"comfy-{x}-{i}" for x in "ab" for i in range(3)}
    t = report.totals(h)["today"]
    assert t["reported_usd"] == pytest.approx(3.0) and t["estimated_usd"] == 0 and t["requests"] == 3


def test_the_environment_limit_refuses_before_anything_is_sent(per_second, monkeypatch, tmp_path):
    emu, cfg = per_second
    monkeypatch.setenv("RUNCOMFY_DAILY_LIMIT_USD", "0.5")
    tag = Tag(cfg, MODEL, "Toy clip", Estimate(1.0, "$0.10/s x 10 s"))
    j = Journal(cfg / "journal.json", spend=tag)
    with pytest.raises(SpendLimitError) as err:
        j.claim("fp-1", MODEL)
    e = err.value
    assert (e.limit, e.spent, e.estimate_usd, e.window) == (0.5, 0.0, 1.0, "daily")
    assert "RUNCOMFY_DAILY_LIMIT_USD" in str(e) and "$0.50" in str(e) and "$1.00" in str(e)
    # Nothing recorded: no journal entry, no reservation; a resume of a known request is not a submit.
    assert j.entries() == [] and HistoryLog(cfg).charges() == {}
    assert [c for c in emu.calls if c.method == "POST"] == [] and emu.submits_accepted == 0


def test_settings_and_environment_the_lower_wins_and_bad_values_are_clear(tmp_path, monkeypatch):
    from runcomfy.errors import ConfigError
    from runcomfy.spending import current_limits
    cfg = tmp_path / "cfg"
    assert current_limits(cfg).active is False                      # off by default
    save_limits(cfg, 10, 100)
    monkeypatch.setenv("RUNCOMFY_DAILY_LIMIT_USD", "4")
    monkeypatch.setenv("RUNCOMFY_MONTHLY_LIMIT_USD", "500")
    lim = current_limits(cfg)
    assert (lim.daily, lim.daily_source, lim.monthly, lim.monthly_source) == (4, "RUNCOMFY_DAILY_LIMIT_USD",
                                                                              100, "settings")
    monkeypatch.setenv("RUNCOMFY_DAILY_LIMIT_USD", "ten")
    with pytest.raises(ConfigError, match="RUNCOMFY_DAILY_LIMIT_USD must be an amount in USD"):
        current_limits(cfg)
    with pytest.raises(ConfigError, match="between 0"):
        save_limits(cfg, -1, None)
    save_limits(cfg, None, 0)
    assert not (cfg / "limits.json").exists()


def test_unknown_estimate_under_a_limit_is_refused_with_the_reason(tmp_path):
    cfg = tmp_path / "cfg"
    save_limits(cfg, None, 20)
    j = Journal(cfg / "journal.json", spend=Tag(cfg, "x/y", "", Estimate(None, "$0.02 per 'megapixel', which the "
                                                                            "inputs cannot measure")))
    with pytest.raises(SpendLimitError, match="monthly spending limit of \\$20.00 is on .*cannot be estimated.*"
                                              "megapixel"):
        j.claim("fp", "x/y")
    save_limits(cfg, None, None)
    assert j.claim("fp", "x/y").action == "submit"       # without a limit it runs (and is listed)


def test_a_reported_cost_replaces_the_estimate_and_running_jobs_go_on(per_second, tmp_path):
    """The emulator bills the duration sent; the estimate used the schema default. The reported
    cost counts from when it arrives; a lower limit set while a job runs does not cancel it."""
    from runcomfy.api import RunComfyClient
    from runcomfy.run import Runner
    from runcomfy.run.polling import PollPolicy
    emu, cfg = per_second
    client = RunComfyClient(TOKEN, emu.base_url)
    tag = Tag(cfg, MODEL, "Toy clip", Estimate(1.0, "$0.10/s x 10 s"))
    runner = Runner(client, journal=Journal(cfg / "journal.json", spend=tag), poll=PollPolicy(first=0.05, cap=0.1),
                    timeout=30)
    emu.hold_next_jobs(1)

    async def scenario():
        job = asyncio.ensure_future(runner.run_job(MODEL, {"prompt": "long", "duration": 3}))
        for _ in range(200):
            if emu.jobs:
                break
            await asyncio.sleep(0.02)
        assert report.totals(HistoryLog(cfg))["today"]["estimated_usd"] == pytest.approx(1.0)
        save_limits(cfg, 0.01, None)            # lowered below what runs: the job is not cancelled
        emu.release()
        return await job
    out = asyncio.run(scenario())
    assert out.cost == pytest.approx(0.3) and emu.count("cancel") == 0
    t = report.totals(HistoryLog(cfg))["today"]
    assert t["reported_usd"] == pytest.approx(0.3) and t["estimated_usd"] == 0
    with pytest.raises(SpendLimitError, match="\\$0.30 is spent"):
        Journal(cfg / "journal.json", spend=tag).claim("another", MODEL)


def test_check_and_reserve_is_one_step_across_processes(tmp_path):
    """Four processes reserving $1 each as fast as they can under a $10 limit: exactly ten pass.
    (Without the spend lock they read the same total and pass together.)"""
    cfg = tmp_path / "cfg"
    save_limits(cfg, 10, None)
    start = time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, __file__, str(ROOT), "reserve", str(cfg), "12", str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(cfg))
             for _ in range(4)]
    outs = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    assert sum(o["ok"] for o in outs) == 10 and sum(o["refused"] for o in outs) == 38
    t = report.totals(HistoryLog(cfg))["today"]
    assert t["estimated_usd"] == pytest.approx(10.0) and t["requests"] == 10
