"""The shipped templates' layout (issue 18: in the Vue renderer the read-me note lay over the model node).

Vue nodes are drawn taller than their saved size (they grow to fit their widgets; a Markdown note grows
to fit its text), so a layout made of canvas sizes overlaps there. tests/make_templates.py puts each node
at the top of its own column; these checks hold that, and that moving the nodes changed nothing a run
or a saved workflow reads (values, links, sockets). Drawn geometry in real browsers:
tests/test_browser_panel.py::test_no_two_nodes_of_a_template_overlap.
"""

from __future__ import annotations

import json
import subprocess
from itertools import combinations

import pytest

from conftest import ROOT

EXAMPLES = ROOT / "example_workflows"
TEMPLATES = sorted(EXAMPLES.glob("*.json"))
# The templates as they were before the layout changed (positions only changed after it).
BEFORE = "aaeaa87"
TITLE_PX = 30          # a canvas node's title bar, drawn above its pos
GAP_PX = 40            # at least this much empty space between columns
TALLEST_LOADER_PX = 520  # a Vue Load Image with its preview (about 450 px drawn on 1.58.1)


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _box(node):
    (x, y), (w, h) = node["pos"], node["size"]
    return x, y - TITLE_PX, x + w, y + h


def _without_layout(doc):
    doc = json.loads(json.dumps(doc))
    doc.get("extra", {}).pop("ds", None)
    for node in doc["nodes"]:
        node.pop("pos"), node.pop("size")
    return doc


def test_there_are_templates():
    assert len(TEMPLATES) == 7, [p.name for p in TEMPLATES]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_no_two_nodes_overlap_on_the_canvas(path):
    nodes = _load(path)["nodes"]
    for a, b in combinations(nodes, 2):
        ax0, ay0, ax1, ay1 = _box(a)
        bx0, by0, bx1, by1 = _box(b)
        assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0, (path.name, a["type"], b["type"])


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_a_node_drawn_taller_grows_into_empty_space(path):
    """Two nodes whose columns overlap (with GAP_PX) are only Load Image nodes, a tall loader's height
    apart: the note, the model's node and the save node have nothing below them, whatever their height."""
    nodes = _load(path)["nodes"]
    for a, b in combinations(nodes, 2):
        ax0, _, ax1, _ = _box(a)
        bx0, _, bx1, _ = _box(b)
        if ax1 + GAP_PX <= bx0 or bx1 + GAP_PX <= ax0:
            continue
        pair = (path.name, a["type"], b["type"])
        assert a["type"] == b["type"] == "LoadImage", f"two nodes in one column: {pair}"
        assert abs(a["pos"][1] - b["pos"][1]) >= TALLEST_LOADER_PX + TITLE_PX + GAP_PX, pair


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_moving_the_nodes_changed_no_value_link_or_socket(path):
    rel = path.relative_to(ROOT).as_posix()
    try:
        old = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:{rel}"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no git here: {exc}")
    if old.returncode != 0:
        pytest.skip(f"{BEFORE} not in this clone's history (shallow clone?)")
    before, after = json.loads(old.stdout), _load(path)
    assert [n["widgets_values"] for n in after["nodes"]] == [n["widgets_values"] for n in before["nodes"]]
    assert after["links"] == before["links"]
    assert _without_layout(after) == _without_layout(before)
    # And the API format (what a run sends) is not touched by the layout at all.
    api = EXAMPLES / "api" / path.name
    old_api = subprocess.run(["git", "-C", str(ROOT), "show", f"{BEFORE}:{api.relative_to(ROOT).as_posix()}"],
                             capture_output=True, text=True, timeout=30)
    assert old_api.returncode == 0 and json.loads(old_api.stdout) == _load(api)
