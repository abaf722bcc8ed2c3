"""Opt-in real-browser checks of issue 18.6 and 18.8 where they meet saved workflows.

- Advanced inputs (18.6): the rarely used pack controls (upload_format, timeout_seconds, submit_anyway;
  image controls on a node without image sockets) are folded on every supported frontend and renderer.
  Vue nodes (1.49, 1.58) fold them themselves from the input options ("Show advanced inputs"); on the
  classic canvas (1.27, 1.49, 1.58) the extension (web/lib/compat.js) marks them so the canvas folds
  them too, with no empty row, and the node menu's own "Show Advanced" / "Hide Advanced" unfolds and
  folds them. A workflow saved before issue 18 loads with every value (folded ones too) and runs
  with them (tests/fixtures/workflows/saved-before-issue-18.json).
- Sockets (18.8): a workflow saved when lists had at most 9 image / 3 video / 3 audio sockets (links by
  slot index) loads with every link on the socket of the same name, now that the model's 12-item lists
  get 12 sockets each, and a run sends each linked file where it was linked
  (tests/fixtures/workflows/saved-with-fewer-sockets.json).
- Labels (18.7, ``-k labels``): every widget and socket shows the schema's title (input option display_name,
  or the pack's translation) on every frontend, 1.27.10 included (it labels widgets with their names), read
  from what the canvas drew (fillText) or the Vue node's visible label elements; a user's label stays.

Same commands as tests/test_browser.py, e.g. core 0.3.64 + 1.27.10::

    COMFYUI_DIR=/work/comfy/c064/ComfyUI COMFYUI_PYTHON=/work/comfy/c064/venv/bin/python \\
        .venv/bin/python -m pytest -q tests/test_browser_sockets.py

core 0.33.0 + 1.49.6 (COMFYUI_DIR=/work/comfy/c033/ComfyUI, its venv), and 1.58.1 with
COMFYUI_FRONTEND_ROOT=<frontend-1.58.1>/comfyui_frontend_package/static. Screenshots go to
docs/screenshots/issue-18/ when RUNCOMFY_KEEP_SCREENSHOTS=1 (or to RUNCOMFY_SCREENSHOTS).
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import secrets
from pathlib import Path

import pytest

from conftest import ROOT
from test_browser import Page, _set_renderer, pytestmark  # noqa: F401 - the browser suite's skip marks

FIXTURES = ROOT / "tests" / "fixtures" / "workflows"
SAVED_BEFORE_18 = FIXTURES / "saved-before-issue-18.json"
FEWER_SOCKETS = FIXTURES / "saved-with-fewer-sockets.json"

# A model whose lists are longer than the pack's sockets were before issue 18 (fedee35): images above
# 9, videos and audios above 3. The emulator's reference-to-video sample with 12-item lists.
MANY_ID = "emulator-samples/video-gen/many-references"
MANY_CLASS = "RunComfy_emulator_samples_video_gen_many_references"
SOCKET_TYPES = ("IMAGE", "VIDEO", "AUDIO")
OLD_CAPS = {"IMAGE": 9, "VIDEO": 3, "AUDIO": 3}     # runcomfy/kinds max_sockets before fedee35
# What the fixture links, and how each file is told apart in the request the emulator receives.
LINKED_IMAGES = {"image_1": 320, "image_2": 352, "image_9": 384}          # width (px), height 256
LINKED_VIDEOS = {"video_1": 160, "video_3": 224}                           # width (px), height 96
LINKED_AUDIOS = {"audio_1": 1.0, "audio_2": 1.5}                           # seconds
PACK_ADVANCED = ("upload_format", "timeout_seconds", "submit_anyway")
SHOT_PREFIXES = ("advanced-", "sockets-")


def many_entry() -> dict:
    from runcomfy.emulator.catalog import sample_entries
    [base] = [e for e in sample_entries() if e["model_id"] == "emulator-samples/video-gen/reference-to-video"]
    entry = copy.deepcopy(base)
    entry["model_id"] = MANY_ID
    entry["display_name"] = "Emulator test: 12 references of each kind (offline, not a real model)"
    for name in ("images", "videos", "audios"):
        entry["input_schema"]["properties"][name]["maxItems"] = 12
    return entry


def input_file(socket: str) -> str:
    ext = {"image": "png", "video": "mp4", "audio": "wav"}[socket.split("_")[0]]
    return f"rc_sockets_{socket}.{ext}"


def write_inputs(folder: Path) -> None:
    """The files the fixture's loaders read, each one told apart by its size or length."""
    import numpy as np
    from PIL import Image

    from runcomfy.media.codecs import audio as audio_codec
    from runcomfy.media.codecs import video as video_codec
    for socket, width in LINKED_IMAGES.items():
        Image.new("RGB", (width, 256), (40, 120, 200)).save(folder / input_file(socket))
    for socket, width in LINKED_VIDEOS.items():
        frames = np.full((6, 96, width, 3), 90, dtype=np.uint8)
        video_codec.encode_frames(frames, 12, dst=folder / input_file(socket))
    for socket, seconds in LINKED_AUDIOS.items():
        (folder / input_file(socket)).write_bytes(audio_codec.encode_wav(audio_codec.tone(440.0, seconds)))


AUDIO_CLASS = "RunComfy_emulator_samples_audio_gen_text_to_audio"      # no image sockets
WAN_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"                  # image sockets


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from browser_stack import browser_stack
    with browser_stack(tmp_path_factory.mktemp("comfy_sockets"), ready_classes=[MANY_CLASS, AUDIO_CLASS, WAN_CLASS],
                       entries=[many_entry()], processing_time=1.0, inputs=write_inputs) as s:
        yield s


def _shots_dir() -> Path | None:
    if os.environ.get("RUNCOMFY_SCREENSHOTS"):
        return Path(os.environ["RUNCOMFY_SCREENSHOTS"])
    if os.environ.get("RUNCOMFY_KEEP_SCREENSHOTS") == "1":
        return ROOT / "docs" / "screenshots" / "issue-18"
    return None


NODE_BOX_JS = """(id) => {
  const node = app.graph.getNodeById(id);
  const el = document.querySelector(`[data-node-id="${id}"]`);
  if (el && el.offsetParent !== null) { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }
  const ds = app.canvas.ds; const c = app.canvas.canvas.getBoundingClientRect(); const th = LiteGraph.NODE_TITLE_HEIGHT;
  return [(node.pos[0] + ds.offset[0]) * ds.scale + c.left, (node.pos[1] - th + ds.offset[1]) * ds.scale + c.top,
          (node.pos[0] + node.size[0] + ds.offset[0]) * ds.scale + c.left,
          (node.pos[1] + node.size[1] + ds.offset[1]) * ds.scale + c.top];
}"""


def shot(page: Page, name: str, node_ids=()) -> Path | None:
    """A screenshot named advanced-* / sockets-* (of the nodes' boxes when given); kept only when asked."""
    assert name.startswith(SHOT_PREFIXES), name
    where = _shots_dir()
    if where is None:
        return None
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{name}-{page.frontend}-{page.label}.png"
    clip = None
    if node_ids:
        boxes = [page.js(NODE_BOX_JS, i) for i in node_ids]
        x0, y0 = max(0, min(b[0] for b in boxes) - 12), max(0, min(b[1] for b in boxes) - 12)
        x1, y1 = min(1400, max(b[2] for b in boxes) + 12), min(900, max(b[3] for b in boxes) + 12)
        clip = {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}
    page.page.screenshot(path=str(path), clip=clip)
    return path


def _start(stack, renderer: str, label: str) -> Page:
    page = Page(stack, f"{label}-{renderer}")
    if not _set_renderer(page, renderer == "vue") and renderer == "vue":
        page.close()
        pytest.skip(f"frontend {page.frontend} has no public Vue node renderer")
    return page


def _view(page: Page, node_id, scale: float = 1.0) -> None:
    """The node at the top left of the canvas view."""
    page.js("""([id, s]) => { const n = app.graph.getNodeById(id); const ds = app.canvas.ds; ds.scale = s;
        ds.offset = [220 / s - n.pos[0], 120 / s - n.pos[1]]; app.canvas.setDirty(true, true); }""", [node_id, scale])
    page.page.wait_for_timeout(400)


# The widgets of a node as the canvas lays them out: name, drawn or not, y and the room it takes.
WIDGETS_JS = """(id) => { const n = app.graph.getNodeById(id); app.canvas.draw(true, true);
  return { size: [n.size[0], n.size[1]], want: n.computeSize()[1], show: !!n.showAdvanced,
    widgets: n.widgets.map((w) => ({ name: w.name, shown: n.isWidgetVisible(w), y: w.y, h: w.computedHeight ?? null,
      advanced: !!(w.advanced ?? w.options?.advanced), hidden: !!(w.hidden ?? w.options?.hidden) })) }; }"""


def _layout(page: Page, node_id) -> dict:
    return page.js(WIDGETS_JS, node_id)


def _folded_on_canvas(lay: dict) -> set[str]:
    """What the classic canvas folds while "Show Advanced" is off: hidden and advanced widgets, on every
    frontend (1.49 and 1.58 fold advanced inputs on Vue nodes only; the extension folds them on the canvas)."""
    return {w["name"] for w in lay["widgets"] if w["hidden"] or w["advanced"]}


def _assert_folded_without_gaps(lay: dict, folded: set[str], where: str) -> None:
    shown = {w["name"]: w for w in lay["widgets"]}
    for name in folded:
        assert not shown[name]["shown"], f"{name} is drawn ({where}): {lay}"
    for name in set(shown) - folded:
        assert shown[name]["shown"], f"{name} is not drawn ({where}): {lay}"
    rows = [w for w in lay["widgets"] if w["shown"]]
    for a, b in zip(rows, rows[1:]):
        assert b["y"] - a["y"] == pytest.approx(a["h"], abs=1), f"a gap between {a['name']} and {b['name']} ({where}): {lay}"


def _node_menu(page: Page, node_id, entry: str) -> bool:
    """Right-clicks the node's title and picks `entry` from the menu the canvas opens; False when the
    menu has no such entry."""
    x0, y0, _, _ = page.js(NODE_BOX_JS, node_id)
    page.page.mouse.click(x0 + 60, y0 + 14, button="right")
    item = page.page.get_by_text(entry, exact=True).locator("visible=true")
    try:
        item.first.wait_for(state="visible", timeout=5000)
    except Exception:  # noqa: BLE001 - no such entry on this frontend's menu
        page.page.keyboard.press("Escape")
        return False
    item.first.click()
    page.page.wait_for_timeout(500)
    return True


def _new_node(page: Page, cls: str, pos=(100, 100)) -> int:
    return page.js("""([cls, pos]) => { app.graph.clear(); const n = LiteGraph.createNode(cls); n.pos = pos;
        app.graph.add(n); app.canvas.setDirty(true, true); return n.id; }""", [cls, list(pos)])


def test_rarely_used_controls_are_folded_and_the_node_menu_unfolds_them_on_the_canvas(stack):
    page = _start(stack, "canvas", "advanced")
    try:
        for cls, folded, hidden in ((AUDIO_CLASS, {*PACK_ADVANCED, "fit_inputs_to_limits"}, {"upload_format", "fit_inputs_to_limits"}),
                                    (WAN_CLASS, set(PACK_ADVANCED), set())):
            node_id = _new_node(page, cls)
            _view(page, node_id)
            page.page.wait_for_timeout(600)
            lay = _layout(page, node_id)
            where = f"{cls} on {page.frontend}"
            assert _folded_on_canvas(lay) == folded, (where, lay)
            _assert_folded_without_gaps(lay, folded, where)
            flags = {w["name"]: w for w in lay["widgets"]}
            assert {n for n in flags if flags[n]["advanced"]} == set(PACK_ADVANCED), (where, lay)
            assert {n for n in flags if flags[n]["hidden"]} == hidden, (where, lay)
            assert lay["size"][1] == pytest.approx(lay["want"], abs=1), f"room left for folded widgets ({where}): {lay}"
            kind = "no-images" if hidden else "images"
            shot(page, f"advanced-folded-{kind}", [node_id])

            assert _node_menu(page, node_id, "Show Advanced"), f"no 'Show Advanced' in the node menu ({where})"
            page.page.wait_for_timeout(400)
            shown = _layout(page, node_id)
            _assert_folded_without_gaps(shown, hidden, where + " after Show Advanced")
            for name in set(PACK_ADVANCED) - hidden:
                assert next(w for w in shown["widgets"] if w["name"] == name)["shown"], (name, where, shown)
            assert shown["size"][1] >= lay["size"][1] + 24 * len(set(PACK_ADVANCED) - hidden) - 1, (lay, shown)
            shot(page, f"advanced-shown-{kind}", [node_id])
            assert _node_menu(page, node_id, "Hide Advanced"), f"no 'Hide Advanced' ({where})"
            again = _layout(page, node_id)
            _assert_folded_without_gaps(again, folded, where + " after Hide Advanced")
            assert again["size"][1] == pytest.approx(lay["size"][1], abs=1), (lay, again)   # the room given back
            # folded, not gone: every value is still saved in place
            values = page.js(f"() => app.graph.getNodeById({node_id}).serialize().widgets_values")
            assert len(values) == len([w for w in lay["widgets"] if w["name"] != "runcomfy_status"]), values
        assert page.pack_errors() == []
    finally:
        page.close()


def test_rarely_used_controls_are_folded_on_vue_nodes(stack):
    page = _start(stack, "vue", "advanced")
    try:
        node_id = _new_node(page, WAN_CLASS)
        page.wait_for(f"() => !!document.querySelector('[data-node-id=\"{node_id}\"]')", timeout_s=20,
                      what="the Vue node")
        page.page.wait_for_timeout(800)
        text = page.js(f"() => document.querySelector('[data-node-id=\"{node_id}\"]').innerText")
        assert re.search(r"variations", text, re.I), text
        for name, label in (("timeout_seconds", "Timeout (seconds)"), ("submit_anyway", "Submit anyway")):
            assert name not in text and label not in text, f"{label} shown on the Vue node: {text!r}"
        shot(page, "advanced-folded-vue", [node_id])
        page.page.get_by_text(re.compile(r"^\s*Show advanced inputs\s*$", re.I)).first.click()
        page.wait_for(f"() => /Timeout \\(seconds\\)|timeout_seconds/.test(document.querySelector("
                      f"'[data-node-id=\"{node_id}\"]').innerText)", timeout_s=10, what="the advanced inputs")
        page.page.wait_for_timeout(500)
        shot(page, "advanced-shown-vue", [node_id])
        assert page.pack_errors() == []
    finally:
        page.close()


def _open(page: Page, workflow: dict) -> None:
    page.js("async (wf) => { await app.loadGraphData(wf); }", copy.deepcopy(workflow))
    page.page.wait_for_timeout(1200)


def _history_prompt(comfy, wanted: set[str], timeout_s: float = 60) -> dict:
    """The inputs ComfyUI ran with for the prompt that holds the node ids `wanted` (newest first)."""
    from comfyui_harness import _wait_until

    def found():
        for entry in reversed(list(comfy.get("/history").json().values())):
            graph = entry["prompt"][2]
            if wanted <= set(graph) and entry.get("status", {}).get("completed") is not None:
                return graph
        return None
    return _wait_until(found, timeout_s, 0.3, what="the prompt in ComfyUI's history")


def test_a_workflow_saved_before_issue_18_loads_folded_and_runs_with_its_values(stack):
    saved = json.loads(SAVED_BEFORE_18.read_text(encoding="utf-8"))
    names = saved["extra"]["runcomfy_fixture"]["widget_names"]
    page = _start(stack, "canvas", "saved")
    try:
        _open(page, saved)
        ours = [n for n in saved["nodes"] if str(n["type"]).startswith("RunComfy_")]
        for n in ours:
            now = page.js("(id) => app.graph.getNodeById(id).serialize().widgets_values", n["id"])
            assert now[:len(n["widgets_values"])] == n["widgets_values"], (n["type"], now)
            lay = _layout(page, n["id"])
            folded = _folded_on_canvas(lay)
            assert set(PACK_ADVANCED) <= folded, (n["type"], lay)
            _assert_folded_without_gaps(lay, folded, f"saved {n['type']} on {page.frontend}")
        # The saved nodes lie on top of each other: side by side for the picture (positions are not values).
        page.js("(ids) => { ids.forEach((id, i) => { app.graph.getNodeById(id).pos = [i * 430, 0]; }); }",
                [n["id"] for n in ours])
        _view(page, ours[0]["id"], scale=0.75)
        shot(page, "advanced-saved-before-issue-18-loaded", [n["id"] for n in ours])
        # Something to run: each node's request id into a preview (the saved graph has no output node).
        page.js("""() => { for (const n of [...app.graph._nodes]) { if (!String(n.type).startsWith('RunComfy_')) continue;
            const p = LiteGraph.createNode('PreviewAny'); p.pos = [n.pos[0], n.pos[1] + n.size[1] + 60]; app.graph.add(p);
            n.connect(n.outputs.findIndex((o) => o.name === 'request_id'), p, 0); } }""")
        page.js("async () => { await app.queuePrompt(0, 1); }")
        # The text-to-audio node runs (its saved dry_run is on: the report is its result); the other two
        # lack their required image and are refused by ComfyUI's validation, as they were when saved.
        page.wait_for("() => (document.querySelector('[data-runcomfy-panel]') && [...document.querySelectorAll("
                      "'[data-runcomfy-panel]')].some((e) => e.innerText.includes('saved lyrics')))", timeout_s=60,
                      what="the dry run report of the saved text-to-audio node")
        ran = _history_prompt(page.comfy, {str(n["id"]) for n in ours})
        for n in ours:
            inputs = ran[str(n["id"])]["inputs"]
            for name, value in zip(names[str(n["id"])], n["widgets_values"]):
                if not name.endswith(":control_after_generate"):
                    assert inputs[name] == value, (n["type"], name, inputs[name], value)
        audio = next(n for n in ours if n["type"] == AUDIO_CLASS)
        _view(page, audio["id"], scale=0.8)
        shot(page, "advanced-saved-before-issue-18-ran", [audio["id"]])
        assert page.pack_errors() == []
    finally:
        page.close()


def _fixture_sockets(workflow: dict) -> tuple[dict, dict[int, str]]:
    [node] = [n for n in workflow["nodes"] if n["type"] == MANY_CLASS]
    by_link = {i["link"]: i["name"] for i in node["inputs"] if i.get("link") is not None}
    return node, by_link


LINKS_JS = """(id) => { const n = app.graph.getNodeById(id);
  const links = app.graph.links; const get = (l) => (links.get ? links.get(l) : links[l]);
  return { inputs: n.inputs.map((i) => [i.name, i.type, i.link ?? null]),
    links: n.inputs.filter((i) => i.link != null).map((i) => { const l = get(i.link);
      return { id: i.link, socket: i.name, slot: l.target_slot, target: l.target_id, origin: l.origin_id,
               origin_type: app.graph.getNodeById(l.origin_id).type, type: l.type }; }) }; }"""


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_a_workflow_saved_with_fewer_sockets_keeps_every_link_on_its_socket_and_runs(stack, renderer):
    from runcomfy.media.codecs import audio as audio_codec
    from runcomfy.media.codecs import video as video_codec
    from PIL import Image

    saved = json.loads(FEWER_SOCKETS.read_text(encoding="utf-8"))
    node, by_link = _fixture_sockets(saved)
    page = _start(stack, renderer, "sockets")
    try:
        # The fixture is the earlier layout of today's node: today's sockets, each list cut at the old caps.
        today = [tuple(x) for x in page.js("""(cls) => { const n = LiteGraph.createNode(cls);
            return n.inputs.filter((i) => !i.widget).map((i) => [i.name, i.type]); }""", MANY_CLASS)]
        assert {t: sum(1 for _, k in today if k == t) for t in SOCKET_TYPES} == {"IMAGE": 12, "VIDEO": 12, "AUDIO": 12}
        kept = [name for name, kind in today if int(name.rsplit("_", 1)[1]) <= OLD_CAPS[kind]]
        assert [i["name"] for i in node["inputs"] if i["type"] in SOCKET_TYPES] == kept
        moved = {name for name, slot in saved["extra"]["runcomfy_fixture"]["linked_sockets"].items()
                 if [n for n, _ in today].index(name) != slot}
        assert moved >= {"video_1", "video_3", "audio_1", "audio_2"}, moved   # by index they would land elsewhere

        _open(page, saved)
        got = page.js(LINKS_JS, node["id"])
        assert [(name, kind) for name, kind, _ in got["inputs"] if kind in SOCKET_TYPES] == today
        assert {l["id"]: l["socket"] for l in got["links"]} == by_link, got["links"]
        for link in got["links"]:
            slot = [name for name, _, _ in got["inputs"]].index(link["socket"])
            assert link["slot"] == slot and str(link["target"]) == str(node["id"]), link
            kind = link["socket"].split("_")[0]
            assert link["type"] == kind.upper() and link["origin_type"] == "Load" + kind.capitalize(), link
        assert len(page.js("() => (app.graph.serialize().links || [])")) == len(saved["links"])
        if not page.frontend.startswith("1.27."):
            # Every socket shows its label, the saved ones (saved without one) like the newer ones.
            spec = page.comfy.get(f"/object_info/{MANY_CLASS}").json()[MANY_CLASS]["input"]
            spec = {**spec.get("required", {}), **spec.get("optional", {})}
            shown = page.js("(id) => app.graph.getNodeById(id).inputs.filter((i) => !i.widget)"
                            ".map((i) => [i.name, i.label || i.localized_name || i.name])", node["id"])
            assert shown == [[name, spec[name][1]["display_name"]] for name, _ in today], shown
        values = page.js("(id) => app.graph.getNodeById(id).serialize().widgets_values", node["id"])
        assert values[:len(node["widgets_values"])] == node["widgets_values"], values

        page.js("() => { const ds = app.canvas.ds; ds.scale = 0.62; ds.offset = [40, 30]; app.canvas.setDirty(true, true); }")
        page.page.wait_for_timeout(800)
        shot(page, "sockets-saved-with-3-loaded")

        # A run sends each file where it was linked (a new prompt text: no cached or journaled result).
        tag = secrets.token_hex(4)
        page.js("([id, tag]) => { const w = app.graph.getNodeById(id).widgets.find((w) => w.name === 'prompt');"
                " w.value = w.value + ' ' + tag; }", [node["id"], tag])
        emu = stack["emu"]
        before = set(emu.jobs)
        page.js("async () => { await app.queuePrompt(0, 1); }")
        from comfyui_harness import _wait_until
        _wait_until(lambda: [j for r, j in list(emu.jobs.items()) if r not in before and j.model_id == MANY_ID
                             and tag in str(j.payload.get("prompt"))], 120, 0.3,
                    what=f"the run to reach the emulator ({page.frontend}/{renderer})")
        [job] = [j for r, j in list(emu.jobs.items()) if r not in before and j.model_id == MANY_ID]
        widths = [Image.open(io.BytesIO(raw)).size for raw in job.inputs]
        assert widths == [(w, 256) for w in LINKED_IMAGES.values()], widths
        videos = [video_codec.probe(raw).width for kind, raw in job.media if kind == "video"]
        assert videos == list(LINKED_VIDEOS.values()), videos
        audios = [audio_codec.probe(raw).duration_s for kind, raw in job.media if kind == "audio"]
        assert audios == pytest.approx(list(LINKED_AUDIOS.values()), abs=0.1), audios
        page.wait_for("() => [...document.querySelectorAll('[data-runcomfy-panel]')].some((e) => /done/.test(e.innerText))",
                      timeout_s=60, what="the node to show done")
        shot(page, "sockets-saved-with-3-ran")
        assert page.pack_errors() == []
    finally:
        page.close()


# Issue 18.7: the schema's title (input option display_name) as the label of every widget and socket,
# on 1.27.10 too, where the frontend labels widgets with their names; a label the user set stays.
I2V_CLASS = "RunComfy_emulator_samples_video_gen_image_to_video"    # emulator sample: titled sockets + textareas
LABEL_CLASSES = (WAN_CLASS, I2V_CLASS)

# What the frontend draws for each input, by its own drawing rules, plus the texts the canvas really drew:
# widgets: BaseWidget.displayName (label || name) for canvas-drawn ones, the textarea's placeholder for
# multiline DOM ones; sockets: label || localized_name || name (LGraphNode's slot drawing, InputSlot.vue).
DRAWN_JS = """(ids) => {
  const texts = [];
  const proto = CanvasRenderingContext2D.prototype; const fill = proto.fillText;
  proto.fillText = function (t, ...rest) { texts.push(String(t)); return fill.call(this, t, ...rest); };
  try { app.canvas.draw(true, true); } finally { proto.fillText = fill; }
  const nodes = ids.map((id) => { const n = app.graph.getNodeById(id);
    return { id, type: n.type,
      widgets: n.widgets.map((w) => { const el = w.inputEl ?? w.element;
        return { name: w.name, shown: n.isWidgetVisible ? n.isWidgetVisible(w) : !w.hidden,
          text: w.displayName ?? w.label ?? w.name, dom: !!el, placeholder: el && typeof el.placeholder === 'string' ? el.placeholder : null }; }),
      inputs: n.inputs.map((i) => ({ name: i.name, widget: !!i.widget, label: i.label ?? null,
        text: i.label || i.localized_name || i.name })),
      values: n.serialize().widgets_values }; });
  return { texts, nodes };
}"""

# Vue nodes: each visible element inside the node whose own text is `label` (its box), and textareas' placeholders.
VUE_LABELS_JS = """([id, labels]) => {
  const root = document.querySelector(`[data-node-id="${id}"]`); const box = root.getBoundingClientRect();
  const own = (e) => [...e.childNodes].filter((c) => c.nodeType === 3).map((c) => c.textContent).join('').trim();
  const found = {};
  for (const e of root.querySelectorAll('*')) {
    const t = own(e); if (!labels.includes(t) || found[t]) continue;
    const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
    if (r.width < 1 || r.height < 1 || s.visibility === 'hidden' || s.display === 'none') continue;
    found[t] = { box: [r.left, r.top, r.right, r.bottom], html: e.children.length };
  }
  const placeholders = [...root.querySelectorAll('textarea')].map((t) => t.placeholder);
  return { node: [box.left, box.top, box.right, box.bottom], found, placeholders, text: root.innerText };
}"""


def _titles(comfy, cls: str) -> dict:
    """display_name, hidden, advanced of each input, from the node's definition; display_name is what every
    frontend shows: the pack's English translation (locales/en/nodeDefs.json) where it has one, else the title."""
    spec = comfy.get(f"/object_info/{cls}").json()[cls]["input"]
    spec = {**spec.get("required", {}), **spec.get("optional", {})}
    english = json.loads((ROOT / "locales" / "en" / "nodeDefs.json").read_text(encoding="utf-8")).get(cls, {}).get("inputs", {})
    out = {}
    for name, s in spec.items():
        opts = dict(s[1]) if len(s) > 1 and isinstance(s[1], dict) else {}
        if opts.get("display_name") and english.get(name, {}).get("name"):
            opts["display_name"] = english[name]["name"]
        out[name] = opts
    return out


def _new_nodes(page: Page, classes) -> list:
    return page.js("""(classes) => { app.graph.clear(); return classes.map((cls, i) => { const n = LiteGraph.createNode(cls);
        n.pos = [60 + i * 470, 80]; app.graph.add(n); return n.id; }); }""", list(classes))


def _labels_shot(page: Page, renderer: str, ids) -> Path | None:
    where = _shots_dir()
    if where is None:
        return None
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"labels-{page.frontend}-{renderer}.png"
    boxes = [page.js(NODE_BOX_JS, i) for i in ids]
    x0, y0 = max(0, min(b[0] for b in boxes) - 12), max(0, min(b[1] for b in boxes) - 30)
    x1, y1 = min(1400, max(b[2] for b in boxes) + 12), min(900, max(b[3] for b in boxes) + 12)
    page.page.screenshot(path=str(path), clip={"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0})
    return path


def _expect_titles(drawn: dict, titles: dict, where: str) -> list[str]:
    """Checks one node's widgets and sockets against the titles; returns the labels a user sees drawn."""
    seen = []
    for w in drawn["widgets"]:
        title = titles.get(w["name"], {}).get("display_name")
        if not title:
            continue
        assert w["text"] == title, f"widget {w['name']} is labelled {w['text']!r}, not {title!r} ({where})"
        if w["dom"] and w["placeholder"] is not None:
            assert w["placeholder"] in (title, titles[w["name"]].get("placeholder")), (w, where)
        if w["shown"] and not w["dom"]:
            seen.append(title)
    for i in drawn["inputs"]:
        title = titles.get(i["name"], {}).get("display_name")
        if title and not i["widget"]:
            assert i["text"] == title, f"socket {i['name']} shows {i['text']!r}, not {title!r} ({where})"
            seen.append(title)
    return seen


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_labels_are_the_schemas_titles_and_a_users_label_stays(stack, renderer):
    page = _start(stack, renderer, "labels")
    try:
        titles = {cls: _titles(page.comfy, cls) for cls in LABEL_CLASSES}
        ids = _new_nodes(page, LABEL_CLASSES)
        where = f"{page.frontend}/{renderer}"
        if renderer == "vue":
            for i in ids:
                page.wait_for(f"() => !!document.querySelector('[data-node-id=\"{i}\"]')", timeout_s=20, what="the Vue node")
        else:
            page.js("() => { const ds = app.canvas.ds; ds.scale = 1; ds.offset = [0, 0]; app.canvas.setDirty(true, true); }")
        page.page.wait_for_timeout(1000)
        got = page.js(DRAWN_JS, ids)
        for node, cls in zip(got["nodes"], LABEL_CLASSES):
            # Names and their order are the definition's (saved workflows and prompts hold them).
            names = [w["name"] for w in node["widgets"] if w["name"] in titles[cls]]
            assert names == [n for n in titles[cls] if n in names], (cls, names)
            seen = _expect_titles(node, titles[cls], f"{cls} on {where}")
            assert {"Magic prompt", "Image size (width*height)", "Reference image 1"} <= set(seen) if cls == WAN_CLASS \
                else {"First frame", "Last frame", "Duration (s)", "Resolution"} <= set(seen), (cls, seen)
            if renderer == "canvas":
                # What the canvas really drew (fillText): every title of a drawn widget and socket, and no
                # raw name of an input that has a title.
                missing = [t for t in seen if not any(t == d or (d.endswith("…") and t.startswith(d[:-1])) for d in got["texts"])]
                assert not missing, f"not drawn on {where}: {missing}; drawn: {got['texts']}"
                raw = [n for n, o in titles[cls].items() if o.get("display_name") and o["display_name"] != n and n in got["texts"]]
                assert not raw, f"raw input names drawn on {where}: {raw}"
        if renderer == "vue":
            for node_id, node, cls in zip(ids, got["nodes"], LABEL_CLASSES):
                want = [titles[cls][w["name"]]["display_name"] for w in node["widgets"]
                        if titles[cls].get(w["name"], {}).get("display_name") and not w["dom"]
                        and not titles[cls][w["name"]].get("advanced") and not titles[cls][w["name"]].get("hidden")]
                want += [titles[cls][i["name"]]["display_name"] for i in node["inputs"]
                         if not i["widget"] and titles[cls].get(i["name"], {}).get("display_name")]
                vue = page.js(VUE_LABELS_JS, [node_id, want])
                assert set(vue["found"]) == set(want), f"labels not shown on the Vue node {cls} ({where}): " \
                    f"{sorted(set(want) - set(vue['found']))}; text: {vue['text']!r}"
                nx0, ny0, nx1, ny1 = vue["node"]
                for label, seen_at in vue["found"].items():
                    x0, y0, x1, y1 = seen_at["box"]
                    assert nx0 - 1 <= x0 and x1 <= nx1 + 1 and ny0 - 1 <= y0 and y1 <= ny1 + 1, (label, seen_at, vue["node"])
                    assert seen_at["html"] == 0, f"{label!r} has child elements: text is data ({where})"
                dom_titles = [titles[cls][w["name"]]["display_name"] for w in node["widgets"] if w["dom"]
                              and titles[cls].get(w["name"], {}).get("display_name")]
                for t in dom_titles:
                    assert t in vue["placeholders"] or t in vue["found"] or t in vue["text"], (t, vue["placeholders"], where)
        if renderer == "canvas":
            _view(page, ids[0], scale=0.8)
        shot_path = _labels_shot(page, renderer, ids)

        # The user renames a socket (Rename Slot) and, where the frontend can, a widget (1.49+: Rename Widget
        # sets the widget's and its socket's label); saved and loaded, those labels stay, the rest are titles.
        i2v = ids[1]
        page.js("""(id) => { const n = app.graph.getNodeById(id);
            n.inputs.find((i) => i.name === 'image').label = 'My start';
            const w = n.widgets.find((w) => w.name === 'duration'); const s = n.inputs.find((i) => i.widget?.name === 'duration');
            w.label = 'How long'; if (s) s.label = 'How long'; }""", i2v)
        workflow = page.js("() => app.graph.serialize()")
        [saved] = [n for n in workflow["nodes"] if str(n["id"]) == str(i2v)]
        # The extension shows titles through localized_name: nothing saved as if the user had set it (1.49 itself
        # saves a socket's title as its label).
        others = {i["name"]: i.get("label") for i in saved["inputs"] if i["name"] not in ("image", "duration")}
        allowed = {None} | ({titles[I2V_CLASS][n].get("display_name") for n in others} if page.frontend.startswith("1.49.") else set())
        assert all(label in allowed for label in others.values()), f"titles saved as user labels ({where}): {others}"
        _open(page, workflow)
        again = page.js(DRAWN_JS, ids)
        node = next(n for n in again["nodes"] if str(n["id"]) == str(i2v))
        text = {i["name"]: i["text"] for i in node["inputs"]}
        assert text["image"] == "My start" and text["end_image"] == "Last frame", (text, where)
        widget = {w["name"]: w["text"] for w in node["widgets"]}
        if not page.frontend.startswith("1.27."):   # 1.27 has no widget rename and keeps no widget label
            assert widget["duration"] == "How long", (widget, where)
        assert widget["resolution"] == "Resolution" and widget["prompt"] == "Prompt", (widget, where)
        assert node["values"] == saved["widgets_values"], (node["values"], saved["widgets_values"])
        assert page.pack_errors() == []
        if shot_path is not None:
            assert shot_path.stat().st_size > 10_000, shot_path
    finally:
        page.close()
