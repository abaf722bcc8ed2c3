"""A node class name belongs to one model id for good (issue 16.1), model ids are matched whole
and field names that break the browser's objects become inputs of their own (16.7): through the
pack loaded as ComfyUI loads it, its catalog synced from the emulator over real sockets, and the
nodes run against it."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging

import pytest
import torch

from conftest import ROOT, load_pack
from runcomfy import catalog
from runcomfy.catalog.entry import entry_problem
from runcomfy.emulator.catalog import sample_entries
from runcomfy.schema import SCHEMA_DIR, SchemaError, parse_schema

TOKEN = "tok-class-ids-0123456789"
SHIPPED = "wan-ai/wan-2-6/image-to-image"
TWIN = "wan-ai/wan-2-6/image_to_image"            # same usual class name as the shipped model
WAN = "RunComfy_wan_ai_wan_2_6_image_to_image"
TWIN_CLASS = WAN + "_" + hashlib.sha256(TWIN.encode()).hexdigest()[:8]


def wan_doc(model_id: str, **extra) -> dict:
    doc = json.loads((SCHEMA_DIR / "wan-ai__wan-2-6__image-to-image.schema.json").read_text())
    return {**doc, "model_id": model_id, "kind": "model", **extra}


def simple_doc(model_id: str, props: dict | None = None, required=("prompt",)) -> dict:
    props = props or {"prompt": {"type": "string"}, "seed": {"type": "integer", "minimum": 0, "maximum": 99}}
    return {"model_id": model_id, "kind": "model", "display_name": "Toy " + model_id,
            "categories": ["text-to-image"], "base_price_usd": 0.01, "price_unit": "per image",
            "input_schema": {"type": "object", "required": list(required), "properties": props}}


@pytest.fixture
def env(start_emulator, monkeypatch, isolated_env):
    emu = start_emulator(TOKEN, as_env=True, processing_time=0.1)
    monkeypatch.setenv("RUNCOMFY_CATALOG_REFRESH", "0")       # the pack's import reads the cache only
    return emu, isolated_env / "config"


def sync(emu, cfg):
    report = catalog.sync(cfg, token=TOKEN, base_url=emu.base_url)
    assert report.ok, report.error
    return report


def call(cls, **kw):
    out = getattr(cls(), cls.FUNCTION)(**kw)
    return asyncio.run(out) if inspect.isawaitable(out) else out


def wan_kwargs(**over):
    g = torch.Generator().manual_seed(1)
    k = {"prompt": "two monsters", "image_1": torch.rand((1, 400, 400, 3), generator=g), "negative_prompt": "",
         "image_size": "1280*720 (16:9)", "seed": 7, "prompt_extend": True, "unique_id": "12"}
    k.update(over)
    return k


def workflow(node_id, class_name, model_id, *, inner=False):
    node = {"id": node_id, "type": class_name, "properties": {"runcomfy_model_id": model_id}}
    if inner:
        return {"workflow": {"nodes": [{"id": 5, "type": "subgraph-uuid"}],
                             "definitions": {"subgraphs": [{"id": "subgraph-uuid", "nodes": [node]}]}}}
    return {"workflow": {"nodes": [{"id": 3, "type": "LoadImage", "properties": {}}, node]}}


def test_two_ids_one_usual_name_get_two_nodes_each_running_its_own_model(env, caplog):
    emu, cfg = env
    # The twin is listed first and costs more: it must not take the shipped model's class.
    emu.serve_catalog([wan_doc(TWIN, display_name="Wan 2.6 Image to Image", base_price_usd=4.99)] + sample_entries(),
                      replace=False)
    sync(emu, cfg)
    with caplog.at_level(logging.WARNING, logger="runcomfy"):
        pack = load_pack(ROOT)
    classes, names = pack.NODE_CLASS_MAPPINGS, pack.NODE_DISPLAY_NAME_MAPPINGS
    assert classes[WAN].MODEL_ID == SHIPPED and classes[TWIN_CLASS].MODEL_ID == TWIN
    assert names[WAN] == "RunComfy Wan 2.6 Image to Image"                 # unchanged for the shipped model
    assert names[TWIN_CLASS] == f"Wan 2.6 Image to Image [{TWIN}]"          # told apart in the search
    assert TWIN in classes[WAN].DESCRIPTION and "always runs 'wan-ai/wan-2-6/image-to-image'" in classes[WAN].DESCRIPTION
    assert f"belongs to model '{SHIPPED}'" in classes[TWIN_CLASS].DESCRIPTION
    assert TWIN_CLASS in caplog.text and SHIPPED in caplog.text
    assert classes[TWIN_CLASS].INPUT_TYPES()["hidden"]["runcomfy_model_id"] == TWIN
    # Every other class name is the usual one.
    usual = {c.MODEL_ID: n for n, c in classes.items()}
    assert all(n == pack.nodes.model_node.class_name_for(m) for m, n in usual.items() if m != TWIN)
    # Each node submits to its own model.
    _, _, rid = call(classes[WAN], **wan_kwargs())
    _, _, rid2 = call(classes[TWIN_CLASS], **wan_kwargs(seed=8))
    assert emu.jobs[rid].model_id == SHIPPED and emu.jobs[rid2].model_id == TWIN


def test_a_name_once_given_stays_with_its_id(env):
    emu, cfg = env
    a, b = "acme/foo-bar/edit", "acme/foo_bar/edit"
    emu.serve_catalog([simple_doc(a)])
    sync(emu, cfg)
    first = load_pack(ROOT)
    assert first.NODE_CLASS_MAPPINGS["RunComfy_acme_foo_bar_edit"].MODEL_ID == a
    saved = json.loads((cfg / "node_classes.json").read_text())["classes"]
    assert saved[a] == "RunComfy_acme_foo_bar_edit"
    # A later catalog lists the newcomer first; then the cache is lost and only the newcomer is listed.
    b_class = "RunComfy_acme_foo_bar_edit_" + hashlib.sha256(b.encode()).hexdigest()[:8]
    emu.serve_catalog([simple_doc(b), simple_doc(a)])
    sync(emu, cfg)
    second = load_pack(ROOT)
    assert second.NODE_CLASS_MAPPINGS["RunComfy_acme_foo_bar_edit"].MODEL_ID == a
    assert second.NODE_CLASS_MAPPINGS[b_class].MODEL_ID == b
    catalog.cache_path(cfg, emu.base_url).unlink()
    emu.serve_catalog([simple_doc(b)])
    sync(emu, cfg)
    third = load_pack(ROOT)
    assert "RunComfy_acme_foo_bar_edit" not in third.NODE_CLASS_MAPPINGS
    assert third.NODE_CLASS_MAPPINGS[b_class].MODEL_ID == b
    _, _, rid = call(third.NODE_CLASS_MAPPINGS[b_class], prompt="x", seed=1, unique_id="4")
    assert emu.jobs[rid].model_id == b


def test_an_existing_cache_is_migrated_on_first_read(env, start_emulator):
    emu, cfg = env
    a, b, c, d = "acme/one-two/edit", "acme/one_two/edit", "acme/three.four/edit", "acme/three-four/edit"
    # A cache of another API base URL (an older emulator run) holds c.
    other = start_emulator(TOKEN)
    other.serve_catalog([simple_doc(c)])
    assert catalog.sync(cfg, token=TOKEN, base_url=other.base_url).ok
    # This base URL's cache, written by a version that kept no class names: a listed before b.
    emu.serve_catalog([simple_doc(a), simple_doc(b)])
    sync(emu, cfg)
    assert not (cfg / "node_classes.json").exists()
    pack = load_pack(ROOT)
    saved = json.loads((cfg / "node_classes.json").read_text())["classes"]
    assert saved[a] == "RunComfy_acme_one_two_edit" and saved[b].startswith("RunComfy_acme_one_two_edit_")
    assert saved[c] == "RunComfy_acme_three_four_edit"                      # seen on this machine before
    assert SHIPPED in saved and saved[SHIPPED] == WAN
    assert pack.NODE_CLASS_MAPPINGS["RunComfy_acme_one_two_edit"].MODEL_ID == a
    # d arrives later on this base URL: c, seen first, keeps the name.
    emu.serve_catalog([simple_doc(d), simple_doc(a), simple_doc(b)])
    sync(emu, cfg)
    later = load_pack(ROOT)
    d_class = "RunComfy_acme_three_four_edit_" + hashlib.sha256(d.encode()).hexdigest()[:8]
    assert later.NODE_CLASS_MAPPINGS[d_class].MODEL_ID == d
    assert "RunComfy_acme_three_four_edit" not in later.NODE_CLASS_MAPPINGS


def test_refresh_registers_a_colliding_newcomer_under_its_own_name(env, monkeypatch):
    emu, cfg = env
    pack = load_pack(ROOT)
    emu.serve_catalog([wan_doc(TWIN, base_price_usd=4.99)], replace=False)
    status, body = asyncio.run(pack.nodes.catalog_api.refresh_async())
    assert status == 200 and body["ok"] and TWIN_CLASS in body["nodes_added"]
    assert pack.NODE_CLASS_MAPPINGS[WAN].MODEL_ID == SHIPPED and pack.NODE_CLASS_MAPPINGS[TWIN_CLASS].MODEL_ID == TWIN
    assert pack.NODE_DISPLAY_NAME_MAPPINGS[TWIN_CLASS].endswith(f"[{TWIN}]")


def test_a_node_refuses_a_workflow_recorded_for_another_model_before_any_submit(env):
    emu, cfg = env
    emu.serve_catalog([wan_doc(TWIN, base_price_usd=4.99)], replace=False)
    sync(emu, cfg)
    pack = load_pack(ROOT)
    wan = pack.NODE_CLASS_MAPPINGS[WAN]
    # A workflow from a machine where WAN was the twin's class name.
    with pytest.raises(Exception) as ei:
        call(wan, **wan_kwargs(extra_pnginfo=workflow(12, WAN, TWIN)))
    text = str(ei.value)
    assert f"made for model '{TWIN}'" in text and f"runs model '{SHIPPED}'" in text and TWIN_CLASS in text
    assert "Nothing was sent" in text and emu.count("submit") == 0
    # Inside a subgraph (node "5:12"), the same.
    inner = workflow(12, WAN, TWIN, inner=True)
    with pytest.raises(Exception, match="made for model"):
        call(wan, **wan_kwargs(unique_id="5:12", extra_pnginfo=inner))
    # The top-level node 12 is another node than the subgraph's node 12.
    inner["workflow"]["nodes"].append({"id": 12, "type": WAN, "properties": {"runcomfy_model_id": SHIPPED}})
    with pytest.raises(Exception, match="made for model"):
        call(wan, **wan_kwargs(unique_id="5:12", extra_pnginfo=inner))
    with pytest.raises(Exception, match="has no node on this ComfyUI"):
        call(wan, **wan_kwargs(extra_pnginfo=workflow(12, WAN, "acme/elsewhere/model")))
    assert emu.count("submit") == 0
    # The right model, another node's property, or no workflow (API prompt): runs.
    _, _, rid = call(wan, **wan_kwargs(extra_pnginfo=workflow(12, WAN, SHIPPED)))
    _, _, rid2 = call(wan, **wan_kwargs(seed=9, extra_pnginfo=workflow(13, WAN, TWIN)))
    _, _, rid3 = call(wan, **wan_kwargs(seed=10))
    top = workflow(12, WAN, TWIN)         # a top-level node 12 says nothing of the subgraph's node 12
    _, _, rid4 = call(wan, **wan_kwargs(seed=11, unique_id="5:12", extra_pnginfo=top))
    assert {emu.jobs[r].model_id for r in (rid, rid2, rid3, rid4)} == {SHIPPED}


def test_a_model_id_or_field_name_ending_in_a_line_break_is_refused(env, caplog):
    emu, cfg = env
    bad = "acme/model/edit\n"          # "$" matches before a final line break: fullmatch does not
    assert entry_problem(simple_doc(bad)) is not None
    with pytest.raises(SchemaError):
        parse_schema(simple_doc(bad))
    odd_field = {"prompt": {"type": "string"}, "seed\n": {"type": "integer"}}
    emu.serve_catalog([simple_doc(bad), simple_doc("acme/model/edit", odd_field)])
    report = sync(emu, cfg)
    assert [s["model_id"] for s in report.skipped] == [bad] and report.runnable == 1
    with caplog.at_level(logging.WARNING, logger="runcomfy"):
        pack = load_pack(ROOT)
    assert {c.MODEL_ID for c in pack.NODE_CLASS_MAPPINGS.values()} == {SHIPPED, "acme/model/edit"}
    spec = pack.NODE_CLASS_MAPPINGS["RunComfy_acme_model_edit"].INPUT_TYPES()
    assert not [n for n in list(spec["required"]) + list(spec["optional"]) if "\n" in n]
    assert "optional input 'seed\n' left out of its node" in caplog.text


def test_field_names_a_browser_object_cannot_hold_become_inputs_of_their_own(env, caplog):
    emu, cfg = env
    mid = "acme/odd-names/generate"
    emu.serve_catalog([simple_doc(mid, {
        "prompt": {"type": "string"},
        "__proto__": {"type": "string", "default": "kept"},
        "constructor": {"type": "integer", "minimum": 0, "maximum": 9, "default": 3},
        "field_constructor": {"type": "boolean", "default": False},
        "extra_pnginfo": {"type": "string"},
        "toString_url": {"type": "string", "format": "image_uri"},
    })])
    sync(emu, cfg)
    with caplog.at_level(logging.WARNING, logger="runcomfy"):
        pack = load_pack(ROOT)
    (cls,) = [c for c in pack.NODE_CLASS_MAPPINGS.values() if c.MODEL_ID == mid]
    spec = cls.INPUT_TYPES()
    inputs = set(spec["required"]) | set(spec["optional"])
    assert {"field___proto__", "field_constructor_2", "field_constructor", "field_extra_pnginfo"} <= inputs
    assert not inputs & {"__proto__", "constructor", "toString", "extra_pnginfo"}
    assert spec["required"]["field_constructor_2"][0] == "INT"          # the field's own widget, renamed
    assert "input '__proto__' is shown as 'field___proto__'" in caplog.text and "JavaScript" in caplog.text
    _, _, rid = call(cls, prompt="p", field___proto__="sent", field_constructor_2=5, field_constructor=True,
                     field_extra_pnginfo="x", unique_id="3", extra_pnginfo={"workflow": {"nodes": []}})
    payload = emu.jobs[rid].payload
    assert payload["__proto__"] == "sent" and payload["constructor"] == 5 and payload["field_constructor"] is True
    assert payload["extra_pnginfo"] == "x" and "field___proto__" not in payload
