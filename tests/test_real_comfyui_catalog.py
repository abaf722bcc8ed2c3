"""Opt-in: the catalog in a real ComfyUI against the emulator (skipped unless COMFYUI_DIR is set).

A fresh start with a token and an empty cache fetches the emulator's sample catalog during
ComfyUI's start and shows its models as nodes; an image model from it runs
Load Image -> node -> Save Image; the Settings refresh adds a model the catalog gained
afterwards without a restart (/object_info lists it and a prompt runs it)::

    COMFYUI_DIR=/opt/comfy/c033/ComfyUI COMFYUI_PYTHON=/opt/comfy/c033/venv/bin/python \\
        .venv/bin/python -m pytest -q tests/test_real_comfyui_catalog.py
"""

from __future__ import annotations

import copy
import json
import secrets
import uuid

import pytest
from PIL import Image

from comfyui_harness import NEEDS_COMFYUI, running

EDIT_CLASS = "RunComfy_emulator_samples_image_edit_edit"
UPSCALE_CLASS = "RunComfy_emulator_samples_upscale"
WAN_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"
RUN_TIMEOUT = 90.0

pytestmark = NEEDS_COMFYUI


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from runcomfy.emulator import Emulator
    from runcomfy.emulator.catalog import sample_entries

    token = "rc-catalog-e2e-" + secrets.token_hex(12)
    emu = Emulator(token=token, processing_time=0.5, workers=2).start()
    emu.serve_catalog(sample_entries(), replace=False)
    base = tmp_path_factory.mktemp("comfy_catalog")       # empty: no catalog cache yet
    with running(base, emu, token, ready_path="/object_info/" + EDIT_CLASS) as c:
        yield c, emu


def test_fresh_start_shows_the_catalogs_nodes(setup):
    comfy, emu = setup
    info = comfy.get("/object_info").json()
    ours = {k for k in info if k.startswith("RunComfy_")}
    assert {EDIT_CLASS, UPSCALE_CLASS, WAN_CLASS, "RunComfy_emulator_samples_image_gen_text_to_image"} <= ours
    assert "RunComfy_emulator_samples_image_gen_needs_unknown_input" not in ours       # required unknown input
    assert not any("prompting_guide" in k or "portrait_pipeline" in k for k in ours)   # kinds that are not models
    assert info[EDIT_CLASS]["display_name"] == "Emulator sample: Image Edit"
    assert info[EDIT_CLASS]["category"].startswith("RunComfy/Image")
    assert "$0.04 / output" in info[EDIT_CLASS]["description"]
    log = comfy.log()
    assert "RunComfy: model catalog: 13 runnable models of 15 listed" in log and "Traceback" not in log
    assert [c for c in emu.calls if c.endpoint == "models" and c.auth_header_present]
    assert list((comfy.base / "runcomfy_config").glob("catalog-127.0.0.1-*.json"))


def _image_prompt(info: dict, node_class: str, image_name: str, prompt_text: str) -> dict:
    """LoadImage -> node -> SaveImage, the node's first IMAGE socket connected, every other
    required input at its default."""
    spec = info[node_class]["input"]
    inputs = {}
    image_socket = None
    for name, value in spec.get("required", {}).items():
        kind, opts = value[0], (value[1] if len(value) > 1 else {})
        if kind == "IMAGE":
            image_socket = image_socket or name
            continue
        if name == "prompt":
            inputs[name] = prompt_text
        elif isinstance(kind, list):
            inputs[name] = opts.get("default", kind[0])
        else:
            inputs[name] = opts.get("default", "")
    if image_socket is None:
        image_socket = next(n for n, v in spec.get("optional", {}).items() if v[0] == "IMAGE")
    inputs[image_socket] = ["1", 0]
    return {"1": {"class_type": "LoadImage", "inputs": {"image": image_name}},
            "2": {"class_type": node_class, "inputs": inputs},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "catalog_e2e"}}}


def _run(comfy, prompt: dict) -> dict:
    client_id = uuid.uuid4().hex
    pid = comfy.queue(prompt, client_id)
    entry = comfy.wait_done(pid, RUN_TIMEOUT)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[:3000] + comfy.log_tail()
    return entry


def test_an_image_model_from_the_catalog_runs_load_image_to_save_image(setup):
    comfy, emu = setup
    Image.new("RGB", (400, 300), (200, 80, 20)).save(comfy.base / "input" / "catalog_in.png")
    info = comfy.get("/object_info").json()
    before = emu.submits_accepted
    entry = _run(comfy, _image_prompt(info, EDIT_CLASS, "catalog_in.png", "make it blue"))
    images = entry["outputs"]["3"]["images"]
    assert images and (comfy.base / "output" / images[0]["filename"]).exists()
    assert emu.submits_accepted == before + 1
    [job] = [j for j in emu.jobs.values() if j.model_id == "emulator-samples/image-edit/edit"]
    assert job.payload["prompt"] == "make it blue"
    assert len(job.payload["image_uris"]) == 1 and job.payload["image_uris"][0].startswith("data:image/")


def test_settings_refresh_adds_a_new_model_without_restart(setup):
    comfy, emu = setup
    from runcomfy.emulator.catalog import sample_entries
    newcomer = copy.deepcopy(next(d for d in sample_entries() if d["model_id"] == "emulator-samples/upscale"))
    newcomer.update(model_id="emulator-samples/upscale/v2", display_name="Emulator sample: Upscale v2 (added later)")
    emu.serve_catalog([newcomer], replace=False)
    new_class = "RunComfy_emulator_samples_upscale_v2"
    assert new_class not in comfy.get("/object_info").json()
    refused = comfy.post("/runcomfy-model-api/catalog/refresh")                 # no X-RunComfy-Request header
    assert refused.status_code == 403
    r = comfy.post("/runcomfy-model-api/catalog/refresh", headers={"X-RunComfy-Request": "1"})
    body = r.json()
    assert r.status_code == 200 and body["ok"], body
    assert body["added"] == 1 and body["added_ids"] == ["emulator-samples/upscale/v2"]
    assert body["restart_required"] is False and body["nodes_added"] == [new_class]
    info = comfy.get("/object_info").json()
    assert info[new_class]["display_name"] == "Emulator sample: Upscale v2 (added later)"
    assert info[new_class]["python_module"] == info[WAN_CLASS]["python_module"]
    Image.new("RGB", (320, 320), (20, 80, 200)).save(comfy.base / "input" / "catalog_up.png")
    _run(comfy, _image_prompt(info, new_class, "catalog_up.png", "sharper"))
    assert any(j.model_id == "emulator-samples/upscale/v2" for j in emu.jobs.values())
