"""The catalog at ComfyUI's start and the Settings refresh, through the pack loaded as ComfyUI
loads it, against the emulator over real sockets: bounded wait, background completion, one
log line for no token / no network, stable class names, removed models kept, and new node
classes registered in (a stand-in of) ComfyUI's own registry at runtime."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
import time
import types

import pytest

from conftest import ROOT, load_pack
from runcomfy import catalog
from runcomfy.emulator.catalog import generate_entries, sample_entries

TOKEN = "tok-catalog-startup-0123456789"
WAN_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"


@pytest.fixture
def env(start_emulator, monkeypatch, isolated_env):
    emu = start_emulator(TOKEN, as_env=True)
    emu.serve_catalog(sample_entries(), replace=False)
    monkeypatch.setenv("RUNCOMFY_CATALOG_REFRESH", "0")       # the pack's own import stays offline
    pack = load_pack(ROOT)
    cfg = isolated_env / "config"
    return emu, pack, cfg


def _wait_for(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_empty_cache_start_fetches_the_catalog_and_builds_its_nodes(env, caplog):
    emu, pack, cfg = env
    startup = pack.nodes.catalog_startup
    with caplog.at_level(logging.INFO, logger="runcomfy"):
        entries = startup.load_for_startup(cfg, enabled=True)
    ids = {e.model_id for e in entries}
    assert "emulator-samples/image-edit/edit" in ids and "wan-ai/wan-2-6/image-to-image" in ids
    assert emu.count("models") == 1
    assert "RunComfy: model catalog: 13 runnable models of 15 listed" in caplog.text
    classes, names = pack.nodes.build_mappings(entries)
    assert "RunComfy_emulator_samples_image_edit_edit" in classes
    assert names["RunComfy_emulator_samples_image_edit_edit"] == "Emulator sample: Image Edit"
    # A fresh cache is not fetched again at the next start.
    startup.load_for_startup(cfg, enabled=True)
    assert emu.count("models") == 1


def test_stale_cache_is_refreshed_fresh_one_is_not(env):
    emu, pack, cfg = env
    assert catalog.sync(cfg, token=TOKEN, base_url=emu.base_url, clock=lambda: time.time() - 25 * 3600).ok
    pack.nodes.catalog_startup.load_for_startup(cfg, enabled=True)
    assert emu.count("models") == 2
    pack.nodes.catalog_startup.load_for_startup(cfg, enabled=True)
    assert emu.count("models") == 2


def test_outside_comfyui_the_import_makes_no_network_call(env, monkeypatch):
    emu, pack, cfg = env
    monkeypatch.delenv("RUNCOMFY_CATALOG_REFRESH")
    assert pack.nodes.catalog_startup.refresh_enabled() is False       # no PromptServer here
    entries = pack.nodes.catalog_startup.load_for_startup(cfg)
    assert [e.model_id for e in entries] == ["wan-ai/wan-2-6/image-to-image"] and emu.count("models") == 0


def test_a_slow_catalog_does_not_hold_the_start_and_finishes_in_the_background(env):
    emu, pack, cfg = env
    emu.faults.add("models", "slow", times=1, delay=1.5)
    late = []
    entries = pack.nodes.catalog_startup.load_for_startup(cfg, wait=0.2, enabled=True, on_late_sync=late.append)
    # Started with what it had: the shipped model only.
    assert [e.model_id for e in entries] == ["wan-ai/wan-2-6/image-to-image"]
    _wait_for(lambda: late)
    assert late[0].ok and late[0].runnable == 13
    assert "emulator-samples/upscale" in {e.model_id for e in catalog.load_entries(cfg, emu.base_url)}


def test_no_network_is_one_log_line_and_no_traceback(env, monkeypatch, caplog):
    emu, pack, cfg = env
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", f"http://127.0.0.1:{port}/v1")
    with caplog.at_level(logging.INFO, logger="runcomfy"):
        entries = pack.nodes.catalog_startup.load_for_startup(cfg, wait=30, enabled=True)
        pack.nodes.catalog_startup.load_for_startup(cfg, wait=30, enabled=True)
    assert [e.model_id for e in entries] == ["wan-ai/wan-2-6/image-to-image"]
    lines = [r for r in caplog.records if r.name == "runcomfy"]
    assert len(lines) == 1 and "model catalog not refreshed" in lines[0].getMessage()
    assert "could not connect" in lines[0].getMessage() and "shipped in the pack" in lines[0].getMessage()
    assert lines[0].exc_info is None and "Traceback" not in caplog.text


def test_no_token_tries_without_one_and_says_once_that_a_token_is_needed(env, monkeypatch, caplog):
    emu, pack, cfg = env
    monkeypatch.delenv("RUNCOMFY_API_TOKEN")
    with caplog.at_level(logging.INFO, logger="runcomfy"):
        pack.nodes.catalog_startup.load_for_startup(cfg, enabled=True)
        pack.nodes.catalog_startup.load_for_startup(cfg, enabled=True)
    assert emu.count("models") == 2 and not any(c.auth_header_present for c in emu.calls)
    assert caplog.text.count("RunComfy wants an API token to list its models") == 1
    emu.catalog_public = True                      # the documented case: public, no token needed
    entries = pack.nodes.catalog_startup.load_for_startup(cfg, enabled=True)
    assert "emulator-samples/upscale" in {e.model_id for e in entries}


def test_class_names_and_wan_widget_order_do_not_change_with_the_catalog(env):
    emu, pack, cfg = env
    shipped = pack.NODE_CLASS_MAPPINGS[WAN_CLASS]
    assert catalog.sync(cfg, token=TOKEN, base_url=emu.base_url).ok
    classes, _ = pack.nodes.build_mappings(catalog.load_entries(cfg, emu.base_url))
    synced = classes[WAN_CLASS]
    order = lambda cls: {k: list(v) for k, v in cls.INPUT_TYPES().items()}
    assert order(synced) == order(shipped)
    # Derived from the id alone: a second sync with other names and prices gives the same names.
    emu.serve_catalog([dict(d, display_name="Renamed " + d["model_id"], base_price_usd=1.0) for d in sample_entries()])
    assert catalog.sync(cfg, token=TOKEN, base_url=emu.base_url).ok
    again, names = pack.nodes.build_mappings(catalog.load_entries(cfg, emu.base_url))
    assert set(classes) == set(again)
    assert names["RunComfy_emulator_samples_upscale"].startswith("Renamed ")


def test_a_model_the_catalog_drops_keeps_its_node_with_a_note(env):
    emu, pack, cfg = env
    assert catalog.sync(cfg, token=TOKEN, base_url=emu.base_url).ok
    emu.serve_catalog([d for d in sample_entries() if d["model_id"] != "emulator-samples/upscale"])
    report = catalog.sync(cfg, token=TOKEN, base_url=emu.base_url)
    assert "emulator-samples/upscale" in report.removed and "wan-ai/wan-2-6/image-to-image" in report.removed
    classes, _ = pack.nodes.build_mappings(catalog.load_entries(cfg, emu.base_url))
    kept = classes["RunComfy_emulator_samples_upscale"]
    assert "RunComfy no longer lists this model" in kept.DESCRIPTION
    assert "RunComfy no longer lists this model" in classes[WAN_CLASS].DESCRIPTION     # shipped, still there


class FakeComfyRegistry(types.ModuleType):
    """Stands in for ComfyUI's nodes.py: the registry /object_info and the executor read."""

    def __init__(self):
        super().__init__("nodes")
        self.NODE_CLASS_MAPPINGS = {}
        self.NODE_DISPLAY_NAME_MAPPINGS = {}

    def load_custom_node(self, *a, **k):
        raise AssertionError("not called")


def test_settings_refresh_registers_new_nodes_at_runtime(env, monkeypatch):
    emu, pack, cfg = env
    registry = FakeComfyRegistry()
    registry.NODE_CLASS_MAPPINGS.update(pack.NODE_CLASS_MAPPINGS)     # what ComfyUI merged at start
    for cls in pack.NODE_CLASS_MAPPINGS.values():
        cls.RELATIVE_PYTHON_MODULE = "custom_nodes.comfyui-runcomfy-model-api"
    monkeypatch.setitem(sys.modules, "nodes", registry)
    status, body = asyncio.run(pack.nodes.catalog_api.refresh_async())
    assert status == 200 and body["ok"] and body["restart_required"] is False
    assert body["added"] == 13 and body["changed"] == 0 and body["removed"] == 0 and body["total"] == 15
    assert "RunComfy_emulator_samples_image_edit_edit" in body["nodes_added"]
    new = registry.NODE_CLASS_MAPPINGS["RunComfy_emulator_samples_image_edit_edit"]
    assert new.RELATIVE_PYTHON_MODULE == "custom_nodes.comfyui-runcomfy-model-api"
    assert registry.NODE_DISPLAY_NAME_MAPPINGS["RunComfy_emulator_samples_image_edit_edit"] == "Emulator sample: Image Edit"
    assert "RunComfy_emulator_samples_image_edit_edit" in pack.NODE_CLASS_MAPPINGS     # the price route sees it
    assert "RunComfy_emulator_samples_image_gen_needs_unknown_input" not in registry.NODE_CLASS_MAPPINGS
    # Nothing new: nothing to register.
    status, body = asyncio.run(pack.nodes.catalog_api.refresh_async())
    assert body["ok"] and body["added"] == 0 and body["nodes_added"] == [] and "No node to add" in body["message"]
    # A model RunComfy drops keeps its node, which now says so.
    emu.serve_catalog([d for d in sample_entries() if d["model_id"] != "emulator-samples/upscale"])
    status, body = asyncio.run(pack.nodes.catalog_api.refresh_async())
    assert body["removed_ids"] == ["emulator-samples/upscale", "wan-ai/wan-2-6/image-to-image"]
    kept = registry.NODE_CLASS_MAPPINGS["RunComfy_emulator_samples_upscale"]
    assert "RunComfy no longer lists this model" in kept.DESCRIPTION


def test_settings_refresh_without_comfyui_registry_says_to_restart(env):
    emu, pack, cfg = env
    status, body = asyncio.run(pack.nodes.catalog_api.refresh_async())
    assert status == 200 and body["ok"] and body["restart_required"] is True
    assert "Restart ComfyUI" in body["message"]


def test_settings_refresh_failures(env, monkeypatch):
    emu, pack, cfg = env
    monkeypatch.delenv("RUNCOMFY_API_TOKEN")
    status, body = asyncio.run(pack.nodes.catalog_api.refresh_async())
    assert status == 200 and not body["ok"] and body["needs_token"] and "token" in body["error"]
    monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", "http://example.com/v1")
    status, body = asyncio.run(pack.nodes.catalog_api.refresh_async())
    assert status == 400 and not body["ok"] and "https" in body["error"]


def test_refresh_and_startup_sync_do_not_run_at_once(env, monkeypatch):
    emu, pack, cfg = env
    startup = pack.nodes.catalog_startup
    emu.faults.add("models", "slow", times=1, delay=1.0)       # the first sync is slow: a second would overlap
    inflight, peak, lock = [0], [0], threading.Lock()
    real_sync = startup.catalog.sync

    def counting_sync(*a, **k):
        with lock:
            inflight[0] += 1
            peak[0] = max(peak[0], inflight[0])
        try:
            return real_sync(*a, **k)
        finally:
            with lock:
                inflight[0] -= 1
    monkeypatch.setattr(startup.catalog, "sync", counting_sync)
    results = []
    threads = [threading.Thread(target=lambda: results.append(startup.run_sync(cfg, emu.base_url))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [r.ok for r in results] == [True, True] and peak[0] == 1
