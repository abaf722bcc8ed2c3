"""Opt-in: every shipped template in a real ComfyUI against the emulator (skipped unless COMFYUI_DIR
is set). ComfyUI starts with an empty catalog cache, so the nodes of the real models the templates
use (Qwen Image 3.0 Edit, Kling 3.0 Pro, ACE-Step) come from the emulator standing in for RunComfy's
catalog, as on a machine that never synced them. Each template is listed by ``/workflow_templates``
under its title, its JSON and thumbnail are served where the frontends fetch them, and its API
graph runs through ``/prompt`` (with its UI workflow as the run's extra_pnginfo, as the browser
sends it) to a saved file::

    COMFYUI_DIR=/work/comfy/c033/ComfyUI COMFYUI_PYTHON=/work/comfy/c033/venv/bin/python \\
        .venv/bin/python -m pytest -q tests/test_real_comfyui_templates.py
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
import uuid

import pytest

from comfyui_harness import NEEDS_COMFYUI, PACK_NAME, running
from conftest import ROOT

EXAMPLES = ROOT / "example_workflows"
TEMPLATES = sorted(p.stem for p in EXAMPLES.glob("*.json"))
SAVE_NODES = ("SaveImage", "SaveVideo", "SaveAudio")
RUN_TIMEOUT = 120.0

pytestmark = NEEDS_COMFYUI


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    pytest.importorskip("requests")
    from PIL import Image
    from runcomfy.emulator import Emulator
    from runcomfy.emulator.catalog import sample_entries

    token = "rc-templates-" + secrets.token_hex(12)
    emu = Emulator(token=token, processing_time=0.3, workers=2).start()
    emu.serve_catalog(sample_entries(), replace=False)
    base = tmp_path_factory.mktemp("comfy_templates")      # empty: no catalog cache yet
    (base / "input").mkdir()
    # The templates load ComfyUI's bundled input/example.png; this base directory has its own input/.
    Image.new("RGB", (768, 768), (90, 150, 220)).save(base / "input" / "example.png")
    with running(base, emu, token, ready_path="/object_info/RunComfy_qwen_qwen_image_3_0_edit") as c:
        yield c


def _url(stem: str, ext: str) -> str:
    return f"/api/workflow_templates/{PACK_NAME}/{urllib.parse.quote(stem)}.{ext}"


def test_every_template_is_listed_and_served_with_its_thumbnail(comfy):
    listed = comfy.get("/workflow_templates").json()
    assert sorted(listed.get(PACK_NAME, [])) == TEMPLATES, listed
    for stem in TEMPLATES:
        r = comfy.get(_url(stem, "json"))
        assert r.status_code == 200, stem
        assert r.json() == json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8"))
        r = comfy.get(_url(stem, "jpg"))
        assert r.status_code == 200 and r.content == (EXAMPLES / f"{stem}.jpg").read_bytes(), stem


def test_every_node_of_the_templates_exists_after_the_catalog_start(comfy):
    info = comfy.get("/object_info").json()
    for stem in TEMPLATES:
        ui = json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8"))
        for node in ui["nodes"]:
            if node["type"].startswith("RunComfy_"):
                assert node["type"] in info, f"{stem}: no node {node['type']}"
                hidden = info[node["type"]]["input"].get("hidden", {})
                assert hidden.get("runcomfy_model_id") == node["properties"]["runcomfy_model_id"], stem


@pytest.mark.parametrize("stem", TEMPLATES)
def test_template_runs_to_a_saved_file(comfy, stem):
    prompt = json.loads((EXAMPLES / "api" / f"{stem}.json").read_text(encoding="utf-8"))
    ui = json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8"))
    [ours] = [n for n in ui["nodes"] if n["type"].startswith("RunComfy_")]
    save_id = next(k for k, v in prompt.items() if v["class_type"] in SAVE_NODES)
    jobs_before = set(comfy.emu.jobs)
    prompt_id = comfy.queue(prompt, uuid.uuid4().hex, ui)
    entry = comfy.wait_done(prompt_id, RUN_TIMEOUT)
    assert entry["status"]["status_str"] == "success", \
        f"{json.dumps(entry['status'])[:3000]}\n--- ComfyUI log tail ---\n{comfy.log_tail()}"
    new = [comfy.emu.jobs[r] for r in set(comfy.emu.jobs) - jobs_before]
    assert [j.model_id for j in new] == [ours["properties"]["runcomfy_model_id"]]
    out = entry["outputs"][save_id]
    files = [f for key in ("images", "audio", "video", "videos") for f in out.get(key, [])]
    assert files, out
    for f in files:
        path = comfy.base / "output" / f.get("subfolder", "") / f["filename"]
        assert path.is_file() and path.stat().st_size > 0, path
