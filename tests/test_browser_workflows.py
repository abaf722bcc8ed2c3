"""Opt-in real-browser check of issue 19.1: a workflow saved on one ComfyUI with a model the other
never synced opens on the other with its widget values and links, without the frontend's
missing-node dialog, and runs; offline, the same workflow shows the RunComfy message naming the
model and the fix, and saves back unchanged (the frontend's placeholder keeps its values).

The ComfyUI here starts with the start-up catalog refresh off and an empty cache: only the model
shipped in the pack has a node. The emulator stands in for RunComfy's catalog (it lists the
templates' real models). The workflow is loaded the way the frontend opens a file, a dropped
PNG or a template: ``app.loadGraphData``. Same commands as tests/test_browser.py (whose helpers
this reuses), e.g. core 0.33.0 + frontend 1.58.1::

    COMFYUI_DIR=/work/comfy/c033/ComfyUI COMFYUI_PYTHON=/work/comfy/c033/venv/bin/python \\
    COMFYUI_FRONTEND_ROOT=/work/comfy/c033/frontend-1.58.1/comfyui_frontend_package/static \\
        .venv/bin/python -m pytest -q tests/test_browser_workflows.py

and core 0.3.64 + 1.27.10 (COMFYUI_DIR=/work/comfy/c064/ComfyUI, its venv, no frontend root).
``RUNCOMFY_SCREENSHOTS=<dir>`` keeps the screenshots.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from conftest import ROOT
from test_browser import Page, pytestmark  # noqa: F401 (opt-in marks)

EXAMPLES = ROOT / "example_workflows"
WAN_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"
QWEN = "RunComfy Qwen Image 3.0 Edit - change a picture with words (image edit)"
KLING = "RunComfy Kling 3.0 Pro - bring a picture to life (image to video)"
ACE = "RunComfy ACE-Step - music from style tags (text to audio)"
# What the frontends say when they find node types they do not know (1.27: a dialog listing them;
# 1.49/1.58: "...custom node that isn't installed" / "Missing node types").
MISSING_DIALOG = re.compile(r"were not found|isn.t installed|missing node|Missing Node|not installed", re.I)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from PIL import Image
    from browser_stack import browser_stack

    def inputs(folder):
        Image.new("RGB", (768, 768), (90, 150, 220)).save(folder / "example.png")

    # No start-up catalog refresh: only the model shipped in the pack has a node.
    with browser_stack(tmp_path_factory.mktemp("comfy_workflows"), ready_classes=[WAN_CLASS], processing_time=1.0,
                       inputs=inputs, env={"RUNCOMFY_CATALOG_REFRESH": "0"}) as st:
        yield st


def saved(stem: str) -> dict:
    return json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8"))


def ours(workflow: dict) -> dict:
    [node] = [n for n in workflow["nodes"] if n["type"].startswith("RunComfy_")]
    return node


def open_workflow(page: Page, workflow: dict) -> None:
    page.js("async (wf) => { await app.loadGraphData(wf); }", workflow)


def node_now(page: Page, node_id: int) -> dict:
    return json.loads(page.js("(id) => JSON.stringify(app.graph.getNodeById(id).serialize())", node_id))


def links_now(page: Page) -> list:
    return page.js("() => (app.graph.serialize().links || []).map((l) => Array.isArray(l) ? l.slice(0, 6) :"
                   " [l.id, l.origin_id, l.origin_slot, l.target_id, l.target_slot, l.type])")


def missing_dialog_text(page: Page) -> str:
    """What the page shows about missing nodes (dialogs, toasts, panels), the pack's own box aside."""
    text = page.js("() => { const own = document.querySelector('[data-runcomfy-missing]');"
                   " return document.body.innerText.replace(own ? own.innerText : '', ''); }")
    found = MISSING_DIALOG.search(text or "")
    return text[max(0, found.start() - 200):found.end() + 200] if found else ""


@pytest.mark.parametrize("stem,with_id", [(QWEN, True), (KLING, False)], ids=["by-model-id", "by-class-name"])
def test_a_workflow_with_a_model_this_comfyui_never_synced_opens_and_runs(stack, stem, with_id):
    workflow = saved(stem)
    node = ours(workflow)
    if not with_id:      # a workflow saved before nodes carried their model id
        for n in workflow["nodes"]:
            n.get("properties", {}).pop("runcomfy_model_id", None)
    cls = node["type"]
    page = Page(stack, "unsynced-" + ("id" if with_id else "class"))
    try:
        assert page.js(f"() => !!LiteGraph.registered_node_types['{cls}']") is False, "starts without the node"
        open_workflow(page, workflow)
        page.wait_for(f"() => app.graph.findNodesByType('{cls}').length === 1", timeout_s=60,
                      what="the node to be on the graph")
        page.page.wait_for_timeout(1500)       # a missing-node dialog would be up by now
        shot = page.shot("opened")
        now = node_now(page, node["id"])
        assert now["type"] == cls
        assert not now.get("has_errors") and page.js(
            f"(id) => app.graph.getNodeById(id).constructor.comfyClass === '{cls}'", node["id"]), \
            "a real node of the model, not the frontend's placeholder"
        assert now["widgets_values"] == node["widgets_values"], (now["widgets_values"], node["widgets_values"])
        assert sorted(map(tuple, links_now(page))) == sorted(tuple(l[:6]) for l in workflow["links"])
        assert missing_dialog_text(page) == "", f"missing-node dialog shown: see {shot}"
        assert page.js("() => !document.querySelector('[data-runcomfy-missing]')")
        # the node learned its model id (older workflows get it now, from the definition)
        assert now["properties"]["runcomfy_model_id"] == saved(stem)["nodes"][workflow["nodes"].index(
            next(n for n in workflow["nodes"] if n["id"] == node["id"]))]["properties"]["runcomfy_model_id"]

        jobs = set(stack["emu"].jobs)
        page.js("async () => { await app.queuePrompt(0, 1); }")
        page.wait_for("() => (document.querySelector('[data-runcomfy-panel]')?.innerText || '')"
                      ".includes('RunComfy: done')", timeout_s=120, what="the run to finish")
        page.shot("ran")
        new = [stack["emu"].jobs[r].model_id for r in set(stack["emu"].jobs) - jobs]
        assert new == [now["properties"]["runcomfy_model_id"]]
        assert page.pack_errors() == []
    finally:
        page.close()


def test_the_packs_own_ids_and_settings_saved_by_the_earlier_pack_carry_over(stack):
    """Issue 19.5: settings, section, event and routes are this pack's own (RunComfy's own pack
    uses RunComfy.* settings, /runcomfy/... routes and the runcomfy.status event); a value saved
    under an old id reaches the new one."""
    comfy = stack["comfy"]
    assert comfy.post("/api/settings/RunComfy.Display.ShowPrice", json=False).status_code == 200
    page = Page(stack, "own-ids")
    try:
        page.wait_for("() => app.extensionManager.setting.get('RunComfyModelAPI.Display.ShowPrice') === false",
                      timeout_s=20, what="the saved ShowPrice to reach the new id")
        stored = comfy.get("/api/settings").json()
        assert stored.get("RunComfyModelAPI.Display.ShowPrice") is False, stored
        # A stand-in for RunComfy's own pack, registered after this one, keeps its token setting.
        page.js("""() => app.registerExtension({ name: 'RunComfy.PartnerStandIn', settings: [{
            id: 'RunComfy.Account.APIToken', name: 'API Token', category: ['RunComfy', 'Account', 'API Token'],
            type: 'text', defaultValue: '' }] })""")
        page.page.wait_for_timeout(500)
        page.js("async () => { await app.extensionManager.command.execute('Comfy.ShowSettingsDialog'); }")
        # two sections, one per pack; the stand-in's token row is there too
        page.page.get_by_text("RunComfy", exact=True).first.click(timeout=15_000)
        page.page.get_by_text("API Token", exact=True).first.wait_for(state="visible", timeout=15_000)
        page.page.get_by_text("RunComfy Model API", exact=True).first.click(timeout=15_000)
        page.page.locator("input[aria-label='RunComfy API token']").wait_for(state="visible", timeout=15_000)
        page.shot("settings-section")
        assert comfy.get("/api/runcomfy-model-api/token").status_code == 200
        assert comfy.get("/api/runcomfy/token").status_code == 404
        assert page.pack_errors() == []
    finally:
        page.close()


def test_offline_the_runcomfy_message_names_the_model_and_the_workflow_saves_back_unchanged(stack):
    """Last in this module: it stops the emulator (RunComfy unreachable)."""
    stack["emu"].stop()
    workflow = saved(ACE)
    node = ours(workflow)
    # a model no earlier test here resolved (the class-name test's catalog read cached the others)
    model_id = node["properties"]["runcomfy_model_id"] = "acme-audio/never-synced/text-to-audio"
    node["type"] = "RunComfy_acme_audio_never_synced_text_to_audio"
    page = Page(stack, "offline")
    try:
        assert missing_dialog_text(page) == ""
        open_workflow(page, copy.deepcopy(workflow))
        page.wait_for("() => !!document.querySelector('[data-runcomfy-missing]')", timeout_s=90,
                      what="the RunComfy message")
        page.page.wait_for_timeout(1500)       # a missing-node dialog would be up by now
        shot = page.shot("offline-message")
        message = page.js("() => document.querySelector('[data-runcomfy-missing]').innerText")
        assert f"RunComfy model '{model_id}'" in message, message
        assert "could not be reached" in message and "Refresh model catalog" in message, message
        assert "saved values" in message, message
        # The frontend's placeholder stays (this pack does not hide a node it could not make) and
        # keeps what was saved: the saved workflow is the same as the one opened.
        now = node_now(page, node["id"])
        assert now["type"] == node["type"]
        assert now["widgets_values"] == node["widgets_values"], shot
        assert now["properties"].get("runcomfy_model_id") == model_id
        assert sorted(map(tuple, links_now(page))) == sorted(tuple(l[:6]) for l in workflow["links"])
        page.js("() => document.querySelector('[data-runcomfy-missing-close]').click()")
        page.shot("offline-frontend-dialog")
        # not hidden by the pack: the frontend's own notice about the placeholder is still there
        assert missing_dialog_text(page) != "" 
        # the frontend itself asks the registry about the "missing" pack (no internet here)
        assert page.pack_errors(allow=(r"api\.comfy\.org",)) == []
    finally:
        page.close()
