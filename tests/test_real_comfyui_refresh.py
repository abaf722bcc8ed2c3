"""Opt-in: a node on the canvas across Settings › Refresh model catalog, and two model ids that make
the same class name, in a real ComfyUI against the emulator (skipped unless COMFYUI_DIR is set).

ComfyUI keeps the node instance it made for a node id and runs it again after the refresh
replaced its class (issue 16.5): the run must send the input the refresh added. A workflow whose
node records another model id than its class runs (16.1) is refused before any submit::

    COMFYUI_DIR=/work/comfy/c064/ComfyUI COMFYUI_PYTHON=/work/comfy/c064/venv/bin/python \\
        .venv/bin/python -m pytest -q tests/test_real_comfyui_refresh.py
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid

import pytest

from comfyui_harness import NEEDS_COMFYUI, running

pytestmark = NEEDS_COMFYUI

MODEL = "acme/flux-lite/text-to-image"
TWIN = "acme/flux_lite/text-to-image"
CLASS = "RunComfy_acme_flux_lite_text_to_image"
TWIN_CLASS = CLASS + "_" + hashlib.sha256(TWIN.encode()).hexdigest()[:8]
RUN_TIMEOUT = 90.0
PROPS = {"prompt": {"type": "string"}, "seed": {"type": "integer", "minimum": 0, "maximum": 999}}


def doc(model_id: str, props: dict) -> dict:
    return {"model_id": model_id, "kind": "model", "display_name": "Flux Lite", "categories": ["text-to-image"],
            "base_price_usd": 0.02, "price_unit": "per image",
            "input_schema": {"type": "object", "required": ["prompt"], "properties": props}}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from runcomfy.emulator import Emulator

    token = "rc-refresh-e2e-" + secrets.token_hex(12)
    emu = Emulator(token=token, processing_time=0.3, workers=2).start()
    emu.serve_catalog([doc(MODEL, PROPS)], replace=False)
    base = tmp_path_factory.mktemp("comfy_refresh")
    with running(base, emu, token, ready_path="/object_info/" + CLASS) as c:
        yield c, emu


def prompt(node_class: str, **inputs) -> dict:
    return {"2": {"class_type": node_class, "inputs": inputs},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "refresh_e2e"}}}


def run(comfy, p: dict, workflow: dict | None = None) -> dict:
    pid = comfy.queue(p, uuid.uuid4().hex, workflow=workflow)
    return comfy.wait_done(pid, RUN_TIMEOUT)


def refresh(comfy) -> dict:
    r = comfy.post("/runcomfy-model-api/catalog/refresh", headers={"X-RunComfy-Request": "1"})
    body = r.json()
    assert r.status_code == 200 and body["ok"] and body["restart_required"] is False, body
    return body


def jobs_of(emu, model_id):
    return [j for j in emu.jobs.values() if j.model_id == model_id]


def test_the_node_on_the_canvas_sends_the_input_a_refresh_added(setup):
    comfy, emu = setup
    entry = run(comfy, prompt(CLASS, prompt="a fox", seed=1))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
    emu.serve_catalog([doc(MODEL, {**PROPS, "guidance": {"type": "number", "minimum": 0, "maximum": 20,
                                                          "default": 3.5}})], replace=False)
    body = refresh(comfy)
    assert body["changed_ids"] == [MODEL]
    assert "guidance" in comfy.get("/object_info/" + CLASS).json()[CLASS]["input"]["required"]
    # The same node id: ComfyUI runs the instance it made before the refresh.
    entry = run(comfy, prompt(CLASS, prompt="a fox", seed=2, guidance=7.0))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000] + comfy.log_tail()
    [job] = [j for j in jobs_of(emu, MODEL) if j.payload.get("seed") == 2]
    assert job.payload == {"prompt": "a fox", "seed": 2, "guidance": 7.0}


def test_a_workflow_recorded_for_the_other_model_is_refused_before_any_submit(setup):
    comfy, emu = setup
    emu.serve_catalog([doc(TWIN, PROPS)], replace=False)
    body = refresh(comfy)
    assert TWIN_CLASS in body["nodes_added"]
    info = comfy.get("/object_info").json()
    assert info[TWIN_CLASS]["display_name"] == f"Flux Lite [{TWIN}]" and info[CLASS]["input"]["hidden"][
        "runcomfy_model_id"] == MODEL
    before = emu.submits_accepted
    workflow = {"nodes": [{"id": 2, "type": CLASS, "properties": {"runcomfy_model_id": TWIN}},
                          {"id": 3, "type": "SaveImage", "properties": {}}]}
    entry = run(comfy, prompt(CLASS, prompt="a cat", seed=3, guidance=5.0), workflow)
    assert entry["status"]["status_str"] == "error"
    text = json.dumps(entry["status"]["messages"])
    assert f"made for model '{TWIN}'" in text and TWIN_CLASS in text and "Nothing was sent" in text
    assert emu.submits_accepted == before
    # The twin's own node runs the twin.
    workflow["nodes"][0]["type"] = TWIN_CLASS
    entry = run(comfy, prompt(TWIN_CLASS, prompt="a cat", seed=4), workflow)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:2000]
    assert [j.payload["seed"] for j in jobs_of(emu, TWIN)] == [4]
