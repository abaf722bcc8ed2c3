"""Opt-in end-to-end check of the pack inside a real ComfyUI, against the local emulator.

Skipped unless ``COMFYUI_DIR`` names a ComfyUI checkout (a directory with ``main.py``).
ComfyUI runs with ``COMFYUI_PYTHON`` (default: ``<COMFYUI_DIR>/../comfyui-venv/bin/python`` if
it exists, else this interpreter), on the CPU, on a free loopback port, with a temporary base
directory whose ``custom_nodes`` holds only a copy of this pack::

    COMFYUI_DIR=/path/to/ComfyUI COMFYUI_PYTHON=/path/to/venv/bin/python \\
        python -m pytest -q tests/test_real_comfyui.py

Nothing is written into the ComfyUI checkout: inputs, outputs, the user directory and the
pack's token/journal directory live in the temp dir, and ComfyUI's database is in memory.
Every wait is bounded. No third-party websocket package is needed: a tiny stdlib client
listens to ``/ws`` for the progress-text frames, and completion is read from ``/history``.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from pathlib import Path

import pytest

from comfyui_harness import NEEDS_COMFYUI, PACK_NAME, Comfy, WSListener, _parse_size, _wait_until, running  # noqa: F401

NODE_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"
EXAMPLE_STEM = "RunComfy Wan 2.6 - two pictures into one scene (image to image)"
SCHEMA_INPUTS = ("prompt", "image_1", "image_2", "image_3", "image_urls", "negative_prompt",
                 "image_size", "seed", "prompt_extend")

RUN_TIMEOUT = 90.0
INTERRUPT_TIMEOUT = 10.0


pytestmark = NEEDS_COMFYUI


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    pytest.importorskip("requests")
    from runcomfy.emulator import Emulator

    token = "rc-e2e-" + secrets.token_hex(16)
    emu = Emulator(token=token, processing_time=2.0, workers=2).start()
    base = tmp_path_factory.mktemp("comfy_base")
    with running(base, emu, token, ready_path="/object_info/" + NODE_CLASS) as c:
        yield c


# --- example workflows --------------------------------------------------------------------

def _ui_example(pack: Path) -> dict | None:
    path = pack / "example_workflows" / f"{EXAMPLE_STEM}.json"
    if not path.exists():
        found = sorted((pack / "example_workflows").glob("*.json"))
        path = found[0] if found else None
    return json.loads(path.read_text(encoding="utf-8")) if path else None


def _api_prompt(pack: Path) -> dict:
    path = pack / "example_workflows" / "api" / f"{EXAMPLE_STEM}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {   # the same graph as the shipped example: two LoadImage -> the node -> SaveImage
        "1": {"class_type": "LoadImage", "inputs": {"image": "input_1.png"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "input_2.png"}},
        "3": {"class_type": NODE_CLASS, "inputs": {
            "prompt": "Put the animal from image 1 into the scene of image 2, photorealistic.",
            "image_1": ["1", 0], "image_2": ["2", 0],
            "negative_prompt": "low resolution, error, worst quality, low quality",
            "image_size": "1280*720 (16:9)", "seed": 42, "prompt_extend": True}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "RunComfy/wan-2-6"}},
    }


def _write_inputs(comfy: Comfy) -> list[str]:
    from PIL import Image, ImageDraw
    names = []
    for i, (size, color) in enumerate([((640, 512), (200, 60, 40)), ((512, 640), (40, 90, 210)),
                                       ((600, 600), (40, 160, 60))], start=1):
        img = Image.new("RGB", size, color)
        ImageDraw.Draw(img).ellipse((size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4),
                                    fill=(240, 240, 240))
        name = f"e2e_input_{i}.png"
        img.save(comfy.base / "input" / name)
        names.append(name)
    return names


def _prepared_prompt(comfy: Comfy) -> tuple[dict, str, str]:
    """The API example with its LoadImage names pointed at files written into the temp input
    dir; returns (prompt, id of our node, id of the SaveImage node)."""
    prompt = json.loads(json.dumps(_api_prompt(comfy.pack_dir)))
    files = _write_inputs(comfy)
    loaders = sorted((k for k, v in prompt.items() if v.get("class_type") == "LoadImage"), key=_node_order)
    assert loaders, "the API example has no LoadImage node"
    for k, name in zip(loaders, files):
        prompt[k]["inputs"]["image"] = name
    ours = [k for k, v in prompt.items() if v.get("class_type") == NODE_CLASS]
    saves = [k for k, v in prompt.items() if v.get("class_type") == "SaveImage"]
    assert len(ours) == 1 and len(saves) == 1, "expected one RunComfy node and one SaveImage node"
    return prompt, ours[0], saves[0]


def _node_order(key: str):
    return (0, int(key)) if key.isdigit() else (1, key)


def _dump_events(ws: WSListener, label: str) -> None:
    """RUNCOMFY_E2E_DUMP=<dir>: keep the websocket events seen, for a report."""
    where = os.environ.get("RUNCOMFY_E2E_DUMP")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        Path(where, f"ws_{label}.json").write_text(json.dumps(ws.snapshot(), indent=1, default=str))


# --- a. what ComfyUI serves ---------------------------------------------------------------

def test_object_info_lists_the_node_with_every_schema_input(comfy):
    info = comfy.get("/object_info").json()
    assert NODE_CLASS in info, f"{NODE_CLASS} missing from /object_info:\n{comfy.log_tail()}"
    node = info[NODE_CLASS]
    inputs = {**node["input"].get("required", {}), **node["input"].get("optional", {})}
    missing = [n for n in SCHEMA_INPUTS if n not in inputs]
    assert not missing, f"inputs missing: {missing}; has {sorted(inputs)}"
    assert inputs["prompt"][0] == "STRING"
    for name in ("image_1", "image_2", "image_3"):
        assert inputs[name][0] == "IMAGE", name
    assert "image_1" in node["input"]["required"], "image_urls needs at least one image"
    assert inputs["image_urls"][0] == "STRING"
    assert inputs["negative_prompt"][0] == "STRING"
    assert isinstance(inputs["image_size"][0], list) and "1024*1024 (1:1)" in inputs["image_size"][0]
    assert inputs["seed"][0] == "INT" and inputs["seed"][1]["max"] == 2147483647
    assert inputs["seed"][1]["control_after_generate"] == "fixed"         # issue 18.1: a re-run reuses
    if "search_aliases" in node:       # core 0.33+ sends SEARCH_ALIASES (0.3.64 does not)
        assert {"runcomfy", "wan", "image to image", "i2i"} <= set(node["search_aliases"]), node["search_aliases"]
    assert inputs["prompt_extend"][0] == "BOOLEAN"
    assert node["category"].startswith("RunComfy/"), node["category"]
    assert node["output"][0] == "IMAGE"
    assert node["python_module"] == f"custom_nodes.{PACK_NAME}"
    pack_lines = [ln for ln in comfy.log().splitlines() if f"custom_nodes/{PACK_NAME}" in ln]
    assert pack_lines and not any("IMPORT FAILED" in ln or "Cannot import" in ln for ln in pack_lines), \
        "\n".join(pack_lines) or comfy.log_tail()


def test_web_extension_is_served(comfy):
    web = comfy.pack_dir / "web"    # the copy ComfyUI loaded (the work tree may change meanwhile)
    scripts = sorted(p.relative_to(web).as_posix() for p in web.rglob("*.js")) if web.is_dir() else []
    if not scripts:
        pytest.skip("the pack has no web/*.js yet")
    listed = comfy.get("/extensions").json()
    for rel in scripts:
        url = f"/extensions/{PACK_NAME}/{rel}"
        assert url in listed, f"{url} not in /extensions: {listed}"
        r = comfy.get(url)
        assert r.status_code == 200 and r.content == (web / rel).read_bytes(), url


def _deep_included(part, whole, path="") -> list[str]:
    if isinstance(part, dict):
        if not isinstance(whole, dict):
            return [path or "/"]
        out = []
        for k, v in part.items():
            out += [f"{path}/{k}"] if k not in whole else _deep_included(v, whole[k], f"{path}/{k}")
        return out
    return [] if part == whole else [path]


def test_i18n_is_served(comfy):
    locales = comfy.pack_dir / "locales"
    langs = sorted(p for p in locales.glob("*/") if p.is_dir()) if locales.is_dir() else []
    files = [(lang, f) for lang in langs for f in sorted(lang.glob("*.json"))]
    if not files:
        pytest.skip("the pack has no locales/<lang>/*.json yet")
    served = comfy.get("/i18n").json()
    for lang, f in files:
        doc = json.loads(f.read_text(encoding="utf-8"))
        where = served.get(lang.name, {})
        if f.stem != "main":
            where = where.get(f.stem, {})
        assert not _deep_included(doc, where), f"{f.relative_to(comfy.pack_dir)} not (fully) in /i18n: {_deep_included(doc, where)[:5]}"
    nodedefs = locales / "en" / "nodeDefs.json"
    if nodedefs.exists():
        assert NODE_CLASS in served["en"]["nodeDefs"]


def test_workflow_template_is_listed(comfy):
    folder = comfy.pack_dir / "example_workflows"
    examples = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    if not examples:
        pytest.skip("the pack has no example_workflows/*.json yet")
    listed = comfy.get("/workflow_templates").json()
    assert sorted(listed.get(PACK_NAME, [])) == examples, listed
    for stem in examples:
        r = comfy.get(f"/api/workflow_templates/{PACK_NAME}/{stem}.json")
        assert r.status_code == 200, stem
        assert r.json() == json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))


def test_token_route_reports_environment_without_the_token(comfy):
    for path in ("/api/runcomfy-model-api/token", "/runcomfy-model-api/token"):
        r = comfy.get(path)
        assert r.status_code == 200, path
        assert r.json() == {"configured": True, "source": "environment"}, r.text
        assert comfy.token not in r.text
    r = comfy.post("/api/runcomfy-model-api/token/test", headers={"X-RunComfy-Request": "1"})
    assert r.status_code == 200 and r.json().get("ok") is True, r.text
    assert comfy.token not in r.text


# --- b. a real run ------------------------------------------------------------------------

def test_example_workflow_runs_and_leaks_no_token(comfy):
    from PIL import Image
    prompt, node_id, save_id = _prepared_prompt(comfy)
    requested = _parse_size(prompt[node_id]["inputs"].get("image_size")) or (1024, 1024)
    client_id = uuid.uuid4().hex
    ws = comfy.listen(client_id)
    try:
        jobs_before = set(comfy.emu.jobs)
        prompt_id = comfy.queue(prompt, client_id, _ui_example(comfy.pack_dir))
        entry = comfy.wait_done(prompt_id, RUN_TIMEOUT)
        time.sleep(0.3)   # the last websocket frames trail the history entry slightly
    finally:
        if ws:
            ws.close()

    status = entry["status"]
    kinds = [m[0] for m in status.get("messages", [])]
    assert status["status_str"] == "success" and "execution_success" in kinds, \
        f"{json.dumps(status)[:3000]}\n--- ComfyUI log tail ---\n{comfy.log_tail()}"
    if ws is not None:
        _dump_events(ws, "run")
        assert "execution_success" in ws.types_for(prompt_id), ws.types_for(prompt_id)
        texts = ws.texts_for(node_id)
        assert texts, f"no progress text for node {node_id}; events: {[e.get('type') for e in ws.snapshot()]}"
        assert any(t.startswith("done") for t in texts), texts
        assert not any(comfy.token in t for t in texts)

    # The emulator got one job with what the graph asked for.
    new = [comfy.emu.jobs[r] for r in set(comfy.emu.jobs) - jobs_before]
    assert len(new) == 1, f"expected one remote job, got {len(new)}"
    job = new[0]
    assert job.state == "completed"
    assert job.payload["prompt"] == prompt[node_id]["inputs"]["prompt"]
    assert job.payload["seed"] == prompt[node_id]["inputs"]["seed"]
    n_loaders = sum(1 for v in prompt.values() if v.get("class_type") == "LoadImage")
    assert len(job.inputs) == n_loaders

    # The saved PNG.
    images = entry["outputs"][save_id]["images"]
    assert len(images) == 1, images
    out = comfy.base / "output" / images[0].get("subfolder", "") / images[0]["filename"]
    assert out.is_file(), out
    with Image.open(out) as img:
        assert img.size == requested, (img.size, requested)
        text = dict(img.text)
    assert "prompt" in text, "SaveImage should embed the prompt"
    assert not any(comfy.token in v for v in text.values()), "token in the PNG metadata"

    # No token in the history nor in ComfyUI's log.
    hist = comfy.get(f"/history/{prompt_id}").text
    assert comfy.token not in hist, "token in /history"
    assert comfy.token not in comfy.get("/history").text
    assert comfy.token not in comfy.get("/api/runcomfy-model-api/token").text
    log = comfy.log()
    assert comfy.token not in log, "token in ComfyUI's log"
    # The pack's journal (RUNCOMFY_CONFIG_DIR) and ComfyUI's user dir hold no copy of an env token.
    for folder in (comfy.base / "runcomfy_config", comfy.base / "user"):
        for f in folder.rglob("*"):
            if f.is_file():
                assert comfy.token.encode() not in f.read_bytes(), f"token written to {f}"
    # (ComfyUI's own start-up may log tracebacks of optional core nodes; the run must add none.)
    after_start = log.split("To see the GUI go to:", 1)[-1]
    assert "Traceback" not in after_start, after_start[-4000:]


# --- c. two RunComfy nodes of one graph run at the same time -----------------------------

def _hold_until_both_submitted(emu, limit: float = 60.0) -> None:
    """The next two jobs stay in progress until both were submitted, so they overlap however
    slowly this machine runs, unless they are submitted one after the other: then the first is
    released after ``limit`` s and the second is submitted after it finished."""
    import threading
    target = emu.submits_accepted + 2
    emu.hold_next_jobs(2)

    def release():
        end = time.monotonic() + limit
        while emu.submits_accepted < target and time.monotonic() < end:
            time.sleep(0.02)
        emu.release()
    threading.Thread(target=release, daemon=True).start()


def test_two_nodes_of_one_graph_run_at_once(comfy):
    """ComfyUI (0.3.45+) runs async nodes concurrently: the second node's remote job must be
    submitted while the first one's is still running, not after it."""
    prompt, node_id, save_id = _prepared_prompt(comfy)
    twin = str(max(int(k) for k in prompt if k.isdigit()) + 1)
    prompt[twin] = json.loads(json.dumps(prompt[node_id]))
    prompt[twin]["inputs"]["seed"] = int(prompt[node_id]["inputs"].get("seed") or 0) + 2000
    prompt[node_id]["inputs"]["seed"] = int(prompt[node_id]["inputs"].get("seed") or 0) + 3000
    prompt[str(int(twin) + 1)] = {"class_type": "SaveImage",
                                 "inputs": {"images": [twin, 0], "filename_prefix": "RunComfy/twin"}}
    emu = comfy.emu
    jobs_before = set(emu.jobs)
    _hold_until_both_submitted(emu)
    started = time.monotonic()
    prompt_id = comfy.queue(prompt, uuid.uuid4().hex)
    entry = comfy.wait_done(prompt_id, RUN_TIMEOUT)
    wall = time.monotonic() - started
    assert entry["status"]["status_str"] == "success", \
        f"{json.dumps(entry['status'])[:3000]}\n--- ComfyUI log tail ---\n{comfy.log_tail()}"
    jobs = sorted((emu.jobs[r] for r in set(emu.jobs) - jobs_before), key=lambda j: j.accepted_at)
    assert len(jobs) == 2, f"expected two remote jobs, got {len(jobs)}"
    first, second = jobs
    assert {first.payload["seed"], second.payload["seed"]} == {prompt[node_id]["inputs"]["seed"],
                                                                prompt[twin]["inputs"]["seed"]}
    # Submitted and processed while the other was still in progress (held until both were in).
    assert second.accepted_at < first.finished_at, (
        f"the second job was submitted {second.accepted_at - first.finished_at:.2f}s after the first "
        "finished: the nodes ran one after another")
    assert second.started_at < first.finished_at
    print(f"two nodes: wall {wall:.2f}s, remote jobs overlapped {first.finished_at - second.started_at:.2f}s")


def test_variations_run_at_once_and_come_back_as_one_batch(comfy):
    prompt, node_id, save_id = _prepared_prompt(comfy)
    base_seed = int(prompt[node_id]["inputs"].get("seed") or 0) + 4000
    prompt[node_id]["inputs"].update(seed=base_seed, variations=2)
    emu = comfy.emu
    jobs_before = set(emu.jobs)
    _hold_until_both_submitted(emu)
    prompt_id = comfy.queue(prompt, uuid.uuid4().hex)
    entry = comfy.wait_done(prompt_id, RUN_TIMEOUT)
    assert entry["status"]["status_str"] == "success", \
        f"{json.dumps(entry['status'])[:3000]}\n--- ComfyUI log tail ---\n{comfy.log_tail()}"
    jobs = sorted((emu.jobs[r] for r in set(emu.jobs) - jobs_before), key=lambda j: j.accepted_at)
    assert [j.payload["seed"] for j in sorted(jobs, key=lambda j: j.payload["seed"])] == [base_seed, base_seed + 1]
    assert jobs[1].started_at < jobs[0].finished_at, "the variations ran one after another"
    saved = entry["outputs"][save_id]["images"]
    assert len(saved) == 2, saved                       # one batch of two images reached SaveImage


# --- d. Stop cancels the remote job -------------------------------------------------------

def test_interrupt_cancels_the_queued_remote_job(comfy):
    prompt, node_id, _ = _prepared_prompt(comfy)
    prompt[node_id]["inputs"]["seed"] = int(prompt[node_id]["inputs"].get("seed") or 0) + 1000
    emu = comfy.emu
    emu.stick_next_jobs(1)
    cancels_before = emu.count("cancel")
    jobs_before = set(emu.jobs)
    client_id = uuid.uuid4().hex
    ws = comfy.listen(client_id)
    try:
        prompt_id = comfy.queue(prompt, client_id)
        new = _wait_until(lambda: [r for r in set(emu.jobs) - jobs_before], 60, 0.1,
                          "the emulator to receive the job")
        rid = new[0]
        assert emu.jobs[rid].state == "in_queue"
        time.sleep(0.5)   # the node is now polling a job that will never start
        t0 = time.monotonic()
        r = comfy.post("/interrupt", json={"prompt_id": prompt_id})
        assert r.status_code == 200
        entry = comfy.wait_done(prompt_id, INTERRUPT_TIMEOUT)
        took = time.monotonic() - t0
        time.sleep(0.3)
    finally:
        if ws:
            ws.close()

    kinds = [m[0] for m in entry["status"].get("messages", [])]
    assert entry["status"]["status_str"] == "error", entry["status"]
    assert "execution_interrupted" in kinds and "execution_error" not in kinds, \
        f"{kinds}\n--- ComfyUI log tail ---\n{comfy.log_tail()}"
    assert took < INTERRUPT_TIMEOUT
    assert emu.jobs[rid].state == "cancelled", emu.jobs[rid].state
    assert emu.count("cancel") >= cancels_before + 1
    if ws is not None:
        _dump_events(ws, "interrupt")
        assert "execution_interrupted" in ws.types_for(prompt_id), ws.types_for(prompt_id)
        texts = ws.texts_for(node_id)
        assert any("cancel" in t.lower() for t in texts), texts
    assert comfy.token not in comfy.log()
