"""Opt-in (issue 19.1, headless and route): a real ComfyUI that never synced the catalog (start-up
refresh off, empty cache: only the model shipped in the pack has a node) gets workflows naming
RunComfy models it has no node for, the emulator standing in for RunComfy's catalog:

- ``/prompt`` with the UI workflow (its nodes carry ``runcomfy_model_id``) resolves the model
  before ComfyUI validates the prompt, and the prompt runs to a saved file;
- ``/prompt`` with an API prompt only (no ids) resolves by class name and runs;
- a model RunComfy does not list is refused at ``/prompt`` naming the model and the fix;
- ``POST /runcomfy-model-api/resolve`` registers a model's class so ``/object_info/<class>`` has it.

    COMFYUI_DIR=/work/comfy/c033/ComfyUI COMFYUI_PYTHON=/work/comfy/c033/venv/bin/python \\
        .venv/bin/python -m pytest -q tests/test_real_comfyui_resolve.py
"""

from __future__ import annotations

import json
import secrets
import uuid

import pytest

from comfyui_harness import NEEDS_COMFYUI, running
from conftest import ROOT

EXAMPLES = ROOT / "example_workflows"
QWEN = "RunComfy Qwen Image 3.0 Edit - change a picture with words (image edit)"
ACE = "RunComfy ACE-Step - music from style tags (text to audio)"
WAN_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"
HEADERS = {"X-RunComfy-Request": "1", "Content-Type": "application/json"}
RUN_TIMEOUT = 120.0

pytestmark = NEEDS_COMFYUI


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    pytest.importorskip("requests")
    from PIL import Image
    from runcomfy.emulator import Emulator
    from runcomfy.emulator.catalog import sample_entries

    token = "rc-resolve-" + secrets.token_hex(12)
    emu = Emulator(token=token, processing_time=0.3, workers=2).start()
    emu.serve_catalog(sample_entries(), replace=False)
    base = tmp_path_factory.mktemp("comfy_resolve")
    (base / "input").mkdir()
    Image.new("RGB", (768, 768), (90, 150, 220)).save(base / "input" / "example.png")
    with running(base, emu, token, ready_path="/object_info/" + WAN_CLASS,
                 env_extra={"RUNCOMFY_CATALOG_REFRESH": "0"}) as c:
        yield c


def load(stem):
    ui = json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8"))
    api = json.loads((EXAMPLES / "api" / f"{stem}.json").read_text(encoding="utf-8"))
    [node] = [n for n in ui["nodes"] if n["type"].startswith("RunComfy_")]
    return ui, api, node


def test_this_comfyui_starts_without_the_templates_models(comfy):
    for stem in (QWEN, ACE):
        _, _, node = load(stem)
        assert comfy.get("/object_info/" + node["type"]).json() == {}, stem


def test_a_headless_prompt_with_its_workflow_resolves_the_model_and_runs(comfy):
    ui, api, node = load(QWEN)
    before = set(comfy.emu.jobs)
    prompt_id = comfy.queue(api, uuid.uuid4().hex, ui)
    entry = comfy.wait_done(prompt_id, RUN_TIMEOUT)
    assert entry["status"]["status_str"] == "success", f"{entry['status']}\n{comfy.log_tail()}"
    assert [comfy.emu.jobs[r].model_id for r in set(comfy.emu.jobs) - before] == \
        [node["properties"]["runcomfy_model_id"]]
    info = comfy.get("/object_info/" + node["type"]).json()
    assert info[node["type"]]["input"]["hidden"]["runcomfy_model_id"] == node["properties"]["runcomfy_model_id"]


def test_an_api_prompt_alone_is_resolved_by_class_name_and_runs(comfy):
    _, api, node = load(ACE)
    prompt_id = comfy.queue(api, uuid.uuid4().hex)          # no extra_pnginfo: no model id anywhere
    entry = comfy.wait_done(prompt_id, RUN_TIMEOUT)
    assert entry["status"]["status_str"] == "success", f"{entry['status']}\n{comfy.log_tail()}"
    assert node["type"] in comfy.get("/object_info/" + node["type"]).json()


def test_a_model_runcomfy_does_not_list_is_refused_naming_it(comfy):
    prompt = {"1": {"class_type": "RunComfy_acme_gone_text_to_image", "inputs": {"prompt": "x"}}}
    workflow = {"nodes": [{"id": 1, "type": "RunComfy_acme_gone_text_to_image",
                           "properties": {"runcomfy_model_id": "acme/gone/text-to-image"}}], "links": []}
    r = comfy.post("/prompt", json={"prompt": prompt, "client_id": "x",
                                    "extra_data": {"extra_pnginfo": {"workflow": workflow}}})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_prompt"
    assert "RunComfy model 'acme/gone/text-to-image' is not on this ComfyUI" in err["message"]
    assert "RunComfy does not list it" in err["message"] and "node library" in err["message"]


def test_the_resolve_route_registers_a_class_for_object_info(comfy):
    model_id = "emulator-samples/image-gen/text-to-image"
    assert comfy.get("/object_info/RunComfy_emulator_samples_image_gen_text_to_image").json() == {}
    r = comfy.post("/runcomfy-model-api/resolve", headers=HEADERS, data=json.dumps({"model_ids": [model_id]}))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] and list(body["nodes"]) == [model_id], body
    cls = body["nodes"][model_id]
    info = comfy.get("/object_info/" + cls).json()
    assert info[cls]["input"]["hidden"]["runcomfy_model_id"] == model_id
    # a write: refused without the pack's header, like every other write route
    assert comfy.post("/runcomfy-model-api/resolve", json={"model_ids": [model_id]}).status_code == 403
