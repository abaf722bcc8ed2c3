"""A node already on the canvas after Settings › Refresh model catalog changed its model (issue
16.5): ComfyUI keeps running the instance it made of the old class, so the run reads the model's
new schema and maps the node's arguments onto it by name, or stops before any submit with a
message to reload the node. Through the pack loaded as ComfyUI loads it, the refresh route's
function and a stand-in of ComfyUI's registry, against the emulator over real sockets."""

from __future__ import annotations

import asyncio
import inspect
import sys
import types

import pytest

from conftest import ROOT, load_pack
from runcomfy import catalog

TOKEN = "tok-node-refresh-0123456789"
MODEL = "acme/flux-lite/text-to-image"
CLASS = "RunComfy_acme_flux_lite_text_to_image"

BASE_PROPS = {
    "prompt": {"type": "string", "title": "Prompt"},
    "negative_prompt": {"type": "string", "title": "Negative prompt"},
    "steps": {"type": "integer", "minimum": 1, "maximum": 50, "default": 20},
    "seed": {"type": "integer", "minimum": 0, "maximum": 2147483647},
}


def doc(props: dict, required=("prompt",)) -> dict:
    return {"model_id": MODEL, "kind": "model", "display_name": "Flux Lite", "categories": ["text-to-image"],
            "base_price_usd": 0.02, "price_unit": "per image",
            "input_schema": {"type": "object", "required": list(required), "properties": props}}


class FakeComfyRegistry(types.ModuleType):
    """Stands in for ComfyUI's nodes.py: the registry /object_info and the executor read."""

    def __init__(self):
        super().__init__("nodes")
        self.NODE_CLASS_MAPPINGS = {}
        self.NODE_DISPLAY_NAME_MAPPINGS = {}

    def load_custom_node(self, *a, **k):
        raise AssertionError("not called")


class FakeServer:
    def __init__(self):
        self.texts = []

    def send_progress_text(self, text, node_id):
        self.texts.append((node_id, text))

    def send_sync(self, event, data, sid=None):
        pass


@pytest.fixture
def canvas(start_emulator, monkeypatch, isolated_env):
    """The model's node made at start-up from the catalog (v1), and ComfyUI's instance of it."""
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.1)
    emu.serve_catalog([doc(BASE_PROPS)])
    assert catalog.sync(isolated_env / "config", token=TOKEN, base_url=emu.base_url).ok
    monkeypatch.setenv("RUNCOMFY_CATALOG_REFRESH", "0")
    pack = load_pack(ROOT)
    registry = FakeComfyRegistry()
    registry.NODE_CLASS_MAPPINGS.update(pack.NODE_CLASS_MAPPINGS)      # what ComfyUI merged at start
    monkeypatch.setitem(sys.modules, "nodes", registry)
    server = FakeServer()
    monkeypatch.setattr(pack.nodes.comfy, "prompt_server", lambda: server)
    old = pack.NODE_CLASS_MAPPINGS[CLASS]
    return emu, pack, registry, old(), server


def refresh(pack, emu, props, required=("prompt",)):
    emu.serve_catalog([doc(props, required)])
    status, body = asyncio.run(pack.nodes.catalog_api.refresh_async())
    assert status == 200 and body["ok"] and body["changed_ids"] == [MODEL], body


def run(instance, **kw):
    out = getattr(instance, instance.FUNCTION)(unique_id="21", **kw)
    return asyncio.run(out) if inspect.isawaitable(out) else out


def test_a_refresh_adding_guidance_sends_it_from_the_node_already_on_the_canvas(canvas):
    emu, pack, registry, old_instance, _ = canvas
    refresh(pack, emu, {**BASE_PROPS, "guidance": {"type": "number", "minimum": 0, "maximum": 20, "default": 3.5}})
    new_cls = registry.NODE_CLASS_MAPPINGS[CLASS]
    assert new_cls is not type(old_instance) and "guidance" in new_cls.INPUT_TYPES()["required"]
    # ComfyUI validated the prompt with the new class (guidance=7 included) and ran its cached instance.
    _, _, rid = run(old_instance, prompt="a fox", negative_prompt="", steps=20, seed=3, guidance=7.0)
    assert emu.jobs[rid].model_id == MODEL
    assert emu.jobs[rid].payload == {"prompt": "a fox", "steps": 20, "seed": 3, "guidance": 7.0}
    # A new instance of the new class sends the same.
    _, _, rid2 = run(new_cls(), prompt="a fox", negative_prompt="", steps=20, seed=3, guidance=7.0)
    assert emu.jobs[rid2].payload == emu.jobs[rid].payload


def test_two_refreshes_in_a_row_reach_the_newest_schema(canvas):
    emu, pack, registry, old_instance, _ = canvas
    refresh(pack, emu, {**BASE_PROPS, "guidance": {"type": "number", "default": 3.5}})
    refresh(pack, emu, {**BASE_PROPS, "guidance": {"type": "number", "default": 3.5},
                        "sharpness": {"type": "integer", "minimum": 0, "maximum": 5, "default": 1}})
    _, _, rid = run(old_instance, prompt="a fox", negative_prompt="", steps=20, seed=3, guidance=7.0, sharpness=4)
    assert emu.jobs[rid].payload["guidance"] == 7.0 and emu.jobs[rid].payload["sharpness"] == 4


@pytest.mark.parametrize("props, required, kwargs, reason", [
    # A new required input the node on the canvas does not have.
    ({**BASE_PROPS, "style": {"type": "string", "enum": ["photo", "anime"]}}, ("prompt", "style"),
     {}, "it has a new required input 'style'"),
    # A changed type: steps became a choice.
    ({**BASE_PROPS, "steps": {"type": "string", "enum": ["fast", "quality"], "default": "fast"}}, ("prompt",),
     {}, "input 'steps' now takes one of 'fast', 'quality', not 20"),
])
def test_a_change_the_values_cannot_follow_stops_before_any_submit(canvas, props, required, kwargs, reason):
    emu, pack, registry, old_instance, server = canvas
    refresh(pack, emu, props, required)
    args = {"prompt": "a fox", "negative_prompt": "", "steps": 20, "seed": 3, **kwargs}
    with pytest.raises(Exception) as ei:
        run(old_instance, **args)
    text = str(ei.value)
    assert reason in text and f"RunComfy changed model '{MODEL}'" in text
    assert "Nothing was sent" in text and "Reload the node" in text and "reload the browser page" in text
    assert emu.count("submit") == 0
    assert server.texts and server.texts[-1][0] == "21" and reason in server.texts[-1][1]     # shown on the node


def test_an_input_the_model_dropped_stops_the_run_only_when_the_user_set_it(canvas):
    emu, pack, registry, old_instance, _ = canvas
    refresh(pack, emu, {k: v for k, v in BASE_PROPS.items() if k != "negative_prompt"})
    with pytest.raises(Exception, match="input 'negative_prompt' is no longer one of the model's") as ei:
        run(old_instance, prompt="a fox", negative_prompt="blurry", steps=20, seed=3)
    assert "Nothing was sent" in str(ei.value) and emu.count("submit") == 0
    # Left empty, it was never going to be sent: the run goes ahead with what the user set.
    _, _, rid = run(old_instance, prompt="a fox", negative_prompt="", steps=20, seed=3)
    assert emu.jobs[rid].payload == {"prompt": "a fox", "steps": 20, "seed": 3}
