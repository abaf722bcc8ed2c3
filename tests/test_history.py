"""The request history behind the RunComfy tab (issue 20.1/2/3/6), over real sockets against the
emulator with per-second and per-output prices: a request made by another OS process is listed
here; newest first, filters, cursor paging; fetch-into-node and re-download send no submit
(counted by the emulator); cancel a queued request; an uncertain submit's one-time code; totals
with reported and estimated costs apart; exports in exactly the batch --report's fields; what is
kept (no prompt, no inline media, no token); which origin guard each route has."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import importlib
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runcomfy.api import RunComfyClient
from runcomfy.catalog.sync import sync
from runcomfy.estimate import Estimate
from runcomfy.journal import Journal
from runcomfy.run import Runner
from runcomfy.run.polling import PollPolicy
from runcomfy.spending import HistoryLog, Tag, node_tag
from runcomfy.spending import report
from tests import test_spend_limits as per_second_case

TOKEN = "history-token-SECRET-42"
PER_IMAGE = "acme/pic/per-image"
PER_SECOND = per_second_case.MODEL
ROOT = Path(__file__).resolve().parents[1]


def _per_image_entry() -> dict:
    return {"model_id": PER_IMAGE, "display_name": "Toy picture", "categories": ["text-to-image"], "kind": "model",
            "base_price_usd": 0.03, "price_unit": "image",
            "input_schema": {"type": "object", "required": ["prompt"], "properties": {
                "prompt": {"type": "string"},
                "num_images": {"type": "integer", "default": 2, "minimum": 1, "maximum": 4},
                "seed": {"type": "integer", "default": 0, "minimum": 0, "maximum": 2147483647}}}}


@pytest.fixture
def env(pack, start_emulator, isolated_env, monkeypatch):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.2, workers=4, outputs_per_job=2)
    emu.bill_per_second = True
    cfg = isolated_env / "config"
    emu.serve_catalog([_per_image_entry(), per_second_case._entry()], replace=False)
    assert sync(cfg, token=TOKEN, base_url=emu.base_url).ok
    h = importlib.import_module(pack.__name__ + ".nodes.history_api")
    out = isolated_env / "output"
    monkeypatch.setattr(h.comfy, "folder", lambda kind: out if kind == "output" else None)
    return emu, cfg, h, out


def _schema(cfg, model):
    from runcomfy.batch.cli import _schema
    return _schema(model, str(cfg), None)


def run_node_job(emu, cfg, model, values, node_id="7", **kw):
    """The node's job path: its journal with the spend tag model_node.run_node gives it."""
    journal = Journal(cfg / "journal.json", spend=node_tag(cfg, _schema(cfg, model), values, node_id=node_id))
    runner = Runner(RunComfyClient(TOKEN, emu.base_url), journal=journal, poll=PollPolicy(first=0.05, cap=0.1),
                    timeout=30)
    return asyncio.run(runner.run_job(model, values, **kw))


def test_a_request_made_by_another_process_is_listed_here(env):
    emu, cfg, h, _ = env
    proc = subprocess.run([sys.executable, per_second_case.__file__, str(ROOT), emu.base_url, TOKEN, str(cfg), "1",
                           "other"], capture_output=True, text=True, timeout=120,
                          env={**per_second_case._env(cfg)})
    rid = json.loads(proc.stdout.strip().splitlines()[-1])["results"][0]["request_id"]
    status, body = h.listing({})
    assert status == 200 and body["ok"] and body["next"] is None
    [it] = body["items"]
    assert it["request_id"] == rid and it["model_id"] == PER_SECOND and it["display_name"] == "Toy clip"
    assert it["state"] == "succeeded" and it["node_id"] == "other-0" and it["source"] == "node"
    assert it["cost"] == {"usd": pytest.approx(1.0), "kind": "reported", "reported": pytest.approx(1.0),
                          "estimate": pytest.approx(1.0), "basis": "reported by RunComfy"}
    assert it["urls"] and set(it["actions"]) == {"fetch_into_node", "redownload"}


def test_fetch_into_node_and_redownload_send_no_submit(env):
    emu, cfg, h, out = env
    first = run_node_job(emu, cfg, PER_IMAGE, {"prompt": "a red kite", "seed": 1})
    assert emu.submits_accepted == 1
    [it] = h.listing({})[1]["items"]
    status, body = h.action({"action": "fetch_into_node", "id": it["id"]},
                            {"RunComfy_acme_pic": type("C", (), {"MODEL_ID": PER_IMAGE}), "Other": object})
    assert status == 200 and body == {"ok": True, "request_id": first.request_id, "model_id": PER_IMAGE,
                                      "class_name": "RunComfy_acme_pic", "input": "resume_request_id",
                                      "node_id": "7", "note": None}
    # What the node then does with resume_request_id: fetch, no new submit.
    again = run_node_job(emu, cfg, PER_IMAGE, {"prompt": "a red kite", "seed": 1},
                         resume_request_id=body["request_id"])
    assert again.request_id == first.request_id and again.resumed
    status, body = h.action({"action": "redownload", "id": first.request_id}, {})
    assert status == 200 and body["ok"] and body["downloaded"] == 2
    paths = [Path(f["path"]) for f in body["files"]]
    assert all(p.is_file() and p.stat().st_size > 0 and out in p.parents for p in paths)
    assert body["files"][0]["view"] == {"filename": paths[0].name, "subfolder": f"runcomfy/history/{first.request_id}",
                                        "type": "output"}
    [it] = h.listing({})[1]["items"]
    assert [f["exists"] for f in it["files"]] == [True, True] and "redownload" not in it["actions"]
    paths[1].unlink()                       # a file deleted locally: offered again, and only it is fetched
    [it] = h.listing({})[1]["items"]
    assert "redownload" in it["actions"]
    assert h.action({"action": "redownload", "id": it["id"]}, {})[1]["downloaded"] == 1
    assert emu.submits_accepted == 1 and emu.count("submit") == 1


def test_cancel_a_queued_request_counts_nothing(env):
    emu, cfg, h, _ = env
    emu.stick_next_jobs(1)               # stays in the queue until cancelled
    client = RunComfyClient(TOKEN, emu.base_url)
    tag = Tag(cfg, PER_IMAGE, "Toy picture", Estimate(0.06, "$0.03/image x num_images=2"))

    async def queued_then_cancelled():
        runner = Runner(client, journal=Journal(cfg / "journal.json", spend=tag), poll=PollPolicy(first=0.05, cap=0.1),
                        timeout=20)
        job = asyncio.ensure_future(runner.run_job(PER_IMAGE, {"prompt": "p"}))
        items = []
        for _ in range(300):
            items = await asyncio.to_thread(lambda: h.listing({"state": "submitted"})[1]["items"])
            if items:
                break
            await asyncio.sleep(0.02)
        [it] = items
        assert it["actions"] == ["fetch_into_node", "cancel"] and it["cost"]["usd"] == pytest.approx(0.06)
        answer = await asyncio.to_thread(h.action, {"action": "cancel", "id": it["id"]}, {})
        return it["request_id"], answer, (await asyncio.gather(job, return_exceptions=True))[0]
    rid, (status, body), outcome = asyncio.run(queued_then_cancelled())
    assert status == 200 and body["ok"] and body["outcome"] == "cancelled" and "not billed" in body["text"]
    assert type(outcome).__name__ == "JobCancelledError"
    [it] = h.listing({"state": "cancelled"})[1]["items"]
    assert it["request_id"] == rid and it["cost"]["usd"] == 0 and it["actions"] == []
    assert h.totals()[1]["today"]["estimated_usd"] == 0
    assert emu.submits_accepted == 1 and emu.count("cancel") == 1


def test_an_uncertain_submit_shows_its_one_time_code(env):
    emu, cfg, h, _ = env
    j = Journal(cfg / "journal.json", spend=Tag(cfg, PER_IMAGE, "Toy picture", Estimate(0.06, "est")))
    c = j.claim("fp-lost", PER_IMAGE)
    j.record_submit_failed(c, True, "the connection dropped after the body was sent")
    [it] = h.listing({"state": "uncertain"})[1]["items"]
    assert it["actions"] == ["uncertain"] and it["cost"]["usd"] == 0.06 and it["cost"]["kind"] == "estimated"
    status, body = h.action({"action": "uncertain", "id": it["id"]}, {})
    assert status == 200 and body["code"] == c.entry["resubmit_code"] and body["input"] == "submit_anyway"
    assert "may have been accepted and billed" in body["meaning"] and "resume_request_id" in body["meaning"]
    assert h.action({"action": "fetch_into_node", "id": it["id"]}, {})[0] == 409
    assert h.action({"action": "nope", "id": it["id"]}, {})[0] == 400
    assert h.action({"action": "cancel", "id": "../../etc"}, {})[0] == 400


def test_newest_first_filters_and_cursor_paging_over_many_entries(tmp_path):
    log = HistoryLog(tmp_path)
    now = time.time()
    clock = iter(now - 3600 * 30 + i * 60 for i in range(10_000))
    log.clock = lambda: next(clock)
    for i in range(450):
        model = "m/a" if i % 3 else "m/b"
        log.append("reserve", charge=f"c{i:04d}", model_id=model, name=model.upper(), est=0.01, basis="b")
        log.append("sent", charge=f"c{i:04d}", request_id=f"r{i:04d}")
        log.append("state", request_id=f"r{i:04d}", state="failed" if i % 10 == 0 else "succeeded", cost=0.01)
    seen, cursor, pages = [], None, 0
    while True:
        body = report.page(log, cursor=cursor, limit=100)
        seen += [it["id"] for it in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
        assert pages < 10
    assert pages == 5 and seen == [f"c{i:04d}" for i in reversed(range(450))]
    failed_b = report.page(log, states=["failed"], model="m/b", limit=200)["items"]
    assert [it["id"] for it in failed_b] == [f"c{i:04d}" for i in reversed(range(450)) if i % 10 == 0 and i % 3 == 0]
    day = failed_b[0]["day"]
    assert all(it["day"] == day for it in report.page(log, day=day, limit=200)["items"])
    with pytest.raises(ValueError):
        report.page(log, cursor="not-a-cursor")


def test_totals_keep_reported_and_estimated_apart_by_model(env):
    emu, cfg, h, _ = env
    run_node_job(emu, cfg, PER_IMAGE, {"prompt": "reported", "seed": 1})
    emu.cost_as = "null"             # /result states no cost: counted at the estimate (2 x $0.03)
    run_node_job(emu, cfg, PER_IMAGE, {"prompt": "not reported", "seed": 2})
    emu.cost_as = "number"
    run_node_job(emu, cfg, PER_SECOND, {"prompt": "clip", "duration": 4})
    status, body = h.totals()
    today = body["today"]
    assert today["requests"] == 3 and today["unknown"] == 0
    assert today["reported_usd"] == pytest.approx(0.03 + 0.4) and today["estimated_usd"] == pytest.approx(0.06)
    assert today["by_model"][PER_IMAGE] == {"display_name": "Toy picture", "reported_usd": pytest.approx(0.03),
                                            "estimated_usd": pytest.approx(0.06), "unknown": 0, "requests": 2}
    assert body["month"]["requests"] >= 3 and body["limits"]["daily_usd"] is None


def test_export_has_exactly_the_batch_report_fields(env, tmp_path):
    from runcomfy.batch.cli import main as batch_main
    from runcomfy.batch.runner import JobReport
    emu, cfg, h, _ = env
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"key": "one", "prompt": "batch"}) + "\n")
    rep = tmp_path / "report.jsonl"
    assert batch_main([PER_IMAGE, str(jobs), "--out", str(tmp_path / "out"), "--config-dir", str(cfg),
                       "--report", str(rep)]) == 0
    run_node_job(emu, cfg, PER_IMAGE, {"prompt": "node"})
    batch_line = json.loads(rep.read_text().splitlines()[0])
    status, ctype, text = h.export({"format": "jsonl"})
    rows = [json.loads(line) for line in text.splitlines()]
    assert status == 200 and ctype == "application/x-ndjson" and len(rows) == 2
    fields = [f.name for f in dataclasses.fields(JobReport)]
    assert list(report.REPORT_FIELDS) == fields
    assert all(set(r) == set(batch_line) == set(fields) for r in rows)
    from_batch = next(r for r in rows if r["key"] == "one")
    for k in ("key", "state", "request_id", "cost", "estimate", "counted", "model_id"):
        assert from_batch[k] == pytest.approx(batch_line[k]) if isinstance(batch_line[k], float) else \
            from_batch[k] == batch_line[k], k
    status, ctype, text = h.export({"format": "csv"})
    table = list(csv.DictReader(io.StringIO(text)))
    assert ctype == "text/csv" and list(table[0]) == fields and len(table) == 2
    assert h.export({"format": "xml"})[0] == 400


def test_nothing_kept_or_shown_beyond_ids_states_costs_and_results(env):
    emu, cfg, h, _ = env
    prompt = "a very private prompt 0x5EC2E7"
    run_node_job(emu, cfg, PER_IMAGE, {"prompt": prompt, "seed": 3})
    kept = "".join(p.read_text() for p in (cfg / "history").glob("*.jsonl"))
    assert prompt not in kept and "data:" not in kept and TOKEN not in kept
    answers = json.dumps([h.listing({}), h.totals(), h.limits_status(), h.export({"format": "jsonl"})])
    assert TOKEN not in answers and prompt not in answers
    # Clearing: older months go, this month stays unless "all" (the limits count it).
    old = cfg / "history" / "2020-01.jsonl"
    old.write_text('{"ev":"reserve","t":1,"charge":"x"}\n')
    assert h.clear({})[1]["removed"] == ["2020-01.jsonl"] and h.listing({})[1]["items"]
    assert h.clear({"all": True})[1]["ok"] and h.listing({})[1]["items"] == []


def test_limits_routes_save_and_report(env, monkeypatch):
    emu, cfg, h, _ = env
    assert h.save_limits_from({"daily_usd": "abc"})[0] == 400
    assert h.save_limits_from([1])[0] == 400
    status, body = h.save_limits_from({"daily_usd": 2.5})
    assert status == 200 and body["daily_usd"] == 2.5 and body["daily_source"] == "settings"
    assert body["monthly_usd"] is None and body["spent"]["today"]["usd"] == 0
    monkeypatch.setenv("RUNCOMFY_MONTHLY_LIMIT_USD", "40")
    body = h.limits_status()[1]
    assert body["monthly_usd"] == 40 and body["monthly_source"] == "RUNCOMFY_MONTHLY_LIMIT_USD"
    assert json.loads((cfg / "limits.json").read_text()) == {"daily_usd": 2.5, "monthly_usd": None}


def test_every_route_is_guarded_reads_like_the_network_settings(pack, monkeypatch):
    h = importlib.import_module(pack.__name__ + ".nodes.history_api")
    og = importlib.import_module(pack.__name__ + ".nodes.origin_guard")
    marks = {}

    def mark(kind):
        def deco(fn):
            marks[fn.__name__] = kind
            return fn
        return deco
    monkeypatch.setattr(og, "same_origin_read", mark("read"))
    monkeypatch.setattr(og, "same_origin_write", mark("write"))
    monkeypatch.setattr(og, "public_read", mark("public"))
    table = []

    class Routes:
        def get(self, path):
            return lambda fn: table.append(("GET", path, fn.__name__)) or fn

        def post(self, path):
            return lambda fn: table.append(("POST", path, fn.__name__)) or fn
    h.add_routes(Routes(), lambda x: x, lambda fn: fn, {})
    assert {(m, p) for m, p, _ in table} == {
        ("GET", "/runcomfy-model-api/history"), ("GET", "/runcomfy-model-api/history/totals"), ("GET", "/runcomfy-model-api/history/export"),
        ("POST", "/runcomfy-model-api/history/action"), ("POST", "/runcomfy-model-api/history/clear"), ("GET", "/runcomfy-model-api/limits"),
        ("POST", "/runcomfy-model-api/limits"), ("POST", "/runcomfy-model-api/prompt/preview")}
    for method, path, name in table:
        assert marks[name] == ("read" if method == "GET" else "write"), path


def test_the_history_stays_bounded_and_survives_a_torn_line(tmp_path, monkeypatch):
    from runcomfy.errors import JournalError
    from runcomfy.spending import gate, history
    log = HistoryLog(tmp_path)
    t = [time.mktime((2025, 1, 15, 12, 0, 0, 0, 0, -1))]
    log.clock = lambda: t[0]
    for month in range(15):                    # fifteen months of requests
        t[0] = time.mktime((2025, 1 + month, 15, 12, 0, 0, 0, 0, -1))
        log.append("reserve", charge=f"c{month}", model_id="m", est=1.0, basis="b")
    names = [p.name for p in log.months()]
    assert len(names) == history.KEEP_MONTHS and names[0] == "2025-03.jsonl" and names[-1] == "2026-03.jsonl"
    # A line cut by a kill mid-write is skipped until it is complete; nothing else is lost.
    current = log.months()[-1]
    with open(current, "ab") as fh:
        fh.write(b'{"ev":"reserve","t":%r,"charge":"torn"' % t[0])
    assert "torn" not in log.charges() and "c14" in log.charges()
    with open(current, "ab") as fh:
        fh.write(b',"model_id":"m","est":2.0}\n')
    assert log.charges()["torn"].estimate == 2.0
    # A month file past its cap refuses new reservations, before anything is sent.
    monkeypatch.setattr(gate, "MAX_MONTH_BYTES", 10)
    j = Journal(tmp_path / "journal.json", spend=Tag(tmp_path, "m", "", Estimate(0.1, "b")))
    monkeypatch.setattr(gate.HistoryLog, "path_for", lambda self, when: current)
    with pytest.raises(JournalError, match="byte limit for one month; nothing was sent"):
        j.claim("fp", "m")
    assert j.entries() == []
