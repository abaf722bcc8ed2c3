"""Issue 19.1, server side: a loaded workflow names RunComfy models this ComfyUI has no node for.
The resolve route's function finds them (by the id the node carries, else by class name against
the catalog), registers their classes in ComfyUI's registry (a stand-in of nodes.py), keeps them
in the catalog cache for the next start, and says per model why it was not found and the fix.
Against the emulator over real sockets; offline = a closed loopback port."""

from __future__ import annotations

import asyncio
import importlib
import socket
import sys
import types

import pytest

from conftest import ROOT, load_pack
from runcomfy import catalog

TOKEN = "tok-resolve-0123456789abcdef"
KNOWN = "acme/flux-lite/text-to-image"
NEW = "acme/sketchy/image-to-image"
NEW_CLASS = "RunComfy_acme_sketchy_image_to_image"


def doc(model_id: str, name: str) -> dict:
    return {"model_id": model_id, "kind": "model", "display_name": name, "categories": ["text-to-image"],
            "base_price_usd": 0.02, "price_unit": "per image",
            "input_schema": {"type": "object", "required": ["prompt"],
                             "properties": {"prompt": {"type": "string", "title": "Prompt"},
                                            "steps": {"type": "integer", "minimum": 1, "maximum": 50,
                                                      "default": 20}}}}


class FakeComfyRegistry(types.ModuleType):
    """Stands in for ComfyUI's nodes.py (the registry /object_info and /prompt read)."""

    def __init__(self):
        super().__init__("nodes")
        self.NODE_CLASS_MAPPINGS = {}
        self.NODE_DISPLAY_NAME_MAPPINGS = {}

    def load_custom_node(self, *a, **k):
        raise AssertionError("not called")


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def machine(start_emulator, monkeypatch, isolated_env):
    """A ComfyUI whose catalog cache has KNOWN only; the emulator (the service) also has NEW."""
    emu = start_emulator(TOKEN, as_env=True)
    emu.serve_catalog([doc(KNOWN, "Flux Lite")])
    assert catalog.sync(isolated_env / "config", token=TOKEN, base_url=emu.base_url).ok
    emu.serve_catalog([doc(KNOWN, "Flux Lite"), doc(NEW, "Sketchy")])
    monkeypatch.setenv("RUNCOMFY_CATALOG_REFRESH", "0")
    pack = load_pack(ROOT)
    registry = FakeComfyRegistry()
    registry.NODE_CLASS_MAPPINGS.update(pack.NODE_CLASS_MAPPINGS)
    monkeypatch.setitem(sys.modules, "nodes", registry)
    assert NEW_CLASS not in registry.NODE_CLASS_MAPPINGS
    return emu, pack, registry, isolated_env / "config"


def resolver(pack):
    return importlib.import_module(pack.__name__ + ".nodes.resolve")


def call(pack, body):
    return asyncio.run(resolver(pack).route(body))


def test_a_model_id_this_machine_never_synced_gets_its_node(machine):
    emu, pack, registry, cfg = machine
    status, body = call(pack, {"model_ids": [NEW]})
    assert status == 200 and body["ok"], body
    assert body["nodes"] == {NEW: NEW_CLASS} and body["added"] == [NEW_CLASS] and body["unresolved"] == []
    cls = registry.NODE_CLASS_MAPPINGS[NEW_CLASS]
    assert cls.MODEL_ID == NEW and pack.NODE_CLASS_MAPPINGS[NEW_CLASS] is cls
    assert "prompt" in cls.INPUT_TYPES()["required"]
    # kept for the next start: the cache now lists it
    assert NEW in {e.model_id for e in catalog.load_entries(cfg, emu.base_url)}
    # asked again: nothing new to add, same class
    status, again = call(pack, {"model_ids": [NEW]})
    assert again["nodes"] == {NEW: NEW_CLASS} and again["added"] == [] and again["ok"]


def test_an_old_workflow_without_ids_is_matched_by_class_name(machine):
    emu, pack, registry, cfg = machine
    status, body = call(pack, {"class_names": [NEW_CLASS]})
    assert status == 200 and body["ok"], body
    assert body["by_class"] == {NEW_CLASS: NEW_CLASS} and body["added"] == [NEW_CLASS]
    assert registry.NODE_CLASS_MAPPINGS[NEW_CLASS].MODEL_ID == NEW


def test_a_class_name_from_a_machine_where_the_id_collided_maps_to_this_machines_class(machine):
    emu, pack, registry, cfg = machine
    from runcomfy.catalog.classnames import suffixed_name
    saved = suffixed_name(NEW)       # what another machine named it (its base name was taken there)
    status, body = call(pack, {"class_names": [saved]})
    assert body["ok"] and body["by_class"] == {saved: NEW_CLASS}, body


def test_a_model_runcomfy_does_not_list_is_named_with_the_fix(machine):
    emu, pack, registry, cfg = machine
    status, body = call(pack, {"model_ids": ["acme/retired/text-to-video", NEW]})
    assert status == 200 and not body["ok"]
    assert body["nodes"] == {NEW: NEW_CLASS}
    [u] = body["unresolved"]
    assert u["model_id"] == "acme/retired/text-to-video" and u["reason"] == "not_listed"
    assert "RunComfy model 'acme/retired/text-to-video' is not on this ComfyUI" in u["message"]
    assert "Refresh model catalog" in u["fix"]


def test_unknown_class_name_says_so(machine):
    emu, pack, registry, cfg = machine
    # the cache is older than the re-read limit, so the catalog is read once for the name
    status, body = call(pack, {"class_names": ["RunComfy_nobody_makes_this"]})
    [u] = body["unresolved"]
    assert u["reason"] == "unknown_class" and u["class_name"] == "RunComfy_nobody_makes_this"
    assert "RunComfy node 'RunComfy_nobody_makes_this'" in u["message"]


def test_offline_names_the_model_and_the_fix_and_registers_nothing(machine, monkeypatch):
    emu, pack, registry, cfg = machine
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", f"http://127.0.0.1:{closed_port()}/v1")
    before = set(registry.NODE_CLASS_MAPPINGS)
    status, body = call(pack, {"model_ids": [NEW], "class_names": ["RunComfy_other_model_x"]})
    assert status == 200 and not body["ok"] and body["nodes"] == {}
    reasons = {(u["model_id"] or u["class_name"]): u["reason"] for u in body["unresolved"]}
    assert reasons == {NEW: "offline", "RunComfy_other_model_x": "offline"}, body
    text = body["unresolved"][0]["message"]
    assert f"RunComfy model '{NEW}'" in text and "network" in text and "Refresh model catalog" in text
    assert set(registry.NODE_CLASS_MAPPINGS) == before


def test_no_token_where_one_is_needed(machine, monkeypatch):
    emu, pack, registry, cfg = machine
    monkeypatch.delenv("RUNCOMFY_API_TOKEN")
    emu.catalog_public = False
    status, body = call(pack, {"model_ids": [NEW]})
    [u] = body["unresolved"]
    assert u["reason"] == "no_token" and "API token" in u["fix"] and NEW in u["message"]


@pytest.mark.parametrize("body", [None, [], {"model_ids": "x"}, {"model_ids": [""]},
                                  {"class_names": ["a"] * 65}, {"model_ids": [1]}])
def test_bad_requests_are_refused(machine, body):
    emu, pack, registry, cfg = machine
    status, answer = call(pack, body)
    assert status == 400 and not answer["ok"] and answer["error"]


def test_a_damaged_model_id_is_reported_not_looked_up(machine):
    emu, pack, registry, cfg = machine
    status, body = call(pack, {"model_ids": ["../../etc/passwd"]})
    [u] = body["unresolved"]
    assert u["reason"] == "bad_id" and "not valid" in u["message"] and body["nodes"] == {}


def test_prompt_nodes_to_resolve_take_ids_from_the_ui_workflow(machine):
    emu, pack, registry, cfg = machine
    r = resolver(pack)
    body = {"prompt": {"1": {"class_type": NEW_CLASS, "inputs": {}},
                       "2": {"class_type": "RunComfy_old_saved_name", "inputs": {}},
                       "3": {"class_type": "KSampler", "inputs": {}}},
            "extra_data": {"extra_pnginfo": {"workflow": {"nodes": [
                {"id": 1, "type": NEW_CLASS, "properties": {"runcomfy_model_id": NEW}}]}}}}
    ids, names, unknown, by_class = r.wanted_by_prompt(body, registry.NODE_CLASS_MAPPINGS)
    assert ids == [NEW] and names == ["RunComfy_old_saved_name"]
    assert unknown == {"1": NEW_CLASS, "2": "RunComfy_old_saved_name"} and by_class == {NEW_CLASS: NEW}
    res = r.apply(r.resolve(ids, names))
    refusal = r.refusal(res, unknown)
    assert refusal["error"]["type"] == "invalid_prompt"
    assert "RunComfy node 'RunComfy_old_saved_name'" in refusal["error"]["message"]
    assert registry.NODE_CLASS_MAPPINGS[NEW_CLASS].MODEL_ID == NEW
