"""Opt-in real-browser checks of issue 18's web side: what the RunComfy panel DRAWS, not only its text.

Same stack and commands as tests/test_browser.py (ComfyUI with only this pack, the local emulator,
headless Chromium by Playwright; COMFYUI_DIR / COMFYUI_PYTHON / COMFYUI_FRONTEND_ROOT pick the pair):
core 0.3.64 + 1.27.10 (canvas only), core 0.33.0 + 1.49.6 and core 0.33.0 + 1.58.1 (canvas and Vue nodes).

- Every panel state (running, queued with its position, done with cost and a fit note, Stop while running
  with the billed line and the Fetch button, cancelled while queued, an error naming the socket label, a
  dry run with price and request, and its full request opened): each line's box lies inside the panel
  and the node's box, no element is clipped (scrollHeight <= clientHeight), and on the classic canvas
  the line is the element hit at its centre (drawn above the canvas). Screenshots: RUNCOMFY_SCREENSHOTS
  or docs/screenshots/issue-18/ when RUNCOMFY_KEEP_SCREENSHOTS=1.
- Stop while running (the actionbar's real "Cancel current run" button; the emulator holds the job
  running until the test lets it finish, so Stop lands while it runs however slow the machine), then
  "Fetch this result (no new charge)", then Run, with every template in example_workflows/ and the
  seed/generation control set to "randomize": the same request comes back, and the emulator counts
  0 new submits.
- A control set to change says "new paid generation on every run"; a fresh node's control is "fixed".
- A new prompt clears the last outcome (also when ComfyUI refuses the prompt before it runs).
- A workflow saved before issue 18 loads with its widget values.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

import pytest

from conftest import ROOT
from test_browser import (  # noqa: F401 - helpers and skip marks shared with the browser suite
    NODE_CLASS, PACK_NAME, PROCESSING_S, Page, _load_example, _set_renderer, pytestmark,
)

RID = "0123456789abcdef0123456789abcdef"
LONG_PROMPT = "a lighthouse on a cliff at dusk, waves, painterly, " * 6
FIXTURE = ROOT / "tests" / "fixtures" / "workflows" / "saved-before-issue-18.json"
TEMPLATES = sorted(p.name for p in (ROOT / "example_workflows").glob("*.json"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """test_browser.py's stack, with the emulator's whole sample catalog: every template's model is a node."""
    from PIL import Image
    from browser_stack import browser_stack

    def inputs(folder):
        Image.new("RGB", (512, 512), (200, 60, 40)).save(folder / "example.png")

    with browser_stack(tmp_path_factory.mktemp("comfy_panel"), processing_time=PROCESSING_S, inputs=inputs,
                       ready_classes=[NODE_CLASS, "RunComfy_emulator_samples_video_gen_image_to_video"]) as st:
        yield st


def _shots_dir() -> Path | None:
    if os.environ.get("RUNCOMFY_SCREENSHOTS"):
        return Path(os.environ["RUNCOMFY_SCREENSHOTS"])
    if os.environ.get("RUNCOMFY_KEEP_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots" / "issue-18"
    return None


def _events(node: str) -> dict[str, list[dict]]:
    """The events of each state as nodes/model_node.py sends them (tests/contracts/status_event.json)."""
    rerun = {"rerun_widget": "seed", "rerun_control": "fixed", "new_paid_generation_each_run": False}
    fit = "Reference image 1 (image_urls[0]) resized 200x150 -> 400x300 px to fit the model's limits"
    return {
        "running": [{"node": node, "text": f"running · 12s · request {RID}", "request_id": RID, "state": "running",
                     "elapsed": 12.0, "queue_position": None, "cost": None, "note": "", **rerun}],
        "queued": [{"node": node, "text": f"queued · (queue position 2) · 65s · request {RID}", "request_id": RID,
                    "state": "queued", "elapsed": 65.0, "queue_position": 2, "cost": None, "note": "", **rerun}],
        "done-fit-note": [{"node": node, "text": f"done: 1 image(s) · cost $0.03 · request {RID} · {fit}",
                           "request_id": RID, "request_ids": [RID], "state": "done", "cost": 0.03,
                           "notes": [fit, "1 image(s) of 1024x1024 px"], **rerun}],
        "stopped-billed": [{"node": node, "state": "stopped", "request_id": RID, "fetch_request_id": RID,
                            "fetch_input": "resume_request_id", "billed": True,
                            "summary": "The job was already running on RunComfy: it will finish and be billed. "
                                       "Its result is kept.",
                            "text": "Stopped. The job was already running on RunComfy: it will finish and be billed. "
                                    "Its result is kept. To fetch its result without a new charge, put request id "
                                    f"{RID} into \"Resume request id\" (resume_request_id) and run.", **rerun}],
        "cancelled-queued": [{"node": node, "state": "stopped", "request_id": RID, "fetch_request_id": None,
                              "fetch_input": "resume_request_id", "billed": False,
                              "text": "Stopped: the remote job was cancelled while queued; it is not billed.", **rerun}],
        "error-label": [{"node": node, "state": "error", "request_id": None, "fetch_request_id": None,
                         "fetch_input": "resume_request_id", "billed": None,
                         "problems": [{"label": "Reference image 2", "field": "image_urls[1]",
                                       "text": "width must be at least 384 px, got 200 px",
                                       "fix": 'turn on "fit_inputs_to_limits" to scale it'}],
                         "text": "error: Reference image 2 (image_urls[1]): width must be at least 384 px, got 200 px: "
                                 'turn on "fit_inputs_to_limits" to scale it', **rerun}],
        "dry-run": [{"node": node, "state": "dry_run",
                     "text": "dry run: nothing sent, nothing charged · $0.03 / image x 1 request(s)",
                     "price": {"base_price_usd": 0.03, "price_unit": "image", "text": "$0.03 / image", "source": "catalog"},
                     "price_text": "$0.03 / image x 1 request(s)", "requests": 1,
                     "payload": {"prompt": LONG_PROMPT, "image_urls": ["data:image/png;base64,<81234 bytes>",
                                                                       "data:image/png;base64,<80321 bytes>"],
                                 "size": "1280*1280", "seed": 7},
                     "notes": [fit], **rerun}],
    }


# Geometry of the node, its panel and each line, as drawn (CSS px of the page).
GEOMETRY_JS = """(id) => {
  const node = app.graph.getNodeById(id);
  const w = (node.widgets || []).find((w) => w.name === 'runcomfy_status');
  const panel = w && w.element;
  if (!panel) return null;
  const box = (r) => [r.left, r.top, r.right, r.bottom];
  const vueEl = document.querySelector(`[data-node-id="${id}"]`);
  let nodeBox;
  const vue = !!(vueEl && vueEl.contains(panel));
  if (vue) nodeBox = box(vueEl.getBoundingClientRect());
  else {
    const ds = app.canvas.ds; const c = app.canvas.canvas.getBoundingClientRect();
    const th = LiteGraph.NODE_TITLE_HEIGHT;
    const x = (node.pos[0] + ds.offset[0]) * ds.scale + c.left;
    const top = (node.pos[1] - th + ds.offset[1]) * ds.scale + c.top;
    nodeBox = [x, top, x + node.size[0] * ds.scale, (node.pos[1] + node.size[1] + ds.offset[1]) * ds.scale + c.top];
  }
  const hit = (e) => { const r = e.getBoundingClientRect();
    const t = document.elementFromPoint((r.left + Math.min(r.right, r.left + 40)) / 2, (r.top + r.bottom) / 2);
    return !!t && (t === e || e.contains(t) || panel.contains(t) && t.contains(e)); };
  const items = [...panel.querySelectorAll('[data-runcomfy-line], [data-runcomfy-action]')].map((e) => ({
    text: e.innerText, kind: e.dataset.runcomfyLine || ('button:' + e.dataset.runcomfyAction),
    box: box(e.getBoundingClientRect()), sh: e.scrollHeight, ch: e.clientHeight, hit: hit(e),
    visible: getComputedStyle(e).visibility !== 'hidden' && e.offsetParent !== null }));
  const ps = getComputedStyle(panel);
  return { vue, node: nodeBox, panel: box(panel.getBoundingClientRect()), sh: panel.scrollHeight,
           ch: panel.clientHeight, display: ps.display, items, size: [node.size[0], node.size[1]] };
}"""


def _inside(inner, outer, slack=1.0) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[2] <= outer[2] + slack and inner[3] <= outer[3] + slack)


def check_drawn(page: Page, node_id, what: str) -> dict:
    g = page.js(GEOMETRY_JS, node_id)
    where = f"{what} on {page.frontend}/{page.label}"
    assert g is not None, f"no panel on the node ({where})"
    assert g["display"] != "none" and g["items"], f"the panel shows nothing ({where})"
    assert g["sh"] <= g["ch"] + 1, f"panel clipped: scrollHeight {g['sh']} > clientHeight {g['ch']} ({where})"
    assert _inside(g["panel"], g["node"]), f"panel box {g['panel']} outside the node {g['node']} ({where})"
    for item in g["items"]:
        label = f"{item['kind']} {item['text']!r} ({where})"
        assert item["visible"], f"not visible: {label}"
        assert item["sh"] <= item["ch"] + 1, f"clipped line ({item['sh']} > {item['ch']}): {label}"
        assert item["box"][3] - item["box"][1] >= 10, f"a sliver ({item['box']}): {label}"
        assert _inside(item["box"], g["panel"]), f"line {item['box']} outside the panel {g['panel']}: {label}"
        assert _inside(item["box"], g["node"]), f"line {item['box']} outside the node {g['node']}: {label}"
        if not g["vue"]:
            assert item["hit"], f"not drawn above the canvas (another element at its centre): {label}"
    return g


def shot_node(page: Page, node_id, name: str) -> Path | None:
    where = _shots_dir()
    if where is None:
        return None
    where.mkdir(parents=True, exist_ok=True)
    g = page.js(GEOMETRY_JS, node_id)
    x0, y0, x1, y1 = g["node"]
    clip = {"x": max(0, x0 - 10), "y": max(0, y0 - 10), "width": min(1400, x1 - x0 + 20), "height": min(900, y1 - y0 + 20)}
    path = where / f"{page.frontend}-{page.label}-{name}.png"
    page.page.screenshot(path=str(path), clip=clip)
    return path


def _frame(page: Page, node_id) -> None:
    """Puts the node at the top left of the view, small enough that all of it is on screen."""
    page.js("""(id) => { const node = app.graph.getNodeById(id); const ds = app.canvas.ds;
        const s = Math.min(1, 780 / (node.size[1] + 60)); ds.scale = s;
        ds.offset = [140 / s - node.pos[0], 60 / s - node.pos[1]]; app.canvas.setDirty(true, true); }""", node_id)
    page.page.wait_for_timeout(400)


def _send(page: Page, detail: dict) -> None:
    page.js("(d) => { (window.comfyAPI?.api?.api || app.api).dispatchEvent(new CustomEvent('runcomfy_model_api.status', { detail: d })); }",
            detail)


def _flat(page: Page) -> str:
    """The panel's text with its wrapped lines joined again."""
    return " ".join((page.panel_text() or "").split())


def _wan_id(page: Page):
    return page.js(f"() => app.graph.findNodesByType('{NODE_CLASS}')[0].id")


def _start(stack, renderer: str, label: str) -> Page:
    page = Page(stack, f"{label}-{renderer}")
    if not _set_renderer(page, renderer == "vue") and renderer == "vue":
        page.close()
        pytest.skip(f"frontend {page.frontend} has no public Vue node renderer")
    return page


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_every_state_of_the_panel_is_drawn_whole(stack, renderer):
    page = _start(stack, renderer, "panel")
    try:
        _load_example(page, seed=secrets.randbelow(2**31))
        node_id = _wan_id(page)
        _frame(page, node_id)
        check_drawn(page, node_id, "before any run")
        events = _events(str(node_id))
        for state, sequence in events.items():
            page.js("(id) => { const n = app.graph.getNodeById(id); n.__runcomfyStatus = null; n.__runcomfyFetchArmed = null; }",
                    node_id)
            for detail in sequence:
                _send(page, detail)
            page.page.wait_for_timeout(1300)        # the node grows, the frontend lays the widgets out again
            _frame(page, node_id)
            text = _flat(page)
            if state == "queued":
                assert "queue position 2" in text, text
            if state == "done-fit-note":
                assert "cost $0.03" in text and "resized 200x150 -> 400x300 px" in text, text
            if state == "stopped-billed":
                assert "Billed" in text and RID in text and "Fetch this result (no new charge)" in text, text
                assert not re.search(r"run (it |the node )?again with the same inputs", text, re.I), text
            if state == "cancelled-queued":
                assert "Not billed" in text and "Fetch this result" not in text, text
            if state == "error-label":
                assert "Reference image 2 (image_urls[1]): width must be at least 384 px" in text, text
            if state == "dry-run":
                assert "$0.03 / image x 1 request(s)" in text and "Request: {" in text, text
                assert "<81234 bytes>" in text, text
            check_drawn(page, node_id, state)
            shot_node(page, node_id, state)
            if state == "dry-run":
                page.page.locator("[data-runcomfy-action='request']").first.click()
                page.page.wait_for_timeout(1300)
                _frame(page, node_id)
                full = _flat(page)
                assert '"seed": 7' in full and LONG_PROMPT.split(",")[0] in full, full
                check_drawn(page, node_id, "dry run, full request")
                shot_node(page, node_id, "dry-run-full-request")
            if state == "stopped-billed":
                page.page.locator("[data-runcomfy-action='fetch']").first.click()
                page.wait_for(f"() => app.graph.getNodeById({json.dumps(node_id)}).widgets"
                              f".find((w) => w.name === 'resume_request_id').value === '{RID}'", timeout_s=10,
                              what="the Fetch button to fill resume_request_id")
                page.page.wait_for_timeout(300)
                assert "the next Run fetches this result (no new charge)" in _flat(page)
                check_drawn(page, node_id, "fetch armed")
                shot_node(page, node_id, "fetch-armed")
                page.js("(id) => { app.graph.getNodeById(id).widgets.find((w) => w.name === 'resume_request_id').value = ''; }",
                        node_id)
        assert page.pack_errors() == []
    finally:
        page.close()


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_a_control_set_to_change_says_new_paid_generation_and_fresh_controls_are_fixed(stack, renderer):
    page = _start(stack, renderer, "rerun")
    try:
        page.js("() => { app.graph.clear(); }")
        controls = page.js(f"""() => {{ const n = LiteGraph.createNode('{NODE_CLASS}'); n.pos = [100, 100]; app.graph.add(n);
            return n.widgets.filter((w) => w.linkedWidgets).map((w) => [w.name, w.linkedWidgets[0].value]); }}""")
        assert controls and all(v == "fixed" for _, v in controls), controls
        node_id = _wan_id(page)
        page.page.wait_for_timeout(1300)
        assert "new paid generation on every run" not in (page.panel_text() or "")
        page.js(f"() => {{ const n = app.graph.getNodeById({node_id}); n.widgets.find((w) => w.name === 'seed')"
                ".linkedWidgets[0].value = 'randomize'; }")
        page.wait_for("() => (document.querySelector('[data-runcomfy-panel]')?.innerText || '')"
                      ".includes('new paid generation on every run')", timeout_s=5, what="the new-paid-generation line")
        _frame(page, node_id)
        check_drawn(page, node_id, "control on randomize")
        shot_node(page, node_id, "rerun-randomize")
        assert page.pack_errors() == []
    finally:
        page.close()


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_a_new_prompt_clears_the_last_outcome_even_when_comfyui_refuses_it(stack, renderer):
    page = _start(stack, renderer, "clear")
    try:
        _load_example(page, seed=secrets.randbelow(2**31))
        node_id = _wan_id(page)
        for detail in _events(str(node_id))["error-label"]:
            _send(page, detail)
        page.wait_for("() => (document.querySelector('[data-runcomfy-panel]')?.innerText || '').includes('Reference image 2')",
                      timeout_s=5, what="the stale error")
        # A LoadImage of a file that does not exist: ComfyUI refuses the prompt before anything runs.
        page.js("() => { for (const n of app.graph._nodes) if (n.type === 'LoadImage')"
                " n.widgets.find((w) => w.name === 'image').value = 'no-such-file-" + secrets.token_hex(4) + ".png'; }")
        page.js("async () => { try { await app.queuePrompt(0, 1); } catch { /* refused */ } }")
        page.wait_for("() => !(document.querySelector('[data-runcomfy-panel]')?.innerText || '').includes('Reference image 2')",
                      timeout_s=10, what="the stale error to clear on queue")
        # Out of the way: ComfyUI's "Prompt execution failed" dialog (or toast), then the node in view.
        page.page.keyboard.press("Escape")
        page.js("() => { for (const b of document.querySelectorAll('.p-dialog-close-button, .p-dialog-header-close,"
                " .p-dialog [aria-label=\"Close\"], .p-toast-close-button')) b.click(); }")
        page.wait_for("() => ![...document.querySelectorAll('.p-dialog')].some((d) => d.offsetParent !== null)",
                      timeout_s=10, what="the refusal dialog to close")
        _frame(page, node_id)
        check_drawn(page, node_id, "cleared after a refused prompt")
        shot_node(page, node_id, "cleared-after-refused-prompt")
    finally:
        page.close()


def test_a_workflow_saved_before_issue_18_keeps_its_widget_values(stack):
    page = Page(stack, "saved")
    try:
        saved = json.loads(FIXTURE.read_text(encoding="utf-8"))
        page.js("async (wf) => { await app.loadGraphData(wf); }", saved)
        page.page.wait_for_timeout(1000)
        for n in saved["nodes"]:
            if not str(n["type"]).startswith("RunComfy_"):
                continue
            assert page.js("(t) => !!LiteGraph.registered_node_types[t]", n["type"]), f"{n['type']} is not a node here"
            assert page.js("(id) => (app.graph.getNodeById(id).widgets || []).length", n["id"]) > 0
            got = page.js("(id) => app.graph.getNodeById(id).serialize().widgets_values", n["id"])
            assert got[:len(n["widgets_values"])] == n["widgets_values"], (n["type"], got, n["widgets_values"])
        assert page.pack_errors() == []
    finally:
        page.close()


def _status_js(state_expr: str) -> str:
    return ("() => app.graph._nodes.filter((n) => String(n.type).startsWith('RunComfy_'))"
            f".some((n) => {{ const s = n.__runcomfyStatus; return !!s && ({state_expr}); }})")


# The actionbar's Stop button while a prompt runs (1.27.10, 1.49.6, 1.58.1): it runs Comfy.Interrupt,
# which POSTs /interrupt (with the running prompt's id on 1.49+).
STOP_BUTTON = 'button[aria-label="Cancel current run"]'


def _press_stop(page: Page) -> None:
    button = page.page.locator(STOP_BUTTON).first
    try:
        button.wait_for(state="visible", timeout=30_000)
        button.click(timeout=30_000)
    except Exception as exc:  # noqa: BLE001 - said with what the page has instead
        labels = page.js("() => [...document.querySelectorAll('button')].map((b) => b.getAttribute('aria-label'))"
                         ".filter(Boolean)")
        raise AssertionError(f"no Stop button ({STOP_BUTTON}) to press on {page.frontend}/{page.label}; "
                             f"buttons: {labels}") from exc


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_stop_while_running_then_fetch_gets_the_same_request_without_a_new_submit(stack, renderer, template):
    emu = stack["emu"]
    # The job runs and stays running until released: Stop lands while it runs however slow the page is.
    emu.hold_next_jobs(1)
    page = _start(stack, renderer, "fetch")
    try:
        page.js("""async (url) => { const wf = await (await fetch(url)).json(); await app.loadGraphData(wf); }""",
                f"/api/workflow_templates/{PACK_NAME}/{template}")
        page.wait_for("() => app.graph._nodes.some((n) => String(n.type).startsWith('RunComfy_'))", timeout_s=30,
                      what="the template's RunComfy node")
        # New seed/generation values: a new request (the other renderer ran this template too).
        page.js("(salt) => { for (const n of app.graph._nodes) { if (!String(n.type).startsWith('RunComfy_')) continue;"
                " for (const w of n.widgets || []) if (w.linkedWidgets && typeof w.value === 'number')"
                " w.value = salt + Math.floor(Math.random() * 1000); } }", 1 + secrets.randbelow(10**6))
        submits_before = emu.submits_accepted
        page.js("async () => { await app.queuePrompt(0, 1); }")
        page.wait_for(_status_js("s.state === 'running' && !!s.requestId"), what="a RunComfy node running")
        rid = page.js("() => app.graph._nodes.map((n) => n.__runcomfyStatus).find((s) => s && s.requestId).requestId")
        assert emu.submits_accepted == submits_before + 1 and rid in emu.jobs, "the run did not submit one request"
        assert emu.jobs[rid].state == "in_progress", f"request {rid} is {emu.jobs[rid].state}, not running"
        cancels = emu.count("cancel")
        _press_stop(page)
        page.wait_for(_status_js("s.state === 'stopped' && !!s.fetchRequestId"), what="stopped with a request to fetch")
        # Held by the emulator: still running when the node stopped, so this was a Stop while running.
        assert emu.jobs[rid].state == "in_progress", f"request {rid} ended ({emu.jobs[rid].state}) before Stop"
        assert emu.count("cancel") == cancels + 1, "the node did not ask RunComfy to cancel the request"
        node_id = page.js("() => app.graph._nodes.find((n) => n.__runcomfyStatus && n.__runcomfyStatus.fetchRequestId).id")
        assert page.js("(id) => app.graph.getNodeById(id).__runcomfyStatus.fetchRequestId", node_id) == rid
        _frame(page, node_id)
        page.page.wait_for_timeout(800)
        check_drawn(page, node_id, f"stopped ({template})")
        if template == TEMPLATES[-1]:
            shot_node(page, node_id, "stopped-real-run")
        text = _flat(page)
        assert rid in text and "Billed" in text and "Fetch this result (no new charge)" in text, text
        assert not re.search(r"run (it |the node )?again with the same inputs", text, re.I), text
        emu.release(rid)            # the remote job goes on to finish, as a real one would
        page.js(f"(id) => {{ const el = app.graph.getNodeById(id).widgets.find((w) => w.name === 'runcomfy_status').element;"
                f" el.querySelector(\"[data-runcomfy-action='fetch']\").setAttribute('data-test-target', '1'); }}", node_id)
        page.page.locator("[data-test-target='1']").click()
        assert page.js("(id) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'resume_request_id').value",
                       node_id) == rid
        if template == TEMPLATES[-1]:
            page.page.wait_for_timeout(500)
            shot_node(page, node_id, "fetch-armed-real-run")
        # Whatever the seed/generation control does: set it to change on every run.
        page.js("(id) => { for (const w of app.graph.getNodeById(id).widgets || []) if (w.linkedWidgets)"
                " w.linkedWidgets[0].value = 'randomize'; }", node_id)
        submits = emu.submits_accepted
        page.js("async () => { await app.queuePrompt(0, 1); }")
        page.wait_for(f"() => {{ const s = app.graph.getNodeById({json.dumps(node_id)}).__runcomfyStatus;"
                      f" return !!s && s.state === 'done' && s.requestId === '{rid}'; }}", what="the fetched result")
        assert emu.submits_accepted == submits, "the fetch sent a new (paid) submit"
        assert page.js("(id) => app.graph.getNodeById(id).widgets.find((w) => w.name === 'resume_request_id').value",
                       node_id) == "", "resume_request_id is cleared after the fetch"
        check_drawn(page, node_id, f"fetched ({template})")
        if template == TEMPLATES[-1]:
            _frame(page, node_id)
            shot_node(page, node_id, "fetched-real-run")
        assert page.pack_errors() == []
    finally:
        emu.release()
        page.close()


# Every node's box as drawn: from the DOM for Vue nodes (they are taller than their saved size), from
# the graph's pos/size (+ the title bar above pos) on the classic canvas. Screen px for Vue, graph units
# for the canvas: each pair is compared in one unit.
NODE_BOXES_JS = """(vue) => {
  const out = [];
  for (const n of app.graph._nodes) {
    if (vue) {
      const el = document.querySelector(`[data-node-id="${n.id}"]`);
      if (!el) return null;                       // not laid out yet
      const r = el.getBoundingClientRect();
      out.push({ id: n.id, type: n.type, box: [r.left, r.top, r.right, r.bottom] });
    } else {
      const th = LiteGraph.NODE_TITLE_HEIGHT;
      out.push({ id: n.id, type: n.type,
                 box: [n.pos[0], n.pos[1] - th, n.pos[0] + n.size[0], n.pos[1] + n.size[1]] });
    }
  }
  return out;
}"""


def _overlap(a, b, slack=1.0) -> bool:
    return (min(a[2], b[2]) - max(a[0], b[0]) > slack) and (min(a[3], b[3]) - max(a[1], b[1]) > slack)


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_no_two_nodes_of_a_template_overlap(stack, renderer):
    """Issue 18: on Vue nodes the read-me note lay over the Wan node. Every shipped template is loaded
    and every pair of its nodes is checked by geometry, as drawn."""
    page = _start(stack, renderer, "templates")
    vue = renderer == "vue"
    try:
        for template in TEMPLATES:
            # In the view the template opens with (its extra.ds): all of it on a 1400 x 900 window.
            wf_count = page.js("""async (url) => { const wf = await (await fetch(url)).json();
                await app.loadGraphData(wf); return wf.nodes.length; }""",
                               f"/api/workflow_templates/{PACK_NAME}/{template}")
            page.wait_for("(n) => app.graph._nodes.length === n && app.graph._nodes.some((x) => String(x.type)"
                          ".startsWith('RunComfy_'))", wf_count, timeout_s=30, what=f"{template} to load")
            if vue:
                page.wait_for("(n) => document.querySelectorAll('[data-node-id]').length >= n", wf_count,
                              timeout_s=30, what=f"{template}'s Vue nodes")
            # Settled: two reads 400 ms apart agree (a Vue node grows as its preview image or panel loads).
            boxes, settled = None, False
            for _ in range(25):
                now = page.js(NODE_BOXES_JS, vue)
                if now is not None and now == boxes:
                    settled = True
                    break
                boxes = now
                page.page.wait_for_timeout(400)
            assert settled and boxes, f"{template}: the nodes did not settle on {page.frontend}/{renderer}"
            assert len(boxes) == wf_count
            for a, b in ((a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]):
                assert not _overlap(a["box"], b["box"]), (
                    f"{template} on {page.frontend}/{renderer}: {a['type']} {a['box']} overlaps {b['type']} {b['box']}")
            if template.startswith("RunComfy Wan"):
                where = _shots_dir()
                if where is not None:
                    where.mkdir(parents=True, exist_ok=True)
                    page.page.screenshot(path=str(where / f"templates-{page.frontend}-{renderer}.png"))
        assert page.pack_errors() == []
    finally:
        page.close()
