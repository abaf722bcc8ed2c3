"""Opt-in: headless use is first-class. Scripts queue API-format workflows through ``/prompt``
with no browser open and, here, with the pack's web extension deleted from the install: the node
still runs, its result, its errors and the run's messages are in ``/history``, and ComfyUI's own
progress messages carry the status (the same money format as everywhere else).

Skipped unless ``COMFYUI_DIR`` names a ComfyUI checkout (see tests/comfyui_harness.py for
``COMFYUI_PYTHON`` and ``COMFYUI_FRONTEND_ROOT``).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
import uuid

import pytest

from comfyui_harness import NEEDS_COMFYUI, PACK_NAME, _copy_pack, running

NODE_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"
RUN_TIMEOUT = 90.0

pytestmark = NEEDS_COMFYUI


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    pytest.importorskip("requests")
    from PIL import Image
    from runcomfy.emulator import Emulator

    token = "rc-headless-" + secrets.token_hex(12)
    emu = Emulator(token=token, processing_time=1.5, workers=2).start()
    base = tmp_path_factory.mktemp("comfy_headless")
    (base / "custom_nodes").mkdir()
    pack = base / "custom_nodes" / PACK_NAME
    _copy_pack(pack)
    shutil.rmtree(pack / "web")     # no extension at all: nothing may depend on it
    with running(base, emu, token, ready_path="/object_info/" + NODE_CLASS, copy_pack=False) as c:
        for i, color in enumerate([(200, 60, 40), (40, 90, 210)], start=1):
            Image.new("RGB", (512, 640), color).save(base / "input" / f"headless_{i}.png")
        yield c


def _prompt(comfy, **node_inputs) -> dict:
    prompt = json.loads((comfy.pack_dir / "example_workflows" / "api" / "RunComfy Wan 2.6 - two pictures into one scene (image to image).json").read_text())
    loaders = sorted(k for k, v in prompt.items() if v["class_type"] == "LoadImage")
    for i, k in enumerate(loaders, start=1):
        prompt[k]["inputs"]["image"] = f"headless_{i}.png"
    ours = next(k for k, v in prompt.items() if v["class_type"] == NODE_CLASS)
    prompt[ours]["inputs"].update(seed=secrets.randbelow(2**31), **node_inputs)
    return prompt


def _ours(prompt: dict) -> str:
    return next(k for k, v in prompt.items() if v["class_type"] == NODE_CLASS)


def test_the_extension_is_really_absent(comfy):
    listed = comfy.get("/extensions").json()
    assert not any(PACK_NAME in url for url in listed), listed
    assert not (comfy.pack_dir / "web").exists()


def test_api_workflow_runs_without_browser_or_extension(comfy):
    prompt = _prompt(comfy)
    node_id = _ours(prompt)
    client_id = uuid.uuid4().hex
    ws = comfy.listen(client_id)        # what a script watching progress would see
    try:
        prompt_id = comfy.queue(prompt, client_id)
        entry = comfy.wait_done(prompt_id, RUN_TIMEOUT)
        time.sleep(0.3)
    finally:
        if ws:
            ws.close()
    status = entry["status"]
    assert status["status_str"] == "success", f"{json.dumps(status)[:2000]}\n{comfy.log_tail()}"
    kinds = [m[0] for m in status["messages"]]
    assert "execution_start" in kinds and "execution_success" in kinds
    outputs = entry["outputs"]
    save = next(k for k, v in prompt.items() if v["class_type"] == "SaveImage")
    assert outputs[save]["images"], outputs
    assert comfy.token not in json.dumps(entry)
    if ws is not None:
        texts = ws.texts_for(node_id)
        assert texts, "ComfyUI's progress text carries the node's status to scripts"
        assert any(re.search(r"request [0-9a-f]{32}", t) for t in texts), texts
        done = [t for t in texts if t.startswith("done")]
        assert done and "cost $0.03" in done[-1], texts
        assert not any("$0.0300" in t for t in texts), "money as everywhere else: $0.03, not $0.0300"


def test_api_workflow_error_is_in_history_with_the_servers_text(comfy):
    prompt = _prompt(comfy, resume_request_id="f" * 32)
    node_id = _ours(prompt)
    prompt_id = comfy.queue(prompt, uuid.uuid4().hex)
    entry = comfy.wait_done(prompt_id, RUN_TIMEOUT)
    status = entry["status"]
    assert status["status_str"] == "error", status
    errors = [m[1] for m in status["messages"] if m[0] == "execution_error"]
    assert len(errors) == 1, status["messages"]
    err = errors[0]
    assert err["node_type"] == NODE_CLASS and str(err["node_id"]) == node_id
    first_line = err["exception_message"].splitlines()[0]
    assert re.search(r"not found|expired", first_line, re.I), err["exception_message"]
    assert comfy.token not in json.dumps(entry)


def test_api_workflow_with_a_bad_input_is_refused_before_anything_is_sent(comfy):
    jobs_before = set(comfy.emu.jobs)
    prompt = _prompt(comfy, variations=99)
    r = comfy.post("/prompt", json={"prompt": prompt, "client_id": uuid.uuid4().hex})
    # ComfyUI validates the declared range itself: the script gets a 400 naming the input.
    assert r.status_code == 400, r.text[:500]
    assert "variations" in r.text
    assert set(comfy.emu.jobs) == jobs_before, "nothing was submitted"
