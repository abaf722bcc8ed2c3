"""Nothing a user has breaks (issue 17.6): the node definitions of the Wan 2.6 node and of every
emulator sample node, as ComfyUI's /object_info presents them, equal tests/golden/object_info.json,
and a workflow saved by the pack before the restructuring still lines up with them.

An intentional change of object_info (new option, new widget at the end) regenerates the file with
``python -m devtools.golden`` (or ``REGENERATE_GOLDEN=1 pytest tests/test_golden.py``) and says so
in the commit message."""

from __future__ import annotations

import difflib
import json
import os

from conftest import ROOT
from devtools import golden

SAVED_WORKFLOW = ROOT / "tests" / "fixtures" / "workflows" / "saved-before-issue-18.json"
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def widget_names(info: dict) -> list[str]:
    """The names behind a saved node's widgets_values, in order: widget inputs (not sockets) in
    INPUT_TYPES order, each seed control right after its INT."""
    names = []
    for group in ("required", "optional"):
        for name in info["input_order"].get(group, []):
            kind, *options = info["input"][group][name]
            if isinstance(kind, list) or kind in WIDGET_TYPES:
                names.append(name)
                if options and options[0].get("control_after_generate"):
                    names.append(f"{name}:control_after_generate")
    return names


def test_object_info_equals_the_golden_fixture():
    text = golden.dumps(golden.object_info(ROOT))
    if os.environ.get("REGENERATE_GOLDEN") == "1":
        golden.GOLDEN.write_text(text, encoding="utf-8")
    expected = golden.GOLDEN.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            "tests/golden/object_info.json", "the pack now", n=2))
        raise AssertionError("object_info changed (intentional? run `python -m devtools.golden` and say so "
                             "in the commit):\n" + diff[:6000])


def test_the_golden_fixture_holds_wan_and_the_sample_nodes():
    nodes = json.loads(golden.GOLDEN.read_text(encoding="utf-8"))["nodes"]
    ids = {n["input"]["hidden"]["runcomfy_model_id"] for n in nodes.values()}
    assert golden.WAN_ID in ids and len(ids) == len(nodes) >= 10
    wan = nodes["RunComfy_wan_ai_wan_2_6_image_to_image"]
    assert wan["function"] and wan["output"] and wan["category"].startswith("RunComfy")


def test_a_workflow_saved_before_the_restructuring_lines_up_with_the_golden_widgets():
    """Saved widgets_values are positional: the names saved with them must be the first widgets
    of today's node (new widgets may only be appended)."""
    nodes = json.loads(golden.GOLDEN.read_text(encoding="utf-8"))["nodes"]
    saved = json.loads(SAVED_WORKFLOW.read_text(encoding="utf-8"))
    names = saved["extra"]["runcomfy_fixture"]["widget_names"]
    assert len(saved["nodes"]) == 3
    for node in saved["nodes"]:
        now = widget_names(nodes[node["type"]])
        assert now[:len(names[str(node["id"])])] == names[str(node["id"])], node["type"]
        assert len(node["widgets_values"]) == len(names[str(node["id"])])


def test_widget_names_see_a_reordered_node():
    nodes = json.loads(golden.GOLDEN.read_text(encoding="utf-8"))["nodes"]
    wan = json.loads(json.dumps(nodes["RunComfy_wan_ai_wan_2_6_image_to_image"]))
    order = wan["input_order"]["required"]
    i, j = order.index("negative_prompt"), order.index("image_size")
    order[i], order[j] = order[j], order[i]
    assert widget_names(wan)[:3] == ["prompt", "image_size", "negative_prompt"]
