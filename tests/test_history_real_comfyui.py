"""Opt-in (COMFYUI_DIR): the history routes inside two real ComfyUI processes sharing one config
folder: a request run in the first is listed by the second; the reads refuse a foreign origin; a
limit saved through one ComfyUI's route refuses the other's next submit before anything is sent;
fetch-into-node names the node class; the export downloads with the batch --report's header.

    COMFYUI_DIR=/work/comfy/c033/ComfyUI COMFYUI_PYTHON=/work/comfy/c033/venv/bin/python \\
        .venv/bin/python -m pytest -q tests/test_history_real_comfyui.py
"""

from __future__ import annotations

import secrets
import uuid

from comfyui_harness import NEEDS_COMFYUI, launch
from test_real_comfyui_money import NODE_CLASS, RUN_TIMEOUT, _error_text, _prompt

pytestmark = NEEDS_COMFYUI

WRITE = {"X-RunComfy-Request": "1", "Content-Type": "application/json"}


def test_two_comfyuis_share_history_and_limits(tmp_path):
    from PIL import Image

    from runcomfy.emulator import Emulator
    from runcomfy.spending.report import REPORT_FIELDS

    token = "rc-history-" + secrets.token_hex(12)
    emu = Emulator(token=token, processing_time=0.3, workers=2).start()
    shared = tmp_path / "shared_config"
    shared.mkdir()
    comfys = []
    try:
        for name in ("a", "b"):
            base = tmp_path / name
            base.mkdir()
            (base / "input").mkdir()
            Image.new("RGB", (640, 512), (30, 90, 180)).save(base / "input" / "money_input.png")
            comfys.append(launch(base, emu, token, ready_path="/object_info/" + NODE_CLASS,
                                 env_extra={"RUNCOMFY_CONFIG_DIR": str(shared)}))
        a, b = comfys
        pid = a.queue(_prompt(a), str(uuid.uuid4()))
        entry = a.wait_done(pid, RUN_TIMEOUT)
        assert entry["status"]["status_str"] == "success", _error_text(entry)
        [rid] = list(emu.jobs)

        listed = b.get("/runcomfy-model-api/history").json()
        assert listed["ok"] and [it["request_id"] for it in listed["items"]] == [rid]
        it = listed["items"][0]
        assert it["state"] == "succeeded" and it["node_id"] == "2" and "fetch_into_node" in it["actions"]
        assert token not in b.get("/runcomfy-model-api/history").text
        foreign = b.get("/runcomfy-model-api/history", headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
        assert foreign.status_code == 403 and rid not in foreign.text

        fetch = b.post("/runcomfy-model-api/history/action", json={"action": "fetch_into_node", "id": it["id"]}, headers=WRITE)
        assert fetch.json()["class_name"] == NODE_CLASS and fetch.json()["request_id"] == rid
        assert b.post("/runcomfy-model-api/limits", json={"daily_usd": 0.05}).status_code == 403     # no write header
        saved = b.post("/runcomfy-model-api/limits", json={"daily_usd": 0.05}, headers=WRITE).json()
        assert saved["daily_usd"] == 0.05 and saved["daily_source"] == "settings"
        assert saved["spent"]["today"]["reported_usd"] == 0.03

        p = _prompt(a)
        p["2"]["inputs"]["seed"] = 777
        entry = a.wait_done(a.queue(p, str(uuid.uuid4())), RUN_TIMEOUT)
        text = _error_text(entry)
        assert entry["status"]["status_str"] == "error"
        assert "the daily spending limit is $0.05 (Settings › RunComfy Model API); $0.03 is spent or committed today" in text
        assert "this request's estimate is $0.03 ($0.03/image" in text and "Nothing was sent or charged" in text
        assert emu.submits_accepted == 1

        csv_answer = a.get("/runcomfy-model-api/history/export?format=csv")
        assert csv_answer.status_code == 200 and "attachment" in csv_answer.headers["Content-Disposition"]
        assert csv_answer.text.splitlines()[0].split(",") == list(REPORT_FIELDS)
    finally:
        for c in comfys:
            c.stop()
        emu.stop()
